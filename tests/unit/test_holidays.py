"""Holiday-aware planning: the planner never picks a public holiday of
the campaign's calendar, names each one it skipped, and an explicit instant on a holiday only
warns. Every date here is fixed and `now` is passed in, so nothing depends on today."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import preflight_rules as checks
from bot.campaigns import CreatedCampaign, round_instants
from bot.grammar import parse
from bot.holiday_calendar import CalendarError, holiday_name, parse_code
from bot.schedule import DAY_NAMES, SkippedDay, planner_instants
from bot.messages.replies import planning_text
from bot.messages.rounds import campaign_planned

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2029, 12, 1, 8, 0, tzinfo=UTC)


def plan(text: str, now: datetime = NOW) -> tuple[list[date], list[SkippedDay]]:
    new = parse(text).new
    skipped: list[SkippedDay] = []
    instants = round_instants(new, now, skipped)
    return [i.at.astimezone(new.zone).date() for i in instants], skipped


class TestCalendarCodes:
    @pytest.mark.parametrize(("text", "code"), [("GB-ENG", "GB-ENG"), ("gb-eng", "GB-ENG"), ("US", "US"),
                                                ("fr", "FR"), ("none", None), ("None", None), ("GB-sct", "GB-SCT")])
    def test_codes(self, text, code):
        assert parse_code(text) == code

    @pytest.mark.parametrize("text", ["", "XX", "England", "GB-", "GB-XYZ", "GB_ENG", "-ENG"])
    def test_bad_codes_say_how_to_write_one(self, text):
        with pytest.raises(CalendarError) as caught:
            parse_code(text)
        assert "GB-ENG" in str(caught.value) and "none" in str(caught.value)

    def test_names_in_england(self):
        assert holiday_name(date(2029, 12, 25), "GB-ENG") == "Christmas Day"
        assert holiday_name(date(2029, 12, 26), "GB-ENG") == "Boxing Day"
        assert holiday_name(date(2030, 1, 1), "GB-ENG") == "New Year's Day"
        assert holiday_name(date(2029, 12, 27), "GB-ENG") is None
        assert holiday_name(date(2029, 12, 25), None) is None
        # Christmas 2027 is a Saturday: the substitute day on Monday is a holiday too.
        assert holiday_name(date(2027, 12, 27), "GB-ENG") == "Christmas Day (observed)"
        # Scotland keeps 2 January; England does not.
        assert holiday_name(date(2030, 1, 2), "GB-SCT") and holiday_name(date(2030, 1, 2), "GB-ENG") is None


class TestPlanning:
    def test_christmas_and_new_year_in_england_are_skipped_and_named(self):
        # 25 Dec 2029 and 1 Jan 2030 are Tuesdays.
        days, skipped = plan("new X list=1 draft=2 rounds=5 start=2029-12-17 days=tue,thu holidays=GB-ENG")
        assert days == [date(2029, 12, 18), date(2029, 12, 20), date(2029, 12, 27), date(2030, 1, 3), date(2030, 1, 8)]
        assert skipped == [SkippedDay(date(2029, 12, 25), "Christmas Day"), SkippedDay(date(2030, 1, 1), "New Year's Day")]

    def test_every_day_across_the_holidays(self):
        days, skipped = plan("new X list=1 draft=2 rounds=6 start=2029-12-24 "
                             "days=mon,tue,wed,thu,fri,sat,sun holidays=GB-ENG")
        assert days == [date(2029, 12, 24), date(2029, 12, 27), date(2029, 12, 28), date(2029, 12, 29),
                        date(2029, 12, 30), date(2029, 12, 31)]
        assert [(s.day, s.name) for s in skipped] == [(date(2029, 12, 25), "Christmas Day"),
                                                      (date(2029, 12, 26), "Boxing Day")]
        days, skipped = plan("new X list=1 draft=2 rounds=3 start=2029-12-31 days=mon,tue,wed holidays=GB-ENG")
        assert days == [date(2029, 12, 31), date(2030, 1, 2), date(2030, 1, 7)]
        assert [s.name for s in skipped] == ["New Year's Day"]

    def test_substitute_days_are_skipped(self):
        days, skipped = plan("new X list=1 draft=2 rounds=2 start=2027-12-20 days=mon", now=datetime(2027, 12, 1, tzinfo=UTC))
        assert days == [date(2027, 12, 20), date(2028, 1, 10)]  # 27 Dec and 3 Jan 2028 are substitutes
        assert [(s.day, s.name) for s in skipped] == [(date(2027, 12, 27), "Christmas Day (observed)"),
                                                      (date(2028, 1, 3), "New Year's Day (observed)")]

    def test_without_a_calendar_christmas_day_is_picked(self):
        days, skipped = plan("new X list=1 draft=2 rounds=3 start=2029-12-24 days=mon,tue,wed holidays=none")
        assert days == [date(2029, 12, 24), date(2029, 12, 25), date(2029, 12, 26)]
        assert skipped == []

    def test_another_country(self):
        days, skipped = plan("new X list=1 draft=2 rounds=1 start=2030-07-01 days=thu holidays=US")
        assert days == [date(2030, 7, 11)]
        assert [(s.day, s.name) for s in skipped] == [(date(2030, 7, 4), "Independence Day")]

    def test_explicit_instants_are_kept_on_a_holiday(self):
        days, skipped = plan("new X list=1 draft=2 at=2029-12-25T09:15,2029-12-27T09:15 holidays=GB-ENG")
        assert days == [date(2029, 12, 25), date(2029, 12, 27)] and skipped == []

    def test_the_answer_names_each_skipped_date_and_its_holiday(self):
        command = parse("new X list=1 draft=2 rounds=5 start=2029-12-17 days=tue,thu")
        skipped: list[SkippedDay] = []
        instants = round_instants(command.new, NOW, skipped)
        rounds = [{"number": n, "scheduled_at": i.at, "instant_source": i.source} for n, i in enumerate(instants, 1)]
        text = planning_text(command.new, CreatedCampaign(SimpleNamespace(), rounds, skipped))
        assert "5 rounds" in text and "public holidays: GB-ENG" in text
        assert "Skipped public holidays (GB-ENG): Tue 25 Dec 2029 (Christmas Day), Tue 1 Jan 2030 (New Year's Day)." in text

    def test_the_answer_warns_about_an_explicit_instant_on_a_holiday(self):
        command = parse("new X list=1 draft=2 at=2029-12-25T09:15")
        rounds = [{"number": 1, "scheduled_at": command.new.at[0], "instant_source": "explicit"}]
        text = planning_text(command.new, CreatedCampaign(SimpleNamespace(), rounds, []))
        assert "1 round," in text
        assert "Round 1 is on a public holiday (Christmas Day, GB-ENG): it is kept as given and its pre-flight will warn" in text

    def test_the_planning_announcement_names_them_too(self):
        campaign = {"name": "X", "created_by": "U1", "eligible_contacts": 1, "dropped_contacts": 0, "timezone": "Europe/London",
                    "approval_policy": "required", "holidays": "GB-ENG", "revalidated_contacts": 0,
                    "holiday_skips": [{"date": "2029-12-25", "name": "Christmas Day"}]}
        rounds = [{"number": 1, "scheduled_at": datetime(2029, 12, 27, 9, 15, tzinfo=UTC), "recipient_count": 1,
                   "mailjet_list_id": 7, "mailjet_draft_id": 8}]
        text = campaign_planned(campaign, rounds).text
        assert "1 recipient in 1 round " in text and "1 recipients" not in text
        assert "Skipped public holidays (GB-ENG): Tue 25 Dec 2029 (Christmas Day)." in text


class TestPreflightCheck:
    def test_a_holiday_warns_and_never_fails(self):
        check = checks.holiday("Christmas Day", "GB-ENG", date(2029, 12, 25))
        assert check.status == checks.WARN and "Christmas Day (GB-ENG)" in check.reason and "Tue 25 Dec 2029" in check.reason
        assert checks.passed([check])
        assert checks.holiday(None, "GB-ENG", date(2029, 12, 27)).status == checks.PASS


# A property: for each weekday of the week and any start, the planned days are never holidays,
# every skipped day is a holiday on that weekday, and no other day of that weekday is passed over.
@pytest.mark.parametrize("weekday", DAY_NAMES)
@settings(max_examples=60, deadline=None)
@given(start=st.dates(min_value=date(2027, 1, 1), max_value=date(2045, 12, 31)), rounds=st.integers(1, 8),
       calendar=st.sampled_from(["GB-ENG", "GB-SCT", "US", "FR", "DE"]))
def test_planned_days_are_never_holidays(weekday, start, rounds, calendar):
    now = datetime.combine(start, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
    skipped: list[SkippedDay] = []
    picked = planner_instants(rounds=rounds, start=start, days=(weekday,), at=datetime.min.time().replace(hour=9, minute=15),
                              zone=LONDON, now=now, holiday_of=lambda d: holiday_name(d, calendar), skipped=skipped)
    days = [p.at.astimezone(LONDON).date() for p in picked]
    assert len(days) == rounds
    assert all(holiday_name(d, calendar) is None for d in days)
    assert all(DAY_NAMES[d.weekday()] == weekday for d in days)
    assert all(holiday_name(s.day, calendar) == s.name and DAY_NAMES[s.day.weekday()] == weekday for s in skipped)
    # Every day of that weekday from the start to the last pick is either picked or a named skip.
    first = start + timedelta(days=(DAY_NAMES.index(weekday) - start.weekday()) % 7)
    every = [first + timedelta(weeks=n) for n in range((days[-1] - first).days // 7 + 1)]
    assert sorted(days + [s.day for s in skipped]) == every
