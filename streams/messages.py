"""Transport-neutral message and output port, so processing steps run without Faust in tests."""

from __future__ import annotations

from collections.abc import Iterator
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


class Records(Protocol):
    """A step's state: JSON values by key, in a Faust table (a dict in unit tests)."""

    def get(self, key: str) -> dict[str, Any] | None: ...
    def __setitem__(self, key: str, value: dict[str, Any]) -> None: ...
    def __delitem__(self, key: str) -> None: ...
    def items(self) -> Iterator[tuple[str, dict[str, Any]]]: ...
