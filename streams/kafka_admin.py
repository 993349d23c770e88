"""Create Earful's topics (idempotent) and check their settings, with kafka-python's admin."""

from __future__ import annotations

import logging
import time
from typing import Any

from earful.settings import KafkaSettings
from streams.topic_policy import ROLES, TopicProblem, check_changelog, check_topic, topic_configs

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


def admin_client(kafka: KafkaSettings, *, timeout_s: float = 60.0) -> Any:
    """A kafka-python admin client, waiting up to `timeout_s` for the broker."""
    from kafka import errors
    from kafka.admin import KafkaAdminClient

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
    return admin


def ensure_topics(kafka: KafkaSettings, *, timeout_s: float = 60.0) -> list[str]:
    """Create any missing Earful topic with its retention policy (see `streams.topic_policy`);
    returns the names created. Waits for the broker."""
    from kafka import errors
    from kafka.admin import NewTopic

    admin = admin_client(kafka, timeout_s=timeout_s)
    try:
        existing = set(admin.list_topics())
        topics = kafka.topics
        wanted = {key: name for key, name in topics.model_dump().items() if name not in existing}
        created = []
        for key, name in wanted.items():
            partitions = 1 if key in topics.SINGLE_PARTITION else kafka.partitions
            new = NewTopic(
                name,
                partitions,
                kafka.replication_factor,
                topic_configs=topic_configs(kafka, key),
            )
            try:
                admin.create_topics([new])
                created.append(name)
            except errors.TopicAlreadyExistsError:
                pass
        if created:
            log.info("created topics: %s", ", ".join(created))
        return created
    finally:
        admin.close()


def describe_topics(admin: Any, names: list[str]) -> dict[str, dict[str, str]]:
    """Effective configuration (every key, defaults included) of each existing topic."""
    from kafka.admin import ConfigResource, ConfigResourceType

    if not names:
        return {}
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, n) for n in names], config_filter="all"
    )
    return {
        name: {k: str(v.get("value")) for k, v in config.items()}
        for name, config in described.get("topic", {}).items()
    }


def max_message_bytes(kafka: KafkaSettings, topic: str) -> int:
    """The largest record batch the broker accepts on `topic` (its max.message.bytes)."""
    admin = admin_client(kafka)
    try:
        config = describe_topics(admin, [topic]).get(topic, {})
    finally:
        admin.close()
    return int(config.get("max.message.bytes", "1048588"))


def check_topics(kafka: KafkaSettings, app_id: str | None = None) -> list[TopicProblem]:
    """Problems with the settings of Earful's existing topics (and of `app_id`'s changelogs)."""
    admin = admin_client(kafka)
    try:
        existing = set(admin.list_topics())
        names = kafka.topics.model_dump()
        ours = {name: ROLES[key] for key, name in names.items() if name in existing}
        changelogs = sorted(
            t
            for t in existing
            if app_id and t.startswith(f"{app_id}-") and t.endswith("-changelog")
        )
        configs = describe_topics(admin, sorted(ours) + changelogs)
    finally:
        admin.close()
    problems: list[TopicProblem] = []
    for name, role in sorted(ours.items()):
        problems += check_topic(name, role, configs.get(name, {}))
    for name in changelogs:
        problems += check_changelog(name, configs.get(name, {}))
    return problems


def apply_topic_configs(kafka: KafkaSettings) -> list[str]:
    """Set Earful's policy on its existing topics (incremental: other settings are kept)."""
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = admin_client(kafka)
    try:
        existing = set(admin.list_topics())
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, name, configs=topic_configs(kafka, key))
            for key, name in kafka.topics.model_dump().items()
            if name in existing
        ]
        if resources:
            admin.alter_configs(resources, incremental=True)
        return [r.name for r in resources]
    finally:
        admin.close()
