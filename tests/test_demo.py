"""`campaign-bot demo` end to end: embedded Postgres, both stand-ins, the real `campaign-bot run`
subprocess and the scripted conversation, on a timeline compressed to half (about 30 s)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.demo import run_demo

pytestmark = pytest.mark.slow

# Half speed: round 1 sends ~18 s after planning, its pre-launch is due ~8 s after planning
# (planning takes about a second), the last launch warning ~24 s after planning.
SPEED = 0.5


async def test_demo_plays_the_script_and_cleans_up(capsys):
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

    # clean shutdown: the bot exited 0 on SIGTERM, the database is gone, the bot log is kept
    assert "campaign-bot stopped on SIGTERM (exit code 0)" in transcript
    workdir = Path(re.search(r"working directory (\S+)", transcript).group(1))
    assert not (workdir / "pgdata").exists()
    assert (workdir / "bot.log").stat().st_size > 0
    shutil.rmtree(workdir, ignore_errors=True)
