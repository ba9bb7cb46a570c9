"""The `/campaign` slash command: ack at once, then do the work and answer.

Help and bad input are answered in the ack itself (no I/O, well inside Slack's 3 s).
Everything else is acked empty and answered through `respond` (ephemeral), after the
role check. Role check, metric and errors go through handlers/glue.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import controls, operations, slack_text
from bot.campaigns import create_campaign
from bot.grammar import USAGE, Command, CommandError, help_text, parse
from bot.list_cleanup import cleanup_now
from bot.messages.common import plural, section, slack_escape, when
from bot.messages.replies import audit_text, campaigns_list_text, planning_text, status_blocks
from bot.messages.rounds import cancel_button
from bot.metrics import COMMANDS
from bot.reasons import store_cancel_request
from bot.rehearsal import start_rehearsal
from bot.reporting import report_now
from bot.services import Services
from bot.states import PRE_SEND
from handlers.glue import finish, guarded, role_refusal
from handlers.modal import open_new_campaign_modal
from storage.queries import Q

LOG_PAGE_SIZE = 20


@dataclass(frozen=True)
class Reply:
    text: str
    blocks: list[dict[str, Any]] | None = None


@dataclass
class Invocation:
    services: Services
    command: Command
    user_id: str
    channel_id: str
    trigger_id: str | None
    client: AsyncWebClient


Handler = Callable[[Invocation], Awaitable[Reply | None]]
_HANDLERS: dict[str, Handler] = {}


def subcommand(name: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        _HANDLERS[name] = func
        return func

    return register


def register_commands(app: AsyncApp, services: Services) -> None:
    @app.command("/campaign")
    async def campaign_command(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
        text = command.get("text") or ""
        user_id = command.get("user_id", "")
        try:
            parsed = parse(text, default_timezone=services.settings.DEFAULT_TIMEZONE,
                           default_holidays=services.settings.DEFAULT_HOLIDAYS)
        except CommandError as exc:
            COMMANDS.labels("invalid", "error").inc()
            await ack(text=finish(services, slack_escape(exc.reply_text()))["text"])
            return
        if parsed.subcommand == "help":
            COMMANDS.labels("help", "ok").inc()
            await ack(text=finish(services, slack_escape(help_text()))["text"])
            return
        refusal = role_refusal(services, COMMANDS, user_id, parsed.subcommand)
        if refusal:
            await ack(text=finish(services, refusal)["text"])
            return
        await ack()
        invocation = Invocation(services, parsed, user_id, command.get("channel_id", ""), command.get("trigger_id"), client)
        reply = await dispatch(invocation)
        if reply is not None:
            await respond(**finish(services, reply.text, reply.blocks), response_type="ephemeral", replace_original=False)


async def dispatch(invocation: Invocation) -> Reply | None:
    sub = invocation.command.subcommand
    handler = _HANDLERS.get(sub)
    if handler is None:
        COMMANDS.labels(sub, "unavailable").inc()
        return Reply(f":construction: `/campaign {sub}` is not available in this version yet. "
                     f"Usage when it arrives: `{slack_escape(USAGE[sub].splitlines()[-1])}`")
    return await guarded(COMMANDS, sub, lambda: handler(invocation), Reply,
                         crash=f":boom: `/campaign {sub}` failed unexpectedly ({{error}}). "
                               "Nothing was changed by the failed step; the error is in the bot's log.")


async def load_campaign(invocation: Invocation, name: str) -> Any:
    async with invocation.services.pool.acquire() as connection:
        campaign = await connection.fetchrow(Q.campaign_by_name, name)
    if campaign is None:
        raise CommandError(f"there is no campaign named `{name}` (see `/campaign list`)", invocation.command.subcommand)
    return campaign


@subcommand("list")
async def list_campaigns(invocation: Invocation) -> Reply:
    async with invocation.services.pool.acquire() as connection:
        rows = await connection.fetch(Q.campaigns_overview, 50, 0)
        frozen = await connection.fetchrow(Q.freeze_state)
        archived = await connection.fetchval(Q.campaigns_archived_count)
    text = campaigns_list_text(rows, invocation.services.settings.DEFAULT_TIMEZONE, frozen)
    if archived:
        text += (f"\n_{plural(archived, 'archived campaign')} not shown; "
                 "`/campaign status`, `report` and `log` still answer by name._")
    return Reply(text)


@subcommand("status")
async def status(invocation: Invocation) -> Reply:
    campaign = await load_campaign(invocation, invocation.command.name or "")
    async with invocation.services.pool.acquire() as connection:
        rounds = await connection.fetch(Q.rounds_of_campaign, campaign["id"])
        stage_rows = await connection.fetch(Q.stage_runs_of_campaign, campaign["id"])
        approvals = {a["round_id"]: a for a in await connection.fetch(Q.live_approvals_of_campaign, campaign["id"])}
        frozen = await connection.fetchrow(Q.freeze_state)
    stages: dict[int, list[Any]] = {}
    for s in stage_rows:
        stages.setdefault(s["round_id"], []).append(s)
    return Reply(f"Status of {campaign['name']}", status_blocks(campaign, rounds, stages, approvals, frozen))


@subcommand("log")
async def audit_log(invocation: Invocation) -> Reply:
    campaign = await load_campaign(invocation, invocation.command.name or "")
    page = invocation.command.page
    async with invocation.services.pool.acquire() as connection:
        total = await connection.fetchval(Q.audit_count, campaign["id"])
        entries = await connection.fetch(Q.audit_page, campaign["id"], LOG_PAGE_SIZE, (page - 1) * LOG_PAGE_SIZE)
    pages = max(1, -(-total // LOG_PAGE_SIZE))
    return Reply(audit_text(campaign, entries, page, pages))


@subcommand("new")
async def new_campaign(invocation: Invocation) -> Reply | None:
    new = invocation.command.new
    if new is None:
        await open_new_campaign_modal(invocation.client, invocation.trigger_id, invocation.services,
                                      channel_id=invocation.channel_id)
        return None
    created = await create_campaign(invocation.services, new, invocation.user_id)
    return Reply(planning_text(new, created))


# --- controls -------------------------------------------------------------------------------

async def round_of(invocation: Invocation) -> controls.CampaignRound:
    """The round the command names; a campaign or round that does not exist is bad input."""
    async with invocation.services.pool.acquire() as connection:
        try:
            return await controls.find_round(connection, name=invocation.command.name, number=invocation.command.round)
        except controls.Refused as exc:
            raise CommandError(str(exc), invocation.command.subcommand) from None


async def _campaign_rounds(invocation: Invocation) -> tuple[Any, list[Any]]:
    """The campaign and the rounds a hold/resume applies to: one, or all of them."""
    campaign = await load_campaign(invocation, invocation.command.name or "")
    async with invocation.services.pool.acquire() as connection:
        rounds = list(await connection.fetch(Q.rounds_of_campaign, campaign["id"]))
    if invocation.command.round is not None:
        rounds = [r for r in rounds if r["number"] == invocation.command.round]
        if not rounds:
            raise CommandError(f"*{campaign['name']}* has no round {invocation.command.round}", invocation.command.subcommand)
    return campaign, rounds


@subcommand("preflight")
async def preflight(invocation: Invocation) -> Reply:
    target = await round_of(invocation)
    return Reply(await controls.preflight_now(invocation.services, target, invocation.user_id))


@subcommand("approve")
async def approve(invocation: Invocation) -> Reply:
    target = await round_of(invocation)
    return Reply(await controls.approve(invocation.services, target, invocation.user_id))


@subcommand("hold")
async def hold(invocation: Invocation) -> Reply:
    campaign, rounds = await _campaign_rounds(invocation)
    return Reply(await controls.hold(invocation.services, campaign, rounds, invocation.user_id, invocation.command.reason))


@subcommand("resume")
async def resume(invocation: Invocation) -> Reply:
    campaign, rounds = await _campaign_rounds(invocation)
    return Reply(await controls.resume(invocation.services, campaign, rounds, invocation.user_id))


@subcommand("cancel")
async def cancel(invocation: Invocation) -> Reply:
    """Asks to confirm with a button of its own; the click (cancel_round) does the cancelling."""
    target = await round_of(invocation)
    round_row = target.round
    if round_row["state"] not in PRE_SEND:
        return Reply(f":no_entry_sign: round {round_row['number']} is {round_row['state']}; only an unsent round can be cancelled")
    reason = invocation.command.reason or ""
    # The reason rides with the click by reference: a block_id holds 255 characters, a reason any length.
    request_id = await store_cancel_request(invocation.services.pool, round_id=round_row["id"], reason=reason,
                                            user=invocation.user_id, now=invocation.services.clock.now()) if reason else None
    text = (f"Cancel round {round_row['number']} of *{target.campaign['name']}* "
            f"(sends {when(round_row['scheduled_at'], target.campaign['timezone'])})?"
            + (f" Reason: {slack_text.reason(reason)}" if reason else ""))
    return Reply(text, [section(text), cancel_button(target.campaign, round_row, request_id)])


@subcommand("reschedule")
async def reschedule(invocation: Invocation) -> Reply:
    target = await round_of(invocation)
    try:
        return Reply(await controls.reschedule(invocation.services, target, invocation.user_id, invocation.command.extra["instant"]))
    except controls.Refused as exc:
        return Reply(f":no_entry_sign: {exc}\nUsage: `{slack_escape(USAGE['reschedule'])}`")


@subcommand("freeze")
async def freeze(invocation: Invocation) -> Reply:
    return Reply(await controls.set_freeze(invocation.services, invocation.user_id, frozen=True, reason=invocation.command.reason))


@subcommand("unfreeze")
async def unfreeze(invocation: Invocation) -> Reply:
    return Reply(await controls.set_freeze(invocation.services, invocation.user_id, frozen=False, reason=None))


@subcommand("report")
async def report(invocation: Invocation) -> Reply:
    campaign = await load_campaign(invocation, invocation.command.name or "")
    if invocation.command.round is not None and invocation.command.round > campaign["round_count"]:
        raise CommandError(f"*{campaign['name']}* has no round {invocation.command.round}", "report")
    report_blocks = await report_now(invocation.services, campaign, invocation.command.round)
    return Reply(f"Report of {campaign['name']}", report_blocks or [section("No rounds to report.")])


@subcommand("cleanup")
async def cleanup(invocation: Invocation) -> Reply:
    campaign = await load_campaign(invocation, invocation.command.name or "")
    return Reply(await cleanup_now(invocation.services, campaign, invocation.command.round or 0, invocation.user_id))


@subcommand("rehearse")
async def rehearse(invocation: Invocation) -> Reply:
    campaign = await load_campaign(invocation, invocation.command.name or "")
    return Reply(await start_rehearsal(invocation.services, campaign, invocation.user_id))


# --- the week-after-week operations (bot/operations.py) ----------------------------------------

@subcommand("resolve")
async def resolve(invocation: Invocation) -> Reply:
    command = invocation.command
    return Reply(await operations.resolve(invocation.services, await round_of(invocation), invocation.user_id,
                                          command.extra["outcome"], command.reason))


@subcommand("suppression")
async def suppression(invocation: Invocation) -> Reply:
    return Reply(await operations.suppression(invocation.services, invocation.command.extra["email"]))


@subcommand("unsuppress")
async def unsuppress(invocation: Invocation) -> Reply:
    return Reply(await operations.unsuppress(invocation.services, invocation.command.extra["email"], invocation.user_id,
                                             invocation.command.reason))


@subcommand("archive")
async def archive(invocation: Invocation) -> Reply:
    campaign = await load_campaign(invocation, invocation.command.name or "")
    return Reply(await operations.archive(invocation.services, campaign, invocation.user_id))
