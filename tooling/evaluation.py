"""Score alert episodes against labeled incidents: recall, precision per episode, delay.

An *episode* is one firing-to-resolved run of one fingerprint (its escalations included). It is a
true positive when it matches an incident: same brand, an alert kind the incident should raise,
the same topic/term when the incident has one, and a start between the incident's start and its
end plus a grace period (detection of a long incident late in its course still counts, as it
would for the team on call). Episodes matching no incident — including any raised by a data gap,
a slow drift or a viral positive spike where no sentiment alert is expected — are false.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from earful.records import Alert


@dataclass(frozen=True)
class Incident:
    id: str
    kind: str
    brand: str
    start: datetime
    end: datetime
    expected_alerts: tuple[str, ...]
    topic: str | None = None
    term: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Incident:
        return cls(
            id=d.get("id") or f"{d['kind']}-{d['brand']}-{d['start']}",
            kind=d["kind"],
            brand=d["brand"],
            start=datetime.fromisoformat(d["start"]),
            end=datetime.fromisoformat(d["end"]),
            expected_alerts=tuple(d.get("expected_alerts") or ()),
            topic=d.get("topic"),
            term=d.get("term"),
        )


@dataclass(frozen=True)
class Episode:
    fingerprint: str
    kind: str
    brand: str
    rule: str
    started: datetime
    topic: str | None
    term: str | None
    severity: str


def episodes(alerts: Iterable[Alert]) -> list[Episode]:
    seen: dict[tuple[str, datetime], Episode] = {}
    for a in alerts:
        if a.status != "firing":
            continue
        started = a.started_at or a.fired_at
        seen.setdefault(
            (a.fingerprint, started),
            Episode(a.fingerprint, a.kind, a.brand, a.rule, started, a.topic, a.term, a.severity),
        )
    return sorted(seen.values(), key=lambda e: e.started)


def matches(ep: Episode, inc: Incident, grace: timedelta) -> bool:
    if ep.brand != inc.brand or ep.kind not in inc.expected_alerts:
        return False
    if inc.topic and ep.topic != inc.topic:
        return False
    if inc.term and (ep.term or "").lower() != inc.term.lower():
        return False
    return inc.start <= ep.started <= inc.end + grace


@dataclass
class KindReport:
    incidents: int = 0
    detected: int = 0
    delays_min: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        """None when there was nothing to detect (never a perfect score by default)."""
        return self.detected / self.incidents if self.incidents else None


@dataclass
class Report:
    by_kind: dict[str, KindReport]
    true_episodes: int
    false_episodes: list[Episode]
    missed: list[Incident]
    #: Episodes of another kind on the same brand during a labeled incident (e.g. a term
    #: burst during a topic trend): not what the label asked for, but not noise either.
    related: list[Episode] = field(default_factory=list)
    #: Minutes from each detected incident's start to its first matching alert, by id.
    delays: dict[str, float] = field(default_factory=dict)

    # An empty denominator has no score: None ("n/a"), never 1.0 — a truth file without
    # expected alerts and a detector that raised none is not a perfect detector.
    @property
    def precision(self) -> float | None:
        """Strict: related episodes count as false."""
        total = self.true_episodes + len(self.false_episodes) + len(self.related)
        return self.true_episodes / total if total else None

    @property
    def precision_incident_aware(self) -> float | None:
        """Related episodes excluded (neither true nor false)."""
        total = self.true_episodes + len(self.false_episodes)
        return self.true_episodes / total if total else None

    @property
    def recall(self) -> float | None:
        expected = [r for r in self.by_kind.values() if r.incidents]
        incidents = sum(r.incidents for r in expected)
        return sum(r.detected for r in expected) / incidents if incidents else None

    @property
    def median_delay_min(self) -> float | None:
        delays = [d for r in self.by_kind.values() for d in r.delays_min]
        return statistics.median(delays) if delays else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "recall": _rounded(self.recall),
            "precision": _rounded(self.precision),
            "precision_incident_aware": _rounded(self.precision_incident_aware),
            "related_episodes": len(self.related),
            "median_delay_min": self.median_delay_min,
            "true_episodes": self.true_episodes,
            "false_episodes": len(self.false_episodes),
            "by_kind": {
                k: {
                    "incidents": r.incidents,
                    "detected": r.detected,
                    "recall": _rounded(r.recall),
                    "median_delay_min": statistics.median(r.delays_min) if r.delays_min else None,
                }
                for k, r in sorted(self.by_kind.items())
            },
            "missed": [i.id for i in self.missed],
            "false": [
                f"{e.kind} {e.brand} {e.topic or e.term or ''} {e.started.isoformat()}"
                for e in self.false_episodes
            ],
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def score_text(value: float | None, digits: int = 3) -> str:
    """A score for people: `n/a` when there was nothing to score."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def evaluate(
    alerts: Sequence[Alert], incidents: Sequence[Incident], grace: timedelta = timedelta(minutes=60)
) -> Report:
    eps = episodes(alerts)
    by_kind: dict[str, KindReport] = defaultdict(KindReport)
    matched: set[Episode] = set()
    missed = []
    delays: dict[str, float] = {}
    for inc in incidents:
        report = by_kind[inc.kind]
        hits = [e for e in eps if matches(e, inc, grace)]
        matched.update(hits)
        if not inc.expected_alerts:
            continue  # must stay quiet: anything raised here is a false episode below
        report.incidents += 1
        if hits:
            report.detected += 1
            delay = max(0.0, (min(e.started for e in hits) - inc.start).total_seconds() / 60)
            report.delays_min.append(delay)
            delays[inc.id] = delay
        else:
            missed.append(inc)
    unmatched = [e for e in eps if e not in matched]
    related = [
        e
        for e in unmatched
        if any(
            e.brand == i.brand and i.expected_alerts and i.start <= e.started <= i.end + grace
            for i in incidents
        )
    ]
    false = [e for e in unmatched if e not in related]
    return Report(
        by_kind=dict(by_kind),
        true_episodes=len(matched),
        false_episodes=false,
        missed=missed,
        related=related,
        delays=delays,
    )
