"""The detection engine: observations in, alerts out, in event time, one key (brand) at a time.

For each key the engine keeps, per series, open buckets, recent closed buckets, every rule's
baseline and the current alert episodes, all in a `KeyState` that serializes to a JSON-safe dict
(it lives in a Faust table, keyed by brand). Nothing here reads a clock: time is the event time
of the data and the watermark the caller passes in.

    observe(state, obs)            add a mention to its buckets (or count it as late)
    advance(state, key, watermark) close every bucket that ended at or before the watermark;
                                   at each close, evaluate every rule on its window, then learn

Late data: a bucket stays open until the watermark (max event time minus the allowed lateness)
passes its end; anything older is counted in `state.late` and dropped, never silently merged.
Gaps: a bucket in which nothing arrived from anywhere (`is_gap`) is unknown, not zero traffic:
it is neither judged nor learned from, and windows leave it out of their expectations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from alerts.buckets import Bucket, drop_outranked_posts
from alerts.detectors.base import Context, Detector, Finding
from alerts.detectors.crisis import CrisisDetector
from alerts.detectors.emerging_term import EmergingTermDetector
from alerts.detectors.sentiment_dip import SentimentDipDetector
from alerts.detectors.trending_topic import TrendingTopicDetector
from alerts.detectors.volume_spike import VolumeSpikeDetector
from alerts.lifecycle import step
from alerts.observation import Observation
from alerts.rule_state import RuleState, RuleStateError
from alerts.rules import (
    CrisisRule,
    EmergingTermRule,
    Rule,
    RuleSet,
    SentimentDipRule,
    TrendingTopicRule,
    VolumeSpikeRule,
)
from alerts.state import KeyState, SeriesState
from alerts.windows import WindowSummary, summarize
from earful.records import Alert

__all__ = ["DetectionEngine", "GapCheck", "KeyState"]

#: Answers "was the whole stream silent in the bucket starting at t?" (an ingestion gap).
GapCheck = Callable[[int], bool]
#: Series idle this long (and without open episodes) are forgotten.
PRUNE_IDLE_S = 3 * 86400

log = logging.getLogger(__name__)


def make_detector(rule: Rule, bucket_s: int = 300) -> Detector:
    if isinstance(rule, CrisisRule):
        return CrisisDetector(rule, bucket_s)
    if isinstance(rule, SentimentDipRule):
        return SentimentDipDetector(rule, bucket_s)
    if isinstance(rule, VolumeSpikeRule):
        return VolumeSpikeDetector(rule, bucket_s)
    if isinstance(rule, TrendingTopicRule):
        return TrendingTopicDetector(rule, bucket_s)
    if isinstance(rule, EmergingTermRule):
        return EmergingTermDetector(rule, bucket_s)
    raise TypeError(f"no detector for rule kind {rule.kind!r}")


def series_of(rule: Rule, obs: Observation) -> str | None:
    """The series of `rule` this observation belongs to, or None if the rule ignores it."""
    if rule.platforms and obs.platform not in rule.platforms:
        return None
    if rule.langs and obs.lang not in rule.langs:
        return None
    base = f"~{rule.name}" if rule.platforms or rule.langs else ""
    if rule.split_by == "lang":
        return f"{base}|lang={obs.lang or 'unknown'}"
    if rule.split_by == "platform":
        return f"{base}|platform={obs.platform or 'unknown'}"
    return base


def series_labels(series_id: str) -> dict[str, str]:
    labels = {}
    for part in series_id.split("|")[1:]:
        name, _, value = part.partition("=")
        labels[name] = value
    return labels


def rule_wants(rule: Rule, series_id: str) -> bool:
    base, _, split = series_id.partition("|")
    wanted_base = f"~{rule.name}" if rule.platforms or rule.langs else ""
    if base != wanted_base:
        return False
    if rule.split_by is None:
        return split == ""
    return split.startswith(f"{rule.split_by}=")


class DetectionEngine:
    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self.rules = [r for r in ruleset.rules if r.enabled]
        self.bucket_s = int(ruleset.engine.bucket.total_seconds())
        self.lateness_s = int(ruleset.engine.allowed_lateness.total_seconds())
        self.search_url = ruleset.engine.search_url
        self.detectors = {r.name: make_detector(r, self.bucket_s) for r in self.rules}
        #: Each detector's `evaluate` and `learn`, bound once: called through the `Detector`
        #: protocol, each call looked its method up by name (every rule of every bucket).
        self._evaluates = {name: d.evaluate for name, d in self.detectors.items()}
        self._learns = {name: d.learn for name, d in self.detectors.items()}
        #: Each rule's window in seconds (read at every bucket close of every brand).
        self.window_s = {r.name: int(r.window.total_seconds()) for r in self.rules}
        self.horizon_s = max(self.window_s.values()) + 2 * self.bucket_s
        self._simple = all(not (r.split_by or r.platforms or r.langs) for r in self.rules)
        #: (brand, series) -> the rules that judge it (`_rules_for`).
        self._judging: dict[tuple[str, str], list[Rule]] = {}

    # -- input ------------------------------------------------------------------------------
    def bucket_start(self, ts: int) -> int:
        return ts - ts % self.bucket_s

    def watermark(self, max_event: int) -> int:
        return max_event - self.lateness_s

    def observe(self, state: KeyState, obs: Observation) -> bool:
        """Add an observation; returns False (and counts it) when it arrived too late."""
        ts = int(obs.at.timestamp())
        start = ts - ts % self.bucket_s
        if state.closed_until is None:
            state.closed_until = start
            state.first_event = ts
        elif start < state.closed_until:
            state.late += 1
            return False
        if self._simple:
            targets: Iterable[str] = ("",)
        else:
            targets = {sid for rule in self.rules if (sid := series_of(rule, obs)) is not None}
        for sid in targets:
            series = state.series.get(sid)
            if series is None:
                series = state.series[sid] = SeriesState()
            bucket = series.open.get(start)
            if bucket is None:
                bucket = series.open[start] = Bucket(start=start)
            bucket.add(obs)
            series.last_data = start
        state.max_event = max(state.max_event, ts)
        return True

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
            gap = is_gap is not None and is_gap(t)
            if not gap:
                state.history_s += self.bucket_s
            for sid, series in list(state.series.items()):
                alerts.extend(self._close(state, key, sid, series, t, gap))
            t += self.bucket_s
        if boundary > state.closed_until:
            state.closed_until = boundary
            self._prune(state, boundary)
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

    def _close(
        self, state: KeyState, key: str, sid: str, series: SeriesState, start: int, gap: bool
    ) -> list[Alert]:
        bucket = series.open.pop(start, None)
        if bucket is None:
            bucket = Bucket(start=start)
        bucket.gap = gap and bucket.n == 0
        end = start + self.bucket_s
        series.closed[start] = bucket
        for old in [s for s in series.closed if s < end - self.horizon_s]:
            del series.closed[old]
        if bucket.top:
            drop_outranked_posts(series.closed.values())
        if bucket.gap:
            return []
        alerts: list[Alert] = []
        windows: dict[int, WindowSummary] = {}  # one summary per window length, shared
        ctx = Context(  # the same for every rule of this bucket
            brand=key,
            end=end,
            bucket_s=self.bucket_s,
            history_s=state.history_s,
            search_url=self.search_url,
            closed=series.closed,
            cache=series.cache,
        )
        for rule in self._rules_for(key, sid):
            name = rule.name  # a pydantic model's attribute: read once
            window_s = self.window_s[name]
            window = windows.get(window_s)
            if window is None:
                window = windows[window_s] = summarize(
                    [b for s, b in series.closed.items() if s >= end - window_s],
                    end - window_s,
                    end,
                )
            alerts.extend(self._evaluate(ctx, sid, series, rule, name, bucket, window))
        return alerts

    def _rules_for(self, key: str, sid: str) -> list[Rule]:
        """The rules that judge this brand's series, in rule order (brand patterns are matched
        once per brand and series, not at every bucket)."""
        found = self._judging.get((key, sid))
        if found is None:
            found = self._judging[(key, sid)] = [
                r for r in self.rules if r.applies_to(key) and rule_wants(r, sid)
            ]
        return found

    def _evaluate(
        self,
        ctx: Context,
        sid: str,
        series: SeriesState,
        rule: Rule,
        name: str,
        bucket: Bucket,
        window: WindowSummary,
    ) -> list[Alert]:
        detector = self.detectors[name]
        rule_state = _rule_state(series, name, detector)
        key, end = ctx.brand, window.end
        window_s = end - window.start
        findings = (
            []
            if window.gaps * 2 > window_s // self.bucket_s
            else self._evaluates[name](window, rule_state, ctx)
        )
        alerts = self._lifecycle(series, key, sid, rule, findings, end, window_s)
        self._learns[name](bucket, rule_state, ctx, _firing_keys(series, name))
        return alerts

    def _lifecycle(
        self,
        series: SeriesState,
        key: str,
        sid: str,
        rule: Rule,
        findings: list[Finding],
        end: int,
        window_s: int,
    ) -> list[Alert]:
        if not series.episodes and not any(f.anomalous for f in findings):
            return []  # nothing open, nothing new: every episode step would be a no-op
        by_key = {f"{rule.name}|{f.topic or ''}|{f.term or ''}": f for f in findings}
        open_keys = [k for k in series.episodes if k.startswith(f"{rule.name}|")]
        labels = {**rule.labels, **series_labels(sid)}
        alerts = []
        for episode_key in dict.fromkeys([*open_keys, *by_key]):
            new, alert = step(
                series.episodes.get(episode_key),
                by_key.get(episode_key),
                kind=rule.kind,
                brand=key,
                rule=rule.name,
                end=end,
                window_s=window_s,
                resolve_after=rule.resolve_after,
                labels=labels,
                series=sid,
            )
            if new is None:
                series.episodes.pop(episode_key, None)
            else:
                series.episodes[episode_key] = new
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _prune(self, state: KeyState, now: int) -> None:
        for sid in [
            sid
            for sid, s in state.series.items()
            if sid and not s.episodes and not s.open and now - s.last_data > PRUNE_IDLE_S
        ]:
            del state.series[sid]


def _firing_keys(series: SeriesState, rule_name: str) -> set[str]:
    """What is firing for a rule: '' for the whole series, or the topic/term names."""
    keys: set[str] = set()
    for k in series.episodes:
        name, _, rest = k.partition("|")
        if name != rule_name:
            continue
        topic, _, term = rest.partition("|")
        keys.add(topic or term or "")
    return keys


def _rule_state(series: SeriesState, name: str, detector: Detector) -> RuleState:
    """The rule's typed state; stored state is read (validated) the first time it is used."""
    found = series.rules.get(name)
    if isinstance(found, RuleState):
        return found
    state: RuleState
    if found is None:
        state = detector.State()
    else:
        try:
            state = detector.State.load(found, name)
        except RuleStateError as e:
            # a baseline that cannot be read is relearned, said out loud, never half-used
            log.warning("%s; the rule starts afresh (its warm-up applies again)", e)
            state = detector.State()
    series.rules[name] = state
    return state


def state_of(raw: dict[str, Any] | None) -> KeyState:
    return KeyState.from_dict(raw) if raw else KeyState()
