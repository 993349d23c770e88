"""The clairvoyant floor: how soon *any* detector could have caught each injected incident.

A CUSUM (Page, 1954) that is told each incident's exact pre- and post-change model — the
brand's seasonal rate, the volume factor, the sentiment mix *as the scorer reports it* (label
noise included), the topic share and the term rate — and accumulates the log-likelihood ratio
of the brand's mentions minute by minute from the incident's start. It raises when the sum
reaches h = ln(ARL0), ARL0 being the minutes between false alarms one accepts (one a month per
brand by default): by Lorden's theorem no detector with that false-alarm rate is faster on
average, so the ratio of Earful's delay to this one says how far from the physical limit it is.

Volume is scored as the generator makes it: each hour's rate is the seasonal rate times one
Gamma draw (shape = the brand's dispersion) shared by the hour's minutes, and an incident adds
Poisson arrivals on top. The floor is told the dispersion but not the draw, so the evidence of a
minute is the ratio of the two hypotheses' predictive probabilities given the hour so far (the
draw integrated out on an equal-probability grid). Scored as plain Poisson, an ordinary bursty
hour at a busy brand looks like a surge: that floor would have raised many false alarms a month
at h = ln(ARL0), so its delays were not a limit at the stated false-alarm rate (tested). A truth
file from before the dispersion was recorded is scored as Poisson.

The rate is the brand's *as it is at the incident*: where a drift raised the brand's volume
before (or during) the incident, the model carries that drift and the floor's expected volume
follows it, as the generator's does. Without it, an ordinary hour of a brand that had drifted
to twice its volume read to the floor as a doubling, and its "delays" at such brands were no
limit (they were shorter than any detector at the stated false-alarm rate can be).

A term that never appears before its incident is given a tiny base rate (`TERM_BASE_P`) instead
of zero, so its first sightings count for much but not for infinity.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from scipy import stats

from tooling.scenarios import LABELS, BrandProfile, Incident, drift_factor, hourly_rate

MINUTES_PER_MONTH = 30 * 24 * 60
TERM_BASE_P = 1e-4


@dataclass(frozen=True)
class Segment:
    """The model of a brand's mentions before or during an incident."""

    volume_factor: float
    #: Probabilities of the labels the scorer reports (negative, neutral, positive).
    mix: tuple[float, float, float]
    #: Probability that a mention is tagged with the incident's topic / carries its term.
    topic_p: float = 0.0
    term_p: float = 0.0


@dataclass(frozen=True)
class Drift:
    """A slow change of the brand's volume: `factor` reached linearly over `duration_s`."""

    start: datetime
    duration_s: float
    factor: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "duration_s": self.duration_s,
            "factor": self.factor,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Drift:
        return cls(datetime.fromisoformat(d["start"]), float(d["duration_s"]), float(d["factor"]))


