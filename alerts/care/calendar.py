"""Business hours: which seconds count against a care team's SLA.

A calendar is a time zone, opening hours per weekday and holidays. Arithmetic happens in local
time, day by day, so weekends, holidays and daylight-saving changes (a 23- or 25-hour day) are
handled by construction:

    business_seconds(start, end)   seconds of opening time between two instants
    add_business(start, seconds)   the instant when that much opening time has passed
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from earful.types import DAYS

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_hours(text: str) -> tuple[time, time]:
    m = _RANGE.match(text)
    if not m:
        raise ValueError(f"invalid opening hours {text!r}: write e.g. 08:00-17:30")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h2 == 24 and m2 == 0:
        h2, m2 = 23, 59
    start, end = time(h1, m1), time(h2, m2)
    if end <= start:
        raise ValueError(f"opening hours {text!r} end before they start")
    return start, end


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str = "UTC"
    #: weekday -> list of (open, close) local times; missing weekday = closed.
    hours: dict[str, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()

    @classmethod
    def always_open(cls) -> BusinessCalendar:
        full = ((time(0, 0), time(23, 59, 59, 999999)),)
        return cls("UTC", {d: full for d in DAYS})

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """Opening intervals of a local day, as UTC instants (DST-aware)."""
        if day in self.holidays:
            return []
        out = []
        for start, end in self.hours.get(DAYS[day.weekday()], ()):
            a = datetime.combine(day, start, self.zone).astimezone(UTC)
            b = datetime.combine(day, end, self.zone).astimezone(UTC)
            if end == time(23, 59, 59, 999999) or end == time(23, 59):
                b = datetime.combine(day + timedelta(days=1), time(0), self.zone).astimezone(UTC)
            out.append((a, b))
        return out

    def _days(self, start: datetime, limit: int = 400) -> list[date]:
        first = start.astimezone(self.zone).date() - timedelta(days=1)
        return [first + timedelta(days=i) for i in range(limit)]

    def business_seconds(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        total = 0.0
        for day in self._days(start, (end - start).days + 3):
            for a, b in self._intervals(day):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
        return total

    def add_business(self, start: datetime, seconds: float) -> datetime:
        """The instant at which `seconds` of opening time have passed since `start`."""
        remaining = seconds
        for day in self._days(start):
            for a, b in self._intervals(day):
                if b <= start:
                    continue
                lo = max(a, start)
                available = (b - lo).total_seconds()
                if remaining <= available:
                    return lo + timedelta(seconds=remaining)
                remaining -= available
        raise ValueError("no opening hours within a year: check the calendar")

    def is_open(self, at: datetime) -> bool:
        local_day = at.astimezone(self.zone).date()
        return any(
            a <= at < b
            for day in (local_day - timedelta(days=1), local_day)
            for a, b in self._intervals(day)
        )
