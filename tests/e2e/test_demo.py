"""`campaign-bot demo` end to end: embedded Postgres, both stand-ins, the real `campaign-bot run`
subprocess (SEND_MODE=live against the Mailjet stand-in) and the scripted conversation, on a
timeline compressed to half (about 40 s)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.demo import run_demo

pytestmark = pytest.mark.slow

# Half speed: round 1 sends ~19 s after planning, its pre-launch is due ~9 s after planning
# (planning takes about a second); its wrap-up 6 s and its cleanup 12 s after the send, and
# round 3's window closes 15 s after it.
SPEED = 0.5


async def test_demo_plays_the_script_and_cleans_up(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")  # the transcript wraps at the terminal's width: make it fixed
    code = await run_demo(keep_running=False, speed=SPEED)
    transcript = capsys.readouterr().out
    assert code == 0, transcript[-4000:]

    # 1. help, answered only to the operator
    assert "▶ operator types: /campaign help" in transcript
    assert re.search(r"\(only you\) \*/campaign\* — plan, watch, approve and hold", transcript)
    # 2. a malformed command gets the precise error and the usage
    assert "list= must be a Mailjet id (a positive number), got `abc`" in transcript
    assert "Usage: `/campaign new" in transcript
    # 3. planning: the ephemeral "Planning…" and the channel's announcement
    assert "(only you) 🗓 Planning *Winter Letter*" in transcript
    assert re.search(r"#_traction 🗓 \*Winter Letter\* planned by @operator: 57 recipients in 3 rounds", transcript)
    # 4. status and list
    assert "▶ operator types: /campaign status \"Winter Letter\"" in transcript
    assert "*Round 3* —" in transcript
    assert "• *Winter Letter* — 0/3 rounds sent" in transcript
    # 5. each round's parent message, and the launch warning as a reply in its thread
    for number in (1, 2, 3):
        assert f"#_traction *📬 Winter Letter · round {number} of 3*" in transcript
        assert re.search(rf"↳ in the thread of “Winter Letter · round {number}”\n\s+⏰ Winter Letter · round {number} of 3 "
                         rf"sends in", transcript), transcript
    # 6. the audit trail
    assert "*Audit log of Winter Letter*" in transcript

    # From here on the assertions read the transcript with its wrapping undone (it wraps at the
    # terminal's width, and only at spaces): one line, single spaces.
    flat = " ".join(transcript.split())
    # 7. live mode, and only against the stand-in
    assert "SEND_MODE=live" in flat
    assert "live mode against the local Mailjet stand-in: nothing leaves this machine" in flat
    # 8. the overlapping campaign, planned first from the same master list, days ahead
    assert "#_traction 🗓 *Spring Follow-up* planned by @operator: 57 recipients in 3 rounds" in flat
    assert re.search(r"“Spring Follow-up-round-1” \(list \d+\) holds 19 contacts", flat), flat
    # 8b. holiday-aware planning: next Christmas Day and Boxing Day are skipped, and named
    assert re.search(r"\(only you\) 🗓 Planning \*Festive Greetings\*: 3 rounds, approval required, public holidays: "
                     r"GB-ENG\. .*Skipped public holidays \(GB-ENG\): \w{3} 25 Dec \d{4} \(Christmas Day\), "
                     r"\w{3} 26 Dec \d{4} \(Boxing Day\)", flat), flat
    assert "#_traction 🗓 *Festive Greetings* planned by @operator: 6 recipients in 3 rounds" in flat
    # 9. round 1 really "sent" to the stand-in, which then reports an outcome
    sent = re.search(r"\[mailjet\] ✉ campaign (\d+) SENT from draft \d+ to 19 recipients", flat)
    assert sent, flat
    campaign_id = sent.group(1)
    assert re.search(rf"🚀 \*Winter Letter · round 1 of 3 sent\* at [^—]+— Mailjet campaign {campaign_id}, 19 recipients",
                     flat), flat
    assert f"the Mailjet stand-in now reports campaign {campaign_id} (round 1, 19 recipients): 14 delivered" in flat
    # 10. the wrap-up report in round 1's thread, its chart, and the critical alert
    assert "↳ in the thread of “Winter Letter · round 1” *Winter Letter: round 1 wrap-up* 🔴 *Verdict: critical*" in flat
    assert "Bounced: 4 (3 hard, 1 soft)" in flat
    assert re.search(r"📎 Winter Letter: rates by round \(\d+ bytes\) in the thread of “Winter Letter · round 1”", flat), flat
    assert "🚨 *Winter Letter · round 1 of 3* Wrap-up verdict: critical" in flat
    # 11. the cleanup plan: refused to the operator (over 10%), applied by the approver
    assert ("↳ in the thread of “Winter Letter · round 1” 🧹 *Cleanup plan* for Winter Letter · round 1 of 3: "
            "4 contacts to suppress (21.1% of 19 recipients), 1 soft bounce") in flat
    assert "*Later rounds lose:* Spring Follow-up round 1: −4" in flat
    assert "▶ operator clicks [ Apply (approver) ]" in flat
    assert "(only you) 🚫 this plan suppresses 21.1% of the round (over 10%): an approver must apply it" in flat
    assert "(only @approver) ✅ Cleanup applied: 4 contacts suppressed, 4 list removals done in Mailjet." in flat
    assert "🧹 Cleanup applied by @approver: 4 contacts suppressed" in flat
    # 12. Spring's round 1 shrank (the hard bounces and the spam complaint), the master list did not
    assert re.search(r"4 contacts removed from “Spring Follow-up-round-1” \(id \d+\); 15 subscribed remain", flat), flat
    assert "“Spring Follow-up-round-1” at the Mailjet stand-in: 19 → 15 contacts" in flat
    assert "the master list “Customers (all)” did not change: still 60 contacts" in flat
    assert "(soft bounce: counted only, suppressed at the third) is still in Spring Follow-up's round 1" in flat
    assert "(blocked by Mailjet: recorded, not a bounce) is still in Spring Follow-up's round 1" in flat
    assert re.search(r"\*Spring Follow-up\* · 3 rounds .*? \*Round 1\* — 📅 \*planned\* Sends [^*]+ Recipients 15 ", flat), flat
    # 13. round 2 held and round 3 unapproved: both missed, never sent late
    for number in (2, 3):
        assert (f"↳ in the thread of “Winter Letter · round {number}” (also sent to the channel) "
                f"🚨 *Winter Letter · round {number} of 3* The launch window") in flat
    # 14. the summary, from the state at the end
    summary = flat.split("── summary", 1)[1]
    assert re.search(r"round 1 cleaned \(sent as Mailjet campaign \d+\); round 2 missed \(the round is held\); "
                     r"round 3 missed \(waiting for approval\)", summary), summary
    assert "1 send call(s) reached the Mailjet stand-in" in summary
    assert "verdict critical" in summary and "1 chart(s) uploaded" in summary
    assert "4 contacts suppressed (3 hard bounce, 1 spam)" in summary
    assert "“Spring Follow-up” round 1: 19 → 15 contacts in its Mailjet list (15 in the bot's ledger)" in summary
    assert "the master list is unchanged (60 contacts)" in summary

    # clean shutdown: the bot exited 0 on SIGTERM, the database is gone, the bot log is kept
    assert "campaign-bot stopped on SIGTERM (exit code 0)" in transcript
    workdir = Path(re.search(r"working directory (\S+)", transcript).group(1))
    assert not (workdir / "pgdata").exists()
    assert (workdir / "bot.log").stat().st_size > 0
    shutil.rmtree(workdir, ignore_errors=True)
