"""The App Home tab (PRODUCT.md section 8): campaigns, their rounds, next events, pending
approvals with working buttons, recent alerts and the freeze banner.

`publish_home` reads a few bounded queries (sql/queries/home.sql), asks Slack for the user's
time zone and publishes the view built by `home_view`, a pure function of rows (no I/O), so
it can be tested without Slack or Postgres. Times are shown in the user's zone with UTC
beside them. The buttons are the same as on a pre-flight result (`blocks.round_buttons`) and
are handled by handlers/actions.py, which re-checks role and state on every click.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncApp

from bot.logs import get_logger
from bot.roles import Role
from bot.services import Services
from bot.slack_text import CONTEXT_TEXT, HEADER_TEXT, SECTION_TEXT, fit, reason
from handlers import blocks
from storage.queries import Q

log = get_logger(__name__)

Row = Mapping[str, Any]

MAX_VIEW_BLOCKS = 100          # Slack's limit for a view
MAX_CAMPAIGNS = 15             # one section each (+ a divider)
MAX_APPROVALS = 10             # a section and an actions block each
MAX_ALERTS = 8
ALERTS_SINCE = timedelta(days=14)
SECTION_BUDGET = 2900          # a section's text may hold 3000 characters
CAMPAIGN_BUDGET = 1600         # per campaign, so fifteen of them stay readable
ZONE_CACHE_SECONDS = 3600.0

UNSENT = ("planned", "ready", "blocked", "approved", "sending")
FINISHED = ("sent", "reported", "cleaned", "cancelled", "missed", "failed")


@dataclass
class HomeData:
    """Everything the tab shows, as read from the database."""

    campaigns: Sequence[Row]
    rounds: Mapping[int, Sequence[Row]]
    approvals: Sequence[Row]
    alerts: Sequence[Row]
    frozen: Row | None
    now: datetime
    campaigns_total: int = 0
    approvals_total: int = 0


# --- reading -------------------------------------------------------------------------------

async def load_home(services: Services, now: datetime) -> HomeData:
    async with services.pool.acquire() as connection:
        campaigns = await connection.fetch(Q.home_campaigns, MAX_CAMPAIGNS)
        ids = [c["id"] for c in campaigns]
        round_rows = await connection.fetch(Q.home_rounds, ids) if ids else []
        approvals = await connection.fetch(Q.home_pending_approvals, now, MAX_APPROVALS)
        alerts = await connection.fetch(Q.home_recent_alerts, now - ALERTS_SINCE, MAX_ALERTS * 3)
        frozen = await connection.fetchrow(Q.freeze_state)
    rounds: dict[int, list[Row]] = {}
    for r in round_rows:
        rounds.setdefault(r["campaign_id"], []).append(r)
    return HomeData(
        campaigns=campaigns, rounds=rounds, approvals=approvals, alerts=alerts, frozen=frozen, now=now,
        campaigns_total=campaigns[0]["total"] if campaigns else 0,
        approvals_total=approvals[0]["total"] if approvals else 0,
    )


_zone_cache: dict[str, tuple[float, str]] = {}  # user -> (valid until, zone)
ZONE_RETRY_SECONDS = 300.0


async def user_zone(services: Services, user_id: str) -> str:
    """The user's Slack time zone (users.info `tz`, which needs the users:read scope), else
    DEFAULT_TIMEZONE. Cached for an hour; a failed look-up is retried after five minutes."""
    cached = _zone_cache.get(user_id)
    if cached and time.monotonic() < cached[0]:
        return cached[1]
    zone = services.settings.DEFAULT_TIMEZONE
    ttl = ZONE_CACHE_SECONDS
    try:
        info = await services.slack.users_info(user=user_id)
        candidate = (info.get("user") or {}).get("tz")
        if candidate:
            ZoneInfo(candidate)  # refuse what zoneinfo cannot read
            zone = candidate
    except Exception as exc:  # noqa: BLE001 - the default zone is a fine answer; the log says why
        log.warning("could not read the user's time zone; using the default", user=user_id, error=str(exc))
        ttl = ZONE_RETRY_SECONDS
    _zone_cache[user_id] = (time.monotonic() + ttl, zone)
    return zone


async def publish_home(services: Services, user_id: str, *, notice: str | None = None) -> bool:
    """Build and publish `user_id`'s Home tab. Never raises: a failure is logged and False returned,
    so callers (a click, an event) are not failed by a Home refresh."""
    try:
        zone = await user_zone(services, user_id)
        data = await load_home(services, services.clock.now())
        view = home_view(data, zone=zone, role=services.roles.role_of(user_id), notice=notice)
        await services.slack.views_publish(user_id=user_id, view=view)
        return True
    except Exception:  # noqa: BLE001 - logged with the traceback; the tab keeps its previous content
        log.exception("could not publish the Home tab", user=user_id)
        return False


def register_home(app: AsyncApp, services: Services) -> None:
    @app.event("app_home_opened")
    async def app_home_opened(event: dict[str, Any]) -> None:
        # Events are acked by Bolt before this runs. The Messages and About tabs fire it too.
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        async with services.pool.acquire() as connection:
            await connection.execute(Q.home_viewer_seen, event["user"], services.clock.now())
        await publish_home(services, event["user"])


# Tabs opened within this long are kept current after state changes.
RECENT_VIEWERS = timedelta(days=1)


async def refresh_recent_viewers(services: Services) -> int:
    """Re-publish the Home tab of everyone who opened it lately; returns how many."""
    async with services.pool.acquire() as connection:
        users = [r["user_id"] for r in await connection.fetch(Q.home_recent_viewers, services.clock.now() - RECENT_VIEWERS)]
    for user_id in users:
        await publish_home(services, user_id)
    return len(users)


# --- building (pure) ---------------------------------------------------------------------------

def _section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": fit(text, SECTION_TEXT) or " "}}
    if block_id:
        block["block_id"] = block_id
    return block


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": fit(text, HEADER_TEXT) or " ", "emoji": True}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(text, CONTEXT_TEXT) or " "}]}


def _divider() -> dict[str, Any]:
    return {"type": "divider"}


def _quoted(name: str) -> str:
    return f'"{name}"'


def _next_event(stage: str | None, due_at: datetime | None, zone: str, round_number: int | None = None) -> str:
    if not stage or not due_at:
        return "nothing scheduled"
    of_round = f" of round {round_number}" if round_number is not None else ""
    return f"{blocks.STAGE_LABEL.get(stage, stage)}{of_round} at {blocks.when(due_at, zone)}"


def round_line(round_row: Row, zone: str, frozen: bool) -> str:
    """`• Round 1 — :calendar: *planned* · held · sends … · next: Pre-flight at …`"""
    parts = [f"• Round {round_row['number']} — {blocks.state_text(round_row, frozen)}"]
    state = round_row["state"]
    if state in ("sent", "reported", "cleaned"):
        parts.append(f"sent for {blocks.when(round_row['scheduled_at'], zone)}")
    elif state in ("cancelled", "missed", "failed"):
        parts.append(f"was {blocks.when(round_row['scheduled_at'], zone)}")
    else:
        parts.append(f"sends {blocks.when(round_row['scheduled_at'], zone)}")
    if round_row.get("approved_by"):
        parts.append(f"approved by <@{round_row['approved_by']}>")
    if round_row.get("next_stage"):
        parts.append("next: " + _next_event(round_row["next_stage"], round_row["next_due_at"], zone))
    return " · ".join(parts)


def campaign_section(campaign: Row, rounds: Sequence[Row], zone: str, frozen: bool) -> dict[str, Any]:
    """One campaign in one section: a head line, its next event, then a line per round. Past
    CAMPAIGN_BUDGET characters the rounds still to come are kept first, then the latest
    finished ones; the others are counted and `/campaign status` is pointed to."""
    sent = sum(1 for r in rounds if r["state"] in ("sent", "reported", "cleaned"))
    head = (f"*{campaign['name']}* · {sent}/{campaign['round_count']} rounds sent · approval "
            f"{campaign['approval_policy']} · {blocks.planning_label(campaign['planning_state'])}")
    lines = [head]
    if campaign["planning_state"] == "pending":
        lines.append(":hourglass_flowing_sand: Planning: splitting the master list and creating each round's list and draft.")
    elif campaign["planning_state"] == "failed":
        lines.append(f":rotating_light: Planning failed: {campaign.get('planning_error') or 'see the log'}. Nothing will be sent.")
    if campaign.get("next_stage"):
        lines.append("Next: " + _next_event(campaign["next_stage"], campaign["next_due_at"], zone, campaign["next_round"]))
    # Rounds still to come first when they cannot all be shown.
    shown = list(rounds)
    round_lines = [round_line(r, zone, frozen) for r in shown]
    used = sum(len(line) + 1 for line in lines)
    footer = f"`/campaign status {_quoted(campaign['name'])}` shows every round and stage."
    budget = CAMPAIGN_BUDGET - len(footer) - 80
    if used + sum(len(line) + 1 for line in round_lines) > budget:
        upcoming = [r for r in shown if r["state"] not in FINISHED]
        done = [r for r in shown if r["state"] in FINISHED]
        ordered = upcoming + done[::-1]  # the most recent finished rounds after the upcoming ones
        kept: list[Row] = []
        for r in ordered:
            line = round_line(r, zone, frozen)
            if used + len(line) + 1 > budget:
                break
            kept.append(r)
            used += len(line) + 1
        kept.sort(key=lambda r: r["number"])
        hidden = len(shown) - len(kept)
        round_lines = [round_line(r, zone, frozen) for r in kept]
        round_lines.append(f"… {hidden} more round{'s' if hidden != 1 else ''} not shown. {footer}")
    lines.extend(round_lines)
    return _section("\n".join(lines), block_id=f"campaign:{campaign['id']}")


def approval_blocks(row: Row, zone: str, role: Role) -> list[dict[str, Any]]:
    campaign = {"id": row["campaign_id"], "name": row["name"], "round_count": row["round_count"],
                "timezone": row["timezone"], "approval_policy": row["approval_policy"]}
    window_closes = row["scheduled_at"] + row["launch_window"]
    text = (f":hourglass: *{row['name']}* · round {row['number']} of {row['round_count']} — "
            f"{blocks.state_text(row)}\nSends {blocks.when(row['scheduled_at'], zone)} · "
            f"{row['recipient_count'] if row['recipient_count'] is not None else '—'} recipients · "
            f"pre-flight #{row['preflight_run_id']} passed {blocks.when(row['preflight_ran_at'], zone)}\n"
            f"Must be approved before the launch window closes ({blocks.when(window_closes, zone)}).")
    out = [_section(text)]
    if role >= Role.operator:
        out.append(blocks.round_buttons(campaign, row, blocks.preflight_block_id(row["preflight_run_id"]),
                                         approve=role >= Role.approver))
    return out


def _alert_summary(entry: Row) -> str:
    detail = entry["detail"] or {}
    if not isinstance(detail, Mapping):
        return ""
    for key in ("summary", "error", "reason"):
        if detail.get(key):
            return str(detail[key])
    return ""


def alert_lines(entries: Sequence[Row], zone: str, limit: int = MAX_ALERTS) -> list[str]:
    """Newest first; repeats of one alert in a row (a stage retrying) are folded into one line."""
    lines: list[str] = []
    previous: tuple[Any, ...] | None = None
    repeats = 1
    for entry in entries:
        key = (entry["action"], entry["campaign_id"], entry["round_id"])
        if key == previous:
            repeats += 1
            lines[-1] = lines[-1].split(" (×")[0] + f" (×{repeats})"
            continue
        if len(lines) >= limit:
            break
        previous, repeats = key, 1
        where = f"*{entry['campaign_name']}*" if entry["campaign_name"] else "all campaigns"
        if entry["round_number"]:
            where += f" round {entry['round_number']}"
        summary = _alert_summary(entry)
        line = f"• {blocks.when(entry['at'], zone)} · {where} · *{entry['action']}*" + (f" — {reason(summary, 300)}" if summary else "")
        lines.append(line)
    return lines


def home_view(data: HomeData, *, zone: str, role: Role = Role.anyone, notice: str | None = None) -> dict[str, Any]:
    """The Home tab view (≤ 100 blocks)."""
    frozen = bool(data.frozen and data.frozen["frozen"])
    out: list[dict[str, Any]] = [_header(":mailbox_with_mail: Campaigns")]
    out.append(_context(f"Times in {zone} (your Slack time zone) with UTC beside them · updated "
                        f"{blocks.when(data.now, zone)} · `/campaign help` for every command"))
    if notice:
        out.append(_section(notice, block_id="notice"))
    if frozen:
        assert data.frozen is not None
        who = f" by <@{data.frozen['changed_by']}>" if data.frozen.get("changed_by") else ""
        since = f" since {blocks.when(data.frozen['changed_at'], zone)}" if data.frozen.get("changed_at") else ""
        why = f": {reason(data.frozen['reason'])}" if data.frozen.get("reason") else ""
        out.append(_section(f":ice_cube: *All sends are frozen*{who}{since}{why}. Nothing is sent until an admin "
                            "runs `/campaign unfreeze`.", block_id="freeze"))

    # Pending approvals: what needs someone now.
    out.append(_divider())
    out.append(_header(f"Waiting for approval ({data.approvals_total})"))
    if data.approvals:
        if role < Role.approver:
            out.append(_context("Only approvers can approve; the server checks the role on every click."))
        for row in data.approvals[:MAX_APPROVALS]:
            out.extend(approval_blocks(row, zone, role))
        more = data.approvals_total - min(len(data.approvals), MAX_APPROVALS)
        if more > 0:
            out.append(_context(f"… and {more} more waiting; the soonest are shown. Each round's pre-flight result "
                                "in the channel has the same buttons."))
    else:
        out.append(_context("No round is waiting for approval."))

    # Campaigns, most relevant first.
    out.append(_divider())
    active = data.campaigns[0]["active_total"] if data.campaigns else 0
    out.append(_header(f"Campaigns ({active} active, {data.campaigns_total} in all)"))
    if not data.campaigns:
        out.append(_context("No campaigns yet. Plan one with `/campaign new`."))
    for campaign in data.campaigns[:MAX_CAMPAIGNS]:
        out.append(campaign_section(campaign, data.rounds.get(campaign["id"], []), zone, frozen))
    hidden = data.campaigns_total - min(len(data.campaigns), MAX_CAMPAIGNS)
    if hidden > 0:
        out.append(_context(f"… and {hidden} more campaign{'s' if hidden != 1 else ''} (older or finished) not shown: "
                            "`/campaign list` lists them all."))

    # Recent alerts.
    out.append(_divider())
    out.append(_header("Recent alerts"))
    lines = alert_lines(data.alerts, zone)
    if lines:
        text = ""
        for line in lines:
            if len(text) + len(line) + 1 > SECTION_BUDGET:
                break
            text += line + "\n"
        out.append(_section(text.rstrip("\n"), block_id="alerts"))
    else:
        out.append(_context(f"No alerts in the last {ALERTS_SINCE.days} days."))

    if len(out) > MAX_VIEW_BLOCKS:  # cannot happen with the limits above; never publish an invalid view
        out = out[: MAX_VIEW_BLOCKS - 1] + [_context("(Shortened to fit Slack's limit.)")]
    return {"type": "home", "callback_id": "campaign_home", "blocks": out}
