"""`/campaign new` with no arguments: a modal with the text form's options as fields
(PRODUCT.md section 8).

The submission is turned into the text grammar's options and goes through the same code
as `/campaign new <name> …`: `bot.commands._build_new`, then `bot.campaigns.create_campaign`
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

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot import holiday_calendar, schedule
from bot.campaigns import CreatedCampaign, create_campaign
from bot.commands import DEFAULT_HOLIDAYS, CommandError, NewCampaign, _build_new, _name
from bot.logs import get_logger
from bot.metrics import COMMANDS
from bot.schedule import ScheduleError
from bot.services import Services
from handlers import blocks
from handlers.home import publish_home

log = get_logger(__name__)

CALLBACK_ID = "new_campaign"
PROGRESS_CALLBACK_ID = "new_campaign_progress"
ACTION = "value"  # every input's action_id; the block_id says which field it is
ACK_BUDGET_SECONDS = 2.2  # Slack allows 3 s for the ack of a view_submission

# Block ids, named after the text grammar's options.
NAME, LIST, DRAFT, ROUNDS, START, DAYS, TIME, TZ, APPROVAL, AT, OFFSETS, WINDOW, HOLIDAYS = (
    "name", "list", "draft", "rounds", "start", "days", "time", "tz", "approval", "at", "offsets", "window", "holidays")
FIELD_LABELS = {NAME: "Campaign name", LIST: "Master list id", DRAFT: "Template draft id", ROUNDS: "Rounds",
                START: "Start date", DAYS: "Send days", TIME: "Send time", TZ: "Time zone", APPROVAL: "Approval",
                AT: "Explicit instants (at=)", OFFSETS: "Stage offsets", WINDOW: "Launch window",
                HOLIDAYS: "Public holidays"}

MAX_ROUNDS = 20
DAY_LABELS = (("mon", "Monday"), ("tue", "Tuesday"), ("wed", "Wednesday"), ("thu", "Thursday"),
              ("fri", "Friday"), ("sat", "Saturday"), ("sun", "Sunday"))
ZONES = (
    "Europe/London", "UTC", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin", "Europe/Madrid",
    "Europe/Rome", "Europe/Amsterdam", "Europe/Brussels", "Europe/Zurich", "Europe/Stockholm", "Europe/Warsaw",
    "Europe/Athens", "Europe/Helsinki", "Europe/Istanbul", "Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata",
    "Asia/Singapore", "Asia/Hong_Kong", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland", "America/Sao_Paulo",
    "America/New_York", "America/Toronto", "America/Chicago", "America/Denver", "America/Los_Angeles",
    "America/Mexico_City",
)
_QUOTE_CHARS = '"“”„'


class FieldError(ValueError):
    def __init__(self, block_id: str, message: str):
        super().__init__(message)
        self.block_id = block_id
        self.message = message


# --- the view (pure) --------------------------------------------------------------------------

def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _option(value: str, text: str | None = None) -> dict[str, Any]:
    return {"text": _plain(text or value), "value": value}


def _input(block_id: str, element: dict[str, Any], *, optional: bool = False, hint: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": _plain(FIELD_LABELS[block_id]),
                             "element": {**element, "action_id": ACTION}, "optional": optional}
    if hint:
        block["hint"] = _plain(hint)
    return block


def zone_choices(default_zone: str) -> list[str]:
    return [default_zone, *[z for z in ZONES if z != default_zone]]


def new_campaign_modal(*, default_zone: str, channel_id: str = "", initial: Mapping[str, str] | None = None,
                       error: str | None = None, default_holidays: str = DEFAULT_HOLIDAYS) -> dict[str, Any]:
    """The form. `initial` (option key → text, as the grammar spells it) fills it in again."""
    initial = dict(initial or {})
    zone = initial.get(TZ) or default_zone
    zones = zone_choices(default_zone)
    if zone not in zones:
        zones.insert(0, zone)
    rounds = initial.get(ROUNDS) or "3"
    days = [d for d in (initial.get(DAYS) or "tue,thu").split(",") if d in dict(DAY_LABELS)]
    approval = initial.get(APPROVAL) or "required"
    initial.setdefault(HOLIDAYS, default_holidays)

    def text_input(block_id: str, **extra: Any) -> dict[str, Any]:
        element: dict[str, Any] = {"type": "plain_text_input", **extra}
        if initial.get(block_id):
            element["initial_value"] = initial[block_id]
        return element

    def number_input(block_id: str) -> dict[str, Any]:
        element: dict[str, Any] = {"type": "number_input", "is_decimal_input": False, "min_value": "1"}
        if initial.get(block_id):
            element["initial_value"] = initial[block_id]
        return element

    day_options = [_option(key, label) for key, label in DAY_LABELS]
    approval_options = [_option("required", "Required: an approver approves each round"),
                        _option("auto", "Automatic: a round goes out once its pre-flight passes")]
    out: list[dict[str, Any]] = []
    if error:
        out.append({"type": "section", "block_id": "error", "text": {"type": "mrkdwn", "text": f":warning: {error}"[:3000]}})
    out += [
        _input(NAME, text_input(NAME, max_length=80, placeholder=_plain("Client Letter Automation")),
               hint="Unique; at most 80 characters. Commands name it in quotes: /campaign status \"…\""),
        _input(LIST, number_input(LIST), hint="The Mailjet contacts list to split into rounds (never modified)."),
        _input(DRAFT, number_input(DRAFT), hint="The Mailjet campaign draft each round's draft is copied from."),
        _input(ROUNDS, {"type": "static_select", "options": [_option(str(n)) for n in range(1, MAX_ROUNDS + 1)],
                        "initial_option": _option(rounds if rounds.isdigit() and 1 <= int(rounds) <= MAX_ROUNDS else "3")}),
        _input(START, {"type": "datepicker", **({"initial_date": initial[START]} if initial.get(START) else {}),
                       "placeholder": _plain("Today")}, optional=True,
               hint="Round 1 goes out on the first send day from this date. Empty: from today."),
        _input(DAYS, {"type": "checkboxes", "options": day_options,
                      "initial_options": [o for o in day_options if o["value"] in days] or None}),
        _input(TIME, {"type": "timepicker", "initial_time": initial.get(TIME) or "09:15"},
               hint="Wall-clock time in the campaign's time zone."),
        _input(TZ, {"type": "static_select", "options": [_option(z) for z in zones[:100]], "initial_option": _option(zone)}),
        _input(APPROVAL, {"type": "radio_buttons", "options": approval_options,
                          "initial_option": next((o for o in approval_options if o["value"] == approval), approval_options[0])}),
        _input(HOLIDAYS, text_input(HOLIDAYS, max_length=40, placeholder=_plain("GB-ENG")),
               hint="Planning never picks a public holiday of this calendar: a country (US, FR) or country-subdivision "
                    "(GB-ENG, GB-SCT) code of the holidays package, or none."),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "*Advanced (optional)*, as in the text form."}]},
        _input(AT, text_input(AT, multiline=True, placeholder=_plain("2026-12-01T09:15, 2026-12-03T09:15")), optional=True,
               hint="One ISO instant per round, in order, comma-separated; replaces start, days and time. "
                    "Without an offset it is read in the time zone above."),
        _input(OFFSETS, text_input(OFFSETS, placeholder=_plain("prelaunch:-21h,preflight:-3h15m,warning:-15m,wrapup:+2h,cleanup:+24h")),
               optional=True, hint="Only the stages you change; the others keep their defaults."),
        _input(WINDOW, text_input(WINDOW, placeholder=_plain("2h")), optional=True,
               hint="How long after its instant a round may still go out. Default 2h."),
    ]
    for block in out:  # Slack refuses `initial_options: null`
        element = block.get("element") or {}
        if "initial_options" in element and element["initial_options"] is None:
            del element["initial_options"]
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": _plain("New campaign"),
        "submit": _plain("Plan campaign"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"channel": channel_id}),
        "blocks": out,
    }


def progress_view(name: str) -> dict[str, Any]:
    return {"type": "modal", "callback_id": PROGRESS_CALLBACK_ID, "title": _plain("New campaign"), "close": _plain("Close"),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text":
                        f":hourglass_flowing_sand: Checking the list and draft of *{name}* in Mailjet… "
                        "This view updates when it is done; you will also get the answer in the channel."[:3000]}}]}


def done_view(text: str) -> dict[str, Any]:
    return {"type": "modal", "callback_id": PROGRESS_CALLBACK_ID, "title": _plain("New campaign"), "close": _plain("Close"),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]}


def planning_text(new: NewCampaign, created: CreatedCampaign) -> str:
    """The reply to a successful `/campaign new`, the same for the text form and the modal."""
    zone = new.zone.key
    lines = [f":spiral_calendar_pad: Planning *{new.name}*: {blocks.plural(new.rounds, 'round')}, approval {new.approval}, "
             f"public holidays: {new.holidays or 'none'}."]
    for r in created.rounds:
        lines.append(f"• Round {r['number']}: {blocks.when(r['scheduled_at'], zone)}"
                     + (" (given with at=)" if r["instant_source"] == "explicit" else ""))
    lines += blocks.holiday_lines(created.skipped_rows(), new.holidays)
    lines += blocks.explicit_holiday_lines(created.rounds, zone, new.holidays)
    lines.append("I am splitting the master list and creating each round's list and draft in Mailjet now; "
                 f"the channel will be told when it is done. `/campaign status \"{new.name}\"` shows progress.")
    return "\n".join(lines)


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


def initial_from(name: str, options: Mapping[str, str]) -> dict[str, str]:
    return {NAME: name, **options}


def _channel_of(view: Mapping[str, Any]) -> str:
    try:
        return str(json.loads(view.get("private_metadata") or "{}").get("channel") or "")
    except (ValueError, AttributeError):
        return ""


# --- Slack I/O --------------------------------------------------------------------------------

async def open_new_campaign_modal(client: Any, trigger_id: str | None, services: Services, *, channel_id: str = "") -> None:
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


async def tell_user(services: Services, client: Any, user_id: str, channel_id: str, text: str) -> None:
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


async def handle_submission(services: Services, ack: Any, body: Mapping[str, Any], view: Mapping[str, Any], client: Any) -> None:
    user_id = body["user"]["id"]
    if not services.roles.may(user_id, "new"):
        COMMANDS.labels("new", "refused").inc()
        await ack(response_action="errors", errors={NAME: field_message(services.roles.refusal(user_id, "new"))})
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
        except CommandError as exc:
            COMMANDS.labels("new", "error").inc()
            await ack(response_action="errors", errors=errors_for(exc.message))
            return
        except Exception as exc:  # noqa: BLE001 - the user is told on the form; the log has the detail
            COMMANDS.labels("new", "crash").inc()
            log.exception("new campaign from the form failed")
            await ack(response_action="errors", errors={NAME: f"Planning failed unexpectedly ({type(exc).__name__}); "
                                                              "nothing was written. The error is in the bot's log."})
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
    except Exception as exc:  # noqa: BLE001 - CommandError is bad input; anything else is logged
        if isinstance(exc, CommandError):
            COMMANDS.labels("new", "error").inc()
            message = exc.message
        else:
            COMMANDS.labels("new", "crash").inc()
            log.exception("new campaign from the form failed")
            message = f"Planning failed unexpectedly ({type(exc).__name__}); nothing was written. The error is in the bot's log."
        field = FIELD_LABELS[field_for(message)]
        form = new_campaign_modal(default_zone=default_zone, channel_id=channel_id,
                                  initial=initial_from(name, options), error=f"*{field}*: {message}",
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
    async def new_campaign_submitted(ack: Any, body: dict[str, Any], view: dict[str, Any], client: Any) -> None:
        await handle_submission(services, ack, body, view, client)

    @app.view(PROGRESS_CALLBACK_ID)
    async def progress_submitted(ack: Any) -> None:  # the progress view has no submit button; be safe
        await ack()
