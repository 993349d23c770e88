"""The detection engine: observations in, alerts out, in event time, one key (brand) at a time.

For each key the engine keeps open buckets, the recent closed buckets, every rule's baseline and
the current alert episodes, all in a `KeyState` that serializes to a JSON-safe dict (it lives in
a Faust table, keyed by brand). Nothing here reads a clock: time is the event time of the data
and the watermark the caller passes in.

    observe(state, obs)            add a mention to its bucket (or count it as late)
    advance(state, key, watermark) close every bucket that ended at or before the watermark;
                                   at each close, evaluate every rule on its window, then learn

Late data: a bucket stays open until the watermark (max event time minus the allowed lateness)
passes its end; anything older is counted in `state.late` and dropped, never silently merged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from alerts.buckets import Bucket, summarize
from alerts.detectors.base import Context, Detector, Finding
from alerts.detectors.sentiment_dip import SentimentDipDetector
from alerts.lifecycle import step
from alerts.observation import Observation
from alerts.rules import Rule, RuleSet, SentimentDipRule
from earful.records import Alert


def make_detector(rule: Rule) -> Detector:
    if isinstance(rule, SentimentDipRule):
        return SentimentDipDetector(rule)
    raise TypeError(f"no detector for rule kind {rule.kind!r}")


@dataclass
class KeyState:
    open: dict[int, Bucket] = field(default_factory=dict)
    closed: dict[int, Bucket] = field(default_factory=dict)
    #: Every bucket starting before this is closed (None until the first observation).
    closed_until: int | None = None
    first_event: int | None = None
    max_event: int = 0
    late: int = 0
    #: Seconds of closed history in which data was flowing (gaps excluded).
    history_s: int = 0
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Open alert episodes by "rule|topic|term".
    episodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Kafka partition this key lives on (set by the stream wiring; -1 offline).
    partition: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "open": [b.to_dict() for b in self.open.values()],
            "closed": [b.to_dict() for b in self.closed.values()],
            "closed_until": self.closed_until,
            "first_event": self.first_event,
            "max_event": self.max_event,
            "late": self.late,
            "history_s": self.history_s,
            "rules": self.rules,
            "episodes": self.episodes,
            "partition": self.partition,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KeyState:
        return cls(
            open={b["start"]: Bucket.from_dict(b) for b in d["open"]},
            closed={b["start"]: Bucket.from_dict(b) for b in d["closed"]},
            closed_until=d["closed_until"],
            first_event=d["first_event"],
            max_event=d["max_event"],
            late=d["late"],
            history_s=d.get("history_s", 0),
            rules=d["rules"],
            episodes=d["episodes"],
            partition=d.get("partition", -1),
        )


#: Answers "was the whole stream silent in the bucket starting at t?" (an ingestion gap).
GapCheck = Callable[[int], bool]


class DetectionEngine:
    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self.rules = [r for r in ruleset.rules if r.enabled]
        self.bucket_s = int(ruleset.engine.bucket.total_seconds())
        self.lateness_s = int(ruleset.engine.allowed_lateness.total_seconds())
        self.search_url = ruleset.engine.search_url
        self.detectors = {r.name: make_detector(r) for r in self.rules}
        self.horizon_s = max(int(r.window.total_seconds()) for r in self.rules) + self.bucket_s

    # -- input ------------------------------------------------------------------------------
    def bucket_start(self, ts: int) -> int:
        return ts - ts % self.bucket_s

    def observe(self, state: KeyState, obs: Observation) -> bool:
        """Add an observation; returns False (and counts it) when it arrived too late."""
        ts = int(obs.at.timestamp())
        start = self.bucket_start(ts)
        if state.closed_until is None:
            state.closed_until = start
            state.first_event = ts
        elif start < state.closed_until:
            state.late += 1
            return False
        bucket = state.open.get(start)
        if bucket is None:
            bucket = state.open[start] = Bucket(start)
        bucket.add(obs)
        state.max_event = max(state.max_event, ts)
        return True

    def watermark(self, max_event: int) -> int:
        return max_event - self.lateness_s

    # -- time -------------------------------------------------------------------------------
    def advance(
        self, state: KeyState, key: str, watermark: int, is_gap: GapCheck | None = None
    ) -> list[Alert]:
        if state.closed_until is None:
            return []
        boundary = self.bucket_start(watermark)
        alerts: list[Alert] = []
        t = state.closed_until
        while t < boundary:
            bucket = state.open.pop(t, None) or Bucket(t)
            gap = bucket.n == 0 and is_gap is not None and is_gap(t)
            alerts.extend(self._close(state, key, bucket, gap))
            t += self.bucket_s
        state.closed_until = max(state.closed_until, boundary)
        return alerts

    def process(
        self,
        state: KeyState,
        key: str,
        observations: Iterable[Observation],
        watermark: int | None = None,
        is_gap: GapCheck | None = None,
    ) -> list[Alert]:
        for obs in observations:
            self.observe(state, obs)
        mark = watermark if watermark is not None else self.watermark(state.max_event)
        return self.advance(state, key, mark, is_gap)

    def _close(self, state: KeyState, key: str, bucket: Bucket, gap: bool) -> list[Alert]:
        end = bucket.start + self.bucket_s
        if bucket.n:
            state.closed[bucket.start] = bucket
        for start in [s for s in state.closed if s < end - self.horizon_s]:
            del state.closed[start]
        if gap:
            # No data anywhere in the stream: unknown, not zero. Neither judge nor learn.
            return []
        state.history_s += self.bucket_s
        alerts: list[Alert] = []
        for rule in self.rules:
            if not rule.applies_to(key):
                continue
            detector = self.detectors[rule.name]
            rule_state = state.rules.setdefault(rule.name, {})
            ctx = Context(
                brand=key,
                end=end,
                bucket_s=self.bucket_s,
                history_s=state.history_s,
                search_url=self.search_url,
            )
            window_s = int(rule.window.total_seconds())
            window = summarize(
                (b for s, b in state.closed.items() if s >= end - window_s), end - window_s, end
            )
            findings = detector.evaluate(window, rule_state, ctx)
            alerts.extend(self._lifecycle(state, key, rule, findings, end, window_s))
            firing = any(k.startswith(f"{rule.name}|") for k in state.episodes)
            detector.learn(bucket, rule_state, ctx, firing)
        return alerts

    def _lifecycle(
        self,
        state: KeyState,
        key: str,
        rule: Rule,
        findings: list[Finding],
        end: int,
        window_s: int,
    ) -> list[Alert]:
        by_key = {f"{rule.name}|{f.topic or ''}|{f.term or ''}": f for f in findings}
        open_keys = [k for k in state.episodes if k.startswith(f"{rule.name}|")]
        alerts = []
        for episode_key in dict.fromkeys([*open_keys, *by_key]):
            new, alert = step(
                state.episodes.get(episode_key),
                by_key.get(episode_key),
                kind=rule.kind,
                brand=key,
                rule=rule.name,
                end=end,
                window_s=window_s,
                resolve_after=rule.resolve_after,
                labels=dict(rule.labels),
            )
            if new is None:
                state.episodes.pop(episode_key, None)
            else:
                state.episodes[episode_key] = new
            if alert is not None:
                alerts.append(alert)
        return alerts
