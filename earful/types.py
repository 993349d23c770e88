"""Configuration value types shared by rules, routes, care policies, reports and the API.

Declared once here (the core every other layer may import) so a duration, a time zone or a
weekday is written and validated the same way in every YAML file and setting.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """`90s`, `15m`, `2h`, `7d`, `1w`, a number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])
    raise ValueError(f"invalid duration {value!r}: write e.g. 90s, 15m, 2h, 7d")


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling `parse_duration` reads back (`2h`, `90s`)."""
    seconds = value.total_seconds()
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNIT_S[unit] == 0:
            return f"{int(seconds // _UNIT_S[unit])}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


#: An IANA time-zone name (`Europe/Ljubljana`), checked against the zone database on load.
TimeZoneName = Annotated[str, AfterValidator(known_zone)]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
#: Weekdays in `datetime.weekday()` order.
DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
