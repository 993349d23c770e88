"""Re-read a partition whose commit is stuck behind messages the stream never delivered.

Faust can lose events from a stream buffer across a rebalance (a batch taken from a partition
that stays assigned is dropped with the revoked generation): the later events are processed and
acknowledged, but the consumer can never commit past the missing ones, so the offset stays put
while the lag stays up — and after a restart the worker would resume behind them anyway. That is
data delayed indefinitely, so the worker repairs it: when a partition has lag, its committed
offset has not moved for `after_s`, and the worker is not simply waiting for the search engine,
it forgets that partition's acknowledgement bookkeeping and seeks back to the committed offset.
The messages are read again (the index write is idempotent); nothing is skipped.
"""

from __future__ import annotations

import logging
from typing import Any

from streams import metrics
from streams.health import WorkerHealth

log = logging.getLogger(__name__)


async def rewind_stuck(
    consumer: Any, health: WorkerHealth, *, after_s: float, waiting_for_search: bool
) -> list[tuple[str, int]]:
    """Seek every stuck, assigned partition back to its committed offset; returns them."""
    from faust.types import TP

    if waiting_for_search:
        return []
    assigned = {(tp.topic, tp.partition): tp for tp in consumer.assignment()}
    rewound = []
    for (topic, partition), idle in health.stuck(after_s).items():
        tp = assigned.get((topic, partition))
        committed = health.committed.get((topic, partition))
        if tp is None or committed is None:
            continue
        log.error(
            "%s[%d] has not committed past offset %d for %.0f s with %d messages waiting; "
            "re-reading from %d",
            topic,
            partition,
            committed,
            idle,
            health.lag.get((topic, partition), 0),
            committed,
            extra={"topic": topic, "partition": partition, "offset": committed},
        )
        tp = TP(topic, partition)
        for book in (consumer._acked, consumer._acked_index, consumer._gap):
            book.pop(tp, None)
        await consumer.seek(tp, committed)
        health.moved((topic, partition))
        metrics.REWINDS.labels(topic=topic, partition=str(partition)).inc()
        rewound.append((topic, partition))
    return rewound
