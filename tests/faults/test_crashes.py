"""Workers die (kill -9): every mention indexed once, state recovered, no notification lost or
sent twice — with the RocksDB table store, and with two workers sharing the load."""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime

from tests.care_reference import POLICIES as CARE
from tests.faults.common import (
    alerting_env,
    assert_indexed_exactly,
    behind,
    count_indexed,
    crisis_stream,
    done,
    drain,
    record,
    save,
)
from tooling.harness import (
    Worker,
    earful_env,
    free_port,
    indexed_ids,
    read_topic,
    rolled_up,
    run_cli,
    wait_until,
)


def inbox(start, hours: float):
    """Customer conversations over the same morning, some answered late, a few never."""
    from alerts.care.policies import CarePolicies
    from models.training.data import airline_pools
    from tooling.care_sample import inbox_stream

    policies = CarePolicies.from_text(CARE)
    texts = [t.replace("{brand}", "@crashco") for t in airline_pools()["neutral"]]
    events = inbox_stream(
        texts,
        policies.calendar.build(),
        start=start,
        days=hours / 24,
        per_day=300,
        seed=42,
        brand="Crashco",
        slow_share=0.3,
        unanswered_share=0.1,
    )
    return events, policies


def test_sigkill_mid_stream_with_rocksdb_state_loses_and_doubles_nothing(
    real_services, run_id, tmp_path, receiver
):
    from tests.care_reference import expected_sla_alerts

    search = real_services["search"]
    (tmp_path / "care.yaml").write_text(CARE)
    env = earful_env(
        run_id,
        real_services,
        tmp_path,
        EARFUL_WORKER__STORE="rocksdb://",
        EARFUL_CARE_POLICIES_FILE=str(tmp_path / "care.yaml"),
        **alerting_env(tmp_path, receiver.url),
    )
    rows, crisis = crisis_stream("Crashco", seed=41)
    conversations, policies = inbox(crisis.start.replace(hour=8), 3.5)
    expected_care, expected_facts, _ = expected_sla_alerts(conversations, policies)
    assert len(expected_care) >= 5
    # killed 75 minutes in: after the rule's 1 h warm-up, long before the crisis. A detector
    # that forgot its state would be warming up again when the crisis comes, and miss it; care
    # clocks that forgot their conversations would never breach the ones opened before.
    cut = crisis.start.replace(hour=9, minute=15).isoformat()
    first = [r for r in rows if r["created_at"] < cut]
    rest = [r for r in rows if r["created_at"] >= cut]
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        run_cli(["replay", str(save(tmp_path, "first.jsonl", first))], env)
        inbox_first = [e for e in conversations if e["at"] < cut]
        run_cli(
            ["replay", str(save(tmp_path, "inbox1.jsonl", inbox_first)), "--topic", "inbox"], env
        )
        drain(real_services, run_id, logs=(worker.log_path,))
        inbox_rest = [e for e in conversations if e["at"] >= cut]
        run_cli(
            ["replay", str(save(tmp_path, "inbox2.jsonl", inbox_rest)), "--topic", "inbox"], env
        )
        run_cli(["replay", str(save(tmp_path, "rest.jsonl", rest))], env)
        wait_until(lambda: count_indexed(search, run_id) >= len(first) + 40, 120, "the second part")
        at_kill = count_indexed(search, run_id)
        worker.stop(signal.SIGKILL)
    finally:
        worker.stop()
    assert at_kill < len(rows), "the kill came too late to be mid-stream"
    assert any((tmp_path / "worker").rglob("*.sst")) or any((tmp_path / "worker").rglob("CURRENT"))

    t0 = time.monotonic()
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        drain(real_services, run_id, logs=(worker.log_path,))
        recovery = time.monotonic() - t0
        assert_indexed_exactly(search, run_id, rows)
        wait_until(lambda: receiver.firing("Crashco"), 120, "the crisis notification")
        time.sleep(15)  # a duplicate would arrive now
        receiver.assert_no_duplicates()
        # care: every expected warning and breach raised (none lost, none spurious); a notice
        # re-sent after the kill carries the same id, so the index and the router see it once
        care = [
            a
            for a in (
                json.loads(m.value)
                for m in read_topic(real_services["kafka"], f"{run_id}.alerts", 3000)
            )
            if a["kind"].startswith("sla_") and a["status"] == "firing"
        ]
        got = {(a["kind"], a["labels"]["conversation"]) for a in care}
        assert got == set(expected_care)
        ids = {f"{a['fingerprint']}:{a['status']}:{a['fired_at']}" for a in care}
        assert len(ids) == len(expected_care)
        # care facts: every one the reference derives reached the metrics topic, and none it
        # lacks (a fact sent twice is kept once by the aggregator: tests/unit, not seen here)
        facts = [
            json.loads(m.value)
            for m in read_topic(real_services["kafka"], f"{run_id}.care.facts", 3000)
        ]
        on_topic = {(f["kind"], f["conversation"], datetime.fromisoformat(f["at"])) for f in facts}
        assert on_topic == {(f.kind, f.conversation, f.at) for f in expected_facts}
        # the trend rollups count every mention once, those indexed just before the kill too
        # (the restarted worker marks again what was indexed shortly before the newest one)
        brand_rows = sum(1 for r in rows if "Crashco" in r.get("brands", ()))
        wait_until(
            lambda: rolled_up(search, run_id, "Crashco") == brand_rows, 60, "the trend rollups"
        )
    finally:
        worker.stop()
    record(
        "sigkill_rocksdb",
        sent=len(rows),
        indexed=len(indexed_ids(search, run_id)),
        indexed_at_kill=at_kill,
        lost=0,
        recovery_s=round(recovery, 1),
        notifications_firing=len(receiver.firing("Crashco")),
        care_alerts_expected=len(expected_care),
        care_alerts_on_topic=len(care),
        care_facts_expected=len(expected_facts),
        care_facts_on_topic=len(facts),
    )


