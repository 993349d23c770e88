"""`make bench`'s end-to-end runs: the sample stream replayed through Kafka, a fresh worker and
OpenSearch, timed from the first mention on Kafka to the last one searchable, with the CPU each
process spent, where the time went and what the run wrote to Kafka by topic."""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from bench import ROOT, SAMPLE, sample_texts


def _cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system, all threads) a live process has used so far."""
    if pid is None:
        return float("nan")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _state_dir() -> Path:
    """Where deploy/local/services.sh keeps the services' pids and data."""
    return Path(os.environ.get("EARFUL_STATE_DIR", ROOT / "var" / "local"))


def _service_pid(name: str) -> int | None:
    """The pid deploy/local/services.sh recorded for a service (None when not started by it)."""
    try:
        return int((_state_dir() / name / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def kafka_bytes_by_topic(data_dir: Path, prefix: str) -> dict[str, int]:
    """Bytes in the log segments of every topic whose name starts with `prefix` (one run's
    topics), summed over partitions, by topic name without the prefix: what the run made
    Kafka write (the broker stores records as the producers sent them)."""
    out: dict[str, int] = {}
    if not data_dir.is_dir():
        return out
    for part in data_dir.iterdir():
        topic, _, number = part.name.rpartition("-")
        if not (part.is_dir() and topic.startswith(prefix) and number.isdigit()):
            continue
        name = topic[len(prefix) :].lstrip(".-")
        out[name] = out.get(name, 0) + sum(f.stat().st_size for f in part.glob("*.log"))
    return out


@dataclass(frozen=True)
class PipelineRun:
    mentions: int
    #: The first mention on the input topic to the last mention searchable.
    seconds: float
    #: The replay CLI's start to its first mention on the input topic (its imports and
    #: connecting: not the pipeline's time, and not in `seconds`).
    startup_s: float
    #: Mentions a second while 10% to 90% of them became searchable: the rate a continuous
    #: stream gets, without the run's first seconds (the first batch through every stage, about
    #: 4 s) and last (the last batch's timeouts and the refresh interval, about 3 s).
    steady_rate: float
    #: CPU seconds per process over the run.
    cpu: dict[str, float]
    #: The worker's peak resident memory, MiB.
    rss_mib: float
    #: Bytes Kafka holds for each of the run's topics (`kafka_bytes_by_topic`).
    kafka_bytes: dict[str, int] = field(default_factory=dict)


class FirstRecord:
    """When the first record reached a topic, watched from a thread (its end offsets polled
    every 20 ms): the clock of an end-to-end run starts there, not at the replay CLI's launch,
    whose interpreter start and imports (0.7 s on 2026-12-07) are not the pipeline's."""

    def __init__(self, bootstrap: str, topic: str, poll_s: float = 0.02):
        from kafka import KafkaConsumer

        self.topic, self.poll_s = topic, poll_s
        self.at: float | None = None
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        from kafka import TopicPartition

        try:
            while not self._stop.is_set():
                parts = self._consumer.partitions_for_topic(self.topic)
                if parts:
                    ends = self._consumer.end_offsets(
                        [TopicPartition(self.topic, p) for p in parts]
                    )
                    if any(ends.values()):
                        self.at = time.perf_counter()
                        return
                time.sleep(self.poll_s)
        finally:
            self._consumer.close()

    def stop(self) -> None:
        """Stop watching (a run that failed never calls `wait`); the consumer closes."""
        self._stop.set()

    def wait(self, timeout_s: float = 10.0) -> float:
        """When the first record was seen (called once the run is over: it has been)."""
        self._thread.join(timeout_s)
        self.stop()
        if self.at is None:
            raise AssertionError(f"no record was ever seen on {self.topic}")
        return self.at


def steady_rate(samples: Sequence[tuple[float, int]], total: int) -> float:
    """Mentions a second between the first samples at 10% and at 90% of `total` searchable."""

    def first_at(share: float) -> tuple[float, int]:
        return next((t, n) for t, n in samples if n >= share * total)

    (t10, n10), (t90, n90) = first_at(0.1), first_at(0.9)
    return (n90 - n10) / (t90 - t10) if t90 > t10 else float("nan")


def bench_services() -> dict[str, str]:
    """The Kafka and search engine the benchmark runs against (`with-services.sh`'s)."""
    return {
        "kafka": os.environ.get("EARFUL_TEST_KAFKA", "127.0.0.1:9092"),
        "search": os.environ.get("EARFUL_TEST_SEARCH", "http://127.0.0.1:9200"),
    }


def bench_pipeline() -> PipelineRun:
    import resource

    from tooling.harness import Worker, count_docs, earful_env, run_cli, wait_until

    services = bench_services()
    run_id = "bench" + uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        env = earful_env(run_id, services, Path(tmp))
        worker = Worker(env, Path(tmp) / "worker.log").start()
        first: FirstRecord | None = None
        assert worker.proc is not None
        pids = {
            "worker": worker.proc.pid,
            "Kafka": _service_pid("kafka"),
            "OpenSearch": _service_pid("opensearch"),
        }
        try:
            expected = len(sample_texts())
            before = {name: _cpu_s(pid) for name, pid in pids.items()}
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            first = FirstRecord(services["kafka"], f"{run_id}.mentions")
            started = time.perf_counter()
            run_cli(["replay", str(SAMPLE)], env)
            # the replay CLI has exited and been reaped: its CPU is in RUSAGE_CHILDREN
            after_replay = resource.getrusage(resource.RUSAGE_CHILDREN)
            # counted as searchable (within the index's 1 s refresh interval), without forcing
            # refreshes: refreshing every month's index twice a second took OpenSearch's CPU in
            # the run from 8-16 s to 35 s, on the cores the worker scores on
            samples: list[tuple[float, int]] = []

            def searchable() -> bool:
                samples.append(
                    (
                        time.perf_counter() - started,
                        count_docs(services["search"], run_id, refresh=False),
                    )
                )
                return samples[-1][1] >= expected

            wait_until(searchable, 1800, "the sample to be indexed", interval=0.5)
            done = time.perf_counter()
            published = first.wait()
            cpu = {name: _cpu_s(pid) - before[name] for name, pid in pids.items()}
            cpu["replay (producer CLI)"] = (after_replay.ru_utime + after_replay.ru_stime) - (
                children.ru_utime + children.ru_stime
            )
            return PipelineRun(
                expected,
                done - published,
                published - started,
                steady_rate(samples, expected),
                cpu,
                _peak_rss_mib(worker.proc.pid),
                kafka_bytes_by_topic(_state_dir() / "kafka" / "data", run_id),
            )
        finally:
            if first is not None:
                first.stop()
            worker.stop()


def where_it_goes(run: PipelineRun, own: float, per_mention: float) -> Table:
    """Where the end-to-end run's time went: CPU seconds per process against the cores' wall
    time, and the worker's scoring at the CPU the scorer alone took per mention (the rest of
    the worker's CPU is Kafka I/O, Faust, indexing and detection)."""
    cores = os.cpu_count() or 1
    # the CPU counters run from the replay CLI's launch: so does this budget
    n, seconds, cpu = run.mentions, run.seconds + run.startup_s, run.cpu
    rate = n / run.seconds
    table = Table(
        title=(
            f"end to end (a warm run): {rate:,.0f} mentions/s from the first on Kafka to the last "
            f"searchable = {rate / own:.2f} of the scorer's "
            f"own {own:,.0f}/s on the same stream (while 10-90% became searchable: "
            f"{run.steady_rate:,.0f}/s = {run.steady_rate / own:.2f}); worker peak memory "
            f"{run.rss_mib:,.0f} MiB"
        )
    )
    table.add_column("where")
    table.add_column("CPU s", justify="right")
    table.add_column(
        f"share of {cores} cores x {seconds:.0f} s (from the replay CLI's launch)", justify="right"
    )
    budget = cores * seconds
    scoring = n * per_mention
    split = [
        ("worker: scoring (the CPU the scorer alone took per mention)", scoring),
        ("worker: the rest (Kafka, Faust, indexing, detection)", cpu["worker"] - scoring),
    ]
    if scoring > cpu["worker"]:
        # the scorer alone spent more CPU per mention than the whole worker did: the machine's
        # speed moved between the two measurements, so the worker is not split (a negative
        # "rest" read as if the pipeline were free)
        split = [
            (
                "worker, all of it (not split: the scorer alone took more CPU per mention, "
                f"{per_mention * 1000:.1f} ms, than the whole worker here)",
                cpu["worker"],
            )
        ]
    rows = [*split, *[(name, value) for name, value in cpu.items() if name != "worker"]]
    used = sum(v for _, v in rows if not math.isnan(v))
    unmeasured = any(math.isnan(v) for _, v in rows)  # a service not started by services.sh
    rows.append(
        (
            "idle (waiting: batching, commit and refresh intervals)"
            + (", and the processes shown —" if unmeasured else ""),
            budget - used,
        )
    )
    for name, value in rows:
        if math.isnan(value):
            table.add_row(name, "—", "—")
        else:
            table.add_row(name, f"{value:,.1f}", f"{value / budget:.0%}")
    if not unmeasured and len(split) == 2:
        table.caption = _ceiling(n, cores, own, scoring, used, used - cpu["worker"])
    return table


def _ceiling(n: int, cores: int, own: float, scoring: float, used: float, others: float) -> str:
    """What the run's own CPU accounting allows: the rate with the cores never idle at the CPU
    per mention the run spent, and with a worker that spent nothing besides scoring (Kafka, the
    search engine and the producer share the cores the scorer runs on). Against the scorer's
    own rate, the first bounds this pipeline as it is, the second any worker on these cores
    (as far as the scoring row's CPU a mention holds in the pipeline: it is the scorer's alone)."""
    busy = cores * n / used
    bare = cores * n / (scoring + others)
    return (
        f"ceiling on these {cores} cores: never idle at this run's {used / n * 1000:.2f} ms of "
        f"CPU a mention, {busy:,.0f}/s = {busy / own:.2f} of the scorer's own; with a worker "
        f"that spent nothing besides scoring ({(scoring + others) / n * 1000:.2f} ms), "
        f"{bare:,.0f}/s = {bare / own:.2f}"
    )


def kafka_traffic(run: PipelineRun) -> Table:
    """What the warm run wrote to Kafka, by topic: the records every stage passes on, and the
    changelogs of the state tables (streams/detector_states.py for the detector's two)."""
    table = Table(title=f"Kafka log bytes written by the run ({run.mentions} mentions), by topic")
    table.add_column("topic")
    table.add_column("MB", justify="right")
    table.add_column("bytes per mention", justify="right")
    for topic, size in sorted(run.kafka_bytes.items(), key=lambda kv: -kv[1]):
        if size:
            table.add_row(topic, f"{size / 1e6:,.2f}", f"{size / run.mentions:,.0f}")
    return table
