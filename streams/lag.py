"""Consumer-group lag and lost offsets, read from the broker (blocking: call from a thread).

`GroupOffsets` answers "has the group consumed everything?" (the demo and tests wait on it) and
feeds the worker's lag gauge. `OffsetResetWatch` turns aiokafka's "Fetch offset N is out of
range ... resetting offset" — which otherwise is one INFO line while the consumer silently jumps
over a hole — into a counted, logged, reported loss.
"""

from __future__ import annotations

import logging
import queue
from typing import Any, cast

from earful.settings import KafkaSettings
from streams.faust_consumer import RESETS
from streams.kafka_admin import client_config

TP = tuple[str, int]
log = logging.getLogger(__name__)


class GroupOffsets:
    """One admin client and one (group-less) consumer, kept open between samples."""

    def __init__(self, kafka: KafkaSettings):
        self.kafka = kafka
        self._admin: Any = None
        self._consumer: Any = None

    def _clients(self) -> tuple[Any, Any]:
        from kafka import KafkaConsumer
        from kafka.admin import KafkaAdminClient

        if self._admin is None:
            config = client_config(self.kafka)
            self._admin = KafkaAdminClient(request_timeout_ms=10_000, **config)
            self._consumer = KafkaConsumer(request_timeout_ms=11_000, **config)
        return self._admin, self._consumer

    def _partitions(self, topics: list[str]) -> list[Any]:
        from kafka import TopicPartition

        _, consumer = self._clients()
        out = []
        for topic in topics:
            for p in sorted(consumer.partitions_for_topic(topic) or ()):
                out.append(TopicPartition(topic, p))
        return out

    def sample(self, group: str, topics: list[str]) -> tuple[dict[TP, int], dict[TP, int]]:
        """(committed offset, lag) per partition of `topics` for consumer group `group`."""
        admin, consumer = self._clients()
        parts = self._partitions(topics)
        committed_raw = admin.list_group_offsets({group: None}).get(group, {})
        ends = consumer.end_offsets(parts) if parts else {}
        starts = consumer.beginning_offsets(parts) if parts else {}
        committed: dict[TP, int] = {}
        lag: dict[TP, int] = {}
        for tp in parts:
            meta = committed_raw.get(tp)
            # no commit yet: the group will start from the earliest offset still there
            done = meta.offset if meta is not None and meta.offset >= 0 else starts.get(tp, 0)
            committed[(tp.topic, tp.partition)] = done
            lag[(tp.topic, tp.partition)] = max(0, ends.get(tp, 0) - done)
        return committed, lag

    def end_offsets(self, topics: list[str]) -> dict[TP, int]:
        _, consumer = self._clients()
        parts = self._partitions(topics)
        return {(tp.topic, tp.partition): n for tp, n in consumer.end_offsets(parts).items()}

    def beginning(self, topic: str, partition: int) -> int:
        from kafka import TopicPartition

        _, consumer = self._clients()
        tp = TopicPartition(topic, partition)
        return int(consumer.beginning_offsets([tp])[tp])

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._consumer.close()
            self._admin = self._consumer = None


class OffsetResetWatch(logging.Handler):
    """Catches aiokafka's out-of-range resets; `drain()` hands them over as (topic, partition,
    offset wanted). Installed on aiokafka's fetcher logger, which only says this at INFO."""

    LOGGER = "aiokafka.consumer.fetcher"

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.events: queue.SimpleQueue[tuple[str, int, int]] = queue.SimpleQueue()

    def emit(self, record: logging.LogRecord) -> None:
        if not str(record.msg).startswith("Fetch offset %s is out of range"):
            return
        try:
            offset, tp = cast(tuple[Any, Any], record.args)
            self.events.put((str(tp.topic), int(tp.partition), int(offset)))
            # the jump that follows in this partition is the broker's hole, not a stale record
            RESETS.add(str(tp.topic), int(tp.partition))
        except (TypeError, ValueError, AttributeError):  # another aiokafka wording
            self.events.put(("?", -1, -1))

    def install(self) -> OffsetResetWatch:
        logger = logging.getLogger(self.LOGGER)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(self)
        return self

    def drain(self) -> list[tuple[str, int, int]]:
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out


class ProgressMonitor:
    """Samples the worker's consumer group (lag, committed offsets) and accounts for every
    out-of-range reset. `run_once` blocks on the broker: the worker calls it in a thread."""

    def __init__(
        self,
        offsets: GroupOffsets,
        group: str,
        topics: list[str],
        health: Any,
        watch: OffsetResetWatch,
    ):
        self.offsets = offsets
        self.group = group
        self.topics = topics
        self.health = health
        self.watch = watch
        #: aiokafka may report one reset more than once (fetches in flight): count it once.
        self._seen: set[tuple[str, int, int]] = set()

    def run_once(self) -> None:
        from streams import metrics
        from streams.health import LostRange

        for topic, partition, wanted in self.watch.drain():
            if (topic, partition, wanted) in self._seen:
                continue
            self._seen.add((topic, partition, wanted))
            if topic == "?":
                self.health.record_reset("an offset was reset (unrecognised aiokafka message)")
                log.error("a consumer offset was reset; data may have been skipped")
                continue
            first = self.offsets.beginning(topic, partition)
            if first > wanted:
                lost = LostRange(topic, partition, wanted, first)
                log.error(
                    "LOST %d messages on %s[%d], offsets %d..%d: the broker deleted them "
                    "before the worker read them (retention); resuming at %d",
                    lost.count,
                    topic,
                    partition,
                    wanted,
                    first - 1,
                    first,
                    extra={"topic": topic, "partition": partition, "lost": lost.count},
                )
                metrics.OFFSETS_LOST.labels(topic=topic, partition=str(partition)).inc(lost.count)
                self.health.record_loss(lost)
            else:
                what = (
                    f"{topic}[{partition}]: offset {wanted} is past the log end; "
                    f"re-reading from {first} (messages may be processed twice, none lost)"
                )
                log.warning(what)
                self.health.record_reset(what)
        committed, lag = self.offsets.sample(self.group, self.topics)
        for (topic, partition), n in lag.items():
            metrics.CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(n)
        self.health.observe(committed, lag)
