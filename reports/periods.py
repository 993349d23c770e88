"""Report periods: ISO weeks, months, quarters and explicit ranges, in the report's time zone.

A period is a half-open interval [start, end) of local calendar time, held as tz-aware
datetimes, so a week that contains a daylight-saving change is 167 or 169 hours long, as its
readers live it. `previous()` is the period a report compares with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

PeriodKind = Literal["week", "month", "quarter", "custom"]

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    start: datetime
    end: datetime
    label: str

    @property
    def tz(self) -> str:
        """The time zone's name (custom periods may carry a fixed offset: then UTC)."""
        zone = self.start.tzinfo
        return zone.key if isinstance(zone, ZoneInfo) else "UTC"

    def previous(self) -> Period:
        tz = self.tz
        if self.kind == "week":
            d = self.start.date() - timedelta(days=7)
            y, w, _ = d.isocalendar()
            return week(y, w, tz)
        if self.kind == "month":
            d = self.start.date().replace(day=1) - timedelta(days=1)
            return month(d.year, d.month, tz)
        if self.kind == "quarter":
            d = self.start.date() - timedelta(days=1)
            return quarter(d.year, (d.month - 1) // 3 + 1, tz)
        length = self.end - self.start
        return custom(self.start - length, self.start)

    def days(self) -> list[date]:
        """The local calendar days the period covers."""
        first, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def elapsed_share(self, at: datetime) -> float:
        """How much of the period has passed at `at` (for pro-rated goals), in [0, 1]."""
        total = (self.end - self.start).total_seconds()
        done = (min(max(at, self.start), self.end) - self.start).total_seconds()
        return done / total if total else 1.0


def _local(d: date, tz: str) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz))


def week(year: int, number: int, tz: str = "UTC") -> Period:
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{year} has no ISO week {number}") from None
    return Period(
        "week", _local(monday, tz), _local(monday + timedelta(days=7), tz), f"{year}-W{number:02d}"
    )


def month(year: int, number: int, tz: str = "UTC") -> Period:
    if not 1 <= number <= 12:
        raise ValueError(f"no month {number}")
    first = date(year, number, 1)
    nxt = date(year + (number == 12), number % 12 + 1, 1)
    return Period("month", _local(first, tz), _local(nxt, tz), f"{year}-{number:02d}")


def quarter(year: int, number: int, tz: str = "UTC") -> Period:
    first = date(year, 3 * (number - 1) + 1, 1)
    nxt = date(year + (number == 4), (3 * number) % 12 + 1, 1)
    return Period("quarter", _local(first, tz), _local(nxt, tz), f"{year}-Q{number}")


def custom(start: datetime, end: datetime) -> Period:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("a period needs time zones on both ends")
    if end <= start:
        raise ValueError("a period must end after it starts")
    label = f"{start.date().isoformat()}..{(end - timedelta(microseconds=1)).date().isoformat()}"
    return Period("custom", start, end, label)


def parse_period(text: str, tz: str = "UTC") -> Period:
    """`2026-W47`, `2026-11` or `2026-Q4`, in the time zone `tz`."""
    text = text.strip()
    if m := _WEEK.match(text):
        return week(int(m[1]), int(m[2]), tz)
    if m := _MONTH.match(text):
        return month(int(m[1]), int(m[2]), tz)
    if m := _QUARTER.match(text):
        return quarter(int(m[1]), int(m[2]), tz)
    raise ValueError(f"invalid period {text!r}: write 2026-W47, 2026-11 or 2026-Q4")


def last_complete(kind: PeriodKind, at: datetime, tz: str) -> Period:
    """The newest period of this kind that has ended at `at` (what a scheduled report covers)."""
    local = at.astimezone(ZoneInfo(tz)).date()
    if kind == "week":
        y, w, _ = (local - timedelta(days=7)).isocalendar()
        p = week(y, w, tz)
    elif kind == "month":
        d = local.replace(day=1) - timedelta(days=1)
        p = month(d.year, d.month, tz)
    elif kind == "quarter":
        q_start = date(local.year, 3 * ((local.month - 1) // 3) + 1, 1)
        d = q_start - timedelta(days=1)
        p = quarter(d.year, (d.month - 1) // 3 + 1, tz)
    else:
        raise ValueError("a custom period has no schedule")
    return p
