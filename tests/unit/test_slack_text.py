"""Slack's limits as the product applies them (bot/slack_text.py), the messages built from
real-sized inputs checked against the stand-in's Block Kit rules (standins/blockkit.py), the
cleanup plan's CSV, the channel membership state, and upload names that a retry can find."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import UTC, datetime

from bot.membership import Membership
from bot.messages.common import section
from bot.messages.home import HomeData, home_view
from bot.messages.replies import audit_text, campaigns_list_text, status_blocks
from bot.messages.rounds import CLEANUP_SAMPLE, cancel_button, cleanup_plan, round_parent, thread_note
from bot.metrics import REGISTRY
from bot.slack_text import ELLIPSIS, fit, fit_payload, reason
from bot.suppression_rules import plan_csv
from jobs.outbox import block_id_for, upload_filename
from standins.blockkit import problems, view_problems

T = datetime(2026, 3, 3, 9, 15, tzinfo=UTC)
NAME = "Quarterly Customer Letter for every region and language, second attempt (Q4)"  # near the 80 allowed
LONG = " ".join(f"Point {i}: <@U0OPERATOR> read <https://example.com/l/{i}|export {i}> &amp; fixed it." for i in range(120))


def campaign(**extra):
    return {"id": 1, "name": NAME, "round_count": 3, "timezone": "Europe/London", "subject": "S" * 500,
            "sender_name": "Ops", "sender_email": "ops@example.com", "approval_policy": "required",
            "planning_state": "planned", "planning_error": None, "created_by": "U0OPERATOR", **extra}


def round_row(**extra):
    return {"id": 7, "number": 1, "scheduled_at": T, "state": "ready", "recipient_count": 3000,
            "mailjet_list_id": 11, "mailjet_draft_id": 22, "mailjet_campaign_id": None, "held": True,
            "hold_reason": LONG, "dry_run": None, "outcome_detail": None, **extra}


# ---------------------------------------------------------------------- fit and reason


def test_fit_keeps_what_fits_and_cuts_the_rest_with_an_ellipsis():
    assert fit("short", 10) == "short" and fit(None, 10) == "" and fit("x" * 10, 10) == "x" * 10
    cut = fit("x" * 5000, 3000)
    assert len(cut) == 3000 and cut.endswith(ELLIPSIS)


def test_fit_never_cuts_a_mention_a_link_or_an_entity_in_half():
    for text in ("abc <@U0OPERATOR> tail", "abc <https://example.com/x|label> tail", "abc &amp; tail"):
        for limit in range(4, len(text)):
            out = fit(text, limit)
            assert len(out) <= limit
            body = out.removesuffix(ELLIPSIS)
            assert body.count("<") == body.count(">"), out
            assert "&" not in body or "&amp;" in body, out


def test_reason_is_one_paragraph_of_bounded_length():
    assert reason("  two\n\nlines  ") == "two lines"
    shown = reason(LONG)
    assert len(shown) <= 500 and shown.endswith(ELLIPSIS)
    assert reason(None) == ""


def test_fit_payload_brings_every_limit_back_and_says_what_it_cut():
    payload = {
        "text": "t" * 50_000,
        "blocks": [{"type": "section", "block_id": "b" * 300, "text": {"type": "mrkdwn", "text": "s" * 5000}},
                   {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2500}] * 12},
                   {"type": "context", "elements": [{"type": "mrkdwn", "text": ""}]},
                   {"type": "actions", "elements": [{"type": "button", "action_id": "a", "value": "v" * 3000,
                                                     "text": {"type": "plain_text", "text": "b" * 90},
                                                     "confirm": {"title": {"type": "plain_text", "text": "x" * 150},
                                                                 "text": {"type": "mrkdwn", "text": "y" * 400},
                                                                 "confirm": {"type": "plain_text", "text": "c" * 40},
                                                                 "deny": {"type": "plain_text", "text": "d" * 40}}}]},
                   *[{"type": "divider"} for _ in range(60)]],
    }
    fitted, cut = fit_payload(payload)
    assert problems(fitted["blocks"]) == [] and len(fitted["text"]) == 40_000
    assert len(fitted["blocks"]) == 50 and "more blocks not shown" in json.dumps(fitted["blocks"][-1], ensure_ascii=False)
    assert "text" in cut and any("value" in c for c in cut) and any("confirm" in c for c in cut)
    assert payload["blocks"][0]["text"]["text"] == "s" * 5000  # the original is left alone
    assert fit_payload({"text": "ok", "blocks": [section("fine")]}) == ({"text": "ok", "blocks": [section("fine")]}, [])


# ---------------------------------------------------------------------- messages built from real-sized inputs


def test_round_messages_with_long_reasons_fit_slack():
    parent = round_parent(campaign(), round_row(state="cancelled", outcome_detail="Cancelled by <@U1>: " + LONG))
    assert problems(parent.blocks) == []
    state = json.dumps(parent.blocks, ensure_ascii=False)
    assert "held" in state and ELLIPSIS in state and LONG not in state
    status = status_blocks(campaign(planning_error="E" * 5000), [round_row(outcome_detail=LONG)], {}, {},
                                  {"frozen": True, "changed_by": "U0ADMIN", "reason": LONG})
    assert problems(status) == []
    note = thread_note(campaign(), round_row(), "alert", f":pause_button: Held by <@U1>: {reason(LONG)}. It will not be sent.")
    assert problems(note.blocks) == [] and note.text.endswith("It will not be sent.")
    listing = campaigns_list_text([], "Europe/London", {"frozen": True, "changed_by": "U0ADMIN", "reason": LONG})
    assert len(listing) < 1000


def test_the_cancel_button_names_a_stored_reason_and_its_dialog_fits():
    button = cancel_button(campaign(), round_row(), 123456789)
    assert problems([button]) == []
    assert button["block_id"] == "cancel-request:123456789"
    assert len(button["elements"][0]["confirm"]["text"]["text"]) <= 300


def test_a_cleanup_plan_of_470_contacts_over_60_domains_fits_and_points_to_its_csv():
    items = [{"contact_id": 10_000 + i, "email": f"user{i}@mail{i % 60:02d}.example.net", "kind": "hard",
              "action": "suppress", "reason": "hard bounce: suppressed permanently"} for i in range(470)]
    plan = {"id": 9, "items": items, "share": 470 / 3000, "needs_override": True, "state": "proposed",
            "summary": {"suppressed": 470, "counted_only": 0, "recorded_only": 0, "by_reason": {"hard": 470},
                        "by_domain": {f"mail{i:02d}.example.net": 8 for i in range(5)},
                        "removals_by_round": {str(r): 3 for r in range(400)}, "round_recipients": 3000}}
    labels = {str(r): f"{NAME} round {r}" for r in range(400)}
    message = cleanup_plan(campaign(), round_row(state="sent"), plan, labels)
    assert problems(message.blocks) == []
    assert f"…and {470 - CLEANUP_SAMPLE} more: all 470 are in the attached CSV" in json.dumps(message.blocks, ensure_ascii=False)


def test_the_audit_log_and_the_home_tab_fit_with_long_reasons():
    entries = [{"at": T, "actor": "U0OPERATOR", "action": "held", "round_number": 1, "detail": {"summary": LONG}}
               for _ in range(20)]
    text = audit_text(campaign(), entries, 1, 3)
    assert len(text) < 40_000 and text.count(ELLIPSIS) == 20
    data = HomeData(campaigns=[], rounds={}, approvals=[], alerts=[], now=T,
                    frozen={"frozen": True, "changed_by": "U0ADMIN", "changed_at": T, "reason": LONG})
    assert view_problems(home_view(data, zone="Europe/London")) == []


# ---------------------------------------------------------------------- the plan's CSV


def test_plan_csv_holds_every_item_and_defuses_formulas():
    items = [{"contact_id": 1, "email": "a@x.example", "kind": "hard", "action": "suppress", "reason": "hard, bounce"},
             {"contact_id": 2, "email": "=HYPERLINK(1)@x", "kind": "soft", "action": "count", "reason": "soft 1 of 3"}]
    rows = list(csv.DictReader(io.StringIO(plan_csv(items).decode())))
    assert [r["contact_id"] for r in rows] == ["1", "2"]
    assert rows[0]["reason"] == "hard, bounce" and rows[1]["email"] == "'=HYPERLINK(1)@x"
    assert plan_csv([]).decode() == "contact_id,email,kind,action,reason\n"


# ---------------------------------------------------------------------- membership


def test_membership_says_what_to_do_and_logs_each_change_once(caplog):
    state = Membership(configured="#_traction", channel_id="C0TRACTION", name="_traction", bot_name="campaign-bot")
    assert state.hint() is None and state.detail()["member"] is None  # not known yet: no nagging
    with caplog.at_level(logging.INFO):
        assert state.set(False) is False
        assert state.set(False) is False  # no second log line
        assert "/invite @campaign-bot" in state.hint() and "<#C0TRACTION>" in state.hint()
        assert state.detail() == {"configured": "#_traction", "id": "C0TRACTION", "member": False,
                                  "detail": "not a member of #_traction: type /invite @campaign-bot in #_traction"}
        assert REGISTRY.get_sample_value("campaign_bot_slack_channel_member") == 0
        assert state.set(True) is True  # back: the caller releases what waited
        assert state.set(True) is False
    assert REGISTRY.get_sample_value("campaign_bot_slack_channel_member") == 1
    assert state.concerns("C0TRACTION") and not state.concerns("C0OTHER") and not state.concerns("")


# ---------------------------------------------------------------------- uploads a retry can find


def test_upload_names_carry_the_key_so_a_retry_can_find_them():
    name = upload_filename("Letter-rates-round-1.png", "round:7:wrapup:chart")
    assert name == f"Letter-rates-round-1-{block_id_for('round:7:wrapup:chart')[:16]}.png"
    assert name == upload_filename("Letter-rates-round-1.png", "round:7:wrapup:chart")
    assert name != upload_filename("Letter-rates-round-1.png", "round:8:wrapup:chart")
    assert upload_filename("plan.csv", "k").endswith(".csv")
