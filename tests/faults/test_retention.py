"""Broker retention never decides what the worker sees: old event times survive a retention
check, and a real gap (records deleted before they were read) is counted and reported."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from tests.faults.common import assert_indexed_exactly, drain, mentions, record, save
from tooling.harness import (
    Worker,
    earful_env,
    free_port,
    health,
    run_cli,
    wait_until,
)


def offsets(bootstrap: str, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        begin = {tp.partition: n for tp, n in consumer.beginning_offsets(parts).items()}
        end = {tp.partition: n for tp, n in consumer.end_offsets(parts).items()}
        return begin, end
    finally:
        consumer.close()


def test_backfill_older_than_retention_waits_for_the_worker_and_is_all_indexed(
    real_services, run_id, tmp_path
):
    kafka = real_services["kafka"]
    env = earful_env(run_id, real_services, tmp_path)
    # 40 days ago, in the brand's busy morning hours (the volume follows the time of day)
    old = (datetime.now(UTC) - timedelta(days=40)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    rows = mentions("Backfillco", 2000, old, 0.15, seed=21)
    assert 150 < len(rows) < 800
    run_cli(["replay", str(save(tmp_path, "old.jsonl", rows))], env)  # no worker runs yet

    # The same records on a topic with Kafka's defaults (CreateTime, 7 days): the broker deletes
    # them at its next retention check. That they vanish proves a check ran while ours waited.
    control = f"{run_id}.createtime-control"
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    admin.create_topics([NewTopic(control, 1, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka)
    for row in rows:
        at = datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))
        producer.send(control, b"x", timestamp_ms=int(at.timestamp() * 1000))
    producer.flush()
    producer.close()
    wait_until(
        lambda: offsets(kafka, control)[0] == {0: len(rows)},
        60,
        "the broker's retention check to delete the CreateTime copy",
    )
    time.sleep(5)  # and at least one more check, for good measure
    begin, end = offsets(kafka, f"{run_id}.mentions")
    assert set(begin.values()) == {0} and sum(end.values()) == len(rows)

    worker = Worker(env, tmp_path / "worker.log").start()
    started = time.monotonic()
    try:
        drain(real_services, run_id, logs=(worker.log_path,))
        assert assert_indexed_exactly(real_services["search"], run_id, rows) == len(rows)
    finally:
        worker.stop()
    record(
        "backfill_older_than_retention",
        sent=len(rows),
        indexed=len(rows),
        lost=0,
        event_time_age_days=40,
        survived_retention_check=True,
        worker_start_to_drained_s=round(time.monotonic() - started, 1),
    )


def test_records_deleted_before_they_were_read_are_counted_and_reported(
    real_services, run_id, tmp_path
):
    """The reset policy is earliest, on purpose: the worker carries on from the first record the
    broker still has, and says exactly which offsets it never saw (log, metric, /healthz)."""
    kafka = real_services["kafka"]
    port = free_port()
    env = earful_env(run_id, real_services, tmp_path, EARFUL_WORKER__METRICS_PORT=str(port))
    start = datetime(2026, 11, 20, 9, tzinfo=UTC)
    before = mentions("Gapco", 2000, start, 0.02, seed=31, prefix="a-")
    gone = mentions("Gapco", 2000, start + timedelta(hours=1), 0.03, seed=32, prefix="b-")
    after = mentions("Gapco", 2000, start + timedelta(hours=2), 0.02, seed=33, prefix="c-")

    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        run_cli(["replay", str(save(tmp_path, "a.jsonl", before))], env)
        drain(real_services, run_id, logs=(worker.log_path,))
    finally:
        worker.stop()
    topic = f"{run_id}.mentions"
    run_cli(["replay", str(save(tmp_path, "b.jsonl", gone))], env)
    _, end = offsets(kafka, topic)
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    admin.delete_records({TopicPartition(topic, p): n for p, n in end.items()})
    admin.close()
    run_cli(["replay", str(save(tmp_path, "c.jsonl", after))], env)

    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        drain(real_services, run_id, logs=(worker.log_path,))
        body = wait_until(
            lambda: (h := health(port))["offsets_lost"] and h, 60, "the loss in /healthz"
        )
        assert body["offsets_lost"] == len(gone)
        assert body["status"] == "degraded" and body["http_status"] == 200
        assert sum(r["count"] for r in body["lost"]) == len(gone)
        assert all(r["topic"] == topic for r in body["lost"])
        metrics = __import__("httpx").get(f"http://127.0.0.1:{port}/metrics").text
        lost_metric = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("earful_offsets_lost_total{")
        )
        assert lost_metric == len(gone)
        assert "LOST" in worker.log() and topic in worker.log()
        assert_indexed_exactly(real_services["search"], run_id, before + after)
    finally:
        worker.stop()


def test_worker_refuses_topics_that_delete_by_event_time(real_services, run_id, tmp_path):
    admin = KafkaAdminClient(bootstrap_servers=real_services["kafka"])
    admin.create_topics([NewTopic(f"{run_id}.mentions", 4, 1)])  # Kafka's defaults: CreateTime
    admin.close()
    env = earful_env(run_id, real_services, tmp_path)
    out = __import__("subprocess").run(
        [__import__("sys").executable, "-m", "earful", "worker"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    text = out.stdout.decode() + out.stderr.decode()
    assert out.returncode == 3, text[-2000:]
    assert "refusing to start" in text and f"{run_id}.mentions" in text
    assert "message.timestamp.type=CreateTime" in text
    # the fix it names works, and then the worker's check passes
    run_cli(["topics", "apply"], env)
    assert "keep every message" in run_cli(["topics", "check"], env)
