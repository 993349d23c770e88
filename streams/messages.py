"""Transport-neutral message and output port, so processing steps run without Faust in tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Msg:
    value: bytes | None
    key: bytes | None = None
    topic: str = ""
    partition: int | None = None
    offset: int | None = None
    #: Kafka message timestamp, epoch seconds.
    timestamp: float | None = None

    @classmethod
    def from_event(cls, event: Any) -> Msg:
        m = event.message
        value = event.value
        if isinstance(value, str):
            value = value.encode("utf-8", errors="surrogateescape")
        return cls(
            value=value,
            key=m.key,
            topic=m.topic,
            partition=m.partition,
            offset=m.offset,
            timestamp=m.timestamp,
        )


class Outbox(Protocol):
    """Where steps send records: a Kafka topic by logical name ('scored', 'alerts', ...)."""

    async def send(
        self, topic: str, key: str | None, value: bytes, timestamp: float | None = None
    ) -> None: ...

    async def flush(self) -> None:
        """Wait until every record sent so far is acknowledged by the broker (raises if one
        could not be written)."""
        ...


class KeptRecords(Protocol):
    """JSON values by key that are written and read, never deleted (a step's state)."""

    def get(self, key: str) -> dict[str, Any] | None: ...
    def __setitem__(self, key: str, value: dict[str, Any]) -> None: ...
    def items(self) -> Iterator[tuple[str, dict[str, Any]]]: ...


class Records(KeptRecords, Protocol):
    """A step's state: JSON values by key, in a Faust table (a dict in unit tests)."""

    def __delitem__(self, key: str) -> None: ...


class StagedRecords:
    """A step's state whose writes are held back until `commit`.

    A step that raises an alert also records, in its state, that it did ("breached",
    "firing"). Kafka writes the state's changelog and the alert independently: after a kill -9
    the state may say "raised" for an alert that never reached the topic, and the restarted step
    would never raise it again. Staged, the state is written only after the alerts it records
    are acknowledged (`Outbox.flush`); a crash in between re-raises them, with the same ids, which
    the router and the index take once. Reads see the staged writes."""

    def __init__(self, records: KeptRecords):
        self.records = records
        self.staged: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        found = self.staged.get(key)
        return found if found is not None else self.records.get(key)

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        self.staged[key] = value

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        merged = dict(self.records.items())
        merged.update(self.staged)
        return iter(list(merged.items()))

    def commit(self) -> None:
        for key, value in self.staged.items():
            self.records[key] = value
        self.staged.clear()

    def discard(self) -> None:
        self.staged.clear()

    async def keep_after(
        self, send: Callable[[], Awaitable[None]], outbox: Outbox, reload: Callable[[], None]
    ) -> None:
        """`send` the step's output, wait for Kafka to acknowledge it, then commit. On any
        failure nothing staged is kept and `reload` makes the step read its state back: judged
        again, the same output is made again (same ids)."""
        try:
            await send()
            await outbox.flush()
        except BaseException:
            self.discard()
            reload()
            raise
        self.commit()
