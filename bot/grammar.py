"""The `/campaign` grammar (its USAGE table is a contract): text in, a parsed command or a usage error out.

Parsing never raises anything but CommandError, whose message is shown to the user as an
ephemeral reply together with the usage of the subcommand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot import holiday_calendar, schedule
from bot.schedule import ScheduleError

DEFAULT_HOLIDAYS = "GB-ENG"   # the setting's default; the running bot passes the DEFAULT_HOLIDAYS setting

USAGE: dict[str, str] = {
    "help": "/campaign help",
    "list": "/campaign list",
    "status": "/campaign status <name>",
    "new": (
        "/campaign new  (opens a form)\n"
        "/campaign new <name> list=<id> draft=<id> [rounds=3] [start=YYYY-MM-DD] [days=tue,thu] "
        "[time=09:15] [tz=Europe/London] [at=<ISO>,<ISO>,…] "
        "[offsets=prelaunch:-21h,preflight:-3h15m,warning:-15m,wrapup:+2h,cleanup:+24h] "
        "[window=2h] [approval=required|auto] [holidays=GB-ENG|none]"
    ),
    "preflight": "/campaign preflight <name> <round>",
    "approve": "/campaign approve <name> <round>",
    "hold": "/campaign hold <name> [<round>] [reason…]",
    "resume": "/campaign resume <name> [<round>]",
    "cancel": "/campaign cancel <name> <round> [reason…]",
    "reschedule": "/campaign reschedule <name> <round> <ISO datetime>",
    "report": "/campaign report <name> [<round>]",
    "cleanup": "/campaign cleanup <name> <round>",
    "log": "/campaign log <name> [<page>]",
    "freeze": "/campaign freeze [reason…]",
    "unfreeze": "/campaign unfreeze",
    "rehearse": "/campaign rehearse <name>",
    "resolve": "/campaign resolve <name> <round> sent|not-sent [reason…]",
    "suppression": "/campaign suppression <email>",
    "unsuppress": "/campaign unsuppress <email> [reason…]",
    "archive": "/campaign archive <name>",
}

DESCRIPTIONS: dict[str, str] = {
    "help": "this help",
    "list": "campaigns with their next event",
    "status": "every round: state, when (local and UTC), approvals, Mailjet ids, latest metrics",
    "new": "plan a campaign: split the master list, create each round's list and draft, schedule every stage",
    "preflight": "run the pre-flight checklist now",
    "approve": "approve a round's launch (approvers)",
    "hold": "hold one round, or every unsent round",
    "resume": "lift a hold (approvers)",
    "cancel": "cancel a round that has not been sent (approvers; asks to confirm)",
    "reschedule": "move a round; clears its approval (approvers)",
    "report": "metrics now",
    "cleanup": "build the list-cleanup plan now",
    "log": "the audit trail, newest first",
    "freeze": "stop every send, everywhere (admins)",
    "unfreeze": "allow sends again (admins)",
    "rehearse": "a dress rehearsal: every stage of every unsent round, in dry-run, on a compressed timeline, "
                "in one thread of its own",
    "resolve": "settle a failed round after checking Mailjet: sent (wrap-up and cleanup follow) or not-sent (admins)",
    "suppression": "a contact's suppression: reasons, counts, dates, revalidation, lifted or not",
    "unsuppress": "lift a suppression; future planning includes the contact again (approvers)",
    "archive": "hide a campaign with no unsent round from list and the Home tab (admins)",
}

NAME_HINT = 'Quote a name with spaces: "Client Letter Automation".'


class CommandError(ValueError):
    """Bad input. `subcommand` selects the usage shown with the message."""

    def __init__(self, message: str, subcommand: str | None = None):
        super().__init__(message)
        self.message = message
        self.subcommand = subcommand

    def reply_text(self) -> str:
        usage = USAGE.get(self.subcommand or "", None)
        if usage is None:
            return f":warning: {self.message}\n\n{help_text()}"
        return f":warning: {self.message}\nUsage: `{usage}`"


@dataclass(frozen=True)
class NewCampaign:
    """`/campaign new <name> …` after syntax checks; facts that need Mailjet or the clock come later."""

    name: str
    list_id: int
    draft_id: int
    rounds: int
    start: date | None
    days: tuple[str, ...]
    send_time: time
    zone: ZoneInfo
    at: tuple[datetime, ...]
    offsets: dict[str, timedelta]
    window: timedelta
    approval: str
    holidays: str | None = None   # public-holiday calendar code (GB-ENG, US…), None: none


@dataclass(frozen=True)
class Command:
    subcommand: str
    name: str | None = None
    round: int | None = None
    reason: str | None = None
    instant: datetime | None = None
    page: int = 1
    new: NewCampaign | None = None
    extra: dict[str, str] = field(default_factory=dict)


_QUOTES = {"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"}


def tokenize(text: str) -> list[str]:
    """Split on spaces, keeping "quoted names" (straight or Slack's curly quotes) together."""
    for curly, straight in _QUOTES.items():
        text = text.replace(curly, straight)
    tokens: list[str] = []
    current: list[str] = []
    quote: str | None = None
    in_token = False
    for char in text:
        if quote:
            if char == quote:
                quote = None
            else:
                current.append(char)
        elif char in "\"'" and not current:
            quote = char
            in_token = True
        elif char.isspace():
            if in_token:
                tokens.append("".join(current))
                current, in_token = [], False
        else:
            current.append(char)
            in_token = True
    if quote:
        raise CommandError(f"a quote ({quote}) is not closed. {NAME_HINT}")
    if in_token:
        tokens.append("".join(current))
    return tokens


def _round_number(token: str, subcommand: str) -> int:
    if not re.fullmatch(r"\d{1,3}", token) or int(token) < 1:
        # A word where the round should be is most often the rest of an unquoted name.
        hint = "" if re.fullmatch(r"[-+]?\d+", token) else f". {NAME_HINT}"
        raise CommandError(f"`{token}` is not a round number (1, 2, 3, …){hint}", subcommand)
    return int(token)


def _name(tokens: list[str], subcommand: str) -> str:
    if not tokens:
        raise CommandError("the campaign name is missing", subcommand)
    name = tokens[0].strip()
    if not name:
        raise CommandError("the campaign name is empty", subcommand)
    if len(name) > 80:
        raise CommandError("a campaign name has at most 80 characters", subcommand)
    if "=" in name:
        raise CommandError(f"`{name}` looks like an option, not a name. {NAME_HINT}", subcommand)
    return name


def _no_more(tokens: list[str], subcommand: str) -> None:
    if tokens:
        raise CommandError(f"unexpected `{' '.join(tokens)}`. {NAME_HINT}", subcommand)


def parse(text: str, *, default_timezone: str = "Europe/London", default_holidays: str = DEFAULT_HOLIDAYS) -> Command:
    try:
        tokens = tokenize(text or "")
    except CommandError as exc:
        # Show the usage of the subcommand being typed when the first word names one.
        words = (text or "").split(maxsplit=1)
        if words and words[0].lower() in USAGE:
            exc.subcommand = words[0].lower()
        raise
    if not tokens:
        return Command("help")
    sub, rest = tokens[0].lower(), tokens[1:]
    if sub not in USAGE:
        raise CommandError(f"`{tokens[0]}` is not a /campaign subcommand")
    if sub == "new":
        return _parse_new(sub, rest, default_timezone, default_holidays)
    return _PARSERS[sub](sub, rest)


def _parse_bare(sub: str, rest: list[str]) -> Command:
    _no_more(rest, sub)
    return Command(sub)


def _parse_name_only(sub: str, rest: list[str]) -> Command:
    name = _name(rest, sub)
    _no_more(rest[1:], sub)
    return Command(sub, name=name)


def _name_and_round(rest: list[str], sub: str, *, needed: int = 2,
                    missing: str = "the round number is missing") -> tuple[str, int]:
    name = _name(rest, sub)
    if len(rest) < needed:
        raise CommandError(missing, sub)
    return name, _round_number(rest[1], sub)


def _parse_name_round(sub: str, rest: list[str]) -> Command:
    name, number = _name_and_round(rest, sub)
    _no_more(rest[2:], sub)
    return Command(sub, name=name, round=number)


def _parse_name_optional_round(sub: str, rest: list[str]) -> Command:
    name = _name(rest, sub)
    number = _round_number(rest[1], sub) if len(rest) > 1 else None
    _no_more(rest[2:], sub)
    return Command(sub, name=name, round=number)


def _parse_hold(sub: str, rest: list[str]) -> Command:
    name = _name(rest, sub)
    tail = rest[1:]
    number = None
    if tail and re.fullmatch(r"\d{1,3}", tail[0]):
        number = _round_number(tail[0], sub)
        tail = tail[1:]
    return Command(sub, name=name, round=number, reason=" ".join(tail) or None)


def _parse_cancel(sub: str, rest: list[str]) -> Command:
    name, number = _name_and_round(rest, sub)
    return Command(sub, name=name, round=number, reason=" ".join(rest[2:]) or None)


def _parse_reschedule(sub: str, rest: list[str]) -> Command:
    name, number = _name_and_round(rest, sub, needed=3, missing="give the round number and the new date and time")
    _no_more(rest[3:], sub)
    # The zone is the campaign's; it is applied later if the ISO text has no offset.
    return Command(sub, name=name, round=number, extra={"instant": rest[2]})


def _parse_log(sub: str, rest: list[str]) -> Command:
    name = _name(rest, sub)
    page = 1
    if len(rest) > 1:
        if not re.fullmatch(r"\d{1,4}", rest[1]) or int(rest[1]) < 1:
            raise CommandError(f"`{rest[1]}` is not a page number", sub)
        page = int(rest[1])
    _no_more(rest[2:], sub)
    return Command(sub, name=name, page=page)


def _parse_freeze(sub: str, rest: list[str]) -> Command:
    return Command(sub, reason=" ".join(rest) or None)


_NEW_KEYS = ("list", "draft", "rounds", "start", "days", "time", "tz", "at", "offsets", "window", "approval", "holidays")


def _positive_id(key: str, value: str) -> int:
    if not re.fullmatch(r"\d{1,18}", value) or int(value) < 1:
        raise CommandError(f"{key}= must be a Mailjet id (a positive number), got `{value}`", "new")
    return int(value)


def _parse_new(sub: str, rest: list[str], default_timezone: str, default_holidays: str = DEFAULT_HOLIDAYS) -> Command:
    if not rest:
        return Command(sub)  # no arguments: the modal
    name = _name(rest, sub)
    options: dict[str, str] = {}
    for token in rest[1:]:
        key, sep, value = token.partition("=")
        key = key.lower()
        if not sep:
            raise CommandError(f"`{token}` is not key=value. {NAME_HINT}", sub)
        if key not in _NEW_KEYS:
            raise CommandError(f"`{key}=` is not an option; options are {', '.join(k + '=' for k in _NEW_KEYS)}", sub)
        if key in options:
            raise CommandError(f"`{key}=` is given twice", sub)
        if not value:
            raise CommandError(f"`{key}=` has no value", sub)
        options[key] = value
    for required in ("list", "draft"):
        if required not in options:
            raise CommandError(f"`{required}=` is required", sub)
    options.setdefault("tz", default_timezone)
    options.setdefault("holidays", default_holidays)
    try:
        new = _build_new(name, options)
    except ScheduleError as exc:
        raise CommandError(str(exc), sub) from None
    return Command(sub, name=name, new=new)


def _build_new(name: str, options: dict[str, str]) -> NewCampaign:
    zone = schedule.parse_zone(options["tz"])
    at = tuple(schedule.parse_instant(item, zone) for item in options["at"].split(",")) if "at" in options else ()
    if "rounds" in options:
        if not re.fullmatch(r"\d{1,2}", options["rounds"]) or not 1 <= int(options["rounds"]) <= 20:
            raise ScheduleError(f"rounds= must be a number from 1 to 20, got `{options['rounds']}`")
        rounds = int(options["rounds"])
    else:
        rounds = len(at) if at else 3
        if rounds > 20:
            raise ScheduleError(f"a campaign has at most 20 rounds; at= gives {rounds} instants")
    if at and len(at) != rounds:
        raise ScheduleError(f"at= gives {len(at)} instants for {rounds} rounds; give one per round")
    if at and list(at) != sorted(at):
        raise ScheduleError("at= instants must be in order, round 1 first")
    if len(set(at)) != len(at):
        raise ScheduleError("at= gives the same instant twice")
    start = None
    if "start" in options:
        try:
            start = date.fromisoformat(options["start"])
        except ValueError:
            raise ScheduleError(f"start= must be a date YYYY-MM-DD, got `{options['start']}`") from None
    window = schedule.parse_duration(options.get("window", "2h"))
    if window <= timedelta(0) or window > timedelta(hours=24):
        raise ScheduleError("window= must be positive and at most 24h")
    offsets = schedule.parse_offsets(options.get("offsets", ""))
    if window > offsets["wrapup"]:
        raise ScheduleError(
            f"window= ({schedule.format_duration(window)}) must close no later than the wrap-up "
            f"(wrapup:{schedule.format_duration(offsets['wrapup'])}): a report cannot come before the send is settled"
        )
    approval = options.get("approval", "required").lower()
    if approval not in ("required", "auto"):
        raise ScheduleError(f"approval= must be required or auto, got `{options['approval']}`")
    try:
        calendar = holiday_calendar.parse_code(options.get("holidays", DEFAULT_HOLIDAYS))
    except holiday_calendar.CalendarError as exc:
        raise ScheduleError(f"holidays= {exc}") from None
    return NewCampaign(
        name=name,
        list_id=_positive_id("list", options["list"]),
        draft_id=_positive_id("draft", options["draft"]),
        rounds=rounds,
        start=start,
        days=schedule.parse_days(options.get("days", "tue,thu")),
        send_time=schedule.parse_time_of_day(options.get("time", "09:15")),
        zone=zone,
        at=at,
        offsets=offsets,
        window=window,
        approval=approval,
        holidays=calendar,
    )


_EMAIL = re.compile(r"[^@\s<>|,;]+@[^@\s<>|,;]+\.[^@\s<>|,;.]+")
_SLACK_MAILTO = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")


def _email(tokens: list[str], subcommand: str) -> str:
    """One email address; Slack's `<mailto:a@b.c|a@b.c>` form is unwrapped."""
    if not tokens:
        raise CommandError("the email address is missing", subcommand)
    text = tokens[0].strip()
    mailto = _SLACK_MAILTO.match(text)
    if mailto:
        text = mailto.group(1)
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        raise CommandError(f"`{text}` is not an email address (for example jane@example.com)", subcommand)
    return text.lower()


def _parse_suppression(sub: str, rest: list[str]) -> Command:
    email = _email(rest, sub)
    _no_more(rest[1:], sub)
    return Command(sub, extra={"email": email})


def _parse_unsuppress(sub: str, rest: list[str]) -> Command:
    email = _email(rest, sub)
    return Command(sub, reason=" ".join(rest[1:]) or None, extra={"email": email})


RESOLUTIONS = ("sent", "not-sent")


def _parse_resolve(sub: str, rest: list[str]) -> Command:
    name = _name(rest, sub)
    if len(rest) < 2:
        raise CommandError("the round number is missing", sub)
    number = _round_number(rest[1], sub)
    if len(rest) < 3:
        raise CommandError("say whether the round went out: sent or not-sent", sub)
    outcome = rest[2].lower().replace("_", "-")
    if outcome == "notsent":
        outcome = "not-sent"
    if outcome not in RESOLUTIONS:
        raise CommandError(f"`{rest[2]}` is neither sent nor not-sent", sub)
    return Command(sub, name=name, round=number, reason=" ".join(rest[3:]) or None, extra={"outcome": outcome})


_PARSERS = {
    "help": _parse_bare,
    "list": _parse_bare,
    "unfreeze": _parse_bare,
    "status": _parse_name_only,
    "rehearse": _parse_name_only,
    "preflight": _parse_name_round,
    "approve": _parse_name_round,
    "cleanup": _parse_name_round,
    "hold": _parse_hold,
    "resume": _parse_name_optional_round,
    "report": _parse_name_optional_round,
    "cancel": _parse_cancel,
    "reschedule": _parse_reschedule,
    "log": _parse_log,
    "freeze": _parse_freeze,
    "resolve": _parse_resolve,
    "suppression": _parse_suppression,
    "unsuppress": _parse_unsuppress,
    "archive": _parse_name_only,
}


def help_text() -> str:
    lines = ["*/campaign* — plan, watch, approve and hold email campaigns."]
    for sub, usage in USAGE.items():
        first = usage.splitlines()[-1]
        lines.append(f"• `{first}` — {DESCRIPTIONS[sub]}")
    lines.append(NAME_HINT)
    return "\n".join(lines)
