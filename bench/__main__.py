"""`make bench`: scorer throughput alone and end-to-end throughput on the real pipeline."""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "mentions.jsonl"


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


def bench_scorer(repeats: int = 3, n: int = 1500) -> list[tuple[str, str, float]]:
    from earful.settings import ModelSettings
    from models.registry import load_analyzer
    from models.training.data import english_tweets

    rows = []
    tweets = [e.text for e in english_tweets("test")][:n]
    stream = sample_texts()[:3000]
    import torch

    # every backend (the int8 default first) at every batch size, as the model card reports,
    # on the CPU; and on the GPU when torch sees one
    runs = [
        (backend, int(batch), "cpu")
        for backend in os.environ.get("BENCH_BACKENDS", "onnx-int8,torch").split(",")
        for batch in os.environ.get("BENCH_BATCHES", "32,64").split(",")
    ]
    if torch.cuda.is_available():
        console.print(f"  GPU: {torch.cuda.get_device_name(0)}")
        runs += [
            ("torch", int(b), "cuda") for b in os.environ.get("BENCH_GPU_BATCHES", "256").split(",")
        ]
    for backend, batch, device in runs:
        label = f"{backend}, batch {batch}" if device == "cpu" else f"torch on CUDA, batch {batch}"
        settings = ModelSettings(
            backend=backend,  # type: ignore[arg-type]
            batch_size=batch,
            gpu_batch_size=batch,
            device=device,  # type: ignore[arg-type]
            cache_size=0,
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
        t = time.perf_counter()
        for i in range(0, len(stream), 256):  # the worker's batches
            cached.analyze(stream[i : i + 256])
        rows.append(
            (
                label,
                f"sample stream ({len(stream)} mentions, "
                f"cache hit rate {cached.cache.hit_rate:.0%})",
                len(stream) / (time.perf_counter() - t),
            )
        )
        console.print("  ", *rows[-1])
    return rows


def bench_pipeline() -> tuple[int, float]:
    from tooling.harness import Worker, count_docs, earful_env, run_cli, wait_until

    services = {
        "kafka": os.environ.get("EARFUL_TEST_KAFKA", "127.0.0.1:9092"),
        "search": os.environ.get("EARFUL_TEST_SEARCH", "http://127.0.0.1:9200"),
    }
    run_id = "bench" + uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        env = earful_env(run_id, services, Path(tmp))
        worker = Worker(env, Path(tmp) / "worker.log").start()
        try:
            expected = len(sample_texts())
            started = time.perf_counter()
            run_cli(["replay", str(SAMPLE)], env)
            wait_until(
                lambda: count_docs(services["search"], run_id) >= expected,
                1800,
                "the sample to be indexed",
                interval=0.5,
            )
            return expected, time.perf_counter() - started
        finally:
            worker.stop()


def main() -> None:
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
    for name, what, rate in bench_scorer():
        table.add_row(f"scorer ({name})", what, f"{rate:,.0f}")
    from bench.detection import run as bench_detection

    for name, what, rate in bench_detection():
        table.add_row(name, what, "—" if math.isnan(rate) else f"{rate:,.0f}")
    if not args.skip_pipeline:
        n, seconds = bench_pipeline()
        from earful.settings import ModelSettings

        table.add_row(
            f"end to end (replay -> Kafka -> worker -> OpenSearch), {ModelSettings().backend}",
            f"{n} sample mentions, first publish to last indexed",
            f"{n / seconds:,.0f}",
        )
    console.print(table)
    if not args.skip_insights:
        from bench.insights import run

        console.print(run(args.insight_mentions))


if __name__ == "__main__":
    main()
