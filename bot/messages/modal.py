"""The `/campaign new` form (a modal with the text form's options as fields) and its
"checking" and "done" views. Block ids are named after the text grammar's options; every
input's action_id is ACTION.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.grammar import DEFAULT_HOLIDAYS
from bot.messages.common import plain, section

CALLBACK_ID = "new_campaign"
PROGRESS_CALLBACK_ID = "new_campaign_progress"
ACTION = "value"  # every input's action_id; the block_id says which field it is

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


def _option(value: str, text: str | None = None) -> dict[str, Any]:
    return {"text": plain(text or value), "value": value}


def _input(block_id: str, element: dict[str, Any], *, optional: bool = False, hint: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": plain(FIELD_LABELS[block_id]),
                             "element": {**element, "action_id": ACTION}, "optional": optional}
    if hint:
        block["hint"] = plain(hint)
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
        out.append(section(f":warning: {error}", block_id="error"))
    out += [
        _input(NAME, text_input(NAME, max_length=80, placeholder=plain("Client Letter Automation")),
               hint="Unique; at most 80 characters. Commands name it in quotes: /campaign status \"…\""),
        _input(LIST, number_input(LIST), hint="The Mailjet contacts list to split into rounds (never modified)."),
        _input(DRAFT, number_input(DRAFT), hint="The Mailjet campaign draft each round's draft is copied from."),
        _input(ROUNDS, {"type": "static_select", "options": [_option(str(n)) for n in range(1, MAX_ROUNDS + 1)],
                        "initial_option": _option(rounds if rounds.isdigit() and 1 <= int(rounds) <= MAX_ROUNDS else "3")}),
        _input(START, {"type": "datepicker", **({"initial_date": initial[START]} if initial.get(START) else {}),
                       "placeholder": plain("Today")}, optional=True,
               hint="Round 1 goes out on the first send day from this date. Empty: from today."),
        _input(DAYS, {"type": "checkboxes", "options": day_options,
                      "initial_options": [o for o in day_options if o["value"] in days] or None}),
        _input(TIME, {"type": "timepicker", "initial_time": initial.get(TIME) or "09:15"},
               hint="Wall-clock time in the campaign's time zone."),
        _input(TZ, {"type": "static_select", "options": [_option(z) for z in zones[:100]], "initial_option": _option(zone)}),
        _input(APPROVAL, {"type": "radio_buttons", "options": approval_options,
                          "initial_option": next((o for o in approval_options if o["value"] == approval), approval_options[0])}),
        _input(HOLIDAYS, text_input(HOLIDAYS, max_length=40, placeholder=plain("GB-ENG")),
               hint="Planning never picks a public holiday of this calendar: a country (US, FR) or country-subdivision "
                    "(GB-ENG, GB-SCT) code of the holidays package, or none."),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "*Advanced (optional)*, as in the text form."}]},
        _input(AT, text_input(AT, multiline=True, placeholder=plain("2026-12-01T09:15, 2026-12-03T09:15")), optional=True,
               hint="One ISO instant per round, in order, comma-separated; replaces start, days and time. "
                    "Without an offset it is read in the time zone above."),
        _input(OFFSETS, text_input(OFFSETS, placeholder=plain("prelaunch:-21h,preflight:-3h15m,warning:-15m,wrapup:+2h,cleanup:+24h")),
               optional=True, hint="Only the stages you change; the others keep their defaults."),
        _input(WINDOW, text_input(WINDOW, placeholder=plain("2h")), optional=True,
               hint="How long after its instant a round may still go out. Default 2h."),
    ]
    for block in out:  # Slack refuses `initial_options: null`
        element = block.get("element") or {}
        if "initial_options" in element and element["initial_options"] is None:
            del element["initial_options"]
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": plain("New campaign"),
        "submit": plain("Plan campaign"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps({"channel": channel_id}),
        "blocks": out,
    }


def progress_view(name: str) -> dict[str, Any]:
    return done_view(f":hourglass_flowing_sand: Checking the list and draft of *{name}* in Mailjet… "
                     "This view updates when it is done; you will also get the answer in the channel.")


def done_view(text: str) -> dict[str, Any]:
    return {"type": "modal", "callback_id": PROGRESS_CALLBACK_ID, "title": plain("New campaign"), "close": plain("Close"),
            "blocks": [section(text)]}
