"""Prometheus metrics of this process (GET /metrics). Names say what is counted."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry()


def _counter(name: str, documentation: str, *labels: str) -> Counter:
    return Counter(f"campaign_bot_{name}_total", documentation, list(labels), registry=REGISTRY)


def _gauge(name: str, documentation: str) -> Gauge:
    return Gauge(f"campaign_bot_{name}", documentation, registry=REGISTRY)


COMMANDS = _counter("commands", "Slash commands handled, by subcommand and outcome", "subcommand", "outcome")
ACTIONS = _counter("actions", "Button clicks handled, by action id and outcome", "action", "outcome")
STAGE_RUNS = _counter("stage_runs", "Stage executions, by stage and outcome", "stage", "outcome")
SLACK_DELIVERIES = _counter("slack_deliveries", "Outbox deliveries to Slack, by kind and outcome", "kind", "outcome")
MAILJET_SENDS = _counter("mailjet_sends", "Campaign send calls, by outcome", "outcome")
OUTBOX_PENDING = _gauge("outbox_pending", "Slack messages waiting in the outbox")
OUTBOX_WAITING_FOR_CHANNEL = _gauge(
    "outbox_waiting_for_channel", "Outbox messages Slack refused with not_in_channel, kept until the bot is invited")
SLACK_CHANNEL_MEMBER = _gauge(
    "slack_channel_member", "1 while the bot is a member of CAMPAIGN_CHANNEL, 0 while it is not (or not known)")
SCHEDULER_TICKS = _counter("scheduler_ticks", "Scheduler wake-ups, by reason", "reason")
