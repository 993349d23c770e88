"""The care metrics step: facts from `care.facts` into the pure aggregator
(alerts/care/aggregator.py), its snapshots to `care.metrics` and the search index, its state
to a one-partition table. The worker holding the partition keeps the state in memory and
rebuilds it from the table when it starts or the partition moves."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from alerts.care.aggregator import CareMetricsAggregator
from alerts.care.conversation import Fact
from alerts.care.policies import CarePolicies
from earful.codec import InvalidMessage, decode_json
from streams.deadletters import DeadLetters, invalid
from streams.messages import Msg, Outbox, Records
from streams.search.base import Doc, SearchStore


class CareMetricsStep:
    def __init__(
        self,
        policies: CarePolicies,
        state: Records,
        store: Callable[[], Awaitable[SearchStore]],
        outbox: Outbox,
        deadletters: DeadLetters,
    ):
        self.policies = policies
        self.state = state
        self._store = store
        self.outbox = outbox
        self.deadletters = deadletters
        self.aggregator = CareMetricsAggregator(policies.metrics_window, policies.metrics_every)
        self._loaded = False

    def invalidate(self) -> None:
        self._loaded = False

    def _load(self) -> CareMetricsAggregator:
        if not self._loaded:
            self.aggregator.load_records([(k, v) for k, v in self.state.items() if v])
            self._loaded = True
        return self.aggregator

    async def handle(self, batch: Sequence[Msg]) -> list[dict[str, Any]]:
        aggregator = self._load()
        for msg in batch:
            try:
                fact = Fact.from_dict(decode_json(msg.value or b""))
            except (InvalidMessage, KeyError, ValueError, TypeError) as exc:
                await self.deadletters.send(msg, invalid(exc, "not a care fact"))
                continue
            aggregator.accept(fact)
        rows = aggregator.publish_due()
        changes = aggregator.changes()
        try:
            await self._publish(rows)
        except BaseException:
            # the state still says these snapshots are due: reload it, they are made again
            self.invalidate()
            raise
        # kept only now: a state saying "published" for snapshots Kafka or the index never took
        # would skip them for good after a crash (same ids when made again: indexed once)
        for key, value in changes.items():
            if value is not None:
                self.state[key] = value
            elif self.state.get(key) is not None:
                del self.state[key]
        return rows

    async def _publish(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        store = await self._store()
        await store.bulk_index(
            "care-metrics",
            [
                Doc(f"{r['at']}|{r['scope']}|{r['key']}", r, datetime.fromisoformat(r["at"]))
                for r in rows
            ],
        )
        for row in rows:
            await self.outbox.send(
                "care_metrics", f"{row['scope']}:{row['key']}", json.dumps(row).encode()
            )
        await self.outbox.flush()
