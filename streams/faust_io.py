"""Faust's side of the steps' edges: an outbox that sends to Faust topics and waits for the
broker's acknowledgments, and a Faust table seen as the steps' `StateStore`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any


class FaustOutbox:
    def __init__(self, topics: dict[str, Any]):
        self.topics = topics
        #: Deliveries not yet waited for (what `flush` waits for): futures of the producer.
        self._unconfirmed: list[asyncio.Future[Any]] = []
        self._prune_at = 4096

    async def send(
        self, topic: str, key: str | None, value: bytes, timestamp: float | None = None
    ) -> None:
        # `send` hands the record to the producer; the future it returns resolves on the
        # broker's acknowledgment
        delivery = await self.topics[topic].send(
            key=key.encode() if key is not None else None, value=value, timestamp=timestamp
        )
        if len(self._unconfirmed) >= self._prune_at:
            # a step that never flushes: keep only the pending ones, and prune again when the
            # list has doubled (a backlog of pending sends must not make each send a scan)
            self._unconfirmed = [d for d in self._unconfirmed if not d.done()]
            self._prune_at = max(4096, 2 * len(self._unconfirmed))
        self._unconfirmed.append(delivery)

    async def flush(self) -> None:
        waiting, self._unconfirmed = self._unconfirmed, []
        if waiting:
            await asyncio.gather(*waiting)


class TableStates:
    """Adapts a Faust table to the engine's `StateStore` (values are JSON dicts)."""

    def __init__(self, table: Any):
        self.table = table

    def get(self, key: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self.table.get(key)
        return value

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        self.table[key] = value

    def __delitem__(self, key: str) -> None:
        del self.table[key]

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(list(self.table.items()))
