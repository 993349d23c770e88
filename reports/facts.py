"""The numbers a report is made of, for its period and the one before (fetched from the
indexes by streams/report_facts.py; built by hand in tests)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class _Facts(BaseModel):
    model_config = ConfigDict(frozen=True)


class Post(_Facts):
    id: str
    text: str
    author: str = ""
    created_at: datetime
    reach: int = 0
    engagement: int = 0
    sentiment: str = ""


class BrandFacts(_Facts):
    brand: str
    mentions: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    reach: int = 0
    engagement: int = 0

    @property
    def net_sentiment(self) -> float | None:
        return (self.positive - self.negative) / self.mentions if self.mentions else None

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.mentions if self.mentions else None

    @property
    def engagement_rate(self) -> float | None:
        """Engagements per reached account (likes, shares and replies over the authors'
        followers), the usual social definition."""
        return self.engagement / self.reach if self.reach else None


class Day(_Facts):
    day: date
    mentions: int = 0
    negative: int = 0
    reach: int = 0
    engagement: int = 0


class TopicFacts(_Facts):
    topic: str
    mentions: int
    negative: int = 0
    example: Post | None = None


class TermFacts(_Facts):
    term: str
    mentions: int
    background: int = 0
    example: Post | None = None


class AlertFacts(_Facts):
    kind: str
    brand: str
    severity: str
    team: str = ""
    fired_at: datetime
    summary: str = ""
    acknowledged_after_s: float | None = None
    resolved_after_s: float | None = None


class CareFacts(_Facts):
    received: int = 0
    replied: int = 0
    first_reply_median_s: float | None = None
    first_reply_p90_s: float | None = None
    reply_wait_median_s: float | None = None
    backlog_end: int = 0
    breaches: int = 0
    warnings: int = 0
    #: Mean first reply SLA allowance (seconds), to judge the medians against.
    sla_first_reply_s: float | None = None
    #: Survey answers (1-5) and their mean.
    csat_mean: float | None = None
    csat_responses: int = 0
    #: How the customers' sentiment moved from their first message to their latest after a
    #: reply (mean over conversations; > 0: happier), a signal that needs no survey.
    sentiment_shift: float | None = None
    sentiment_shifts: int = 0

    @property
    def response_rate(self) -> float | None:
        return self.replied / self.received if self.received else None


class CampaignFacts(_Facts):
    name: str
    start: date
    first_week: int = 0
    baseline_week: int = 0
    reach: int = 0
    negative: int = 0
    examples: tuple[Post, ...] = ()


class PeriodFacts(_Facts):
    label: str
    start: datetime
    end: datetime
    brand: BrandFacts
    #: The share-of-voice set: the brand first, then its competitors.
    voices: tuple[BrandFacts, ...] = ()
    days: tuple[Day, ...] = ()
    top_posts: tuple[Post, ...] = ()
    topics: tuple[TopicFacts, ...] = ()
    terms: tuple[TermFacts, ...] = ()
    alerts: tuple[AlertFacts, ...] = ()
    care: CareFacts | None = None
    campaign: CampaignFacts | None = None

    @property
    def crises(self) -> tuple[AlertFacts, ...]:
        """The listening alerts (PR and product): care SLA alerts are the care section's."""
        return tuple(a for a in self.alerts if a.team != "care" and not a.kind.startswith("sla_"))

    @property
    def share_of_voice(self) -> float | None:
        total = sum(v.mentions for v in self.voices)
        return self.brand.mentions / total if total else None


class ReportFacts(_Facts):
    current: PeriodFacts
    previous: PeriodFacts
    generated_at: datetime
    #: The newest mention indexed at all (the data may stop before the period ends).
    data_last: datetime | None = None
    #: Why the numbers may be incomplete (ingestion lag, days without data): said in the report.
    incomplete: tuple[str, ...] = Field(default=())
