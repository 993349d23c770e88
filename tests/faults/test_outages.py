"""Outages of what the worker depends on: the search engine, the broker, a receiver. The worker
never crashes, holds what it cannot write, and catches up by itself once the service is back."""

from __future__ import annotations

import base64
import json
import signal
import time
from datetime import UTC, datetime

from tests.faults.common import (
    alerting_env,
    assert_indexed_exactly,
    count_indexed,
    crisis_stream,
    drain,
    mentions,
    record,
    save,
)
from tooling.harness import (
    Worker,
    earful_env,
    free_port,
    health,
    indexed_ids,
    read_topic,
    run_cli,
    wait_until,
)

START = datetime(2026, 11, 18, 9, tzinfo=UTC)


def test_search_engine_down_60s_mid_stream(real_services, services, run_id, tmp_path):
    search = real_services["search"]
    services.check("opensearch")
    port = free_port()
    env = earful_env(
        run_id,
        real_services,
        tmp_path,
        EARFUL_WORKER__METRICS_PORT=str(port),
        EARFUL_WORKER__STALL_AFTER_S="20",
        EARFUL_WORKER__LAG_INTERVAL_S="2",
    )
    rows = mentions("Outageco", 12000, START, 3 / 24, seed=51)
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        run_cli(["replay", str(save(tmp_path, "all.jsonl", rows))], env)
        wait_until(lambda: count_indexed(search, run_id) >= 150, 120, "the first documents")
        services.stop("opensearch")
        down_at = time.monotonic()
        seen_stalled = seen_backlog = False
        while time.monotonic() - down_at < 60:
            assert worker.proc is not None and worker.proc.poll() is None, "the worker crashed"
            body = health(port)
            seen_stalled |= body["http_status"] == 503 and body["status"] == "stalled"
            seen_backlog |= body["search_backlog"] > 0
            time.sleep(2)
        assert seen_backlog, "the held documents never showed in /healthz"
        assert seen_stalled, "/healthz never said the worker could not make progress"
        backlog = health(port)["lag"]  # messages waiting in Kafka when the engine returns
        services.start("opensearch")
        up_at = time.monotonic()
        drain(real_services, run_id, logs=(worker.log_path,))
        drained_s = time.monotonic() - up_at
        assert worker.proc is not None and worker.proc.poll() is None
        assert_indexed_exactly(search, run_id, rows)
        wait_until(lambda: health(port)["status"] == "ok", 30, "/healthz to turn ok again")
    finally:
        worker.stop()
    record(
        "search_down_60s",
        sent=len(rows),
        indexed=len(rows),
        lost=0,
        backlog_messages_at_restart=backlog,
        recovery_s=round(drained_s, 1),
        drain_rate_per_s=round(backlog / drained_s, 1) if drained_s else None,
    )


def test_broker_restarted_mid_stream(real_services, services, run_id, tmp_path):
    search = real_services["search"]
    services.check("kafka")
    env = earful_env(run_id, real_services, tmp_path)
    rows = mentions("Brokerco", 12000, START, 3 / 24, seed=53)
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        run_cli(["replay", str(save(tmp_path, "all.jsonl", rows))], env)
        wait_until(lambda: count_indexed(search, run_id) >= 150, 120, "the first documents")
        at_stop = count_indexed(search, run_id)
        stop_s = services.stop("kafka")
        time.sleep(10)
        assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
        start_s = services.start("kafka")
        up_at = time.monotonic()
        drain(real_services, run_id, timeout=300, logs=(worker.log_path,))
        drained_s = time.monotonic() - up_at
        assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
        assert_indexed_exactly(search, run_id, rows)
    finally:
        worker.stop()
    record(
        "broker_restart",
        sent=len(rows),
        indexed=len(rows),
        lost=0,
        indexed_at_stop=at_stop,
        broker_stop_s=round(stop_s, 1),
        broker_start_s=round(start_s, 1),
        recovery_s=round(drained_s, 1),
        drain_rate_per_s=round((len(rows) - at_stop) / drained_s, 1) if drained_s else None,
    )


DOWN_S = 120


def test_receiver_down_for_minutes_gets_the_notification_once(
    real_services, run_id, tmp_path, receiver
):
    env = earful_env(
        run_id,
        real_services,
        tmp_path,
        EARFUL_WORKER__NOTIFY_RETRY_CAP_S="20",
        **alerting_env(tmp_path, receiver.url),
    )
    rows, _ = crisis_stream("Hookco", seed=55)
    receiver.down = True
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        run_cli(["replay", str(save(tmp_path, "all.jsonl", rows))], env)
        wait_until(lambda: receiver.refused, 240, "the first delivery attempt")
        first_refusal = time.monotonic()
        time.sleep(DOWN_S)
        refused = receiver.refused
        receiver.down = False
        back = time.monotonic()
        wait_until(lambda: receiver.firing("Hookco"), 60, "the notification once it is back")
        delivered_after = time.monotonic() - back
        time.sleep(25)  # longer than the retry cap: every parked delivery has had its turn
        told = len(receiver.received)
        worker.stop(signal.SIGKILL)
    finally:
        worker.stop()
    # backoff, not a hammering: 3 in-line tries, then growing pauses capped at 20 s
    assert 4 <= refused <= 3 + DOWN_S / 5
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        time.sleep(20)  # a restarted worker must not tell it again
    finally:
        worker.stop()
    receiver.assert_no_duplicates()
    assert len(receiver.received) == told
    letters = [
        json.loads(m.value) for m in read_topic(real_services["kafka"], f"{run_id}.deadletter")
    ]
    deferred = [d for d in letters if d["error_type"] == "notification_deferred"]
    assert deferred and "retried with backoff" in deferred[0]["reason"]
    assert not [d for d in letters if d["error_type"] == "notification_failed"]
    # every deferred notification was delivered once the receiver was back
    parked = {json.loads(base64.b64decode(d["original_b64"]))["idempotency_key"] for d in deferred}
    assert parked <= {n["idempotency_key"] for n in receiver.received}
    record(
        "receiver_down",
        down_s=round(back - first_refusal, 1),
        refused_attempts=refused,
        delivered_after_back_s=round(delivered_after, 1),
        firing_notifications=len(receiver.firing("Hookco")),
        notifications_deferred=len(parked),
        notifications_received=len(receiver.received),
        mentions_indexed=len(indexed_ids(real_services["search"], run_id)),
    )
