"""`make bench`: scorer throughput alone, end-to-end throughput on the real pipeline, detection
replay (bench/detection.py) and `earful rules backtest` from the search index and from a file."""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()
#: CPU seconds per mention of each scorer run on the sample stream (all threads), by label.
SCORER_CPU_S: dict[str, float] = {}
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "mentions.jsonl"
#: End-to-end runs, each with a fresh worker and topics on the same services. The first runs
#: after the services start pay for their JIT compilation: on 2026-12-07 (six sequences of
#: runs, the same 6,419 mentions each run) OpenSearch took 14.1-15.8 s of CPU in a run right
#: after it started, 8.2-9.4 s in the second, 4.3-5.2 s in the third and 2.5-4.9 s from the
#: fourth on; Kafka 5.2-5.7, 3.5-4.5, then 1.7-2.6 s. A deployment runs warm: the warm figure
#: is the median of the runs from the fourth on, the first is reported beside it.
PIPELINE_RUNS, WARM_FROM = 5, 3


def sample_texts() -> list[str]:
    """Texts of the sample's *valid* mentions (the malformed lines are dead-lettered)."""
    from earful.codec import InvalidMessage, decode_record
    from earful.records import Mention

    out = []
    for line in SAMPLE.read_bytes().splitlines():
        try:
            out.append(decode_record(line, Mention).text)
        except InvalidMessage:
            continue
    return out


def scorer_label(backend: str, batch: int, parallelism: str) -> str:
    if backend == "onnx-int8":  # one text per forward pass (models/onnx_backend.py)
        return f"{backend}, one text per pass, parallel {parallelism}"
    return f"{backend}, batch {batch}"


def bench_scorer(repeats: int = 3, n: int = 1500) -> list[tuple[str, str, float]]:
    from earful.settings import ModelSettings
    from models.cache import LRUCache
    from models.registry import load_analyzer
    from models.training.data import english_tweets

    rows = []
    tweets = [e.text for e in english_tweets("test")][:n]
    # all of it, as the end-to-end runs replay it: its first 3,000 mentions repeat fewer texts
    # (a cache hit rate of 16.1% against 26.8% on the whole), and the end-to-end ratio was taken
    # against the scorer on them until 2026-12-07, which read it higher than like for like
    stream = sample_texts()
    import torch

    # every backend (the int8 default first; torch at every batch size, int8 encodes one text
    # per pass), as the model card reports, on the CPU; and on the GPU when torch sees one
    # onnx-int8 both ways of spreading over the cores, the worker's default ("batches") first
    runs = [
        (backend, int(batch), "cpu", parallelism)
        for backend in os.environ.get("BENCH_BACKENDS", "onnx-int8,torch").split(",")
        for batch in (
            os.environ.get("BENCH_BATCHES", "32,64").split(",") if backend == "torch" else ["1"]
        )
        for parallelism in (
            os.environ.get("BENCH_PARALLELISM", "batches,operators").split(",")
            if backend == "onnx-int8"
            else ["operators"]
        )
    ]
    if torch.cuda.is_available():
        console.print(f"  GPU: {torch.cuda.get_device_name(0)}")
        runs += [
            ("torch", int(b), "cuda", "operators")
            for b in os.environ.get("BENCH_GPU_BATCHES", "256").split(",")
        ]
    for backend, batch, device, parallelism in runs:
        label = (
            scorer_label(backend, batch, parallelism)
            if device == "cpu"
            else f"torch on CUDA, batch {batch}"
        )
        settings = ModelSettings(
            backend=backend,  # type: ignore[arg-type]
            batch_size=batch,
            gpu_batch_size=batch,
            device=device,  # type: ignore[arg-type]
            cache_size=0,
            parallelism=parallelism,  # type: ignore[arg-type]
        )
        analyzer = load_analyzer(settings)
        analyzer.analyze(tweets[:64])  # warm up
        rates = []
        for _ in range(repeats):
            t = time.perf_counter()
            analyzer.analyze(tweets)
            rates.append(len(tweets) / (time.perf_counter() - t))
        rows.append(
            (
                label,
                f"{len(tweets)} distinct test-split tweets, no cache",
                statistics.median(rates),
            )
        )
        console.print("  ", *rows[-1])
        cached = load_analyzer(settings.model_copy(update={"cache_size": 50_000}))
        cached.analyze(tweets[:64])
        # the end-to-end ratio is against this row: the median of `repeats` runs, each with an
        # empty cache, on the mentions the end-to-end runs send
        stream_rates, cpu_per_mention = [], []
        for _ in range(repeats):
            cached.cache = LRUCache(cached.cache.capacity)
            t, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(stream), 256):  # the worker's batches
                cached.analyze(stream[i : i + 256])
            cpu_per_mention.append((time.process_time() - cpu) / len(stream))
            stream_rates.append(len(stream) / (time.perf_counter() - t))
        SCORER_CPU_S[label] = statistics.median(cpu_per_mention)
        rows.append(
            (
                label,
                f"sample stream ({len(stream)} mentions, "
                f"cache hit rate {cached.cache.hit_rate:.0%}, median of {repeats})",
                statistics.median(stream_rates),
            )
        )
        console.print("  ", *rows[-1])
    return rows


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


