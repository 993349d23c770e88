"""The `control` topic: publishing router commands, and reading them back.

The commands and their meaning live in `alerts/routing/commands.py`; this module only moves
them through Kafka. The CLI publishes synchronously; the API publishes from a thread so its
event loop never blocks on the producer.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Protocol

from alerts.routing.commands import ControlCommand, command_key, encode_command, parse_command
from earful.settings import Settings

log = logging.getLogger(__name__)


class ControlPublisher(Protocol):
    async def publish(self, command: ControlCommand) -> None: ...


def publish_sync(settings: Settings, command: ControlCommand) -> None:
    """Publish one command and wait until Kafka has it (acks=all)."""
    from kafka import KafkaProducer

    from streams.kafka_admin import client_config, ensure_topics

    ensure_topics(settings.kafka)
    producer = KafkaProducer(acks="all", **client_config(settings.kafka))
    try:
        producer.send(
            settings.topics.control, value=encode_command(command), key=command_key(command)
        ).get(30)
    finally:
        producer.close()


class KafkaControlPublisher:
    """For the API: the blocking producer runs in a thread, off the event loop."""

    def __init__(self, settings: Settings):
        self.settings = settings

    async def publish(self, command: ControlCommand) -> None:
        await asyncio.to_thread(publish_sync, self.settings, command)


def read_commands(settings: Settings) -> list[tuple[datetime, ControlCommand]]:
    """Every command still on the control topic, with the time Kafka took it, in order.

    Reads up to the end offsets taken at the start (not until a timeout), so the answer is
    complete and quick; unreadable records are skipped (the worker dead-letters them)."""
    from kafka import KafkaConsumer, TopicPartition

    from streams.kafka_admin import client_config

    consumer = KafkaConsumer(enable_auto_commit=False, **client_config(settings.kafka))
    out: list[tuple[datetime, ControlCommand]] = []
    try:
        parts = consumer.partitions_for_topic(settings.topics.control) or set()
        tps = [TopicPartition(settings.topics.control, p) for p in sorted(parts)]
        if not tps:
            return out
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > consumer.position(tp)}
        while remaining:
            for tp, messages in consumer.poll(timeout_ms=1000).items():
                for message in messages:
                    if message.offset >= ends[tp]:
                        continue
                    try:
                        command = parse_command(message.value or b"")
                    except ValueError as exc:
                        log.warning("skipping control record %s: %s", message.offset, exc)
                        continue
                    at = datetime.fromtimestamp(message.timestamp / 1000, UTC)
                    out.append((at, command))
            remaining = {tp for tp in remaining if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close()
    out.sort(key=lambda item: item[0])
    return out


async def read_commands_async(settings: Settings) -> list[tuple[datetime, ControlCommand]]:
    return await asyncio.to_thread(read_commands, settings)
