"""Create Earful's topics (idempotent) with kafka-python's admin client."""

from __future__ import annotations

import logging
import time
from typing import Any

from earful.settings import KafkaSettings

log = logging.getLogger(__name__)


def client_config(kafka: KafkaSettings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers.split(","),
        "security_protocol": kafka.security_protocol,
    }
    if kafka.sasl_mechanism:
        config["sasl_mechanism"] = kafka.sasl_mechanism
        config["sasl_plain_username"] = kafka.sasl_username
        config["sasl_plain_password"] = (
            kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        )
    return config


def ensure_topics(kafka: KafkaSettings, *, timeout_s: float = 60.0) -> list[str]:
    """Create any missing Earful topic; returns the names created. Waits for the broker."""
    from kafka import errors
    from kafka.admin import KafkaAdminClient, NewTopic

    # kafka-python 3 raises KafkaTimeoutError (retriable) where 2.x raised NoBrokersAvailable.
    unreachable = tuple(
        e for e in (errors.RetriableError, getattr(errors, "NoBrokersAvailable", None)) if e
    )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(
                client_id="earful-admin", request_timeout_ms=10_000, **client_config(kafka)
            )
            break
        except unreachable:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"no Kafka broker at {kafka.bootstrap_servers} after {timeout_s:.0f}s"
                ) from None
            time.sleep(1)
    try:
        existing = set(admin.list_topics())
        topics = kafka.topics
        wanted = {key: name for key, name in topics.model_dump().items() if name not in existing}
        created = []
        for key, name in wanted.items():
            partitions = 1 if key in topics.SINGLE_PARTITION else kafka.partitions
            try:
                admin.create_topics([NewTopic(name, partitions, kafka.replication_factor)])
                created.append(name)
            except errors.TopicAlreadyExistsError:
                pass
        if created:
            log.info("created topics: %s", ", ".join(created))
        return created
    finally:
        admin.close()
