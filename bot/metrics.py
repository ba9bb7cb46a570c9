"""Prometheus metrics of this process (GET /metrics). Names say what is counted."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry()

COMMANDS = Counter(
    "campaign_bot_commands_total", "Slash commands handled, by subcommand and outcome",
    ["subcommand", "outcome"], registry=REGISTRY,
)
ACTIONS = Counter(
    "campaign_bot_actions_total", "Button clicks handled, by action id and outcome",
    ["action", "outcome"], registry=REGISTRY,
)
STAGE_RUNS = Counter(
    "campaign_bot_stage_runs_total", "Stage executions, by stage and outcome",
    ["stage", "outcome"], registry=REGISTRY,
)
SLACK_DELIVERIES = Counter(
    "campaign_bot_slack_deliveries_total", "Outbox deliveries to Slack, by kind and outcome",
    ["kind", "outcome"], registry=REGISTRY,
)
MAILJET_SENDS = Counter(
    "campaign_bot_mailjet_sends_total", "Campaign send calls, by outcome",
    ["outcome"], registry=REGISTRY,
)
OUTBOX_PENDING = Gauge(
    "campaign_bot_outbox_pending", "Slack messages waiting in the outbox", registry=REGISTRY,
)
OUTBOX_WAITING_FOR_CHANNEL = Gauge(
    "campaign_bot_outbox_waiting_for_channel",
    "Outbox messages Slack refused with not_in_channel, kept until the bot is invited", registry=REGISTRY,
)
SLACK_CHANNEL_MEMBER = Gauge(
    "campaign_bot_slack_channel_member",
    "1 while the bot is a member of CAMPAIGN_CHANNEL, 0 while it is not (or not known)", registry=REGISTRY,
)
SCHEDULER_TICKS = Counter(
    "campaign_bot_scheduler_ticks_total", "Scheduler wake-ups, by reason", ["reason"], registry=REGISTRY,
)
