"""Pure rules of resolve, archive and suppressions (bot/operations.py), and the wording people
tripped over (handlers/blocks.py): plurals, "planning planned", "Launch: done" on a missed round."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import operations
from bot.messages.common import planning_label, plural
from bot.messages.replies import stage_state, status_blocks

AT = datetime(2029, 12, 4, 9, 15, tzinfo=UTC)


def rnd(number: int, state: str, **extra):
    return {"id": number, "number": number, "state": state, "resolution": None, "resolved_by": None,
            "resolved_at": None, **extra}


class TestArchive:
    def test_only_settled_rounds_allow_it(self):
        planned = {"planning_state": "planned"}
        assert operations.archive_blockers(planned, [rnd(1, "cleaned"), rnd(2, "reported"), rnd(3, "cancelled"),
                                                     rnd(4, "missed"), rnd(5, "failed", resolution="not-sent")]) == []
        assert operations.archive_blockers(planned, [rnd(1, "sent"), rnd(2, "approved"), rnd(3, "sending")]) == [
            "round 2 is approved", "round 3 is sending"]

    def test_an_unresolved_failure_blocks_it(self):
        blockers = operations.archive_blockers({"planning_state": "planned"}, [rnd(1, "failed")])
        assert blockers == ["round 1 failed and is not resolved (`/campaign resolve`)"]

    def test_planning(self):
        assert operations.archive_blockers({"planning_state": "pending"}, [rnd(1, "planned")]) == ["planning is still running"]
        # A campaign whose planning failed never sends: its rounds never left `planned`.
        assert operations.archive_blockers({"planning_state": "failed"}, [rnd(1, "planned"), rnd(2, "planned")]) == []


class TestResolve:
    def test_only_an_unresolved_failed_round(self):
        assert operations.resolve_refusal(rnd(1, "failed"), "Europe/London") is None
        refusal = operations.resolve_refusal(rnd(2, "missed"), "Europe/London")
        assert refusal.startswith("round 2 is missed; only a failed round")
        done = rnd(3, "failed", resolution="not-sent", resolved_by="U1", resolved_at=AT)
        assert operations.resolve_refusal(done, "Europe/London") == (
            "round 3 was already resolved as not-sent by <@U1> at Tue 4 Dec 2029 09:15 GMT (09:15 UTC)")
        sent = rnd(4, "reported", resolution="sent", resolved_by="U1", resolved_at=AT)
        assert "already resolved as sent" in operations.resolve_refusal(sent, "Europe/London")

    def test_sent_at_comes_from_mailjet_when_it_says(self):
        fallback = AT + timedelta(hours=3)
        assert operations.mailjet_sent_at({"DeliveredAt": "2029-12-04T09:16:02Z"}, fallback) == AT + timedelta(seconds=62)
        assert operations.mailjet_sent_at({"DeliveredAt": ""}, fallback) == fallback
        assert operations.mailjet_sent_at({"DeliveredAt": "soon"}, fallback) == fallback
        assert operations.mailjet_sent_at({}, fallback) == fallback


class TestSuppressionText:
    def base(self, **extra):
        row = {"email": "jo@example.com", "contact_id": 5004, "reason": "soft_bounce", "bounce_count": 3,
               "first_seen": AT, "last_seen": AT + timedelta(days=14), "source_round": 2, "source_campaign": "Winter",
               "permanent": False, "active": True, "in_force": True, "revalidate_after": AT + timedelta(days=194),
               "event_counts": {"soft": 3}, "lifted_at": None, "lifted_by": None, "lift_reason": None}
        row.update(extra)
        return row

    def test_a_soft_bounce_suppression(self):
        text = operations.suppression_text("jo@example.com", [self.base()], "Europe/London")
        for part in ("*jo@example.com* (Mailjet contact 5004) — :no_entry: *suppressed*", "soft bounces counted: 3",
                     "Events counted: soft bounce 3", "First seen Tue 4 Dec 2029", "last seen Tue 18 Dec 2029",
                     "Source: *Winter* round 2", "Revalidation date: Sun 16 Jun 2030", "Never lifted by hand."):
            assert part in text, part

    def test_revalidated_lifted_and_unknown(self):
        text = operations.suppression_text("jo@example.com", [self.base(in_force=False)], "Europe/London")
        assert "*revalidated*" in text
        lifted = self.base(active=False, in_force=False, lifted_at=AT, lifted_by="U9", lift_reason="fixed")
        text = operations.suppression_text("jo@example.com", [lifted], "Europe/London")
        assert "*not suppressed* (lifted)" in text and "Lifted by <@U9> at Tue 4 Dec 2029 09:15 GMT (09:15 UTC): fixed" in text
        hard = self.base(reason="hard_bounce", permanent=True, revalidate_after=None, event_counts={"hard": 1})
        text = operations.suppression_text("jo@example.com", [hard], "Europe/London")
        assert "*suppressed* · permanent" in text and "Revalidation" not in text and "hard bounce 1" in text
        assert "has no suppression record" in operations.suppression_text("x@example.com", [], "Europe/London")


class TestWording:
    def test_plurals(self):
        assert plural(1, "round") == "1 round" and plural(2, "round") == "2 rounds"
        assert plural(0, "recipient") == "0 recipients" and plural(1200, "recipient") == "1,200 recipients"

    def test_planned_campaigns_do_not_read_planning_planned(self):
        assert planning_label("planned") == "planned"
        assert planning_label("pending") == "planning pending"
        assert planning_label("failed") == "planning failed"
        campaign = {"name": "X", "round_count": 1, "timezone": "Europe/London", "approval_policy": "required",
                    "planning_state": "planned", "planning_error": None}
        header = status_blocks(campaign, [], {}, {}, {"frozen": False})[0]["text"]["text"]
        assert "planning planned" not in header and "1 round ·" in header and "· planned" in header

    def test_a_missed_round_does_not_say_launch_done(self):
        def stage(result):
            return {"stage": "launch", "state": "done", "result": result, "late": False, "due_at": AT}
        assert stage_state(stage({"missed": True, "reason": "…"})) == "missed"
        assert stage_state(stage({"failed": True})) == "failed"
        assert stage_state(stage({"sent": True, "dry_run": False})) == "sent"
        assert stage_state(stage({"sent": True, "dry_run": True})) == "sent (dry run)"
        assert stage_state({"stage": "wrapup", "state": "not_implemented", "result": None}) == "not implemented"
        campaign = {"name": "X", "round_count": 1, "timezone": "Europe/London", "approval_policy": "required",
                    "planning_state": "planned", "planning_error": None}
        round_row = {"id": 1, "number": 1, "state": "missed", "held": False, "scheduled_at": AT, "recipient_count": 3,
                     "mailjet_list_id": 1, "mailjet_draft_id": 2, "mailjet_campaign_id": None, "outcome_detail": None}
        text = status_blocks(campaign, [round_row], {1: [stage({"missed": True})]}, {}, {"frozen": False})[1]["text"]["text"]
        assert "Launch: missed" in text and "Launch: done" not in text