@dataclass(frozen=True)
class IncidentModel:
    id: str
    kind: str
    brand: str
    start: datetime
    end: datetime
    per_day: float
    pre: Segment
    post: Segment
    topic: str | None = None
    term: str | None = None
    #: Gamma shape of the hour's rate (the generator's negative-binomial dispersion); None:
    #: Poisson arrivals (truth files written before it was recorded).
    dispersion: float | None = None
    #: The brand's drifts (its volume as it stood at the incident; none in truth files from
    #: before they were recorded).
    drifts: tuple[Drift, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"], d["end"] = self.start.isoformat(), self.end.isoformat()
        d["drifts"] = [drift.to_dict() for drift in self.drifts]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> IncidentModel:
        return cls(
            id=d["id"],
            kind=d["kind"],
            brand=d["brand"],
            start=datetime.fromisoformat(d["start"]),
            end=datetime.fromisoformat(d["end"]),
            per_day=float(d["per_day"]),
            pre=_segment(d["pre"]),
            post=_segment(d["post"]),
            topic=d.get("topic"),
            term=d.get("term"),
            dispersion=None if d.get("dispersion") is None else float(d["dispersion"]),
            drifts=tuple(Drift.from_dict(x) for x in d.get("drifts") or ()),
        )


def _segment(d: Mapping[str, Any]) -> Segment:
    mix = tuple(float(x) for x in d["mix"])
    return Segment(float(d["volume_factor"]), (mix[0], mix[1], mix[2]), d["topic_p"], d["term_p"])


def seen_mix(mix: Sequence[float], noise: float) -> tuple[float, float, float]:
    """The label mix a scorer reports when a share `noise` of labels is flipped to one of the
    two others at random (as `tooling.scenarios.generate` simulates)."""
    total = sum(mix)
    p = [m / total for m in mix]
    seen = [(1 - noise) * p[i] + noise * (1 - p[i]) / 2 for i in range(3)]
    return (seen[0], seen[1], seen[2])


def topic_probability(profile: BrandProfile, topic: str) -> float:
    """P(a mention is tagged `topic`) under the generator's sequential topic draw."""
    untagged = 1.0
    for name, share in profile.topics.items():
        if name == topic:
            return untagged * share
        untagged *= 1 - share
    return 0.0


def incident_model(
    incident: Incident, profile: BrandProfile, noise: float, others: Sequence[Incident] = ()
) -> IncidentModel:
    """The incident's exact model; `others` are the set's other incidents (the brand's drifts
    among them set its volume)."""
    base_topic = topic_probability(profile, incident.topic) if incident.topic else 0.0
    pre = Segment(1.0, seen_mix(profile.mix, noise), base_topic, TERM_BASE_P)
    post = Segment(
        incident.volume_factor if incident.volume_factor > 1 else 1.0,
        seen_mix(incident.mix or profile.mix, noise),
        incident.topic_share + (1 - incident.topic_share) * base_topic
        if incident.kind == "topic_trend"
        else base_topic,
        incident.term_rate if incident.kind == "new_term" else TERM_BASE_P,
    )
    return IncidentModel(
        id=incident.id,
        kind=incident.kind,
        brand=incident.brand,
        start=incident.start,
        end=incident.end,
        per_day=profile.per_day,
        pre=pre,
        post=post,
        topic=incident.topic,
        term=incident.term,
        dispersion=profile.dispersion,
        drifts=tuple(
            Drift(i.start, i.duration.total_seconds(), i.volume_factor)
            for i in others
            if i.kind == "drift" and i.brand == incident.brand
        ),
    )


class MinuteCounts:
    """Per brand and minute: mentions, labels, topics and texts (what the floor needs to see)."""

    def __init__(self, terms: Iterable[str] = ()) -> None:
        # once each: two incidents of a set may share a term (at two brands), and a mention
        # counted once per incident read to the floor as two sightings (k > n even)
        self.terms = tuple(dict.fromkeys(t.lower() for t in terms))
        self.counts: dict[str, dict[int, list[Any]]] = defaultdict(dict)

    def add(self, mention: Mapping[str, Any]) -> None:
        at = datetime.fromisoformat(str(mention["created_at"]).replace("Z", "+00:00"))
        minute = int(at.timestamp()) // 60
        sentiment = mention.get("sentiment") or {}
        label = sentiment.get("label") if isinstance(sentiment, dict) else sentiment
        text = str(mention.get("text", "")).lower()
        for brand in mention.get("brands") or ():
            row = self.counts[brand].get(minute)
            if row is None:  # [mentions, label counts, topic counts, term counts]
                row = [0, [0, 0, 0], defaultdict(int), defaultdict(int)]
                self.counts[brand][minute] = row
            row[0] += 1
            if label in LABELS:
                row[1][LABELS.index(label)] += 1
            for topic in mention.get("topics") or ():
                row[2][topic] += 1
            for term in self.terms:
                if term in text:
                    row[3][term] += 1


def _per_minute_rate(model: IncidentModel, minute: int) -> float:
    at = datetime.fromtimestamp(minute * 60, UTC)
    profile = BrandProfile(model.brand, "", per_day=model.per_day)
    # the generator draws an hour at a time, at the drift reached at the top of the hour
    drifts = [
        Incident("drift", model.brand, d.start, timedelta(seconds=d.duration_s), d.factor)
        for d in model.drifts
    ]
    top = at.replace(minute=0, second=0, microsecond=0)
    return hourly_rate(profile, at) * drift_factor(drifts, model.brand, top) / 60.0


#: Points of the grid the hour's Gamma draw is integrated over (equal probability each).
GRID = 64


def _gamma_grid(dispersion: float) -> np.ndarray:
    """Midpoints of GRID equal-probability bins of Gamma(shape=dispersion, mean 1)."""
    q = (np.arange(GRID) + 0.5) / GRID
    grid: np.ndarray = stats.gamma.ppf(q, dispersion, scale=1.0 / dispersion)
    return grid


class HourVolumeEvidence:
    """Log-likelihood ratio of minute counts, post against pre, within one hour whose rate
    is the seasonal rate times an unknown Gamma draw (integrated out on a grid); the extra
    arrivals of an incident are Poisson at `extra` a minute where it is active."""

    def __init__(self, per_minute: float, dispersion: float):
        self.base = np.maximum(per_minute * _gamma_grid(dispersion), 1e-12)
        self.log_base = np.log(self.base)
        self.log_pre = np.zeros(GRID)
        self.log_post = np.zeros(GRID)
        self.llr = 0.0

    def add(self, n: int, extra: float) -> float:
        """Add a minute's count; returns the minute's evidence (the ratio's increment)."""
        post_rate = self.base + extra
        self.log_pre += n * self.log_base - self.base
        self.log_post += n * np.log(post_rate) - post_rate
        llr = float(_logmeanexp(self.log_post) - _logmeanexp(self.log_pre))
        step, self.llr = llr - self.llr, llr
        return step


def _logmeanexp(x: np.ndarray) -> float:
    top = float(x.max())
    return top + math.log(float(np.exp(x - top).mean()))


def _bernoulli(k: int, n: int, p0: float, p1: float) -> float:
    if p0 == p1 or n == 0:
        return 0.0
    p0, p1 = min(max(p0, 1e-9), 1 - 1e-9), min(max(p1, 1e-9), 1 - 1e-9)
    return k * math.log(p1 / p0) + (n - k) * math.log((1 - p1) / (1 - p0))


def clairvoyant_delay(
    model: IncidentModel,
    counts: MinuteCounts,
    *,
    false_alarms_per_month: float = 1.0,
    horizon: timedelta = timedelta(hours=1),
) -> float | None:
    """Minutes from the incident's start to the clairvoyant CUSUM's alarm (None: never, within
    the incident and `horizon` after it)."""
    h = math.log(MINUTES_PER_MONTH / false_alarms_per_month)
    pre, post = model.pre, model.post
    label_llr = [math.log(post.mix[i] / pre.mix[i]) for i in range(3)]
    f = post.volume_factor
    by_minute = counts.counts.get(model.brand, {})
    first = int(model.start.timestamp()) // 60
    end = int(model.end.timestamp()) // 60
    last = int((model.end + horizon).timestamp()) // 60
    s = 0.0
    hour: HourVolumeEvidence | None = None
    # from the top of the incident's first hour: its earlier minutes say how busy the hour is
    for minute in range(first - first % 60, last + 1):
        row = by_minute.get(minute)
        n = row[0] if row else 0
        llr = 0.0
        if f != 1.0 and model.dispersion is not None:
            rate = _per_minute_rate(model, minute)
            if hour is None or minute % 60 == 0:
                hour = HourVolumeEvidence(rate, model.dispersion)
            llr += hour.add(n, (f - 1) * rate if first <= minute < end else 0.0)
        elif f != 1.0 and minute >= first:
            llr += n * math.log(f) - (f - 1) * _per_minute_rate(model, minute)
        if minute < first:
            continue
        if row:
            llr += sum(c * w for c, w in zip(row[1], label_llr, strict=True))
            if model.topic:
                llr += _bernoulli(row[2].get(model.topic, 0), n, pre.topic_p, post.topic_p)
            if model.term:
                llr += _bernoulli(row[3].get(model.term.lower(), 0), n, pre.term_p, post.term_p)
        s = max(0.0, s + llr)
        if s >= h:
            return float(minute + 1 - first)
    return None


#: The brand sizes the floor is reported by (mentions a day).
SIZE_CLASSES = (20, 45, 150, 600, 2000)


def size_class(per_day: float) -> int:
    return min(SIZE_CLASSES, key=lambda c: abs(math.log(per_day / c)))


def unknown_term_keys() -> int:
    """The keys a detector that is not told the new term watches at once, as Earful's
    emerging-term threshold counts them (alerts/detectors/emerging_term.py: at least 1,000 terms
    x 3 shares, the union bound): the false-alarm budget is shared among them."""
    from alerts.detectors.emerging_term import MIN_VOCABULARY, TERM_SHARES

    return MIN_VOCABULARY * len(TERM_SHARES)


@dataclass(frozen=True)
class FloorRow:
    incident: str
    kind: str
    brand: str
    size: int
    earful_min: float | None
    floor_min: float | None
    #: New terms only: the same CUSUM not told which term, so its budget of one false alarm a
    #: month is shared by every key it watches (h + ln keys). The clairvoyant floor knows the
    #: term, which no detector of new terms can: this one says what not knowing it costs.
    unknown_floor_min: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.earful_min is None or not self.floor_min:
            return None
        return self.earful_min / self.floor_min

    @property
    def within_goal(self) -> bool | None:
        """Issue 14's goal: within max(1.5 x the floor, the floor + 10 minutes)."""
        if self.earful_min is None or self.floor_min is None:
            return None
        return within_bound(self.earful_min, self.floor_min)

    @property
    def within_unknown_goal(self) -> bool | None:
        """The same bound against the floor that is not told the term (new terms only)."""
        if self.earful_min is None or self.unknown_floor_min is None:
            return None
        return within_bound(self.earful_min, self.unknown_floor_min)


def within_bound(earful_min: float, floor_min: float) -> bool:
    return earful_min <= max(1.5 * floor_min, floor_min + 10)


def floor_rows(
    models: Sequence[IncidentModel],
    counts: MinuteCounts,
    earful_delays: Mapping[str, float],
    *,
    false_alarms_per_month: float = 1.0,
) -> list[FloorRow]:
    keys = unknown_term_keys()
    return [
        FloorRow(
            m.id,
            m.kind,
            m.brand,
            size_class(m.per_day),
            earful_delays.get(m.id),
            clairvoyant_delay(m, counts, false_alarms_per_month=false_alarms_per_month),
            clairvoyant_delay(m, counts, false_alarms_per_month=false_alarms_per_month / keys)
            if m.kind == "new_term"
            else None,
        )
        for m in models
    ]
