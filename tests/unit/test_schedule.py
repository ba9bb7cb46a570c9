"""bot/schedule.py: durations, offsets, days, times and each round's instant across DST.

The oracle for wall times below reads UTC offsets only at instants that certainly exist
(12 hours either side of the requested wall time) and converts UTC → local, which is never
ambiguous, so it does not share the code path under test (local → UTC).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot import schedule
from bot.schedule import (
    DAY_NAMES,
    DEFAULT_OFFSETS,
    STAGES,
    ScheduleError,
    format_duration,
    format_instant,
    local_instant,
    on_allowed_day_and_time,
    parse_days,
    parse_duration,
    parse_instant,
    parse_offsets,
    parse_time_of_day,
    parse_zone,
    planner_instants,
    round_sizes,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # a 30-minute DST shift
ZONES = (LONDON, NEW_YORK, SYDNEY, LORD_HOWE)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- oracle ---------------------------------------------------------------------------------

def expected_instant(day: date, at: time, zone: ZoneInfo) -> tuple[datetime, str]:
    """(instant, kind) where kind is 'normal', 'overlap' or 'gap'; computed from UTC → local only."""
    naive = datetime.combine(day, at)
    before = (naive - timedelta(hours=12)).replace(tzinfo=zone).utcoffset()
    after = (naive + timedelta(hours=12)).replace(tzinfo=zone).utcoffset()
    candidates = sorted({(naive - before).replace(tzinfo=UTC), (naive - after).replace(tzinfo=UTC)})
    matching = [c for c in candidates if c.astimezone(zone).replace(tzinfo=None) == naive]
    if len(matching) == 2:
        return matching[0], "overlap"  # first occurrence (fold=0)
    if matching:
        return matching[0], "normal"
    # The spring-forward gap: the wall time moves forward by the gap, i.e. it is read with
    # the offset in force before the transition.
    return (naive - before).replace(tzinfo=UTC), "gap"


def wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


# --- local_instant --------------------------------------------------------------------------

class TestLocalInstant:
    @pytest.mark.parametrize(
        ("day", "at", "zone", "utc"),
        [
            # 09:15 London is 09:15 local all year: 09:15Z in winter, 08:15Z in summer.
            (date(2026, 1, 13), time(9, 15), LONDON, datetime(2026, 1, 13, 9, 15, tzinfo=UTC)),
            (date(2026, 7, 14), time(9, 15), LONDON, datetime(2026, 7, 14, 8, 15, tzinfo=UTC)),
            # Days either side of the 2026 London transitions (29 Mar, 25 Oct).
            (date(2026, 3, 28), time(9, 15), LONDON, datetime(2026, 3, 28, 9, 15, tzinfo=UTC)),
            (date(2026, 3, 29), time(9, 15), LONDON, datetime(2026, 3, 29, 8, 15, tzinfo=UTC)),
            (date(2026, 10, 24), time(9, 15), LONDON, datetime(2026, 10, 24, 8, 15, tzinfo=UTC)),
            (date(2026, 10, 25), time(9, 15), LONDON, datetime(2026, 10, 25, 9, 15, tzinfo=UTC)),
            # New York 2026 transitions (8 Mar, 1 Nov).
            (date(2026, 3, 7), time(9, 15), NEW_YORK, datetime(2026, 3, 7, 14, 15, tzinfo=UTC)),
            (date(2026, 3, 8), time(9, 15), NEW_YORK, datetime(2026, 3, 8, 13, 15, tzinfo=UTC)),
            (date(2026, 10, 31), time(9, 15), NEW_YORK, datetime(2026, 10, 31, 13, 15, tzinfo=UTC)),
            (date(2026, 11, 1), time(9, 15), NEW_YORK, datetime(2026, 11, 1, 14, 15, tzinfo=UTC)),
            # Sydney (southern hemisphere: DST ends 5 Apr 2026, starts 4 Oct 2026).
            (date(2026, 4, 4), time(9, 15), SYDNEY, datetime(2026, 4, 3, 22, 15, tzinfo=UTC)),
            (date(2026, 4, 5), time(9, 15), SYDNEY, datetime(2026, 4, 4, 23, 15, tzinfo=UTC)),
            (date(2026, 10, 4), time(9, 15), SYDNEY, datetime(2026, 10, 3, 22, 15, tzinfo=UTC)),
        ],
    )
    def test_wall_time_is_kept_across_transitions(self, day, at, zone, utc):
        result = local_instant(day, at, zone)
        assert result == utc
        assert result.tzinfo is UTC
        assert wall(result, zone) == datetime.combine(day, at)

    @pytest.mark.parametrize(
        ("day", "at", "zone", "utc", "local_after", "transition"),
        [
            # London springs forward 01:00 GMT → 02:00 BST on 29 Mar 2026 (01:00Z): 01:30 does
            # not exist and moves forward by the gap to 02:30 BST (01:30Z), never back to
            # 00:30 GMT, which would be before the requested time.
            (date(2026, 3, 29), time(1, 30), LONDON, datetime(2026, 3, 29, 1, 30, tzinfo=UTC), time(2, 30),
             datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
            (date(2026, 3, 29), time(1, 0), LONDON, datetime(2026, 3, 29, 1, 0, tzinfo=UTC), time(2, 0),
             datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
            (date(2026, 3, 29), time(1, 59), LONDON, datetime(2026, 3, 29, 1, 59, tzinfo=UTC), time(2, 59),
             datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
            # New York: 02:00 EST → 03:00 EDT on 8 Mar 2026 (07:00Z).
            (date(2026, 3, 8), time(2, 30), NEW_YORK, datetime(2026, 3, 8, 7, 30, tzinfo=UTC), time(3, 30),
             datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
            # Sydney: 02:00 AEST → 03:00 AEDT on 4 Oct 2026 (16:00Z on the 3rd).
            (date(2026, 10, 4), time(2, 15), SYDNEY, datetime(2026, 10, 3, 16, 15, tzinfo=UTC), time(3, 15),
             datetime(2026, 10, 3, 16, 0, tzinfo=UTC)),
            # Lord Howe: a 30-minute gap, 02:00 → 02:30 on 4 Oct 2026 (15:30Z on the 3rd).
            (date(2026, 10, 4), time(2, 10), LORD_HOWE, datetime(2026, 10, 3, 15, 40, tzinfo=UTC), time(2, 40),
             datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),
        ],
    )
    def test_spring_gap_moves_forward_by_the_gap(self, day, at, zone, utc, local_after, transition):
        result = local_instant(day, at, zone)
        assert result == utc
        assert wall(result, zone) == datetime.combine(day, local_after)
        # After the gap, never before it (which would be earlier than the requested time).
        assert result >= transition
        assert wall(transition - timedelta(seconds=1), zone) < datetime.combine(day, at)

    @pytest.mark.parametrize(
        ("day", "at", "zone", "utc"),
        [
            # London falls back 02:00 BST → 01:00 GMT on 25 Oct 2026: 01:30 happens twice;
            # the first (BST, 00:30Z) is taken.
            (date(2026, 10, 25), time(1, 30), LONDON, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
            (date(2026, 10, 25), time(1, 0), LONDON, datetime(2026, 10, 25, 0, 0, tzinfo=UTC)),
            # New York: 01:30 on 1 Nov 2026 is first EDT (05:30Z), then EST (06:30Z).
            (date(2026, 11, 1), time(1, 30), NEW_YORK, datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
            # Sydney: 02:30 on 5 Apr 2026 is first AEDT (15:30Z on the 4th), then AEST.
            (date(2026, 4, 5), time(2, 30), SYDNEY, datetime(2026, 4, 4, 15, 30, tzinfo=UTC)),
        ],
    )
    def test_autumn_overlap_takes_the_first_occurrence(self, day, at, zone, utc):
        result = local_instant(day, at, zone)
        assert result == utc
        assert result.astimezone(zone).fold == 0
        assert wall(result, zone) == datetime.combine(day, at)

    @FAST
    @given(
        zone=st.sampled_from(ZONES),
        day=st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31)),
        hour=st.integers(0, 23),
        minute=st.integers(0, 59),
    )
    @example(zone=LONDON, day=date(2026, 3, 29), hour=1, minute=30)
    @example(zone=LONDON, day=date(2026, 10, 25), hour=1, minute=30)
    @example(zone=NEW_YORK, day=date(2026, 3, 8), hour=2, minute=30)
    @example(zone=NEW_YORK, day=date(2026, 11, 1), hour=1, minute=30)
    @example(zone=SYDNEY, day=date(2026, 10, 4), hour=2, minute=30)
    @example(zone=SYDNEY, day=date(2026, 4, 5), hour=2, minute=30)
    def test_matches_the_oracle(self, zone, day, hour, minute):
        at = time(hour, minute)
        expected, kind = expected_instant(day, at, zone)
        result = local_instant(day, at, zone)
        assert result == expected, kind
        assert result.tzinfo is UTC
        if kind == "gap":
            assert wall(result, zone) > datetime.combine(day, at)
        else:
            assert wall(result, zone) == datetime.combine(day, at)

    def test_out_of_range_is_a_schedule_error(self):
        with pytest.raises(ScheduleError, match="out of range"):
            local_instant(date(9999, 12, 31), time(23, 59), NEW_YORK)


# --- planner_instants -----------------------------------------------------------------------

days_sets = st.sets(st.sampled_from(DAY_NAMES), min_size=1).map(lambda s: tuple(sorted(s, key=DAY_NAMES.index)))


class TestPlannerInstants:
    @FAST
    @given(
        zone=st.sampled_from(ZONES),
        start=st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31)),
        days=days_sets,
        hour=st.integers(0, 23),
        minute=st.integers(0, 59),
        rounds=st.integers(1, 8),
        now_shift=st.integers(-3 * 24 * 60, 10 * 24 * 60),  # minutes from start's midnight UTC
    )
    @example(zone=LONDON, start=date(2026, 3, 24), days=("sun",), hour=1, minute=30, rounds=2, now_shift=0)
    @example(zone=LONDON, start=date(2026, 10, 20), days=("tue", "thu"), hour=9, minute=15, rounds=3, now_shift=0)
    @example(zone=NEW_YORK, start=date(2026, 3, 1), days=("sun",), hour=2, minute=30, rounds=3, now_shift=0)
    @example(zone=NEW_YORK, start=date(2026, 10, 27), days=("sun", "tue"), hour=1, minute=30, rounds=3, now_shift=0)
    def test_properties(self, zone, start, days, hour, minute, rounds, now_shift):
        at = time(hour, minute)
        now = datetime.combine(start, time(0), tzinfo=UTC) + timedelta(minutes=now_shift)
        planned = planner_instants(rounds=rounds, start=start, days=days, at=at, zone=zone, now=now)
        assert len(planned) == rounds
        instants = [p.at for p in planned]
        assert all(p.source == "planner" for p in planned)
        for instant in instants:
            assert instant.tzinfo is UTC and instant.utcoffset() == timedelta(0)
            assert instant > now
        assert all(a < b for a, b in zip(instants, instants[1:], strict=False))
        local_days = []
        for instant in instants:
            expected, kind = expected_instant(wall(instant, zone).date(), at, zone)
            local = instant.astimezone(zone)
            assert DAY_NAMES[local.weekday()] in days
            assert local.date() >= start
            assert instant == expected, kind
            if kind == "gap":
                assert local.replace(tzinfo=None) > datetime.combine(local.date(), at)
            else:
                assert local.replace(tzinfo=None) == datetime.combine(local.date(), at)
            assert on_allowed_day_and_time(instant, days=days, at=at, zone=zone)
            local_days.append(local.date())
        # Consecutive allowed days: nothing skipped between the first and the last round.
        skipped = [
            d for d in (local_days[0] + timedelta(n) for n in range((local_days[-1] - local_days[0]).days))
            if DAY_NAMES[d.weekday()] in days and d not in local_days
        ]
        assert skipped == []
        # And the first round is the first allowed day from start whose instant is after now.
        day = start
        while day < local_days[0]:
            if DAY_NAMES[day.weekday()] in days:
                assert local_instant(day, at, zone) <= now
            day += timedelta(1)

    def test_london_tue_thu_straddling_the_autumn_change(self):
        planned = planner_instants(
            rounds=3, start=date(2026, 10, 20), days=("tue", "thu"), at=time(9, 15), zone=LONDON,
            now=datetime(2026, 10, 19, 12, 0, tzinfo=UTC),
        )
        assert [p.at for p in planned] == [
            datetime(2026, 10, 20, 8, 15, tzinfo=UTC),  # BST
            datetime(2026, 10, 22, 8, 15, tzinfo=UTC),  # BST
            datetime(2026, 10, 27, 9, 15, tzinfo=UTC),  # GMT after 25 Oct
        ]
        assert {wall(p.at, LONDON).time() for p in planned} == {time(9, 15)}

    def test_london_straddling_the_spring_change(self):
        planned = planner_instants(
            rounds=3, start=date(2026, 3, 24), days=("tue", "thu"), at=time(9, 15), zone=LONDON,
            now=datetime(2026, 3, 23, tzinfo=UTC),
        )
        assert [p.at for p in planned] == [
            datetime(2026, 3, 24, 9, 15, tzinfo=UTC),
            datetime(2026, 3, 26, 9, 15, tzinfo=UTC),
            datetime(2026, 3, 31, 8, 15, tzinfo=UTC),
        ]

    def test_new_york_straddling_both_changes(self):
        spring = planner_instants(
            rounds=3, start=date(2026, 3, 3), days=("tue", "thu"), at=time(9, 15), zone=NEW_YORK,
            now=datetime(2026, 3, 1, tzinfo=UTC),
        )
        assert [p.at for p in spring] == [
            datetime(2026, 3, 3, 14, 15, tzinfo=UTC),
            datetime(2026, 3, 5, 14, 15, tzinfo=UTC),
            datetime(2026, 3, 10, 13, 15, tzinfo=UTC),
        ]
        autumn = planner_instants(
            rounds=2, start=date(2026, 10, 29), days=("thu", "tue"), at=time(9, 15), zone=NEW_YORK,
            now=datetime(2026, 10, 1, tzinfo=UTC),
        )
        assert [p.at for p in autumn] == [
            datetime(2026, 10, 29, 13, 15, tzinfo=UTC),
            datetime(2026, 11, 3, 14, 15, tzinfo=UTC),
        ]

    def test_sunday_round_in_the_london_gap_is_after_the_gap(self):
        planned = planner_instants(
            rounds=1, start=date(2026, 3, 29), days=("sun",), at=time(1, 30), zone=LONDON,
            now=datetime(2026, 3, 28, tzinfo=UTC),
        )
        assert planned[0].at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
        assert wall(planned[0].at, LONDON) == datetime(2026, 3, 29, 2, 30)

    def test_today_already_past_is_skipped(self):
        # Tuesday 20 Oct 2026, 10:00 London: today's 09:15 has passed → Thursday first.
        planned = planner_instants(
            rounds=1, start=date(2026, 10, 20), days=("tue", "thu"), at=time(9, 15), zone=LONDON,
            now=datetime(2026, 10, 20, 9, 0, tzinfo=UTC),
        )
        assert planned[0].at == datetime(2026, 10, 22, 8, 15, tzinfo=UTC)

    def test_an_instant_equal_to_now_is_not_after_now(self):
        now = datetime(2026, 10, 20, 8, 15, tzinfo=UTC)
        planned = planner_instants(
            rounds=1, start=date(2026, 10, 20), days=("tue",), at=time(9, 15), zone=LONDON, now=now,
        )
        assert planned[0].at == datetime(2026, 10, 27, 9, 15, tzinfo=UTC)

    def test_now_far_after_start_is_a_schedule_error(self):
        with pytest.raises(ScheduleError, match="enough allowed days"):
            planner_instants(
                rounds=3, start=date(2020, 1, 1), days=("tue",), at=time(9, 15), zone=LONDON,
                now=datetime(2026, 1, 1, tzinfo=UTC),
            )

    def test_end_of_calendar_is_a_schedule_error_not_an_overflow(self):
        with pytest.raises(ScheduleError):
            planner_instants(
                rounds=3, start=date(9999, 12, 28), days=("tue", "thu"), at=time(9, 15), zone=LONDON,
                now=datetime(2026, 1, 1, tzinfo=UTC),
            )


# --- on_allowed_day_and_time ----------------------------------------------------------------

class TestOnAllowedDayAndTime:
    def test_allowed(self):
        instant = datetime(2026, 10, 27, 9, 15, tzinfo=UTC)  # Tue 09:15 GMT
        assert on_allowed_day_and_time(instant, days=("tue", "thu"), at=time(9, 15), zone=LONDON)
        summer = datetime(2026, 7, 14, 8, 15, tzinfo=UTC)  # Tue 09:15 BST
        assert on_allowed_day_and_time(summer, days=("tue",), at=time(9, 15), zone=LONDON)

    def test_wrong_day(self):
        instant = datetime(2026, 10, 28, 9, 15, tzinfo=UTC)  # Wednesday
        assert not on_allowed_day_and_time(instant, days=("tue", "thu"), at=time(9, 15), zone=LONDON)

    def test_wrong_time(self):
        # 09:15Z in summer is 10:15 London: the right UTC hour of winter, the wrong wall time.
        instant = datetime(2026, 7, 14, 9, 15, tzinfo=UTC)
        assert not on_allowed_day_and_time(instant, days=("tue",), at=time(9, 15), zone=LONDON)
        assert not on_allowed_day_and_time(instant + timedelta(minutes=1), days=("tue",), at=time(10, 15), zone=LONDON)

    def test_day_is_the_local_day_not_the_utc_day(self):
        # Mon 23:30 New York (EST) is Tue 04:30Z: a Monday in the zone.
        instant = datetime(2026, 12, 1, 4, 30, tzinfo=UTC)
        assert on_allowed_day_and_time(instant, days=("mon",), at=time(23, 30), zone=NEW_YORK)
        assert not on_allowed_day_and_time(instant, days=("tue",), at=time(23, 30), zone=NEW_YORK)

    def test_second_occurrence_in_overlap_is_not_the_planner_instant(self):
        second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 01:30 GMT, the repeat
        assert not on_allowed_day_and_time(second, days=("sun",), at=time(1, 30), zone=LONDON)
        first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
        assert on_allowed_day_and_time(first, days=("sun",), at=time(1, 30), zone=LONDON)


# --- parse_instant --------------------------------------------------------------------------

class TestParseInstant:
    @pytest.mark.parametrize(
        ("text", "zone", "utc"),
        [
            ("2026-12-01T09:15Z", LONDON, datetime(2026, 12, 1, 9, 15, tzinfo=UTC)),
            ("2026-12-01T09:15:30Z", NEW_YORK, datetime(2026, 12, 1, 9, 15, 30, tzinfo=UTC)),
            ("2026-06-02T09:15+01:00", NEW_YORK, datetime(2026, 6, 2, 8, 15, tzinfo=UTC)),
            ("2026-06-02T09:15-04:00", LONDON, datetime(2026, 6, 2, 13, 15, tzinfo=UTC)),
            ("2026-12-01T09:15+00:00", LONDON, datetime(2026, 12, 1, 9, 15, tzinfo=UTC)),
            # Without an offset: the wall time in the zone.
            ("2026-12-01T09:15", LONDON, datetime(2026, 12, 1, 9, 15, tzinfo=UTC)),
            ("2026-06-02T09:15", LONDON, datetime(2026, 6, 2, 8, 15, tzinfo=UTC)),
            ("2026-06-02T09:15", NEW_YORK, datetime(2026, 6, 2, 13, 15, tzinfo=UTC)),
            ("2026-12-01 09:15", NEW_YORK, datetime(2026, 12, 1, 14, 15, tzinfo=UTC)),
            ("  2026-12-01T09:15  ", LONDON, datetime(2026, 12, 1, 9, 15, tzinfo=UTC)),
            # A wall time in the gap, read in the zone, moves forward.
            ("2026-03-29T01:30", LONDON, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
            # In the overlap, the first occurrence.
            ("2026-10-25T01:30", LONDON, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        ],
    )
    def test_valid(self, text, zone, utc):
        result = parse_instant(text, zone)
        assert result == utc
        assert result.tzinfo is UTC

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("2026-12-01", "has no time of day"),
            ("20261201", "has no time of day"),
            ("tomorrow", "is not an ISO 8601"),
            ("2026-13-01T09:15", "is not an ISO 8601"),
            ("2026-12-01T25:00", "is not an ISO 8601"),
            ("", "is not an ISO 8601"),
            ("Z", "is not an ISO 8601"),
            ("0001-01-01T00:00+01:00", "out of range"),
            ("9999-12-31T23:59-05:00", "out of range"),
        ],
    )
    def test_invalid(self, text, message):
        with pytest.raises(ScheduleError, match=re.escape(message)):
            parse_instant(text, LONDON)

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=40))
    def test_never_raises_anything_but_schedule_error(self, text):
        try:
            result = parse_instant(text, NEW_YORK)
        except ScheduleError:
            return
        assert result.tzinfo is UTC


# --- durations and offsets ------------------------------------------------------------------

class TestDurations:
    @pytest.mark.parametrize(
        ("text", "value"),
        [
            ("-3h15m", -timedelta(hours=3, minutes=15)),
            ("+40s", timedelta(seconds=40)),
            ("2h", timedelta(hours=2)),
            ("1d", timedelta(days=1)),
            ("-21h", timedelta(hours=-21)),
            ("+24h", timedelta(hours=24)),
            ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
            ("90m", timedelta(minutes=90)),
            (" 15m ", timedelta(minutes=15)),
            ("0s", timedelta(0)),
        ],
    )
    def test_parse(self, text, value):
        assert parse_duration(text) == value

    @pytest.mark.parametrize("text", ["", "+", "-", "h", "2", "2x", "2h1d", "1.5h", "2 h", "--2h", "2H", "soon", "99999999999d"])
    def test_parse_rejects(self, text):
        with pytest.raises(ScheduleError):
            parse_duration(text)

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (timedelta(hours=-3, minutes=-15), "-3h15m"),
            (timedelta(seconds=40), "+40s"),
            (timedelta(0), "+0s"),
            (timedelta(days=1, hours=2), "+1d2h"),
            (timedelta(hours=24), "+1d"),
        ],
    )
    def test_format(self, value, text):
        assert format_duration(value) == text

    @given(st.integers(-10_000 * 86400, 10_000 * 86400))
    def test_round_trip_from_value(self, seconds):
        value = timedelta(seconds=seconds)
        text = format_duration(value)
        assert re.fullmatch(r"[+-](\d+d)?(\d+h)?(\d+m)?(\d+s)?", text)
        assert parse_duration(text) == value

    @given(
        sign=st.sampled_from(["", "+", "-"]),
        parts=st.tuples(*(st.none() | st.integers(0, 500) for _ in range(4))).filter(lambda p: any(x is not None for x in p)),
    )
    def test_round_trip_from_text(self, sign, parts):
        text = sign + "".join(f"{n}{u}" for n, u in zip(parts, "dhms", strict=True) if n is not None)
        value = parse_duration(text)
        assert parse_duration(format_duration(value)) == value


class TestOffsets:
    def test_defaults(self):
        assert parse_offsets("") == DEFAULT_OFFSETS
        assert DEFAULT_OFFSETS == {
            "prelaunch": timedelta(hours=-21),
            "preflight": -timedelta(hours=3, minutes=15),
            "warning": timedelta(minutes=-15),
            "launch": timedelta(0),
            "wrapup": timedelta(hours=2),
            "cleanup": timedelta(hours=24),
        }
        assert set(DEFAULT_OFFSETS) == set(STAGES)

    def test_the_spec_example_is_the_defaults(self):
        assert parse_offsets("prelaunch:-21h,preflight:-3h15m,warning:-15m,wrapup:+2h,cleanup:+24h") == DEFAULT_OFFSETS

    def test_overrides_keep_the_other_defaults(self):
        offsets = parse_offsets("warning:-10m, wrapup:+3h")
        assert offsets["warning"] == timedelta(minutes=-10)
        assert offsets["wrapup"] == timedelta(hours=3)
        assert offsets["prelaunch"] == DEFAULT_OFFSETS["prelaunch"]
        assert offsets["cleanup"] == DEFAULT_OFFSETS["cleanup"]
        assert offsets["launch"] == timedelta(0)

    def test_does_not_mutate_the_defaults(self):
        parse_offsets("warning:-10m")
        assert DEFAULT_OFFSETS["warning"] == timedelta(minutes=-15)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("launch:+5m", "launch stage is the round's instant itself"),
            ("launch:0s", "launch stage is the round's instant itself"),
            ("teaser:-1h", "`teaser` is not a stage"),
            ("warning", "is not stage:duration"),
            ("warning:soon", "`soon` is not a duration"),
            ("warning:+5m", "warning must come before the send"),
            ("preflight:0s", "preflight must come before the send"),
            ("prelaunch:+1h", "prelaunch must come before the send"),
            ("wrapup:-1h", "wrapup must come after the send"),
            ("cleanup:0s", "cleanup must come after the send"),
            ("prelaunch:-1h", "stages must run in order"),
            ("warning:-4h", "stages must run in order"),
            ("cleanup:+1h", "cleanup must come after wrapup"),
            ("wrapup:+2d", "cleanup must come after wrapup"),
        ],
    )
    def test_rejects(self, text, message):
        with pytest.raises(ScheduleError, match=re.escape(message)):
            parse_offsets(text)


# --- days, time of day, zone ----------------------------------------------------------------

class TestDaysAndTimes:
    @pytest.mark.parametrize(
        ("text", "days"),
        [
            ("tue,thu", ("tue", "thu")),
            ("thu,tue", ("tue", "thu")),
            ("TUE, Thu", ("tue", "thu")),
            ("tuesday,thursday", ("tue", "thu")),
            ("tues,thurs", ("tue", "thu")),
            ("mon", ("mon",)),
            ("tue,tue,thu", ("tue", "thu")),
            ("sun,sat,fri,thu,wed,tue,mon", DAY_NAMES),
            ("tue,,thu,", ("tue", "thu")),
        ],
    )
    def test_days(self, text, days):
        assert parse_days(text) == days

    @pytest.mark.parametrize("text", ["", ",", "funday", "tu", "monkey", "satellite", "tue,xyz", "1,2", "weekdays"])
    def test_bad_days(self, text):
        with pytest.raises(ScheduleError, match="days must be a list like tue,thu"):
            parse_days(text)

    @pytest.mark.parametrize(
        ("text", "value"),
        [("09:15", time(9, 15)), ("9:15", time(9, 15)), ("00:00", time(0)), ("23:59", time(23, 59)), (" 12:30 ", time(12, 30))],
    )
    def test_time(self, text, value):
        assert parse_time_of_day(text) == value

    @pytest.mark.parametrize("text", ["25:00", "24:00", "12:60", "9", "09:15:00", "9am", "", "09-15", "123:00", "9:5"])
    def test_bad_time(self, text):
        with pytest.raises(ScheduleError, match="time must be HH:MM"):
            parse_time_of_day(text)

    def test_zone(self):
        assert parse_zone("Europe/London") == LONDON
        for bad in ("Mars/Base", "", "../etc/passwd", "Europe/London\x00"):
            with pytest.raises(ScheduleError, match="is not a time zone"):
                parse_zone(bad)


# --- round sizes ----------------------------------------------------------------------------

class TestRoundSizes:
    @pytest.mark.parametrize(
        ("n", "rounds", "sizes"),
        [
            (1000, 3, [334, 334, 332]),
            (10, 4, [3, 3, 3, 1]),
            (9, 3, [3, 3, 3]),
            (0, 3, [0, 0, 0]),
            (1, 1, [1]),
            (7, 1, [7]),
            (2, 3, [1, 1, 0]),
        ],
    )
    def test_examples(self, n, rounds, sizes):
        assert round_sizes(n, rounds) == sizes

    @given(st.integers(0, 10**7), st.integers(1, 20))
    def test_properties(self, n, rounds):
        sizes = round_sizes(n, rounds)
        per_round = -(-n // rounds)
        assert len(sizes) == rounds
        assert sum(sizes) == n
        assert all(0 <= s <= per_round for s in sizes)
        assert sizes == sorted(sizes, reverse=True)
        # FIFO: every round takes ceil(n/rounds) while contacts last; the last round holds
        # what remains; at most one round is partial.
        for i, size in enumerate(sizes):
            assert size == min(per_round, n - sum(sizes[:i]))
        assert sum(1 for s in sizes if 0 < s < per_round) <= 1
        if n >= per_round * (rounds - 1):
            assert sizes[:-1] == [per_round] * (rounds - 1)
            assert sizes[-1] == n - per_round * (rounds - 1)

    def test_zero_rounds(self):
        with pytest.raises(ScheduleError):
            round_sizes(10, 0)


# --- format_instant -------------------------------------------------------------------------

class TestFormatInstant:
    def test_winter_and_summer_london(self):
        assert format_instant(datetime(2026, 12, 1, 9, 15, tzinfo=UTC), LONDON) == "Tue 1 Dec 2026 09:15 GMT (09:15 UTC)"
        assert format_instant(datetime(2026, 6, 2, 8, 15, tzinfo=UTC), "Europe/London") == "Tue 2 Jun 2026 09:15 BST (08:15 UTC)"

    def test_local_day_differs_from_utc_day(self):
        text = format_instant(datetime(2026, 12, 1, 4, 30, tzinfo=UTC), NEW_YORK)
        assert text == "Mon 30 Nov 2026 23:30 EST (04:30 UTC)"

    def test_accepts_any_aware_instant(self):
        tokyo = datetime(2026, 12, 1, 18, 15, tzinfo=ZoneInfo("Asia/Tokyo"))
        assert format_instant(tokyo, LONDON) == "Tue 1 Dec 2026 09:15 GMT (09:15 UTC)"


def test_module_exports_are_consistent():
    assert schedule.DEFAULT_WINDOW == timedelta(hours=2)
    assert DAY_NAMES == ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
