"""Outbox idempotency keys (storage/outbox_keys.py) keep their exact values: rows in running
databases hold them, and the after-crash duplicate check finds delivered messages by them."""

from __future__ import annotations

from datetime import UTC, datetime

from storage import outbox_keys as keys

AT = datetime(2029, 12, 4, 9, 15, 30, 250000, tzinfo=UTC)


def test_round_keys():
    assert keys.parent(7) == "round:7:parent"
    assert keys.preflight(7, 3) == "round:7:preflight:3"
    assert keys.preflight_alert(7, 3) == "round:7:preflight:3:alert"
    assert keys.preflight_approved(7, 3, 2) == "round:7:preflight:3:approved:2"
    assert keys.approved(7, 2) == "round:7:approved:2"
    assert keys.control(7, "hold", AT) == f"round:7:hold:{AT.timestamp()}" == "round:7:hold:1891070130.25"
    assert keys.cancelled(7) == "round:7:cancelled"
    assert keys.resolved(7) == "round:7:resolved"
    assert keys.warning(7, AT) == "round:7:warning:1891070130"
    assert keys.draft_changed(7, 3) == "round:7:changed:3" and keys.draft_changed(7, None) == "round:7:changed:0"
    assert keys.approval_lapsed(7, 2) == "round:7:lapsed:2"
    assert keys.round_ended(7, "missed") == "round:7:round-missed"
    assert keys.launch_confirmation(7) == "round:7:launch:confirmation"
    assert keys.campaign_id_note(7, "late") == "round:7:campaign-id:late"
    assert keys.gave_up(7, "wrapup") == "round:7:wrapup:gave-up"
    assert keys.wrapup(7) == "round:7:wrapup" and keys.wrapup(7, "chart") == "round:7:wrapup:chart"
    assert keys.cleanup(7, 4) == "round:7:cleanup:4" and keys.cleanup(7, 4, "shown-applied") == "round:7:cleanup:4:shown-applied"
    assert keys.rehearsal_note(7, "launch") == "round:7:launch:rehearsal"


def test_rehearsal_campaign_and_channel_keys():
    assert keys.rehearsal_top(5) == "rehearsal:5:top"
    assert keys.rehearsal_summary(5) == "rehearsal:5:summary"
    assert keys.rehearsal_finished(5) == "rehearsal:5:top:finished"
    assert keys.planned(9) == "campaign:9:planned"
    assert keys.planning_failed(9) == "campaign:9:planning-failed"
    assert keys.archived(9) == "campaign:9:archived"
    assert keys.freeze(AT, True) == "freeze:1891070130.25:True"
    assert keys.weekly_summary("2029-12-03") == "weekly-summary:2029-12-03"
    assert keys.weekly_summary_chart("2029-12-03") == "weekly-summary:2029-12-03:chart"
    assert keys.undeliverable("round:7:parent") == "undeliverable:round:7:parent"
    assert keys.update("round:7:parent", "ab12") == "round:7:parent:update:ab12"
