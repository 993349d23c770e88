"""The time-interval stage: a receiver's quiet hours hold notices (never drop them) until they
end, except at or above the severity it names."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.routing.config import QuietHours
from earful.records import SEVERITY_RANK
from earful.types import DAYS


def in_quiet_hours(quiet: QuietHours, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(quiet.timezone))
    day = DAYS[local.weekday()]
    t = local.time()
    if quiet.start <= quiet.end:
        return day in quiet.days and quiet.start <= t < quiet.end
    # spans midnight: the evening part belongs to today, the morning part to yesterday
    if t >= quiet.start:
        return day in quiet.days
    yesterday = DAYS[(local.weekday() - 1) % 7]
    return t < quiet.end and yesterday in quiet.days


def held(quiet: QuietHours | None, top_severity: int, now: datetime) -> bool:
    """Whether a notice whose most severe firing alert ranks `top_severity` waits now."""
    if quiet is None or not in_quiet_hours(quiet, now):
        return False
    return not (quiet.except_ != "none" and top_severity >= SEVERITY_RANK[quiet.except_])
