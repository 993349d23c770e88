"""SLA policies for customer care, in YAML (validated; errors name file, line and field).

calendar:
  timezone: Europe/Ljubljana
  hours: {mon: "08:00-18:00", tue: "08:00-18:00", sat: "10:00-14:00"}
  holidays: ["2026-12-25"]
policies:
  - name: first-reply
    metric: first_response     # or reply_wait: every wait, not only the first
    within: 60m
    business_hours: true       # only opening hours count
    warn_at: 0.8               # pre-breach warning at 80% of the allowance
  - name: urgent-first-reply
    metric: first_response
    within: 15m
    business_hours: false
    priority: urgent           # inbound messages the scorer found clearly negative
"""

from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.care.calendar import BusinessCalendar, parse_hours
from earful.configfile import SemanticChecks
from earful.types import DAYS, Duration, TimeZoneName, Weekday


class CalendarConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: TimeZoneName = "UTC"
    #: weekday -> "08:00-17:00" or a list of ranges; a missing day is closed.
    hours: dict[Weekday, str | list[str]] = Field(default_factory=dict)
    holidays: tuple[date, ...] = ()

    @field_validator("hours")
    @classmethod
    def _ranges(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for ranges in value.values():
            for r in [ranges] if isinstance(ranges, str) else ranges:
                parse_hours(r)
        return value

    def build(self) -> BusinessCalendar:
        hours: dict[str, tuple[tuple[time, time], ...]] = {
            day: tuple(parse_hours(r) for r in ([v] if isinstance(v, str) else v))
            for day, v in self.hours.items()
        }
        return BusinessCalendar(self.timezone, dict(hours), frozenset(self.holidays))


class SlaPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[\w.-]+$")
    metric: Literal["first_response", "reply_wait"] = "first_response"
    within: Duration
    business_hours: bool = True
    warn_at: float = Field(default=0.8, gt=0, lt=1)
    priority: Literal["any", "urgent", "normal"] = "any"
    channels: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)

    def applies(self, channel: str, brand: str, priority: str) -> bool:
        return (
            (not self.channels or channel in self.channels)
            and (not self.brands or brand in self.brands)
            and self.priority in ("any", priority)
        )


class CarePolicies(BaseModel, SemanticChecks):
    model_config = ConfigDict(extra="forbid", frozen=True)

    calendar: CalendarConfig = CalendarConfig(hours=dict.fromkeys(DAYS, "00:00-24:00"))
    #: Inbound messages at or below this sentiment score are urgent.
    urgent_below: float = Field(default=-0.5, ge=-1, le=1)
    #: How often metrics are published (event time) and the window they cover.
    metrics_every: Duration = timedelta(minutes=15)
    metrics_window: Duration = timedelta(hours=24)
    policies: tuple[SlaPolicy, ...] = Field(min_length=1)

    def semantic_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        names = [p.name for p in self.policies]
        return [
            (("policies", i, "name"), f"policy name '{n}' is used twice")
            for i, n in enumerate(names)
            if names.index(n) != i
        ]


DEFAULT_POLICIES_PATH = Path(__file__).resolve().parents[1] / "defaults" / "care.yaml"


def load_policies(path: str | Path | None) -> CarePolicies:
    return CarePolicies.load(path or DEFAULT_POLICIES_PATH)
