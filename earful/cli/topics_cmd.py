"""`earful topics check|apply|lag` and `earful audit`: the broker side of "nothing is lost"."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(help="Kafka topics: settings that keep data, consumer lag.", no_args_is_help=True)
console = Console(stderr=True)


@app.command("check")
def check() -> None:
    """Say what is wrong with the settings of Earful's existing topics (exit 1 if fatal)."""
    from earful.settings import Settings
    from streams.kafka_admin import check_topics

    s = Settings()
    problems = check_topics(s.kafka, s.worker.app_id)
    for p in problems:
        console.print(f"[{'red' if p.fatal else 'yellow'}]{p}[/]")
    if any(p.fatal for p in problems):
        console.print("fix with `earful topics apply`")
        raise typer.Exit(1)
    console.print("[green]topic settings keep every message until it is read[/]")


@app.command("apply")
def apply() -> None:
    """Create missing topics and set Earful's retention policy on existing ones."""
    from earful.settings import Settings
    from streams.kafka_admin import apply_topic_configs, ensure_topics

    s = Settings()
    created = ensure_topics(s.kafka)
    changed = apply_topic_configs(s.kafka)
    console.print(f"created {len(created)} topics, set the policy on {len(changed)}")


@app.command("lag")
def lag(
    wait: Annotated[float, typer.Option(help="Wait up to this many seconds for lag 0")] = 0,
) -> None:
    """The worker's consumer lag per partition (messages not yet consumed and committed)."""
    from earful.settings import Settings
    from streams.audit import wait_drained
    from streams.lag import GroupOffsets

    s = Settings()
    names = s.topics.model_dump()
    offsets = GroupOffsets(s.kafka)
    try:
        left = wait_drained(
            offsets, s.worker.app_id, [names[k] for k in s.topics.CONSUMED], wait, settle_samples=1
        )
    finally:
        offsets.close()
    for (topic, partition), n in sorted(left.items()):
        console.print(f"{topic}[{partition}]: {n:,}")
    console.print(f"lag {sum(left.values()):,}")
    if left:
        raise typer.Exit(1)


def read_topic(s: Any, topic: str, idle_ms: int = 3000) -> list[dict[str, Any]]:
    from kafka import KafkaConsumer

    from streams.kafka_admin import client_config

    consumer = KafkaConsumer(
        topic,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=idle_ms,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        **client_config(s.kafka),
    )
    try:
        return [json.loads(m.value) for m in consumer]
    finally:
        consumer.close()


def worker_health(url: str | None) -> dict[str, Any] | None:
    if not url:
        return None
    import httpx

    try:
        body: dict[str, Any] = httpx.get(url, timeout=5).json()
        return body
    except (httpx.HTTPError, ValueError):
        return None


def audit(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The replayed file")],
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the worker to consume everything")
    ] = 900,
    health_url: Annotated[
        str | None, typer.Option(help="The worker's /healthz, for offsets it lost")
    ] = None,
) -> None:
    """Count a replayed mentions file by id: sent · indexed · dead-lettered · lost.

    Waits (bounded) until the worker's consumer group has consumed every message; then every
    valid id must be in the index or on the dead-letter topic. Exit 1 if anything is lost."""
    from earful.settings import Settings
    from streams.audit import audit as count
    from streams.audit import dead_lettered, indexed_ids, read_expected, wait_drained
    from streams.lag import GroupOffsets
    from streams.search import open_store

    s = Settings()
    names = s.topics.model_dump()
    expected = read_expected(file)
    offsets = GroupOffsets(s.kafka)

    def show(total: int, left: dict[Any, int]) -> None:
        by_topic: dict[str, int] = {}
        for (t, _), n in left.items():
            by_topic[t] = by_topic.get(t, 0) + n
        where = ", ".join(f"{t} {n:,}" for t, n in sorted(by_topic.items()))
        sys.stderr.write(f"\r  waiting for the worker: {total:,} to go ({where})"[:110].ljust(110))
        sys.stderr.flush()

    try:
        left = wait_drained(
            offsets, s.worker.app_id, [names[k] for k in s.topics.CONSUMED], wait, progress=show
        )
    finally:
        offsets.close()
    sys.stderr.write("\r" + " " * 110 + "\r")

    async def found() -> set[str]:
        store = await open_store(s.search)
        try:
            return await indexed_ids(store, expected.ids)
        finally:
            await store.close()

    indexed = asyncio.run(found())
    letters, letter_ids = dead_lettered(read_topic(s, names["deadletter"]), names["mentions"])
    result = count(expected, indexed, letters, letter_ids)
    health = worker_health(health_url)
    print(result.line())
    if left:
        where = ", ".join(f"{t}[{p}]: {n:,}" for (t, p), n in sorted(left.items()))
        console.print(
            f"[yellow]the worker had not consumed {sum(left.values()):,} messages after "
            f"{wait:.0f}s[/] ({where}): is it running? its log and /healthz say why"
        )
    if health and health.get("offsets_lost"):
        console.print(f"[red]the worker reports {health['offsets_lost']:,} offsets lost:[/]")
        for r in health.get("lost", []):
            console.print(f"  {r['topic']}[{r['partition']}] offsets {r['offsets']}")
    if health and health.get("late_observations"):
        console.print(
            f"[yellow]detection left out {health['late_observations']:,} observations that "
            "arrived later than the allowed lateness[/] (indexed and searchable; a replay "
            "faster than real time reorders event time across partitions)"
        )
    if result.lost:
        console.print(f"[red]lost ids[/] (first 20): {', '.join(result.lost[:20])}")
        raise typer.Exit(1)
