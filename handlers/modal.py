"""`/campaign new` with no arguments: a modal with the text form's options as fields (the
views are bot/messages/modal.py).

The submission is turned into the text grammar's options and goes through the same code
as `/campaign new <name> …`: `bot.grammar._build_new`, then `bot.campaigns.create_campaign`
(which checks the list and draft in Mailjet and writes the campaign). Bad input keeps the
modal open with the message under the field it is about (`response_action: errors`) and
writes nothing. On success the modal closes and the user gets the text form's reply as an
ephemeral message in the channel the command came from.

Slack wants the submission acked within 3 s. Syntax errors are answered at once; the Mailjet
checks usually finish well inside the budget too. If they do not, the modal is switched to a
"checking" view and updated with the result when it arrives (the form again, filled in, with
the error on top; or the confirmation).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import holiday_calendar, schedule
from bot.campaigns import create_campaign
from bot.grammar import DEFAULT_HOLIDAYS, CommandError, _build_new, _name
from bot.logs import get_logger
from bot.messages.modal import (ACTION, APPROVAL, AT, CALLBACK_ID, DAYS, DRAFT, FIELD_LABELS, HOLIDAYS, LIST, NAME,
                                OFFSETS, PROGRESS_CALLBACK_ID, ROUNDS, START, TIME, TZ, WINDOW, done_view,
                                new_campaign_modal, progress_view)
from bot.messages.replies import planning_text
from bot.metrics import COMMANDS
from bot.schedule import ScheduleError
from bot.services import Services
from handlers.glue import role_refusal
from handlers.home import publish_home

log = get_logger(__name__)

ACK_BUDGET_SECONDS = 2.2  # Slack allows 3 s for the ack of a view_submission
_QUOTE_CHARS = '"“”„'


class FieldError(ValueError):
    def __init__(self, block_id: str, message: str):
        super().__init__(message)
        self.block_id = block_id
        self.message = message


# --- reading the submission (pure) ----------------------------------------------------------------

def _element(values: Mapping[str, Any], block_id: str) -> Mapping[str, Any]:
    return (values.get(block_id) or {}).get(ACTION) or {}


def _text(values: Mapping[str, Any], block_id: str) -> str:
    return str(_element(values, block_id).get("value") or "").strip()


def _selected(values: Mapping[str, Any], block_id: str) -> str:
    return str((_element(values, block_id).get("selected_option") or {}).get("value") or "")


def submitted_options(values: Mapping[str, Any], *, default_zone: str,
                      default_holidays: str = DEFAULT_HOLIDAYS) -> tuple[str, dict[str, str]]:
    """The modal's state values → (name, the text grammar's options). Raises FieldError.

    Each field is checked on its own with the grammar's own parsers first, so a message lands
    on the field it is about; `_build_new` then checks how the fields go together."""
    name = _text(values, NAME)
    if not name:
        raise FieldError(NAME, "Give the campaign a name.")
    if any(q in name for q in _QUOTE_CHARS):
        raise FieldError(NAME, "A name cannot contain double quotes: commands quote the name with them.")
    try:
        name = _name([name], "new")
    except CommandError as exc:
        raise FieldError(NAME, exc.message) from None

    options: dict[str, str] = {}
    for block_id in (LIST, DRAFT):
        value = _text(values, block_id)
        if not value:
            raise FieldError(block_id, f"Give the Mailjet {'contacts list' if block_id == LIST else 'campaign draft'} id.")
        if not re.fullmatch(r"\d{1,18}", value) or int(value) < 1:
            raise FieldError(block_id, f"{block_id}= must be a Mailjet id (a positive number), got {value}")
        options[block_id] = value
    options[ROUNDS] = _selected(values, ROUNDS) or "3"
    start = str(_element(values, START).get("selected_date") or "")
    if start:
        options[START] = start
    days = [str(o.get("value")) for o in (_element(values, DAYS).get("selected_options") or [])]
    if not days:
        raise FieldError(DAYS, "Choose at least one send day.")
    options[DAYS] = ",".join(days)
    options[TIME] = str(_element(values, TIME).get("selected_time") or "09:15")
    options[TZ] = _selected(values, TZ) or default_zone
    options[APPROVAL] = _selected(values, APPROVAL) or "required"
    options[HOLIDAYS] = _text(values, HOLIDAYS) or default_holidays
    at = _text(values, AT)
    if at:
        options[AT] = ",".join(part.strip() for part in re.split(r"[,\n]+", at) if part.strip())
    for block_id in (OFFSETS, WINDOW):
        value = re.sub(r"\s+", "", _text(values, block_id))
        if value:
            options[block_id] = value

    try:
        holiday_calendar.parse_code(options[HOLIDAYS])
    except holiday_calendar.CalendarError as exc:
        raise FieldError(HOLIDAYS, str(exc)) from None
    checks: list[tuple[str, Any]] = [
        (TZ, lambda: schedule.parse_zone(options[TZ])),
        (DAYS, lambda: schedule.parse_days(options[DAYS])),
        (TIME, lambda: schedule.parse_time_of_day(options[TIME])),
    ]
    if AT in options:
        checks.append((AT, lambda: [schedule.parse_instant(i, schedule.parse_zone(options[TZ])) for i in options[AT].split(",")]))
    if OFFSETS in options:
        checks.append((OFFSETS, lambda: schedule.parse_offsets(options[OFFSETS])))
    if WINDOW in options:
        checks.append((WINDOW, lambda: schedule.parse_duration(options[WINDOW])))
    for block_id, check in checks:
        try:
            check()
        except ScheduleError as exc:
            raise FieldError(block_id, str(exc)) from None
    return name, options


# Which field a message of the grammar or of create_campaign is about; the first match wins.
_FIELD_RULES: tuple[tuple[str, str], ...] = (
    (HOLIDAYS, r"\bholidays="),
    (ROUNDS, r"not enough for \d+ rounds"),
    (NAME, r"already exists"),
    (AT, r"\bat="),
    (LIST, r"\blist=|the list and draft"),
    (DRAFT, r"\bdraft="),
    (START, r"\bstart="),
    (WINDOW, r"\bwindow="),
    (ROUNDS, r"\brounds=|\brounds\b"),
    (APPROVAL, r"\bapproval="),
    (DAYS, r"\bdays\b"),
    (TIME, r"\btime must\b|\btime="),
    (TZ, r"time zone|\btz="),
    (OFFSETS, r"stage|offset|prelaunch|preflight|warning|wrapup|cleanup|duration"),
)


def field_for(message: str) -> str:
    for block_id, pattern in _FIELD_RULES:
        if re.search(pattern, message):
            return block_id
    return NAME


def field_message(message: str) -> str:
    """Field errors are plain text: no mrkdwn emphasis or code marks."""
    return re.sub(r"[`*]", "", message).strip()[:1000]


def errors_for(message: str) -> dict[str, str]:
    return {field_for(message): field_message(message)}


def _channel_of(view: Mapping[str, Any]) -> str:
    try:
        return str(json.loads(view.get("private_metadata") or "{}").get("channel") or "")
    except (ValueError, AttributeError):
        return ""


# --- Slack I/O --------------------------------------------------------------------------------

async def open_new_campaign_modal(client: AsyncWebClient, trigger_id: str | None, services: Services, *, channel_id: str = "") -> None:
    """Open the form (views.open). The trigger lives 3 s, so this is called right after the ack.
    Raises CommandError when Slack refuses, so `/campaign new` answers with the usage."""
    if not trigger_id:
        raise CommandError("the form needs a trigger from Slack and this request had none; use the text form", "new")
    view = new_campaign_modal(default_zone=services.settings.DEFAULT_TIMEZONE, channel_id=channel_id,
                              default_holidays=services.settings.DEFAULT_HOLIDAYS)
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else str(exc)
        log.warning("could not open the new-campaign form", error=error)
        raise CommandError(f"Slack did not open the form ({error}); try again or use the text form", "new") from None


async def tell_user(services: Services, client: AsyncWebClient, user_id: str, channel_id: str, text: str) -> None:
    """Ephemeral in the channel the command came from, else in the campaign channel, else on the
    user's Home tab (a modal submission has no response_url)."""
    for channel in dict.fromkeys(c for c in (channel_id, services.channel_id, services.settings.CAMPAIGN_CHANNEL) if c):
        try:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=text)
            return
        except SlackApiError as exc:
            log.warning("could not answer the form in a channel", channel=channel,
                        error=exc.response.get("error") if exc.response is not None else str(exc))
    await publish_home(services, user_id, notice=text)


