"""Unit tests of the pieces behind "nothing is lost": topic policy, dead-letter sizing, hostile
JSON, the parked-delivery queue, worker health and the audit arithmetic."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from alerts.delivery_queue import DeliveryQueue, Parked
from alerts.notification import Notification
from earful.codec import MAX_ORIGINAL_BYTES, InvalidMessage, dead_letter, decode_json, encode
from earful.settings import KafkaSettings
from streams.audit import Expected, audit, dead_lettered
from streams.health import LostRange, WorkerHealth
from streams.topic_policy import ROLES, check_changelog, check_topic, topic_configs
from tests.unit.test_steps import alert

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_every_topic_is_created_with_log_append_time_and_a_deliberate_retention():
    kafka = KafkaSettings()
    for key in kafka.topics.model_dump():
        config = topic_configs(kafka, key)
        assert config["message.timestamp.type"] == "LogAppendTime"
        assert config["cleanup.policy"] == "delete"
        retention = int(config["retention.ms"])
        assert retention == -1 or retention >= 7 * 24 * 3600 * 1000
        assert check_topic(key, ROLES[key], config) == []
    # people's corrections are training data: never deleted by time
    assert topic_configs(kafka, "labels")["retention.ms"] == "-1"
    [warn] = check_topic("x.labels", "training", {"message.timestamp.type": "LogAppendTime"})
    assert not warn.fatal and "retention.ms=-1" in warn.why
    assert int(topic_configs(kafka, "mentions")["retention.ms"]) == 14 * 24 * 3600 * 1000
    assert int(topic_configs(kafka, "deadletter")["max.message.bytes"]) >= 4 * 1024 * 1024


def test_topic_check_names_settings_that_lose_data():
    [problem] = check_topic("x.mentions", "input", {"message.timestamp.type": "CreateTime"})
    assert problem.fatal and "LogAppendTime" in problem.why
    assert str(problem).startswith("x.mentions: message.timestamp.type=CreateTime")
    # CreateTime with time retention off is safe
    assert check_topic("m", "input", {"retention.ms": "-1"}) == []
    short = {"message.timestamp.type": "LogAppendTime", "retention.ms": str(3600_000)}
    assert [p.setting for p in check_topic("m", "input", short)] == ["retention.ms"]
    compact = {"message.timestamp.type": "LogAppendTime", "cleanup.policy": "compact"}
    assert [p.setting for p in check_topic("m", "input", compact)] == ["cleanup.policy"]
    small = {"message.timestamp.type": "LogAppendTime", "max.message.bytes": "1048588"}
    [warn] = check_topic("x.deadletter", "record", small)
    assert not warn.fatal
    assert check_changelog("c", {"cleanup.policy": "compact"}) == []
    assert check_changelog("c", {"cleanup.policy": "compact,delete"})[0].fatal


def test_a_dead_letter_of_a_near_limit_original_fits_and_says_it_was_truncated():
    raw = b"x" * 1_000_000
    letter = dead_letter(
        raw,
        InvalidMessage("message is too big", "oversized"),
        source_topic="mentions",
        received_at=NOW,
        partition=2,
        offset=99,
    )
    assert len(encode(letter)) < 1_048_576 - 10_000
    assert base64.b64decode(letter.original_b64) == raw[:MAX_ORIGINAL_BYTES]
    assert "truncated" in letter.reason and "mentions[2]@99" in letter.reason
    assert letter.details["original_size"] == len(raw) and letter.details["original_truncated"]
    small = dead_letter(b"{", InvalidMessage("bad", "bad_json"), source_topic="m", received_at=NOW)
    assert base64.b64decode(small.original_b64) == b"{" and "truncated" not in small.reason


@pytest.mark.parametrize(
    ("raw", "error_type", "words"),
    [
        (b"[" * 100_000, "bad_json", "nested too deeply"),
        (b'{"a": NaN}', "bad_json", "NaN"),
        (b'{"a": Infinity}', "bad_json", "Infinity"),
        (b'{"a": ' + b"9" * 5000 + b"}", "bad_json", "digits"),
        (b'{"a": "x\\ud800y"}', "bad_encoding", "surrogate"),
        (b"", "bad_json", "invalid JSON"),
    ],
)
def test_hostile_json_is_refused_with_a_reason(raw, error_type, words):
    with pytest.raises(InvalidMessage) as caught:
        decode_json(raw)
    assert caught.value.error_type == error_type and words in caught.value.reason


def test_surrogate_pairs_are_fine():
    assert decode_json(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


def notification() -> Notification:
    return Notification("pr", "g1", {"brand": "Acme"}, (alert(),), public_url="http://x")


def test_parked_deliveries_back_off_survive_a_restart_and_give_up_after_max_age():
    queue = DeliveryQueue(
        base=timedelta(seconds=5),
        cap=timedelta(seconds=60),
        max_age=timedelta(hours=1),
        rng=random.Random(1),
    )
    item = queue.park("pr/webhook", notification(), "HTTP 503", NOW, attempts=3)
    assert queue.due(NOW) == [] and len(queue) == 1
    table = {k: v for k, v in queue.changes().items() if v}
    # a restarted worker reads the same record and resumes
    again = DeliveryQueue(max_age=timedelta(hours=1))
    again.load_records(table.items())
    [restored] = again.parked.values()
    assert restored.notification.idempotency_key == item.notification.idempotency_key
    assert restored.notification.alerts[0].fingerprint == alert().fingerprint
    pauses, now = [], NOW
    while True:
        [due] = queue.due(now + timedelta(hours=2)) or [None]
        assert due is not None
        pauses.append((due.next_at - now).total_seconds())
        now = due.next_at
        if queue.failed(due, "HTTP 503", now):
            break
    assert all(0 < p <= 60 for p in pauses) and max(pauses) > 30  # grows to the cap
    assert now - NOW >= timedelta(hours=1) and len(queue) == 0
    assert queue.changes() == {item.key: None}
    assert Parked.from_record(item.record()).attempts == item.attempts


def test_retry_after_is_honoured_up_to_the_cap():
    queue = DeliveryQueue(base=timedelta(seconds=1), cap=timedelta(seconds=30))
    item = queue.park("n", notification(), "429", NOW, retry_after=20)
    assert item.next_at - NOW >= timedelta(seconds=20)


def test_health_turns_stalled_when_a_partition_with_lag_stops_moving():
    t = [0.0]
    health = WorkerHealth(stall_after_s=10, clock=lambda: t[0])
    assert health.report()[1]["status"] == "starting"
    a, b = ("mentions", 0), ("mentions.scored", 0)
    health.observe({a: 5, b: 3}, {a: 0, b: 4})
    t[0] = 5
    health.observe({a: 9, b: 3}, {a: 2, b: 4})
    assert health.report()[0] == 200
    t[0] = 12
    health.observe({a: 11, b: 3}, {a: 0, b: 4})
    status, body = health.report()
    assert (
        status == 503 and body["status"] == "stalled" and body["stalled"] == ["mentions.scored[0]"]
    )
    t[0] = 13
    health.observe({a: 11, b: 7}, {a: 0, b: 0})
    assert health.report()[1]["status"] == "ok"
    health.record_loss(LostRange("mentions", 2, 100, 160))
    status, body = health.report()
    assert status == 200 and body["status"] == "degraded" and body["offsets_lost"] == 60
    assert body["lost"] == [
        {"topic": "mentions", "partition": 2, "offsets": [100, 159], "count": 60}
    ]


def test_health_says_how_long_a_rebalance_or_recovery_has_held_the_streams():
    t = [100.0]
    health = WorkerHealth(stall_after_s=10, clock=lambda: t[0])
    health.observe({("mentions", 0): 5}, {("mentions", 0): 0})
    assert health.report()[1]["streams_held_s"] == 0.0
    health.held_since = 100.0
    t[0] = 142.5
    assert health.report()[1]["streams_held_s"] == 42.5


def test_audit_counts_by_id():
    expected = Expected(lines=6, ids={"a", "b", "c", "d", "e"}, malformed=1)
    original = base64.b64encode(json.dumps({"id": "d"}).encode()).decode()
    letters = [
        {"source_topic": "m", "original_b64": original},
        {"source_topic": "m", "original_b64": base64.b64encode(b"{").decode()},
        {"source_topic": "other", "original_b64": ""},
    ]
    count, ids = dead_lettered(letters, "m")
    assert (count, ids) == (2, {"d"})
    result = audit(expected, {"a", "b", "c"}, count, ids)
    assert result.lost == ["e"]
    assert result.line() == "sent 6 · indexed 3 · dead-lettered 2 · lost 1"
