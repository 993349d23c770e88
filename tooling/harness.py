"""Run real Earful processes against the real Kafka broker and search engine."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def wait_until(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    interval: float = 0.5,
    explain: Callable[[], str] | None = None,
) -> Any:
    """Poll `predicate` until it is true; on timeout, fail with `explain()`'s account of the
    state (what a rare CI failure needs to be diagnosed from its output alone)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def earful_env(run_id: str, services: dict[str, str], tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    env.update(
        {
            "EARFUL_KAFKA__BOOTSTRAP_SERVERS": services["kafka"],
            "EARFUL_KAFKA__TOPIC_PREFIX": f"{run_id}.",
            "EARFUL_SEARCH__URL": services["search"],
            "EARFUL_SEARCH__INDEX_PREFIX": run_id,
            "EARFUL_WORKER__APP_ID": run_id,
            "EARFUL_WORKER__DATA_DIR": str(tmp / "worker"),
            "EARFUL_WORKER__SESSION_TIMEOUT_S": "6",
            "EARFUL_ALERTS_LOG": str(tmp / "alerts.jsonl"),
            # adapted model versions are per test run, never the user's own
            "EARFUL_MODEL__VERSIONS_DIR": str(tmp / "model-versions"),
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class Worker:
    """`python -m earful worker` as a child process, with its log in a file."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env = env
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180) -> Worker:
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "earful", "worker"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: self._ready() or self._died(), timeout, "the worker to be ready")
        if self._died():
            raise AssertionError(f"worker exited:\n{self.log()[-3000:]}")
        return self

    def _ready(self) -> bool:
        text = self.log_path.read_bytes()[self._offset :].decode(errors="replace")
        return "Worker]: Ready" in text and "model ready" in text

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if hasattr(self, "_log"):
            self._log.close()


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "earful", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"earful {' '.join(args)} failed:\n{done.stderr.decode()[-3000:]}")
    return done.stdout.decode() + done.stderr.decode()


def read_topic(
    bootstrap: str, topic: str, timeout_ms: int = 3000, *, deadline_s: float = 60.0
) -> list[Any]:
    """Every message on `topic`: all that were there when called (read up to each partition's
    end offset, however slow the broker answers, within `deadline_s`), then any that arrive
    until none has for `timeout_ms`. An idle timeout alone returned a partial read on a loaded
    machine: a partition's next fetch took longer than the timeout, and the messages it held
    looked lost."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        deadline = time.monotonic() + deadline_s
        partitions = consumer.partitions_for_topic(topic)
        while not partitions and time.monotonic() < deadline:
            time.sleep(0.2)
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: list[Any] = []

        def behind() -> bool:
            return any(consumer.position(tp) < end[tp] for tp in tps)

        idle_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = [m for records in consumer.poll(timeout_ms=200).values() for m in records]
            out.extend(batch)
            now = time.monotonic()
            if batch:
                idle_since = now
            elif not behind() and now - idle_since >= timeout_ms / 1000:
                break
        return out
    finally:
        consumer.close()


def caught_up(bootstrap: str, group: str, topics: list[str], timeout: float = 30.0) -> bool:
    """True when the consumer group has committed every message currently on `topics`.

    False, not a hang, when the broker does not answer within `timeout` (`lag`)."""
    return lag(bootstrap, group, topics, timeout) == []


def lag(bootstrap: str, group: str, topics: list[str], timeout: float = 30.0) -> list[str] | None:
    """`lagging`, or None when the broker does not answer within `timeout`: kafka-python's
    metadata wait has no deadline of its own (seen right after a broker restart), and the
    callers poll again or are explaining a failure that must not hang."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as Late

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caught-up")
    try:
        return pool.submit(lagging, bootstrap, group, topics).result(timeout=timeout)
    except Late:
        return None
    finally:
        pool.shutdown(wait=False)


def lagging(bootstrap: str, group: str, topics: list[str]) -> list[str]:
    """The partitions of `topics` with messages the group has not committed, as
    "topic[partition] committed C of end E"."""
    import logging

    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    # a group-less consumer warns on every creation that it will not auto-commit: noise that
    # filled a failed CI run's captured log
    logging.getLogger("kafka.coordinator.consumer").setLevel(logging.ERROR)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    behind: list[str] = []
    try:
        committed = admin.list_group_offsets({group: None}).get(group, {})
        for topic in topics:
            parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or [])]
            for tp, end in sorted(consumer.end_offsets(parts).items()):
                meta = committed.get(tp)
                if end > 0 and (meta is None or meta.offset < end):
                    at = "nothing" if meta is None else meta.offset
                    behind.append(f"{tp.topic}[{tp.partition}] committed {at} of end {end}")
        return behind
    finally:
        admin.close()
        consumer.close()


def count_docs(
    search: str,
    prefix: str,
    kind: str = "mentions",
    query: str | None = None,
    *,
    refresh: bool = True,
) -> int:
    """Documents of `kind` under `prefix`. `refresh` makes everything indexed so far countable
    at once; without it the count lags by the index's refresh interval (1 s), and polling
    adds no work of its own to the search engine (a benchmark must not load what it measures)."""
    if refresh:
        httpx.post(f"{search}/{prefix}-{kind}*/_refresh", params={"allow_no_indices": "true"})
    body = {"query": {"query_string": {"query": query}}} if query else {}
    r = httpx.post(
        f"{search}/{prefix}-{kind}*/_count", json=body, params={"allow_no_indices": "true"}
    )
    return int(r.json().get("count", 0))


def write_jsonl(path: Path, rows: list[Any], extra_lines: list[bytes] = ()) -> Path:  # type: ignore[assignment]
    with path.open("wb") as f:
        for row in rows:
            f.write(json.dumps(row).encode() + b"\n")
        for line in extra_lines:
            f.write(line + b"\n")
    return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health(port: int) -> dict[str, Any]:
    """The worker's /healthz body, with the HTTP status under `http_status`."""
    r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    return {**r.json(), "http_status": r.status_code}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def indexed_ids(search: str, prefix: str, kind: str = "mentions") -> list[str]:
    """Every document id in the index family (a list: duplicates would show)."""
    httpx.post(f"{search}/{prefix}-{kind}*/_refresh", params={"allow_no_indices": "true"})
    ids: list[str] = []
    body: dict[str, Any] = {"size": 5000, "_source": False, "sort": ["_doc"]}
    r = httpx.post(
        f"{search}/{prefix}-{kind}*/_search",
        json=body,
        params={"scroll": "1m", "allow_no_indices": "true"},
        timeout=30,
    ).json()
    while r.get("hits", {}).get("hits"):
        ids += [h["_id"] for h in r["hits"]["hits"]]
        r = httpx.post(
            f"{search}/_search/scroll", json={"scroll": "1m", "scroll_id": r["_scroll_id"]}
        ).json()
    return ids


def rolled_up(search: str, prefix: str, brand: str) -> int:
    """Mentions of `brand` as the 5-minute trend rollups count them (each mention once)."""
    httpx.post(f"{search}/{prefix}-rollups*/_refresh", params={"allow_no_indices": "true"})
    body = {
        "size": 0,
        "query": {"bool": {"filter": [{"term": {"interval": "5m"}}, {"term": {"brand": brand}}]}},
        "aggs": {"count": {"sum": {"field": "count"}}},
    }
    r = httpx.post(
        f"{search}/{prefix}-rollups*/_search",
        json=body,
        params={"allow_no_indices": "true"},
        timeout=30,
    ).json()
    return int(r.get("aggregations", {}).get("count", {}).get("value") or 0)


@contextlib.contextmanager
def api_server(env: dict[str, str], log: Path, timeout: float = 60) -> Iterator[str]:
    """`earful api` on a free loopback port, for as long as the block runs; yields its URL.
    If it dies while starting, its log is the error."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "earful", "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

        def up() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                assert proc.poll() is None, log.read_text()
                return False

        try:
            wait_until(up, timeout, "the API to serve")
            yield url
        finally:
            proc.terminate()
            proc.wait(10)
