"""Agent steps `fanout` and `detect`: scored mentions -> per-brand observations -> alerts.

`fanout` re-keys each scored mention by brand onto `mentions.by-brand`, so every brand's state
lives on exactly one partition (and one worker). `detect` keeps the engine's per-brand state in a
table, advances event time per partition, and publishes alert records keyed by fingerprint.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from alerts.activity import ActivityTracker
from alerts.engine import DetectionEngine, GapCheck, KeyState
from alerts.observation import observation_from_dict, observation_to_dict, observations_from
from earful.codec import InvalidMessage, decode_json, decode_record, encode
from earful.records import Alert, ScoredMention
from streams import metrics
from streams.deadletters import DeadLetters, invalid
from streams.messages import Msg, Outbox

log = logging.getLogger(__name__)


class StateStore(Protocol):
    """Key -> JSON-safe dict. A Faust table in the worker; a dict in unit tests."""

    def get(self, key: str) -> dict[str, Any] | None: ...
    def __setitem__(self, key: str, value: dict[str, Any]) -> None: ...
    def items(self) -> Iterator[tuple[str, dict[str, Any]]]: ...


class FanoutStep:
    def __init__(self, outbox: Outbox, deadletters: DeadLetters):
        self.outbox = outbox
        self.deadletters = deadletters

    async def handle(self, batch: Sequence[Msg]) -> int:
        sent = 0
        for msg in batch:
            try:
                mention = decode_record(msg.value or b"", ScoredMention)
            except InvalidMessage as exc:
                await self.deadletters.send(msg, exc)
                continue
            for obs in observations_from(mention):
                await self.outbox.send(
                    "by_brand",
                    obs.brand,
                    json.dumps(observation_to_dict(obs)).encode(),
                    timestamp=mention.created_at.timestamp(),
                )
                sent += 1
        return sent


class DetectStep:
    def __init__(
        self, engine: DetectionEngine, states: StateStore, outbox: Outbox, deadletters: DeadLetters
    ):
        self.engine = engine
        self.states = states
        self.outbox = outbox
        self.deadletters = deadletters
        #: Highest event time seen per partition: the partition's event-time clock.
        self.partition_time: dict[int, int] = {}
        #: Which buckets saw any data, per partition: silence across a whole partition is an
        #: ingestion gap (unknown), not zero traffic.
        self.activity: dict[int, ActivityTracker] = {}
        #: Observations later than the rules' allowed lateness (indexed, not counted by
        #: detection): never silent — counted, logged, and shown in /healthz.
        self.late = 0
        self._late_told = 0

    def _load(self, brand: str) -> KeyState:
        raw = self.states.get(brand)
        return KeyState.from_dict(raw) if raw else KeyState()

    async def handle(self, batch: Sequence[Msg]) -> list[Alert]:
        grouped: dict[str, list[Any]] = defaultdict(list)
        partitions: dict[str, int] = {}
        for msg in batch:
            try:
                payload = decode_json(msg.value or b"")
                obs = observation_from_dict(payload)
            except (InvalidMessage, KeyError, TypeError, ValueError) as exc:
                await self.deadletters.send(msg, invalid(exc, "not an observation record"))
                continue
            grouped[obs.brand].append(obs)
            partition = msg.partition if msg.partition is not None else -1
            partitions[obs.brand] = partition
            ts = int(obs.at.timestamp())
            tracker = self.activity.get(partition)
            if tracker is None:
                tracker = self.activity[partition] = ActivityTracker(self.engine.bucket_s)
            tracker.mark(ts)
            if ts > self.partition_time.get(partition, 0):
                self.partition_time[partition] = ts
        alerts: list[Alert] = []
        for brand, observations in grouped.items():
            state = self._load(brand)
            state.partition = partitions[brand]
            late_before = state.late
            for obs in observations:
                self.engine.observe(state, obs)
            metrics.LATE.inc(state.late - late_before)
            self.late += state.late - late_before
            alerts += self.engine.advance(
                state, brand, self._watermark(state.partition), self._gap_check(state.partition)
            )
            self.states[brand] = state.to_dict()
        await self._publish(alerts)
        if self.late >= max(1, 2 * self._late_told):  # log at 1, 2, 4, 8, ... late ones
            log.warning(
                "%d observations so far arrived later than the allowed lateness and were left "
                "out of detection (they are indexed); a replay or backfill faster than real "
                "time reorders event time across partitions",
                self.late,
            )
            self._late_told = self.late
        return alerts

    def _gap_check(self, partition: int) -> GapCheck | None:
        tracker = self.activity.get(partition)
        return tracker.is_gap if tracker is not None else None

    def _watermark(self, partition: int) -> int:
        mark = self.engine.watermark(self.partition_time.get(partition, 0))
        metrics.WATERMARK.labels(partition=str(partition)).set(mark)
        return mark

    async def tick(self) -> list[Alert]:
        """Close windows of brands that went quiet while their partition's time moved on."""
        alerts: list[Alert] = []
        for brand, raw in list(self.states.items()):
            state = KeyState.from_dict(raw)
            if state.partition not in self.partition_time or state.closed_until is None:
                continue
            mark = self._watermark(state.partition)
            if self.engine.bucket_start(mark) <= state.closed_until:
                continue
            alerts += self.engine.advance(state, brand, mark, self._gap_check(state.partition))
            self.states[brand] = state.to_dict()
        await self._publish(alerts)
        return alerts

    async def _publish(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            metrics.ALERTS.labels(kind=alert.kind, status=alert.status).inc()
            log.info(
                "alert %s %s %s: %s",
                alert.status,
                alert.kind,
                alert.brand,
                alert.summary,
                extra={"fingerprint": alert.fingerprint, "alert_id": alert.id},
            )
            await self.outbox.send(
                "alerts", alert.fingerprint, encode(alert), timestamp=alert.fired_at.timestamp()
            )
