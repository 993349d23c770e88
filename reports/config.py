"""Report definitions in YAML (validated; errors name file, line and field).

    reports:
      - name: weekly-social
        title: Weekly social update
        audience: Social team
        project: skyway
        language: en                 # en, sv or sl: text, numbers and dates
        cadence: {cron: "0 9 * * mon", timezone: Europe/Ljubljana, period: week}
        sections: [narrative, volume, sentiment, share_of_voice, topics, alerts, care]
        goals:
          - {metric: share_of_voice, op: ">=", target: 0.30}
          - {metric: reach, op: ">=", target: 2000000}
        deliver: {receivers: [pr], archive: true}

Check a file with `earful reports check FILE`; point EARFUL_REPORTS__FILE at it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from earful.configfile import SemanticChecks
from earful.types import TimeZoneName

Section = Literal[
    "narrative",
    "volume",
    "sentiment",
    "share_of_voice",
    "topics",
    "alerts",
    "care",
    "campaign",
]
SECTIONS: tuple[Section, ...] = (
    "narrative",
    "volume",
    "sentiment",
    "share_of_voice",
    "topics",
    "alerts",
    "care",
    "campaign",
)
Language = Literal["en", "sv", "sl"]

#: Metrics a goal may name, and whether they add up over the period (and so are pro-rated
#: while the period runs) or are rates judged as they stand.
GOAL_METRICS: dict[str, bool] = {
    "mentions": True,
    "reach": True,
    "engagement": True,
    "share_of_voice": False,
    "net_sentiment": False,
    "engagement_rate": False,
    "response_rate": False,
    "first_reply_median_min": False,
    "breaches": True,
}


class Cadence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str
    timezone: TimeZoneName = "UTC"
    period: Literal["week", "month", "quarter"] = "week"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"invalid cron expression {value!r} (e.g. '0 9 * * mon')")
        return value


class Goal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    op: Literal[">=", "<="] = ">="
    target: float
    label: str = ""

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in GOAL_METRICS:
            raise ValueError(f"unknown goal metric {value!r} (known: {', '.join(GOAL_METRICS)})")
        return value


class Campaign(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    #: Hashtags or words; a mention matches if its text has any of them.
    terms: tuple[str, ...] = Field(min_length=1)
    start: date


class Delivery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Receivers from the routing configuration (their Slack and email channels).
    receivers: tuple[str, ...] = ()
    #: Keep every rendered report (HTML, PDF, PNG, Slack JSON) under the archive directory.
    archive: bool = True
    #: Formats for email receivers: the HTML body always; the PDF attached when listed.
    attach_pdf: bool = False


class ReportDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[\w.-]+$")
    title: str = Field(min_length=1)
    audience: str = ""
    project: str | None = None
    language: Language = "en"
    cadence: Cadence | None = None
    sections: tuple[Section, ...] = ("narrative", "volume", "sentiment", "share_of_voice")
    goals: tuple[Goal, ...] = ()
    campaign: Campaign | None = None
    deliver: Delivery = Delivery()


class Reports(BaseModel, SemanticChecks):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reports: tuple[ReportDefinition, ...] = Field(min_length=1)

    def semantic_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        names = [r.name for r in self.reports]
        for i, r in enumerate(self.reports):
            if names.index(r.name) != i:
                problems.append((("reports", i, "name"), f"report '{r.name}' is defined twice"))
            if "campaign" in r.sections and r.campaign is None:
                problems.append(
                    (("reports", i, "sections"), "the campaign section needs a campaign: block")
                )
            if len(set(r.sections)) != len(r.sections):
                problems.append((("reports", i, "sections"), "a section is listed twice"))
        return problems

    def get(self, name: str) -> ReportDefinition:
        for r in self.reports:
            if r.name == name:
                return r
        raise KeyError(name)


DEFAULT_REPORTS_PATH = Path(__file__).resolve().parent / "defaults" / "reports.yaml"


def load_reports(path: str | Path | None) -> Reports:
    return Reports.load(path or DEFAULT_REPORTS_PATH)
