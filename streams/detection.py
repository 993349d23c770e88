"""Agent steps `fanout` and `detect`: scored mentions -> per-brand observations -> alerts.

`fanout` re-keys each scored mention by brand onto `mentions.by-brand`, so every brand's state
lives on exactly one partition (and one worker). `detect` hands observations to the detection driver
(per-brand state in a table, event time per partition) and publishes alerts keyed by fingerprint.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

from alerts.driver import DetectionDriver, StateStore
from alerts.engine import DetectionEngine
from alerts.observation import (
    Observation,
    observation_from_dict,
    observation_to_dict,
    observations_from,
)
from earful.codec import InvalidMessage, decode_json, decode_record, encode
from earful.records import Alert, ScoredMention
from streams import metrics
from streams.deadletters import DeadLetters, invalid
from streams.detector_states import SplitStates
from streams.messages import Msg, Outbox, StagedRecords

log = logging.getLogger(__name__)


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
                record = observation_to_dict(obs)
                # `scored` is keyed by mention id like `mentions`: its partition is the input
                # partition, the detection driver's per-source clock
                record["src"] = msg.partition if msg.partition is not None else 0
                await self.outbox.send(
                    "by_brand",
                    obs.brand,
                    json.dumps(record).encode(),
                    timestamp=mention.created_at.timestamp(),
                )
                sent += 1
        return sent


class DetectStep:
    """Decodes observations and hands them to the detection driver (alerts/driver.py) with their
    partition as the lane; the driver is the same event-time loop `earful eval detect` runs."""

    def __init__(
        self, engine: DetectionEngine, states: StateStore, outbox: Outbox, deadletters: DeadLetters
    ):
        self.states = StagedRecords(states)
        #: Whole records now and then, open parts between (streams/detector_states.py).
        self._split = states if isinstance(states, SplitStates) else None
        self.driver = DetectionDriver(engine, self.states)
        self.outbox = outbox
        self.deadletters = deadletters
        self._late_told = 0
        # the agent and the idle-lane timer share the driver; each holds it from judging to commit
        self._lock = asyncio.Lock()

    @property
    def late(self) -> int:
        """Observations later than the rules' allowed lateness (indexed, not counted by
        detection): never silent — counted, logged, and shown in /healthz."""
        return self.driver.stats.late

    def invalidate(self) -> None:
        self.driver.invalidate()
        if self._split is not None:
            self._split.invalidate()

    async def tick(self) -> list[Alert]:
        """A lane whose slowest input went idle moves on without waiting for new data."""
        async with self._lock:
            alerts = self.driver.tick()
            await self._publish(alerts)
        return alerts

    async def handle(self, batch: Sequence[Msg]) -> list[Alert]:
        items: list[tuple[Observation, int, int]] = []
        offsets: list[int] = []
        for msg in batch:
            try:
                payload = decode_json(msg.value or b"")
                obs = observation_from_dict(payload)
            except (InvalidMessage, KeyError, TypeError, ValueError) as exc:
                await self.deadletters.send(msg, invalid(exc, "not an observation record"))
                continue
            lane = msg.partition if msg.partition is not None else -1
            # the input partition the mention came through (see alerts/driver.py: sources)
            source = payload.get("src", 0)
            items.append((obs, lane, source if isinstance(source, int) else 0))
            offsets.append(msg.offset if msg.offset is not None else -1)
        async with self._lock:
            late_before = self.late
            replayed_before = self.driver.stats.replayed
            alerts = self.driver.feed(items, offsets)
            if self.driver.stats.replayed > replayed_before:
                metrics.REPLAYED.inc(self.driver.stats.replayed - replayed_before)
                log.info(
                    "%d observations read again after a restart were already counted",
                    self.driver.stats.replayed - replayed_before,
                )
            metrics.LATE.inc(self.late - late_before)
            for lane in {lane for _, lane, _ in items}:
                mark = self.driver.watermark(lane)
                if mark is not None:
                    metrics.WATERMARK.labels(partition=str(lane)).set(mark)
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

    async def _publish(self, alerts: list[Alert]) -> None:
        """Send, wait for Kafka's acknowledgment, then keep the states that record them."""
        await self.states.keep_after(lambda: self._send(alerts), self.outbox, self.invalidate)
        if self._split is not None:
            # a full record is in Kafka before any open part written after it can be
            await self._split.persisted()

    async def _send(self, alerts: list[Alert]) -> None:
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
