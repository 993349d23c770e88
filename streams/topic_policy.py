"""What each Earful topic must be configured as so that the broker never drops unread data.

Kafka deletes a segment once its *largest record timestamp* is older than `retention.ms`. With
the default `message.timestamp.type=CreateTime` that timestamp is whatever the producer wrote —
for Earful, a mention's event time — so a backfill of last month's mentions is deleted at the
next retention check, before the worker has read it, and the consumer jumps over the hole.

Earful therefore creates every topic with `LogAppendTime` (retention counts from when the broker
appended the message; the event time travels in the payload) and a deliberate retention per
topic. `check_topic` is pure: it takes a topic's configuration as the broker describes it and
returns what is wrong with it, so the worker can refuse to start on a setting that loses data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from earful.settings import KafkaSettings

HOUR_MS = 3_600_000
#: Dead letters carry the original bytes (base64) and the reason: room for a 1 MiB original.
DEADLETTER_MAX_BYTES = 4 * 1024 * 1024

Role = Literal["input", "internal", "record", "training"]

#: Logical topic -> role. Inputs come from outside and may arrive while no worker runs; internal
#: topics hand over between agents; records are what people look back at.
ROLES: dict[str, Role] = {
    "mentions": "input",
    "inbox": "input",
    "scored": "internal",
    "by_brand": "internal",
    "care_facts": "internal",
    "alerts": "record",
    "deadletter": "record",
    "notifications": "record",
    "control": "record",
    "care_metrics": "record",
    "labels": "training",
}


def topic_configs(kafka: KafkaSettings, key: str) -> dict[str, str]:
    """The broker configuration Earful creates the logical topic `key` with."""
    role = ROLES[key]
    # people's corrections are the model's training data: kept until someone deletes them
    hours = {
        "input": kafka.input_retention_hours,
        "internal": kafka.internal_retention_hours,
        "record": kafka.record_retention_hours,
        "training": -1,
    }[role]
    config = {
        "message.timestamp.type": "LogAppendTime",
        "cleanup.policy": "delete",
        "retention.ms": str(hours * HOUR_MS if hours > 0 else -1),
    }
    if key == "deadletter":
        config["max.message.bytes"] = str(DEADLETTER_MAX_BYTES)
    return config


@dataclass(frozen=True)
class TopicProblem:
    topic: str
    setting: str
    value: str
    why: str
    #: A fatal problem loses data; the worker refuses to start on it unless told to proceed.
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.topic}: {self.setting}={self.value}: {self.why}"


def check_topic(
    name: str, role: Role, config: dict[str, str], *, min_input_hours: int = 24
) -> list[TopicProblem]:
    """What is wrong with an existing topic's configuration (empty when nothing is)."""
    problems: list[TopicProblem] = []
    stamp = config.get("message.timestamp.type", "CreateTime")
    policy = config.get("cleanup.policy", "delete")
    retention = int(config.get("retention.ms", "604800000"))
    deletes = "delete" in policy and retention >= 0
    if stamp == "CreateTime" and deletes:
        problems.append(
            TopicProblem(
                name,
                "message.timestamp.type",
                stamp,
                "retention is counted from the producer's timestamp (the event time), so "
                "mentions older than retention.ms are deleted before the worker reads them; "
                "set message.timestamp.type=LogAppendTime",
            )
        )
    if role == "input" and deletes and retention < min_input_hours * HOUR_MS:
        problems.append(
            TopicProblem(
                name,
                "retention.ms",
                str(retention),
                f"an input topic must keep messages at least {min_input_hours} h so a stopped "
                "worker can catch up",
            )
        )
    if role == "input" and "compact" in policy:
        problems.append(
            TopicProblem(
                name,
                "cleanup.policy",
                policy,
                "compaction keeps only the last message per key: an input topic needs "
                "cleanup.policy=delete",
            )
        )
    if role == "training" and deletes:
        problems.append(
            TopicProblem(
                name,
                "retention.ms",
                str(retention),
                "corrections are the training data of `earful models adapt`; once deleted by "
                "retention the next adapted model forgets them (set retention.ms=-1)",
                fatal=False,
            )
        )
    if name.endswith("deadletter"):
        limit = int(config.get("max.message.bytes", "1048588"))
        if limit < DEADLETTER_MAX_BYTES:
            problems.append(
                TopicProblem(
                    name,
                    "max.message.bytes",
                    str(limit),
                    "dead letters of large originals are truncated to fit (the reason says "
                    f"so); {DEADLETTER_MAX_BYTES} keeps them whole",
                    fatal=False,
                )
            )
    return problems


def check_changelog(name: str, config: dict[str, str]) -> list[TopicProblem]:
    """Table changelogs must be compacted, never deleted by time (state would be lost)."""
    policy = config.get("cleanup.policy", "delete")
    if policy.split(",") == ["compact"]:
        return []
    return [
        TopicProblem(
            name,
            "cleanup.policy",
            policy,
            "a table changelog must be cleanup.policy=compact, or table state is deleted by "
            "retention",
        )
    ]
