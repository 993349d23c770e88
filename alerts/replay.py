"""Replay observations through the engine in event time, offline (no Kafka).

The driver plays the role the stream wiring plays in production: one event-time clock for the
whole input (the watermark), an activity tracker that tells ingestion gaps from quiet brands, and
an `advance` of every brand each time the watermark crosses a bucket boundary, so quiet brands'
windows close too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from alerts.activity import ActivityTracker
from alerts.engine import DetectionEngine
from alerts.observation import Observation
from alerts.state import KeyState
from earful.records import Alert
from earful.text import terms


@dataclass
class ReplayStats:
    mentions: int = 0
    observations: int = 0
    late: int = 0
    malformed: list[str] = field(default_factory=list)


@lru_cache(maxsize=100_000)
def terms_of(text: str) -> tuple[str, ...]:
    """Terms of an original post; a retweet contributes none (a retweet wave would otherwise
    turn one post's rare words into "emerging terms": trends count distinct posts)."""
    if text.startswith("RT @"):
        return ()
    return tuple(terms(text))


def observations_from_dict(m: dict[str, Any]) -> list[Observation]:
    """A pre-scored mention dict (`eval detect` input) -> one observation per brand.

    Deliberately lighter than full record validation: this path must sustain tens of thousands
    of mentions a second, and malformed lines are reported, not processed."""
    sentiment = m["sentiment"]
    label = sentiment["label"] if isinstance(sentiment, dict) else str(sentiment)
    score = float(sentiment.get("score", 0.0)) if isinstance(sentiment, dict) else 0.0
    at = datetime.fromisoformat(m["created_at"].replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError("created_at has no time zone")
    author = m.get("author") or {}
    text = m.get("text", "")
    words = terms_of(text)
    topics = tuple(m.get("topics") or ())
    return [
        Observation(
            id=str(m["id"]),
            brand=brand,
            at=at,
            sentiment=label,
            score=score,
            followers=int(author.get("followers", 0) or 0),
            topics=topics,
            terms=words,
            text=text[:500],
            author=str(author.get("handle", "")),
            url=m.get("url"),
            platform=str(m.get("platform", "")),
            lang=m.get("lang"),
        )
        for brand in m.get("brands") or ()
    ]


def parse_lines(lines: Iterable[bytes | str], stats: ReplayStats) -> Iterator[list[Observation]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield observations_from_dict(json.loads(line))
            stats.mentions += 1
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            stats.malformed.append(f"line {number}: {type(exc).__name__}: {exc}")


class Replayer:
    def __init__(self, engine: DetectionEngine, *, min_gap_buckets: int = 3):
        self.engine = engine
        self.states: dict[str, KeyState] = {}
        self.activity = ActivityTracker(engine.bucket_s, min_gap_buckets)
        self.max_event: int | None = None
        self._advanced_to = -1
        self.stats = ReplayStats()

    def feed(self, observations: Iterable[Observation]) -> list[Alert]:
        engine = self.engine
        alerts: list[Alert] = []
        for obs in observations:
            ts = int(obs.at.timestamp())
            self.activity.mark(ts)
            state = self.states.get(obs.brand)
            if state is None:  # its clock starts at its own first event
                state = self.states[obs.brand] = KeyState()
            if not engine.observe(state, obs):
                self.stats.late += 1
            self.stats.observations += 1
            if self.max_event is None or ts > self.max_event:
                self.max_event = ts
                mark = engine.watermark(ts)
                if engine.bucket_start(mark) > self._advanced_to:
                    alerts += self._advance(mark)
        return alerts

    def _advance(self, mark: int) -> list[Alert]:
        alerts: list[Alert] = []
        for brand, state in self.states.items():
            alerts += self.engine.advance(state, brand, mark, self.activity.is_gap)
        self._advanced_to = self.engine.bucket_start(mark)
        return alerts

    def finish(self) -> list[Alert]:
        """Close every bucket up to the last event (end of input)."""
        if self.max_event is None:
            return []
        return self._advance(self.max_event + self.engine.bucket_s)
