"""Send what cannot be processed to the dead-letter topic, with the reason and original bytes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from earful.codec import InvalidMessage, dead_letter, encode
from streams.messages import Msg, Outbox

log = logging.getLogger(__name__)


def invalid(exc: Exception, what: str) -> InvalidMessage:
    """The dead-letter reason for a record that decoded but did not make sense as `what`."""
    if isinstance(exc, InvalidMessage):
        return exc
    return InvalidMessage(f"{what}: {exc!r}", "invalid_record")


class DeadLetters:
    def __init__(self, outbox: Outbox, clock: Callable[[], datetime]):
        self.outbox = outbox
        self.clock = clock
        self.count = 0

    async def send(self, msg: Msg, error: InvalidMessage) -> None:
        record = dead_letter(
            msg.value,
            error,
            source_topic=msg.topic,
            received_at=self.clock(),
            partition=msg.partition,
            offset=msg.offset,
            key=msg.key,
        )
        log.warning(
            "dead-lettered %s[%s]@%s: %s",
            msg.topic,
            msg.partition,
            msg.offset,
            error.reason[:500],
            extra={
                "topic": msg.topic,
                "partition": msg.partition,
                "offset": msg.offset,
                "key": record.key,
                "error_type": error.error_type,
            },
        )
        self.count += 1
        await self.outbox.send("deadletter", record.key, encode(record))
