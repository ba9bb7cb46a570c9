"""Public-holiday calendars for planning and pre-flight, from the `holidays` package.

A calendar is named by a country code (`US`, `FR`) or a country and one of its subdivisions
joined by a hyphen (`GB-ENG`: country GB, subdivision ENG), as the `holidays` package names
them; `none` means no calendar. Planning from `days=` never picks a public holiday of the
campaign's calendar; an explicit `at=` instant on a holiday is kept and its pre-flight warns.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays

NONE = "none"
HOW_TO_WRITE = ("write a country code such as US or FR, or a country and subdivision joined by a hyphen "
                "such as GB-ENG (England) or GB-SCT (Scotland), as the `holidays` package names them; "
                "or none for no holiday calendar")


class CalendarError(ValueError):
    """A calendar code the holidays package does not know; the message says how to write one."""


@lru_cache(maxsize=1)
def _supported() -> dict[str, tuple[str, ...]]:
    return {country: tuple(subdivisions) for country, subdivisions in holidays.list_supported_countries().items()}


def parse_code(text: str) -> str | None:
    """`gb-eng` → `GB-ENG`, `us` → `US`, `none` → None. Raises CalendarError with how to write it."""
    cleaned = (text or "").strip()
    if cleaned.lower() == NONE:
        return None
    country, hyphen, subdivision = cleaned.partition("-")
    country = country.upper()
    if hyphen and not subdivision:
        raise CalendarError(f"`{cleaned}` names no subdivision after the hyphen: {HOW_TO_WRITE}")
    supported = _supported()
    if not country or country not in supported:
        raise CalendarError(f"`{cleaned}` is not a holiday calendar: {HOW_TO_WRITE}")
    if not subdivision:
        return country
    by_upper = {s.upper(): s for s in supported[country]}
    if subdivision.upper() not in by_upper:
        shown = ", ".join(f"{country}-{s}" for s in supported[country][:12]) or "none"
        more = " …" if len(supported[country]) > 12 else ""
        raise CalendarError(f"`{cleaned}`: {country} has no subdivision {subdivision} "
                            f"(it has {shown}{more}); {HOW_TO_WRITE}")
    return f"{country}-{by_upper[subdivision.upper()]}"


@lru_cache(maxsize=32)
def _calendar(code: str) -> holidays.HolidayBase:
    country, _, subdivision = code.partition("-")
    calendar = holidays.country_holidays(country, subdiv=subdivision or None)
    # English names where the country's calendar has them ("New Year's Day", not "Jour de l'an").
    for language in ("en_GB", "en_US"):
        if language in getattr(calendar, "supported_languages", ()):
            return holidays.country_holidays(country, subdiv=subdivision or None, language=language)
    return calendar


def holiday_name(day: date, code: str | None) -> str | None:
    """The public holiday on `day` in calendar `code` (several joined by "; "), or None."""
    if not code:
        return None
    return _calendar(code).get(day)