def _planning_failed(exc: Exception) -> tuple[str, str]:
    """The field and message the form shows when planning refused or failed: bad input on its
    field; anything else logged and shown on the name."""
    if isinstance(exc, CommandError):
        COMMANDS.labels("new", "error").inc()
        return field_for(exc.message), exc.message
    COMMANDS.labels("new", "crash").inc()
    log.exception("new campaign from the form failed")
    return NAME, f"Planning failed unexpectedly ({type(exc).__name__}); nothing was written. The error is in the bot's log."


async def handle_submission(services: Services, ack: AsyncAck, body: Mapping[str, Any], view: Mapping[str, Any],
                            client: AsyncWebClient) -> None:
    user_id = body["user"]["id"]
    refusal = role_refusal(services, COMMANDS, user_id, "new")
    if refusal:
        await ack(response_action="errors", errors={NAME: field_message(refusal)})
        return
    default_zone = services.settings.DEFAULT_TIMEZONE
    values = (view.get("state") or {}).get("values") or {}
    try:
        name, options = submitted_options(values, default_zone=default_zone,
                                          default_holidays=services.settings.DEFAULT_HOLIDAYS)
        new = _build_new(name, options)
    except FieldError as exc:
        COMMANDS.labels("new", "error").inc()
        await ack(response_action="errors", errors={exc.block_id: field_message(exc.message)})
        return
    except (ScheduleError, CommandError) as exc:
        COMMANDS.labels("new", "error").inc()
        await ack(response_action="errors", errors=errors_for(str(exc)))
        return

    channel_id = _channel_of(view)
    task = asyncio.ensure_future(create_campaign(services, new, user_id))
    await asyncio.wait({task}, timeout=ACK_BUDGET_SECONDS)
    if task.done():
        try:
            created = task.result()
        except Exception as exc:  # noqa: BLE001 - the user is told on the form; the log has the detail
            field, message = _planning_failed(exc)
            await ack(response_action="errors", errors={field: field_message(message)})
            return
        await ack()  # closes the modal
        COMMANDS.labels("new", "ok").inc()
        await tell_user(services, client, user_id, channel_id, planning_text(new, created))
        return

    # Mailjet is slow today: keep the modal open on a "checking" view and finish there.
    await ack(response_action="update", view=progress_view(new.name))
    view_id = view.get("id")
    try:
        created = await task
    except Exception as exc:  # noqa: BLE001 - the user is told on the form; the log has the detail
        field, message = _planning_failed(exc)
        form = new_campaign_modal(default_zone=default_zone, channel_id=channel_id,
                                  initial={NAME: name, **options}, error=f"*{FIELD_LABELS[field]}*: {message}",
                                  default_holidays=services.settings.DEFAULT_HOLIDAYS)
        try:
            await client.views_update(view_id=view_id, view=form)
        except SlackApiError:  # the user closed it meanwhile: answer in the channel instead
            await tell_user(services, client, user_id, channel_id, f":warning: {message}")
        return
    COMMANDS.labels("new", "ok").inc()
    text = planning_text(new, created)
    try:
        await client.views_update(view_id=view_id, view=done_view(text))
    except SlackApiError as exc:
        log.info("could not update the form after planning started", error=str(exc))
    await tell_user(services, client, user_id, channel_id, text)


def register_modal(app: AsyncApp, services: Services) -> None:
    @app.view(CALLBACK_ID)
    async def new_campaign_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:
        await handle_submission(services, ack, body, view, client)

    @app.view(PROGRESS_CALLBACK_ID)
    async def progress_submitted(ack: AsyncAck) -> None:  # the progress view has no submit button; be safe
        await ack()