def test_two_workers_one_killed_the_other_takes_over(real_services, run_id, tmp_path, receiver):
    search = real_services["search"]
    env = earful_env(run_id, real_services, tmp_path, **alerting_env(tmp_path, receiver.url))
    rows, _ = crisis_stream("Scaleco", seed=43)
    port = free_port()
    a = Worker(
        {
            **env,
            "EARFUL_WORKER__DATA_DIR": str(tmp_path / "a"),
            "EARFUL_WORKER__METRICS_PORT": str(port),
            "EARFUL_WORKER__STALL_AFTER_S": "30",
            "EARFUL_WORKER__LAG_INTERVAL_S": "2",
        },
        tmp_path / "a.log",
    )
    b = Worker({**env, "EARFUL_WORKER__DATA_DIR": str(tmp_path / "b")}, tmp_path / "b.log")
    a.start()
    try:
        b.start()
        # both in the group: the first worker rebalanced once more when the second joined
        wait_until(
            lambda: a.log().count("Setting newly assigned partitions") >= 2,
            60,
            "the group to rebalance over both workers",
        )
        run_cli(["replay", str(save(tmp_path, "all.jsonl", rows))], env)
        wait_until(lambda: count_indexed(search, run_id) >= len(rows) // 3, 180, "a third indexed")
        at_kill = count_indexed(search, run_id)
        b.stop(signal.SIGKILL)
        t0 = time.monotonic()

        def drained() -> bool:
            # the survivor alone, never restarted: it must take over and make progress by
            # itself (streams/faust_consumer.py is what makes that hold)
            assert a.proc is not None and a.proc.poll() is None, "the survivor died"
            return done(real_services, run_id)

        wait_until(
            drained,
            200,
            "the survivor to consume everything",
            interval=2,
            explain=lambda: behind(real_services, run_id, (a.log_path, b.log_path)),
        )
        takeover = time.monotonic() - t0
        assert_indexed_exactly(search, run_id, rows)
        wait_until(lambda: receiver.firing("Scaleco"), 120, "the crisis notification")
        time.sleep(15)
        receiver.assert_no_duplicates()
        alert_ids = indexed_ids(search, run_id, "alerts")
        assert alert_ids and len(alert_ids) == len(set(alert_ids))
    finally:
        b.stop()
        a.stop()
    record(
        "scale_out_kill",
        sent=len(rows),
        indexed=len(indexed_ids(search, run_id)),
        indexed_at_kill=at_kill,
        lost=0,
        takeover_and_drain_s=round(takeover, 1),
        alerts=len(alert_ids),
        notifications_firing=len(receiver.firing("Scaleco")),
    )
