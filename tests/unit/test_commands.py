"""bot/grammar.py: the `/campaign` grammar."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.grammar import USAGE, Command, CommandError, NewCampaign, help_text, parse, tokenize
from bot.schedule import DEFAULT_OFFSETS

SPEC_SUBCOMMANDS = (
    "help", "list", "status", "new", "preflight", "approve", "hold", "resume", "cancel",
    "reschedule", "report", "cleanup", "log", "freeze", "unfreeze", "rehearse",
    "resolve", "suppression", "unsuppress", "archive",
)
NAME = "Client Letter Automation"


def usage_line(sub: str) -> str:
    return f"Usage: `{USAGE[sub]}`"


# --- every subcommand parses ----------------------------------------------------------------

class TestSubcommands:
    def test_usage_covers_the_spec_table(self):
        assert set(USAGE) == set(SPEC_SUBCOMMANDS)

    def test_empty_text_is_help(self):
        assert parse("") == Command("help")
        assert parse("   ") == Command("help")

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("help", Command("help")),
            ("HELP", Command("help")),
            ("list", Command("list")),
            ("unfreeze", Command("unfreeze")),
            ("freeze", Command("freeze")),
            ("freeze Mailjet incident", Command("freeze", reason="Mailjet incident")),
            ("status Spring", Command("status", name="Spring")),
            (f'status "{NAME}"', Command("status", name=NAME)),
            (f"status “{NAME}”", Command("status", name=NAME)),
            (f"status ‘{NAME}’", Command("status", name=NAME)),
            (f"status '{NAME}'", Command("status", name=NAME)),
            (f"  status   “{NAME}”  ", Command("status", name=NAME)),
            (f'preflight "{NAME}" 2', Command("preflight", name=NAME, round=2)),
            (f"approve “{NAME}” 1", Command("approve", name=NAME, round=1)),
            ("cleanup Spring 3", Command("cleanup", name="Spring", round=3)),
            (f'resume "{NAME}"', Command("resume", name=NAME)),
            (f'resume "{NAME}" 2', Command("resume", name=NAME, round=2)),
            ("report Spring", Command("report", name="Spring")),
            ("report Spring 1", Command("report", name="Spring", round=1)),
            (f'cancel "{NAME}" 3', Command("cancel", name=NAME, round=3)),
            (f"cancel “{NAME}” 3 list is wrong", Command("cancel", name=NAME, round=3, reason="list is wrong")),
            (f'log "{NAME}"', Command("log", name=NAME, page=1)),
            ("log Spring 3", Command("log", name="Spring", page=3)),
            ("new", Command("new")),
            (f"rehearse “{NAME}”", Command("rehearse", name=NAME)),
            ("REHEARSE Spring", Command("rehearse", name="Spring")),
            (f'resolve "{NAME}" 2 sent', Command("resolve", name=NAME, round=2, extra={"outcome": "sent"})),
            (f"resolve “{NAME}” 1 NOT-SENT checked the campaign list in Mailjet",
             Command("resolve", name=NAME, round=1, reason="checked the campaign list in Mailjet", extra={"outcome": "not-sent"})),
            ("resolve Spring 3 not_sent", Command("resolve", name="Spring", round=3, extra={"outcome": "not-sent"})),
            ("suppression Jane.Doe@Example.com", Command("suppression", extra={"email": "jane.doe@example.com"})),
            ("suppression <mailto:jo@example.org|jo@example.org>", Command("suppression", extra={"email": "jo@example.org"})),
            ("unsuppress jo@example.org", Command("unsuppress", extra={"email": "jo@example.org"})),
            ("unsuppress jo@example.org mailbox fixed, asked by sales",
             Command("unsuppress", reason="mailbox fixed, asked by sales", extra={"email": "jo@example.org"})),
            (f'archive "{NAME}"', Command("archive", name=NAME)),
        ],
    )
    def test_parses(self, text, expected):
        assert parse(text) == expected

    def test_new_without_arguments_is_the_modal(self):
        command = parse("new")
        assert command.subcommand == "new"
        assert command.new is None
        assert command.name is None

    def test_reschedule_keeps_the_instant_text_for_the_campaign_zone(self):
        command = parse(f"reschedule “{NAME}” 2 2026-12-01T09:15")
        assert (command.subcommand, command.name, command.round) == ("reschedule", NAME, 2)
        assert command.extra == {"instant": "2026-12-01T09:15"}
        quoted = parse('reschedule Spring 1 "2026-12-01 09:15"')
        assert quoted.extra == {"instant": "2026-12-01 09:15"}

    @pytest.mark.parametrize(
        ("text", "round_", "reason"),
        [
            (f'hold "{NAME}"', None, None),
            (f"hold “{NAME}” 2", 2, None),
            (f'hold "{NAME}" 2 waiting for legal', 2, "waiting for legal"),
            (f'hold "{NAME}" waiting for legal', None, "waiting for legal"),
            (f"hold “{NAME}” 2 don’t send yet", 2, "don't send yet"),
            ("hold Spring 2026 budget review", None, "2026 budget review"),
        ],
    )
    def test_hold(self, text, round_, reason):
        command = parse(text)
        assert command.subcommand == "hold"
        assert command.round == round_
        assert command.reason == reason
        assert command.name in (NAME, "Spring")

    def test_apostrophes_inside_words_are_not_quotes(self):
        assert parse("status O'Brien").name == "O'Brien"
        assert parse("status O’Brien").name == "O'Brien"
        assert parse("freeze it's Black Friday").reason == "it's Black Friday"

    def test_tokenize(self):
        assert tokenize('a "b c" d') == ["a", "b c", "d"]
        assert tokenize("a “b c”") == ["a", "b c"]
        assert tokenize('a ""') == ["a", ""]
        assert tokenize('x"y z"') == ['x"y', 'z"']


# --- new: the whole grammar -----------------------------------------------------------------

class TestNew:
    def test_defaults(self):
        command = parse(f'new "{NAME}" list=123 draft=456', default_timezone="America/New_York")
        new = command.new
        assert isinstance(new, NewCampaign)
        assert command.name == NAME == new.name
        assert (new.list_id, new.draft_id) == (123, 456)
        assert new.rounds == 3
        assert new.start is None
        assert new.days == ("tue", "thu")
        assert new.send_time == time(9, 15)
        assert new.zone == ZoneInfo("America/New_York")
        assert new.at == ()
        assert new.offsets == DEFAULT_OFFSETS
        assert new.window == timedelta(hours=2)
        assert new.approval == "required"
        assert new.holidays == "GB-ENG"

    def test_holidays_option_and_default(self):
        assert parse("new X list=1 draft=2 holidays=us").new.holidays == "US"
        assert parse("new X list=1 draft=2 holidays=gb-sct").new.holidays == "GB-SCT"
        assert parse("new X list=1 draft=2 holidays=none").new.holidays is None
        assert parse("new X list=1 draft=2 holidays=NONE").new.holidays is None
        assert parse("new X list=1 draft=2", default_holidays="FR").new.holidays == "FR"
        assert parse("new X list=1 draft=2", default_holidays="none").new.holidays is None
        assert parse("new X list=1 draft=2 holidays=none", default_holidays="FR").new.holidays is None

    def test_default_timezone_argument_defaults_to_london(self):
        assert parse("new X list=1 draft=2").new.zone == ZoneInfo("Europe/London")

    def test_every_option(self):
        command = parse(
            "new “Client Letter Automation” list=10 draft=20 rounds=4 start=2026-11-02 days=mon,wed,fri "
            "time=08:30 tz=Australia/Sydney offsets=prelaunch:-1d,preflight:-2h,warning:-10m,wrapup:+3h,cleanup:+2d "
            "window=45m approval=auto"
        )
        new = command.new
        assert new.name == NAME
        assert (new.list_id, new.draft_id, new.rounds) == (10, 20, 4)
        assert new.start == date(2026, 11, 2)
        assert new.days == ("mon", "wed", "fri")
        assert new.send_time == time(8, 30)
        assert new.zone == ZoneInfo("Australia/Sydney")
        assert new.offsets == {
            "prelaunch": timedelta(days=-1),
            "preflight": timedelta(hours=-2),
            "warning": timedelta(minutes=-10),
            "launch": timedelta(0),
            "wrapup": timedelta(hours=3),
            "cleanup": timedelta(days=2),
        }
        assert new.window == timedelta(minutes=45)
        assert new.approval == "auto"

    def test_options_in_any_order_and_case(self):
        new = parse("new X DRAFT=2 approval=REQUIRED List=1 Days=Thu,Tue").new
        assert (new.list_id, new.draft_id, new.approval, new.days) == (1, 2, "required", ("tue", "thu"))

    def test_partial_offsets_keep_defaults(self):
        new = parse("new X list=1 draft=2 offsets=warning:-5m").new
        assert new.offsets == {**DEFAULT_OFFSETS, "warning": timedelta(minutes=-5)}

    def test_at_with_and_without_offsets_read_in_tz(self):
        new = parse(
            "new X list=1 draft=2 tz=America/New_York "
            "at=2026-12-01T09:15,2026-12-03T09:15-05:00,2026-12-08T14:15Z"
        ).new
        assert new.rounds == 3
        assert new.at == (
            datetime(2026, 12, 1, 14, 15, tzinfo=UTC),
            datetime(2026, 12, 3, 14, 15, tzinfo=UTC),
            datetime(2026, 12, 8, 14, 15, tzinfo=UTC),
        )
        assert all(instant.tzinfo is UTC for instant in new.at)

    def test_at_read_in_default_zone_across_dst(self):
        new = parse("new X list=1 draft=2 at=2026-10-22T09:15,2026-10-27T09:15").new
        assert new.at == (datetime(2026, 10, 22, 8, 15, tzinfo=UTC), datetime(2026, 10, 27, 9, 15, tzinfo=UTC))
        assert new.rounds == 2

    def test_at_with_matching_rounds(self):
        new = parse("new X list=1 draft=2 rounds=2 at=2026-12-01T09:15,2026-12-03T09:15").new
        assert new.rounds == 2 and len(new.at) == 2

    def test_rounds_bounds(self):
        assert parse("new X list=1 draft=2 rounds=1").new.rounds == 1
        assert parse("new X list=1 draft=2 rounds=20").new.rounds == 20

    def test_window_bounds(self):
        assert parse("new X list=1 draft=2 window=24h offsets=wrapup:+24h,cleanup:+48h").new.window == timedelta(hours=24)
        assert parse("new X list=1 draft=2 window=1s").new.window == timedelta(seconds=1)
        assert parse("new X list=1 draft=2 window=2h").new.window == timedelta(hours=2)  # closes as wrap-up starts

    def test_window_must_close_before_the_wrap_up(self):
        with pytest.raises(CommandError, match="must close no later than the wrap-up"):
            parse("new X list=1 draft=2 window=3h")


# --- malformed input ------------------------------------------------------------------------

NEW = "new X list=1 draft=2"
AT3 = "at=2026-12-01T09:15,2026-12-03T09:15,2026-12-08T09:15"

MALFORMED = [
    # (text, subcommand whose usage is shown or None for the full help, substring of the message)
    ("frobnicate", None, "`frobnicate` is not a /campaign subcommand"),
    ("statuss Spring", None, "`statuss` is not a /campaign subcommand"),
    ('status "Client Letter', "status", "is not closed"),
    ("status “Client Letter", "status", "is not closed"),
    ('"Client Letter', None, "is not closed"),
    ("status", "status", "the campaign name is missing"),
    ('status ""', "status", "the campaign name is empty"),
    ("status Client Letter Automation", "status", "unexpected `Letter Automation`"),
    ("status " + "x" * 81, "status", "at most 80 characters"),
    ("status name=x", "status", "looks like an option"),
    ("help me", "help", "unexpected `me`"),
    ("rehearse", "rehearse", "the campaign name is missing"),
    ("rehearse Spring 2", "rehearse", "unexpected `2`"),
    ("rehearse Client Letter Automation", "rehearse", "unexpected `Letter Automation`"),
    ("list all", "list", "unexpected `all`"),
    ("unfreeze now", "unfreeze", "unexpected `now`"),
    ("approve Spring", "approve", "the round number is missing"),
    ("approve Spring two", "approve", "`two` is not a round number"),
    ("approve Spring 0", "approve", "`0` is not a round number"),
    ("approve Spring 1 2", "approve", "unexpected `2`"),
    ("preflight", "preflight", "the campaign name is missing"),
    ("preflight Spring", "preflight", "the round number is missing"),
    ("cleanup Spring -1", "cleanup", "`-1` is not a round number"),
    ("cleanup Spring 1000", "cleanup", "`1000` is not a round number"),
    ("hold", "hold", "the campaign name is missing"),
    ("hold Spring 0", "hold", "`0` is not a round number"),
    ("resume Spring abc", "resume", "`abc` is not a round number"),
    ("report Spring 1 2", "report", "unexpected `2`"),
    ("cancel Spring", "cancel", "the round number is missing"),
    ("cancel Spring x", "cancel", "`x` is not a round number"),
    ("reschedule Spring 2", "reschedule", "give the round number and the new date and time"),
    ("reschedule Spring x 2026-12-01T09:15", "reschedule", "`x` is not a round number"),
    ("reschedule Spring 2 2026-12-01 09:15", "reschedule", "unexpected `09:15`"),
    ("log", "log", "the campaign name is missing"),
    ("log Spring 0", "log", "`0` is not a page number"),
    ("log Spring abc", "log", "`abc` is not a page number"),
    ("log Spring 1 2", "log", "unexpected `2`"),
    ('new "X', "new", "is not closed"),
    ('reschedule "Unclosed name 2', "reschedule", "is not closed"),
    ("new list=1 draft=2", "new", "looks like an option, not a name"),
    ("new X draft=2", "new", "`list=` is required"),
    ("new X list=1", "new", "`draft=` is required"),
    ("new X", "new", "`list=` is required"),
    (f"{NEW} colour=red", "new", "`colour=` is not an option"),
    (f"{NEW} =5", "new", "`=` is not an option"),
    (f"{NEW} stray", "new", "`stray` is not key=value"),
    (f"{NEW} rounds=2 rounds=3", "new", "`rounds=` is given twice"),
    ("new X list=1 list=1 draft=2", "new", "`list=` is given twice"),
    (f"{NEW} days=", "new", "`days=` has no value"),
    ("new X list= draft=2", "new", "`list=` has no value"),
    ("new X list=abc draft=2", "new", "list= must be a Mailjet id"),
    ("new X list=0 draft=2", "new", "list= must be a Mailjet id"),
    ("new X list=1 draft=-5", "new", "draft= must be a Mailjet id"),
    ("new X list=1 draft=1.5", "new", "draft= must be a Mailjet id"),
    (f"{NEW} rounds=0", "new", "rounds= must be a number from 1 to 20"),
    (f"{NEW} rounds=21", "new", "rounds= must be a number from 1 to 20"),
    (f"{NEW} rounds=x", "new", "rounds= must be a number from 1 to 20"),
    (f"{NEW} rounds=-1", "new", "rounds= must be a number from 1 to 20"),
    (f"{NEW} rounds=2 {AT3}", "new", "at= gives 3 instants for 2 rounds"),
    (f"{NEW} rounds=4 {AT3}", "new", "at= gives 3 instants for 4 rounds"),
    (f"{NEW} at=2026-12-03T09:15,2026-12-01T09:15", "new", "must be in order"),
    (f"{NEW} at=2026-12-01T09:15,2026-12-01T09:15", "new", "the same instant twice"),
    (f"{NEW} at=2026-12-01T09:15Z,2026-12-01T09:15+00:00", "new", "the same instant twice"),
    (f"{NEW} at=soon", "new", "`soon` is not an ISO 8601 date and time"),
    (f"{NEW} at=2026-12-01T09:15,", "new", "is not an ISO 8601 date and time"),
    (f"{NEW} at=2026-12-01", "new", "`2026-12-01` has no time of day"),
    (f"{NEW} at=0001-01-01T00:00+01:00", "new", "out of range"),
    (f"{NEW} tz=America/New_York at=9999-12-31T23:59", "new", "out of range"),
    (f"{NEW} at=" + ",".join(f"2027-01-{d:02d}T09:15" for d in range(1, 22)), "new", "at most 20 rounds"),
    (f"{NEW} tz=Mars/Base", "new", "`Mars/Base` is not a time zone"),
    (f"{NEW} days=funday", "new", "days must be a list like tue,thu"),
    (f"{NEW} days=monkey", "new", "days must be a list like tue,thu"),
    (f"{NEW} time=25:00", "new", "time must be HH:MM"),
    (f"{NEW} time=9am", "new", "time must be HH:MM"),
    (f"{NEW} window=soon", "new", "`soon` is not a duration"),
    (f"{NEW} window=0m", "new", "window= must be positive"),
    (f"{NEW} window=-1h", "new", "window= must be positive"),
    (f"{NEW} window=25h", "new", "at most 24h"),
    (f"{NEW} window=99999999999d", "new", "too long a duration"),
    (f"{NEW} approval=maybe", "new", "approval= must be required or auto"),
    (f"{NEW} offsets=teaser:-1h", "new", "`teaser` is not a stage"),
    (f"{NEW} offsets=launch:+5m", "new", "the launch stage is the round's instant itself"),
    (f"{NEW} offsets=warning:+5m", "new", "warning must come before the send"),
    (f"{NEW} offsets=wrapup:-1h", "new", "wrapup must come after the send"),
    (f"{NEW} offsets=prelaunch:-1h", "new", "stages must run in order"),
    (f"{NEW} offsets=cleanup:+1h", "new", "cleanup must come after wrapup"),
    (f"{NEW} offsets=warning", "new", "is not stage:duration"),
    (f"{NEW} start=not-a-date", "new", "start= must be a date YYYY-MM-DD"),
    (f"{NEW} start=2026-02-30", "new", "start= must be a date YYYY-MM-DD"),
    (f"{NEW} holidays=england", "new", "holidays= `england` is not a holiday calendar"),
    (f"{NEW} holidays=GB-XX", "new", "GB has no subdivision XX (it has GB-ENG, GB-NIR, GB-SCT, GB-WLS)"),
    (f"{NEW} holidays=GB_ENG", "new", "such as GB-ENG (England)"),
    ("resolve", "resolve", "the campaign name is missing"),
    ("resolve Spring", "resolve", "the round number is missing"),
    ("resolve Spring sent", "resolve", "`sent` is not a round number"),
    ("resolve Spring 2", "resolve", "say whether the round went out: sent or not-sent"),
    ("resolve Spring 2 maybe", "resolve", "`maybe` is neither sent nor not-sent"),
    ("resolve Spring 0 sent", "resolve", "`0` is not a round number"),
    ("suppression", "suppression", "the email address is missing"),
    ("suppression jane", "suppression", "`jane` is not an email address"),
    ("suppression jane@", "suppression", "`jane@` is not an email address"),
    ("suppression jane@example", "suppression", "`jane@example` is not an email address"),
    ("suppression a@b.com c@d.com", "suppression", "unexpected `c@d.com`"),
    ("unsuppress", "unsuppress", "the email address is missing"),
    ("unsuppress not-an-email fixed", "unsuppress", "`not-an-email` is not an email address"),
    ("archive", "archive", "the campaign name is missing"),
    ("archive Client Letter", "archive", "unexpected `Letter`"),
]


class TestMalformed:
    def test_there_are_at_least_thirty_distinct_cases(self):
        assert len({text for text, _, _ in MALFORMED}) == len(MALFORMED) >= 30

    @pytest.mark.parametrize(("text", "sub", "message"), MALFORMED, ids=[t for t, _, _ in MALFORMED])
    def test_error_names_the_problem_and_shows_usage(self, text, sub, message):
        with pytest.raises(CommandError) as caught:
            parse(text)
        error = caught.value
        assert message in error.message
        assert message in str(error)
        reply = error.reply_text()
        assert message in reply
        if sub is None:
            assert help_text() in reply
        else:
            assert error.subcommand == sub
            assert usage_line(sub) in reply

    def test_unknown_subcommand_reply_is_the_full_help(self):
        with pytest.raises(CommandError) as caught:
            parse("launch Spring 1")
        reply = caught.value.reply_text()
        for sub in SPEC_SUBCOMMANDS:
            assert USAGE[sub].splitlines()[-1] in reply

    def test_unquoted_name_with_spaces_gets_the_quoting_hint(self):
        with pytest.raises(CommandError) as caught:
            parse("approve Client Letter Automation 1")
        assert "`Letter` is not a round number" in caught.value.message
        assert 'Quote a name with spaces: "Client Letter Automation"' in caught.value.message
        with pytest.raises(CommandError) as caught:
            parse("approve Spring 0")
        assert "Quote a name" not in caught.value.message

    def test_unclosed_quote_reply_keeps_the_error_on_its_first_line(self):
        with pytest.raises(CommandError) as caught:
            parse('reschedule "Unclosed name 2')
        first, *rest = caught.value.reply_text().split("\n")
        assert "is not closed" in first and "quote" in first and "Usage" not in first


# --- parsing never raises anything else -----------------------------------------------------

_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_GRAMMAR_CHARS = st.sampled_from(list("0123456789-+:TZ,.=dhms \"'“”‘’aeiouxyz/_"))
_OPTION_KEYS = ("list", "draft", "rounds", "start", "days", "time", "tz", "at", "offsets", "window", "approval", "holidays")


def _parses_or_command_error(text: str) -> None:
    try:
        result = parse(text, default_timezone="Europe/London")
    except CommandError as exc:
        assert isinstance(exc.reply_text(), str) and exc.message
        return
    assert isinstance(result, Command)


class TestFuzz:
    @_FUZZ
    @given(st.text(max_size=200))
    def test_arbitrary_text(self, text):
        _parses_or_command_error(text)

    @_FUZZ
    @given(st.sampled_from(SPEC_SUBCOMMANDS), st.text(max_size=120))
    def test_arbitrary_text_after_each_subcommand(self, sub, tail):
        _parses_or_command_error(f"{sub} {tail}")

    @_FUZZ
    @given(st.sampled_from(SPEC_SUBCOMMANDS), st.text(_GRAMMAR_CHARS, max_size=80))
    def test_grammar_like_text_after_each_subcommand(self, sub, tail):
        _parses_or_command_error(f"{sub} {tail}")

    @_FUZZ
    @given(
        st.lists(
            st.tuples(st.sampled_from(_OPTION_KEYS), st.text(_GRAMMAR_CHARS.filter(lambda c: not c.isspace() and c not in "\"'“”‘’"), max_size=40)),
            max_size=6,
        )
    )
    def test_arbitrary_option_values_for_new(self, options):
        text = "new X " + " ".join(f"{key}={value}" for key, value in options)
        _parses_or_command_error(text)

    @_FUZZ
    @given(
        st.sampled_from(_OPTION_KEYS),
        st.text(max_size=60).filter(lambda v: not any(c.isspace() or c in "\"'“”‘’" for c in v)),
    )
    def test_arbitrary_unicode_option_value(self, key, value):
        _parses_or_command_error(f"new X list=1 draft=2 {key}={value}" if key not in ("list", "draft") else f"new X {key}={value}")


# --- help -----------------------------------------------------------------------------------

class TestHelp:
    def test_lists_every_usage_line(self):
        text = help_text()
        for sub in SPEC_SUBCOMMANDS:
            assert USAGE[sub].splitlines()[-1] in text, sub

    def test_spec_forms_appear(self):
        text = help_text()
        for form in (
            "/campaign help", "/campaign list", "/campaign status <name>",
            "/campaign new <name> list=<id> draft=<id>",
            "/campaign preflight <name> <round>", "/campaign approve <name> <round>",
            "/campaign hold <name> [<round>] [reason…]", "/campaign resume <name> [<round>]",
            "/campaign cancel <name> <round> [reason…]", "/campaign reschedule <name> <round> <ISO datetime>",
            "/campaign report <name> [<round>]", "/campaign cleanup <name> <round>",
            "/campaign log <name>", "/campaign freeze [reason…]", "/campaign unfreeze",
            "/campaign rehearse <name>",
            "/campaign resolve <name> <round> sent|not-sent [reason…]", "/campaign suppression <email>",
            "/campaign unsuppress <email> [reason…]", "/campaign archive <name>", "[holidays=GB-ENG|none]",
        ):
            assert form in text, form
        assert "Client Letter Automation" in text

    def test_new_usage_names_every_option(self):
        for key in _OPTION_KEYS:
            assert f"[{key}=" in USAGE["new"] or f" {key}=<id>" in USAGE["new"], key

    def test_reply_text_for_help_command_error(self):
        assert usage_line("help") in CommandError("x", "help").reply_text()
        assert re.search(r"^:warning: x\n", CommandError("x").reply_text())
