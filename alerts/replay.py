"""Replay observations through the engine in event time, offline (no Kafka).

The event-time loop is `alerts.driver.DetectionDriver`, the same one the Faust `detect` step
runs; offline it has a single lane (one clock for the whole input) and keeps states in memory.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from alerts.driver import DetectionDriver
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


#: The fields of a scored mention `observations_from_dict` reads (what a backtest asks the
#: search index for).
OBSERVATION_FIELDS = (
    "id",
    "created_at",
    "brands",
    "sentiment",
    "topics",
    "text",
    "author",
    "url",
    "platform",
    "lang",
)


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
            yield observations_from_dict(orjson.loads(line))
            stats.mentions += 1
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            stats.malformed.append(f"line {number}: {type(exc).__name__}: {exc}")


@contextmanager
def batch_collection(threshold: int = 50_000) -> Iterator[None]:
    """Garbage collection set for a batch replay (`eval detect`, `rules backtest`, the
    benchmark): a process that replays and exits, never the worker.

    A replay allocates observations, buckets and findings by the million and keeps almost none
    of them in reference cycles, yet the collector's youngest generation runs every 700
    allocations and its older ones rescan everything loaded before (rules, models, text pools):
    a tenth of a compiled replay's time. Here what is alive at the start is frozen out of the
    collector's scans and the youngest generation waits for `threshold` allocations; both are
    restored after."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(threshold, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


class Replayer:
    """Offline replay: the detection driver (alerts/driver.py) with one lane and no store."""

    def __init__(self, engine: DetectionEngine, *, min_gap_buckets: int = 3):
        self.engine = engine
        self.driver = DetectionDriver(engine, min_gap_buckets=min_gap_buckets)
        self.stats = ReplayStats()

    @property
    def states(self) -> dict[str, KeyState]:
        return self.driver.cache

    def feed(self, observations: Iterable[Observation]) -> list[Alert]:
        before = self.driver.stats.late
        alerts = self.driver.feed((obs, 0, 0) for obs in observations)
        self.stats.observations = self.driver.stats.observations
        self.stats.late += self.driver.stats.late - before
        return alerts

    def finish(self) -> list[Alert]:
        """Close every bucket up to the last event (end of input)."""
        return self.driver.finish()
