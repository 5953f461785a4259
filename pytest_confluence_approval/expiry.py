"""How long an approval counts: durations as a policy writes them, and calendar arithmetic.

Pure: no I/O, no clock. Capable Approval expires approvals "a month / 3 months / 6 months
/ a year after approval" or "on interval"; a policy says the same in the same words
(``6 months``, ``2 weeks``) or as an ISO 8601 duration (``P6M``, ``P1Y2M``, ``P90D``).
Months and years are calendar months and years, counted from the completion instant in
UTC, with the day clamped to the end of a shorter month: completed 31 January 10:00 UTC
plus ``1 month`` ends 28 February 10:00 UTC (29 February in a leap year).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .errors import DurationError as DurationError

#: The longest duration a policy may give (like max_age_days' cap of 36500 days).
MAX_YEARS = 100

_WORDS = re.compile(r"^\s*(\d{1,6})\s*([Dd]ay|[Ww]eek|[Mm]onth|[Yy]ear)s?\s*$")
_ISO = re.compile(r"^P(?:(\d{1,6})Y)?(?:(\d{1,6})M)?(?:(\d{1,6})W)?(?:(\d{1,6})D)?$")


@dataclass(frozen=True)
class Duration:
    """A calendar duration: whole years and months first, then whole days (ISO 8601 order)."""

    months: int
    days: int
    #: as the policy wrote it, for failure text and the report
    text: str

    @classmethod
    def of_days(cls, days: int) -> Duration:
        return cls(0, days, f"{days} day{'' if days == 1 else 's'}")

    def after(self, instant: datetime) -> datetime | None:
        """``instant`` + this duration, in UTC; None beyond the calendar (year 9999)."""
        return add_calendar(instant, months=self.months, days=self.days)


def parse_calendar_duration(text: str) -> Duration:
    """``90 days``, ``2 weeks``, ``1 month``, ``6 months``, ``1 year``, or ISO ``P1Y2M``.

    A policy's ``max_age``: calendar months and days, raising DurationError. Not the
    options' ``90s``/``30m``/``2h`` (settings.parse_option_duration): see the comment
    there for why the two languages have two parsers.
    """
    words = _WORDS.match(text)
    if words:
        number, unit = int(words.group(1)), words.group(2).lower()
        months = {"month": number, "year": 12 * number}.get(unit, 0)
        days = {"day": number, "week": 7 * number}.get(unit, 0)
    else:
        iso = _ISO.match(text.strip())
        if iso is None or not any(iso.groups()):
            hint = (
                "; hours and minutes are not supported: approvals expire by calendar days"
                if re.match(r"^\s*P.*T", text)
                else ""
            )
            raise DurationError(
                f"{text!r} is not a duration such as 90 days, 2 weeks, 6 months, 1 year or "
                f"P6M{hint}"
            )
        years, month_count, weeks, day_count = (int(g) if g else 0 for g in iso.groups())
        months = 12 * years + month_count
        days = 7 * weeks + day_count
    # A month taken as 30.4375 days (a 400-year cycle's average): "100 years", "1200 months"
    # and "36525 days" all just pass.
    if months * 487 + days * 16 > MAX_YEARS * 36525 * 16 // 100:
        raise DurationError(f"{text!r} is longer than {MAX_YEARS} years")
    return Duration(months, days, text.strip())


def add_calendar(instant: datetime, *, months: int = 0, days: int = 0) -> datetime | None:
    """Calendar months, then days, after ``instant`` (taken in UTC), clamping the day.

    None when the result lies beyond what a datetime can hold: such an approval never
    expires within the calendar, which is what a huge limit means.
    """
    utc = instant.astimezone(timezone.utc)
    years_ahead, month_index = divmod(utc.month - 1 + months, 12)
    year = utc.year + years_ahead
    if year > 9999:
        return None
    month = month_index + 1
    day = min(utc.day, calendar.monthrange(year, month)[1])
    try:
        return utc.replace(year=year, month=month, day=day) + timedelta(days=days)
    except OverflowError:
        return None
