"""Every outbox idempotency key, made here and nowhere else: one function per kind of message.

A key names one channel message (or one edit of it) for good: queueing it twice keeps one row,
a thread names its parent by key, and after a crash the duplicate check finds the message Slack
already has by its key. Rows in running databases hold these values, so a key's shape never
changes (tests/test_outbox_keys.py pins them); add a new kind instead.
"""
# ruff: noqa: E704  (a table of one-line functions)

from __future__ import annotations

from datetime import datetime


def _round(round_id: int, *parts: object) -> str:
    return ":".join(("round", str(round_id), *map(str, parts)))


# A round's parent message, and what its thread is told.
def parent(round_id: int) -> str: return _round(round_id, "parent")
def preflight(round_id: int, run_id: int) -> str: return _round(round_id, "preflight", run_id)
def preflight_alert(round_id: int, run_id: int) -> str: return preflight(round_id, run_id) + ":alert"
def preflight_approved(round_id: int, run_id: int, approval_id: int) -> str:  # the result edited to show its approval
    return f"{preflight(round_id, run_id)}:approved:{approval_id}"
def approved(round_id: int, approval_id: int) -> str: return _round(round_id, "approved", approval_id)
def control(round_id: int, what: str, now: datetime) -> str:  # hold, resume, reschedule, bounce-override: repeatable
    return _round(round_id, what, now.timestamp())
def cancelled(round_id: int) -> str: return _round(round_id, "cancelled")
def resolved(round_id: int) -> str: return _round(round_id, "resolved")
def warning(round_id: int, scheduled_at: datetime) -> str: return _round(round_id, "warning", int(scheduled_at.timestamp()))
def draft_changed(round_id: int, run_id: int | None) -> str: return _round(round_id, "changed", run_id or 0)
def approval_lapsed(round_id: int, approval_id: int) -> str: return _round(round_id, "lapsed", approval_id)
def round_ended(round_id: int, state: str) -> str: return _round(round_id, f"round-{state}")  # missed or failed at launch
def launch_confirmation(round_id: int) -> str: return _round(round_id, "launch", "confirmation")
def campaign_id_note(round_id: int, which: str) -> str: return _round(round_id, "campaign-id", which)
def gave_up(round_id: int, stage: str) -> str: return _round(round_id, stage, "gave-up")
def wrapup(round_id: int, part: str | None = None) -> str:  # the report; its chart, critical alert, unreadable note
    return _round(round_id, "wrapup", *([part] if part else []))
def cleanup(round_id: int, plan_id: int, part: str | None = None) -> str:  # the plan; csv, lapsed, applied, shown-applied
    return _round(round_id, "cleanup", plan_id, *([part] if part else []))
def rehearsal_note(round_id: int, stage: str) -> str: return _round(round_id, stage, "rehearsal")


# A rehearsal's top-level post (its copies' messages thread under it), campaign- and channel-wide messages.
def rehearsal_top(rehearsal_id: int) -> str: return f"rehearsal:{rehearsal_id}:top"
def rehearsal_summary(rehearsal_id: int) -> str: return f"rehearsal:{rehearsal_id}:summary"
def rehearsal_finished(rehearsal_id: int) -> str: return rehearsal_top(rehearsal_id) + ":finished"
def planned(campaign_id: int) -> str: return f"campaign:{campaign_id}:planned"
def planning_failed(campaign_id: int) -> str: return f"campaign:{campaign_id}:planning-failed"
def archived(campaign_id: int) -> str: return f"campaign:{campaign_id}:archived"
def freeze(now: datetime, frozen: bool) -> str: return f"freeze:{now.timestamp()}:{frozen}"
def weekly_summary(week: object) -> str: return f"weekly-summary:{week}"
def weekly_summary_chart(week: object) -> str: return weekly_summary(week) + ":chart"


# Made by the outbox itself: the alert that a message could not be delivered; one edit of a message.
def undeliverable(key: str) -> str: return f"undeliverable:{key}"
def update(target_key: str, unique: str) -> str: return f"{target_key}:update:{unique}"
