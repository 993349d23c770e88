"""Control commands for the dispatcher (silences, their expiry, acknowledgements).

People create them from the CLI (`earful silences add`, `earful alerts ack`) or from the
dashboard's silence form (the "Silence" button in every notification); both publish the same
JSON command on the `control` topic, which the worker's `control` agent applies.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from alerts.routing.config import Matcher
from earful.settings import Settings


def silence_command(
    matchers: Sequence[str],
    duration: timedelta,
    now: datetime,
    created_by: str = "",
    comment: str = "",
) -> dict[str, Any]:
    """A validated silence command; ValueError says what is wrong with it."""
    matchers = [m.strip() for m in matchers if m.strip()]
    if not matchers:
        raise ValueError("a silence needs at least one matcher, e.g. brand=Skyway Air")
    for m in matchers:
        Matcher.parse(m)  # raises ValueError naming the bad matcher
    if duration <= timedelta(0):
        raise ValueError("a silence must last longer than zero")
    return {
        "type": "silence",
        "id": uuid.uuid4().hex[:12],
        "matchers": matchers,
        "starts_at": now.isoformat(),
        "duration_s": duration.total_seconds(),
        "created_by": created_by,
        "comment": comment,
    }


class ControlPublisher(Protocol):
    async def publish(self, command: dict[str, Any]) -> None: ...


def publish_sync(settings: Settings, command: dict[str, Any]) -> None:
    """Publish one command and wait until Kafka has it (acks=all)."""
    from kafka import KafkaProducer

    from streams.kafka_admin import client_config, ensure_topics

    ensure_topics(settings.kafka)
    producer = KafkaProducer(acks="all", **client_config(settings.kafka))
    try:
        key = str(command.get("id", command.get("fingerprint", ""))).encode()
        producer.send(settings.topics.control, value=json.dumps(command).encode(), key=key).get(30)
    finally:
        producer.close()


class KafkaControlPublisher:
    """For the API: the blocking producer runs in a thread, off the event loop."""

    def __init__(self, settings: Settings):
        self.settings = settings

    async def publish(self, command: dict[str, Any]) -> None:
        await asyncio.to_thread(publish_sync, self.settings, command)