def _services() -> dict[str, str]:
    """The Kafka and search engine the benchmark runs against (`with-services.sh`'s)."""
    return {
        "kafka": os.environ.get("EARFUL_TEST_KAFKA", "127.0.0.1:9092"),
        "search": os.environ.get("EARFUL_TEST_SEARCH", "http://127.0.0.1:9200"),
    }


def bench_pipeline() -> PipelineRun:
    import resource

    from tooling.harness import Worker, count_docs, earful_env, run_cli, wait_until

    services = _services()
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


def main() -> None:
    from bench import keep_calibrations

    keep_calibrations()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--skip-insights", action="store_true")
    parser.add_argument("--insight-mentions", type=int, default=1_000_000)
    args = parser.parse_args()
    table = Table(title="Earful benchmarks (this machine, CPU)")
    table.add_column("what")
    table.add_column("input")
    table.add_column("mentions/s", justify="right")
    console.print(f"cores: {os.cpu_count()}")
    scorer_rows = bench_scorer()
    for name, what, rate in scorer_rows:
        table.add_row(f"scorer ({name})", what, f"{rate:,.0f}")
    from bench.detection import run as bench_detection

    for name, what, rate in bench_detection():
        table.add_row(name, what, "—" if math.isnan(rate) else f"{rate:,.0f}")
    where = None
    if not args.skip_pipeline:
        from earful.settings import ModelSettings, WorkerSettings

        settings = ModelSettings()
        end_to_end = (
            "end to end (replay -> Kafka -> worker -> OpenSearch), "
            + scorer_label(settings.backend, settings.batch_size, settings.parallelism)
            + f", worker batches of {WorkerSettings().batch_size}"
        )
        runs = []
        for i in range(max(1, int(os.environ.get("BENCH_PIPELINE_RUNS", PIPELINE_RUNS)))):
            runs.append(bench_pipeline())
            last = runs[-1]
            console.print(
                f"   end-to-end run {i + 1}: {last.mentions / last.seconds:,.0f} mentions/s "
                f"(10-90%: {last.steady_rate:,.0f}/s; the replay CLI's start-up "
                f"{last.startup_s:.1f} s before), CPU s: "
                + ", ".join(f"{name} {value:.1f}" for name, value in last.cpu.items())
            )
        warm = runs[WARM_FROM:] or runs[-1:]
        for what, chosen in (
            ("services just started (run 1)", runs[:1]),
            (
                f"services warm (median of runs {min(WARM_FROM + 1, len(runs))}-{len(runs)})",
                warm,
            ),
        ):
            table.add_row(
                end_to_end,
                f"{runs[0].mentions} sample mentions, first on Kafka to last searchable, {what}",
                f"{statistics.median(r.mentions / r.seconds for r in chosen):,.0f}",
            )
            table.add_row(
                end_to_end,
                f"the same while 10% to 90% of them became searchable, {what}",
                f"{statistics.median(r.steady_rate for r in chosen):,.0f}",
            )
        # the warm run of median speed: where its time went, what it wrote to Kafka
        pipeline = sorted(warm, key=lambda r: r.mentions / r.seconds)[len(warm) // 2]
        # the scorer's own rate and CPU on the same stream, same backend and batch, this run
        label = scorer_label(settings.backend, settings.batch_size, settings.parallelism)
        own = next(
            (
                rate
                for name, what, rate in scorer_rows
                if name == label and what.startswith("sample stream")
            ),
            float("nan"),
        )
        where = _where_it_goes(pipeline, own, SCORER_CPU_S.get(label, float("nan")))
        for name, what, rate in bench_backtest():
            table.add_row(name, what, f"{rate:,.0f}")
    console.print(table)
    if where is not None:
        console.print(where)
        console.print(_kafka_traffic(pipeline))
    if not args.skip_insights:
        from bench.insights import run

        console.print(run(args.insight_mentions))


def bench_backtest(seed: int = 901, days: int = 30) -> list[tuple[str, str, float]]:
    """`earful rules backtest` over the detection replay's stream indexed into the search
    engine (the CLI as a user runs it: read with a point in time and `search_after`, replayed
    through the shipped rules), beside the same command on the stream as a file."""
    import asyncio
    import json
    from datetime import UTC, datetime

    from bench.detection import _stream
    from earful.records import ScoredMention
    from earful.settings import SearchSettings
    from streams.indexing import mention_document
    from streams.search import open_store
    from streams.search.base import Doc, SearchStore
    from tooling.harness import earful_env, run_cli

    brands, lines = _stream(seed, days)
    services = _services()
    run_id = "bench" + uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        env = earful_env(run_id, services, Path(tmp))
        file = Path(tmp) / "stream.jsonl"
        file.write_bytes(b"\n".join(lines) + b"\n")
        # indexed as the worker indexes them (streams/indexing.py), so the backtest reads the
        # documents a user's index holds
        mentions = [ScoredMention.model_validate_json(line) for line in lines]

        async def opened() -> SearchStore:
            return await open_store(SearchSettings(url=services["search"], index_prefix=run_id))

        async def index() -> None:
            store = await opened()
            try:
                await store.ensure_setup()
                now = datetime.now(UTC)
                for i in range(0, len(mentions), 5000):
                    docs = [
                        Doc(m.id, mention_document(m, indexed_at=now), m.created_at)
                        for m in mentions[i : i + 5000]
                    ]
                    failed = (await store.bulk_index("mentions", docs)).failures
                    if failed:  # a backtest over part of the stream would be a wrong figure
                        raise RuntimeError(f"{len(failed)} documents not indexed: {failed[0]}")
                await store.refresh("mentions")
            finally:
                await store.close()

        async def drop() -> None:
            store = await opened()
            await store.delete_all()
            await store.close()

        try:
            asyncio.run(index())  # inside: indices left by a failed indexing are dropped too
            period = ["--from", "2026-01-01", "--to", "2027-12-31"]
            out = []
            for where, extra in (
                ("the search index", []),
                ("a JSON-lines file", ["--input", str(file)]),
            ):
                done = run_cli(["rules", "backtest", *period, *extra], env, timeout=600)
                result = json.loads(done.strip().splitlines()[-1])
                out.append(
                    (
                        f"backtest from {where} (shipped rules, 1 core)",
                        f"{result['mentions']:,} pre-scored mentions, {len(brands)} brands, "
                        f"{days} days",
                        result["mentions"] / result["seconds"],
                    )
                )
            return out
        finally:
            asyncio.run(drop())


def _where_it_goes(run: PipelineRun, own: float, per_mention: float) -> Table:
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


def _kafka_traffic(run: PipelineRun) -> Table:
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


if __name__ == "__main__":
    main()
