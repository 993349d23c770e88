"""Records that cross package boundaries: mentions, scores, alerts and dead letters.

Every record is a pydantic model so that input from Kafka is validated once, at the edge, and
everything downstream can trust types. Datetimes are always timezone-aware and normalised to UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    field_validator,
)

#: Longest mention text accepted (characters). Long-form posts (Reddit, blogs) fit; anything
#: longer is almost always a scraping accident and goes to the dead-letter topic.
MAX_TEXT_CHARS = 20_000


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
SentimentLabel = Literal["negative", "neutral", "positive"]
SENTIMENT_LABELS: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")


class Record(BaseModel):
    """Base for wire records: immutable; unknown fields are ignored (forward compatibility)."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)


class Author(Record):
    id: str = Field(min_length=1, max_length=200)
    handle: str = Field(default="", max_length=200)
    #: Bounded so that an absurd number is refused here, with a reason, not by the index.
    followers: int = Field(default=0, ge=0, le=10**11)


class Engagement(Record):
    likes: int = Field(default=0, ge=0, le=10**12)
    shares: int = Field(default=0, ge=0, le=10**12)
    replies: int = Field(default=0, ge=0, le=10**12)
    views: int = Field(default=0, ge=0, le=10**13)


class Mention(Record):
    """A social mention as it arrives on the `mentions` topic."""

    id: str = Field(min_length=1, max_length=200)
    platform: str = Field(min_length=1, max_length=40)
    created_at: UtcDatetime
    author: Author
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    lang: str | None = Field(default=None, max_length=16)
    brands: tuple[str, ...] = ()
    url: str | None = Field(default=None, max_length=2048)
    engagement: Engagement = Engagement()

    @field_validator("platform")
    @classmethod
    def _lower_platform(cls, value: str) -> str:
        return value.lower()

    @field_validator("brands")
    @classmethod
    def _clean_brands(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(dict.fromkeys(b.strip() for b in value if b.strip()))
        if any(len(b) > 100 for b in cleaned):
            raise ValueError("brand names are at most 100 characters")
        return cleaned

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return value or None

    @field_validator("text")
    @classmethod
    def _reject_control_characters(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("text contains a NUL character")
        return value

    @property
    def reach(self) -> int:
        """Audience size used for reach weighting and 'top posts by reach'."""
        return self.author.followers


class Sentiment(Record):
    label: SentimentLabel
    #: Calibrated polarity in [-1, 1]: P(positive) - P(negative).
    score: float = Field(ge=-1.0, le=1.0)
    #: Class probabilities (negative, neutral, positive) when the scorer provides them.
    probs: tuple[float, float, float] | None = None


class ScoredMention(Mention):
    """A mention after scoring; `lang` is filled from detection when the source had none."""

    sentiment: Sentiment
    topics: tuple[str, ...] = ()
    lang_detected: bool = False
    model: str = ""
    embedding: tuple[float, ...] | None = None


class Correction(Record):
    """A person's correction of one mention's sentiment and/or topics (the `labels` topic).

    It carries the text and language the model saw, so the corrections alone are a training set
    (`earful models adapt`), even after the mention itself has aged out of the index."""

    mention_id: str = Field(min_length=1, max_length=200)
    sentiment: SentimentLabel | None = None
    topics: tuple[str, ...] | None = Field(default=None, max_length=20)
    #: Who corrected it (the API token's name, or `--by` on the CLI) and when.
    by: str = Field(min_length=1, max_length=200)
    at: UtcDatetime
    source: Literal["api", "dashboard", "cli"] = "api"
    comment: str = Field(default="", max_length=2000)
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    lang: str | None = Field(default=None, max_length=16)
    brands: tuple[str, ...] = ()
    #: The mention's event time (which monthly index holds it).
    created_at: UtcDatetime | None = None
    #: What the model said, and which model version said it.
    model_sentiment: SentimentLabel | None = None
    model: str | None = Field(default=None, max_length=200)

    @field_validator("topics")
    @classmethod
    def _clean_topics(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        cleaned = tuple(dict.fromkeys(t.strip() for t in value if t.strip()))
        if any(len(t) > 100 for t in cleaned):
            raise ValueError("topic names are at most 100 characters")
        return cleaned

    def model_post_init(self, _context: Any) -> None:
        if self.sentiment is None and self.topics is None:
            raise ValueError("a correction needs a sentiment, topics, or both")


AlertStatus = Literal["firing", "resolved"]
Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class TopPost(Record):
    id: str
    text: str
    author: str = ""
    followers: int = 0
    url: str | None = None
    sentiment: SentimentLabel | None = None
    created_at: UtcDatetime | None = None


class Evidence(Record):
    """Why an alert fired, in terms a PR or product lead can check."""

    observed: float
    expected: float
    #: Interval of what would be unsurprising under the baseline (same unit as observed).
    expected_low: float | None = None
    expected_high: float | None = None
    unit: str = "mentions"
    statistic: str = ""
    statistic_value: float | None = None
    p_value: float | None = None
    volume: int = 0
    baseline_volume: float | None = None
    top_posts: tuple[TopPost, ...] = ()
    top_terms: tuple[tuple[str, int], ...] = ()
    sentiment_mix: dict[str, int] = Field(default_factory=dict)
    #: Query string (Lucene syntax) that reproduces the set of mentions in the search index.
    search_query: str = ""
    search_url: str | None = None
    #: Observed values of recent windows, oldest first, for sparklines.
    history: tuple[float, ...] = ()


class Alert(Record):
    """One state change of a detected condition, as published on the `alerts` topic."""

    kind: str
    brand: str
    rule: str
    status: AlertStatus
    severity: Severity
    fingerprint: str
    fired_at: UtcDatetime
    window_start: UtcDatetime
    window_end: UtcDatetime
    topic: str | None = None
    term: str | None = None
    summary: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    evidence: Evidence
    #: When the episode started firing (equals fired_at for the first notice).
    started_at: UtcDatetime | None = None

    @property
    def id(self) -> str:
        """Unique per notice: the episode fingerprint plus the state and time of this notice."""
        return f"{self.fingerprint}:{self.status}:{int(self.fired_at.timestamp())}"

    def all_labels(self) -> dict[str, str]:
        """Labels routing can match on: the alert's own fields plus its free-form labels."""
        base = {
            "kind": self.kind,
            "brand": self.brand,
            "severity": self.severity,
            "status": self.status,
            "rule": self.rule,
        }
        if self.topic:
            base["topic"] = self.topic
        if self.term:
            base["term"] = self.term
        return {**base, **self.labels}


class DeadLetter(Record):
    """A message that could not be processed, kept with its reason and its original bytes."""

    reason: str
    error_type: str
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    #: The original message, base64-encoded so any bytes survive.
    original_b64: str
    received_at: UtcDatetime
    details: dict[str, Any] = Field(default_factory=dict)


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- customer care inbox --------------------------------------------------------------------


class InboxEventBase(Record):
    event_id: str = Field(min_length=1, max_length=200)
    conversation_id: str = Field(min_length=1, max_length=200)
    at: UtcDatetime
    #: Where the conversation happens (twitter, email, chat, ...).
    channel: str = Field(min_length=1, max_length=40)
    #: The brand or inbox the conversation belongs to.
    brand: str = Field(default="care", min_length=1, max_length=100)


class Customer(Record):
    id: str = Field(min_length=1, max_length=200)
    handle: str = Field(default="", max_length=200)


class MessageReceived(InboxEventBase):
    type: Literal["message_received"]
    customer: Customer
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    lang: str | None = None


class ReplySent(InboxEventBase):
    type: Literal["reply_sent"]
    agent: str = Field(min_length=1, max_length=200)
    team: str = Field(default="", max_length=200)
    text: str = Field(default="", max_length=MAX_TEXT_CHARS)


class ConversationAssigned(InboxEventBase):
    type: Literal["conversation_assigned"]
    agent: str = Field(default="", max_length=200)
    team: str = Field(default="", max_length=200)


class ConversationClosed(InboxEventBase):
    type: Literal["conversation_closed"]
    by: str = Field(default="", max_length=200)


class CsatReceived(InboxEventBase):
    """A customer's answer to the satisfaction survey after a conversation (1 worst, 5 best)."""

    type: Literal["csat_received"]
    score: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=MAX_TEXT_CHARS)


InboxEvent = Annotated[
    MessageReceived | ReplySent | ConversationAssigned | ConversationClosed | CsatReceived,
    Field(discriminator="type"),
]


class InboxRecord(RootModel[InboxEvent]):
    """An inbox event as it arrives on the `inbox` topic (dispatched on `type`)."""
