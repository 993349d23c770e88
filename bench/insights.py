"""Insight API and report figures over a large index (part of `make bench`; run alone with
`python -m bench.insights --mentions 1000000`).

Indexes N synthetic mentions (real sample texts, three airlines, a month) straight into the
search engine, builds the trend rollups, serves `earful api` on loopback and measures p50/p99
latency of search, trends, emerging terms and share of voice with concurrent requests, then the
time to render a monthly report. Prints the rollup and mention index sizes. Cleans up after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

console = Console()
START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
BRANDS = (("Skyway Air", 0.70), ("Northwind Airlines", 0.22), ("Bluejay Air", 0.08))
TOPICS = (
    "delays and cancellations",
    "customer service",
    "baggage",
    "pricing and fees",
    "praise",
    "outage and bugs",
)


def documents(n: int, seed: int = 7) -> list[dict[str, Any]]:
    from bench import sample_texts

    rng = random.Random(seed)
    texts = sample_texts()
    names = [b for b, _ in BRANDS]
    weights = [w for _, w in BRANDS]
    span = DAYS * 86400
    out = []
    for i in range(n):
        label = rng.choices(("negative", "neutral", "positive"), (0.4, 0.3, 0.3))[0]
        likes, shares, replies = rng.randint(0, 20), rng.randint(0, 5), rng.randint(0, 3)
        out.append(
            {
                "id": f"b{i}",
                "platform": rng.choice(("twitter", "instagram")),
                "created_at": (START + timedelta(seconds=rng.random() * span)).isoformat(),
                "author": {
                    "id": f"u{i % 50000}",
                    "handle": f"user{i % 50000}",
                    "followers": int(rng.lognormvariate(5, 1.5)),
                },
                "text": rng.choice(texts),
                "lang": rng.choices(("en", "sl", "sv"), (0.8, 0.1, 0.1))[0],
                "brands": [rng.choices(names, weights)[0]],
                "engagement": {"likes": likes, "shares": shares, "replies": replies},
                "engagement_total": likes + shares + replies,
                "sentiment": {
                    "label": label,
                    "score": {"negative": -0.7, "neutral": 0.0, "positive": 0.7}[label],
                },
                "topics": rng.sample(TOPICS, rng.randint(0, 2)),
                "hashtags": [],
                "reach": 0,
            }
        )
        out[-1]["reach"] = out[-1]["author"]["followers"]
    return out


async def load(search_url: str, prefix: str, n: int) -> dict[str, float]:
    from earful.settings import SearchSettings
    from streams.rollups import rebuild
    from streams.search import open_store
    from streams.search.base import Doc

    store = await open_store(SearchSettings(url=search_url, index_prefix=prefix))
    await store.ensure_setup()
    figures: dict[str, float] = {}
    docs = documents(n)
    started = time.perf_counter()
    for i in range(0, len(docs), 5000):
        batch = [
            Doc(d["id"], d, datetime.fromisoformat(d["created_at"])) for d in docs[i : i + 5000]
        ]
        result = await store.bulk_index("mentions", batch)
        assert not result.failures, result.failures[:3]
    await store.refresh("mentions")
    figures["index_rate"] = n / (time.perf_counter() - started)
    started = time.perf_counter()
    written = 0
    for day in range(DAYS):
        lo = START + timedelta(days=day)
        written += await rebuild(store, lo, lo + timedelta(days=1))
    await store.refresh("rollups")
    figures["rollup_s"] = time.perf_counter() - started
    figures["rollup_docs"] = written
    await store.close()
    return figures


def sizes(search_url: str, prefix: str) -> dict[str, int]:
    rows = httpx.get(
        f"{search_url}/_cat/indices/{prefix}-*", params={"format": "json", "bytes": "b"}
    ).json()
    out: dict[str, int] = {}
    for row in rows:
        kind = (
            "rollups"
            if "-rollups-" in row["index"]
            else "mentions"
            if "-mentions-" in row["index"]
            else "other"
        )
        out[kind] = out.get(kind, 0) + int(row["store.size"])
        out[f"{kind}_docs"] = out.get(f"{kind}_docs", 0) + int(row["docs.count"])
    return out


async def measure(
    base: str,
    make: Callable[[random.Random], tuple[str, dict[str, Any]]],
    requests: int,
    concurrency: int,
) -> tuple[float, float]:
    rng = random.Random(3)
    latencies: list[float] = []
    queue = [make(rng) for _ in range(requests)]
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def worker() -> None:
            while queue:
                path, params = queue.pop()
                t = time.perf_counter()
                r = await client.get(path, params=params)
                latencies.append(time.perf_counter() - t)
                assert r.status_code == 200, (path, params, r.status_code, r.text[:300])

        await client.get(make(rng)[0], params=make(rng)[1])  # warm caches once
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.sort()
    return statistics.median(latencies) * 1000, latencies[int(0.99 * (len(latencies) - 1))] * 1000


async def render_month(search_url: str, prefix: str, archive: Path) -> float:
    from alerts.care.policies import load_policies
    from alerts.routing.config import DEFAULT_ROUTES_PATH, RoutingConfig
    from earful.projects import load_projects
    from earful.settings import SearchSettings, Settings
    from reports.config import load_reports
    from reports.periods import parse_period
    from streams.report_runner import ReportService
    from streams.search import open_store

    settings = Settings(
        search=SearchSettings(url=search_url, index_prefix=prefix), reports={"archive_dir": archive}
    )
    store = await open_store(settings.search)
    service = ReportService(
        settings,
        store,
        load_reports(None),
        load_projects(None),
        load_policies(None),
        RoutingConfig.load(DEFAULT_ROUTES_PATH),
    )
    definition = service.reports.get("monthly-leadership")
    started = time.perf_counter()
    await service.build(definition, parse_period("2026-10", "Europe/Ljubljana"))
    elapsed = time.perf_counter() - started
    await store.close()
    return elapsed


Request = Callable[[random.Random], tuple[str, dict[str, Any]]]


def cases(base: str) -> list[tuple[str, Request]]:
    """What a dashboard user asks, over the whole month of data."""
    month = {"start": START.isoformat(), "end": (START + timedelta(days=DAYS)).isoformat()}
    words = ("delayed", "baggage", "refund", "crew", "wifi", "cancelled", "seat", "thanks")
    brand = lambda r: r.choice(BRANDS)[0]  # noqa: E731
    first = httpx.get(
        f"{base}/api/mentions", params={"brand": "Skyway Air", "size": 50}, timeout=60
    )
    cursor = first.json()["next_cursor"]
    return [
        (
            "search: query string + brand, 50 hits, highlights",
            lambda r: ("/api/mentions", {"q": r.choice(words), "brand": "Skyway Air", "size": 50}),
        ),
        (
            "search: next page (search_after)",
            lambda r: ("/api/mentions", {"brand": "Skyway Air", "size": 50, "cursor": cursor}),
        ),
        (
            "trends: 30 days by day, from rollups",
            lambda r: ("/api/trends", {"brand": brand(r), "interval": "1d", **month}),
        ),
        (
            "trends: 30 days by day, from mentions",
            lambda r: (
                "/api/trends",
                {"brand": brand(r), "interval": "1d", "source": "mentions", **month},
            ),
        ),
        (
            "trends: 30 days by hour, from rollups",
            lambda r: ("/api/trends", {"brand": "Skyway Air", "interval": "1h", **month}),
        ),
        (
            "share of voice: 30 days by day, from rollups",
            lambda r: ("/api/share-of-voice", {"project": "skyway", "interval": "1d", **month}),
        ),
        (
            "share of voice: 30 days by day, from mentions",
            lambda r: (
                "/api/share-of-voice",
                {"project": "skyway", "interval": "1d", "source": "mentions", **month},
            ),
        ),
        (
            "emerging: last 24 h vs 7 days",
            lambda r: (
                "/api/trends/emerging",
                {"brand": brand(r), "window": "24h", "background": "7d"},
            ),
        ),
    ]


def run(n: int, requests: int = 200, concurrency: int = 4) -> Table:
    from tooling.harness import api_server

    search_url = os.environ.get("EARFUL_TEST_SEARCH", "http://127.0.0.1:9200")
    prefix = "benchins" + uuid.uuid4().hex[:6]
    title = f"Insight API over {n:,} indexed mentions"
    table = Table(title=f"{title} (loopback, {concurrency} concurrent, {requests} requests each)")
    for col in ("request", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right" if col != "request" else "left")
    try:
        console.print(f"indexing {n:,} mentions into {prefix}-mentions-* ...")
        figures = asyncio.run(load(search_url, prefix, n))
        found = sizes(search_url, prefix)
        rollup_mb, mention_mb = found.get("rollups", 0) / 1e6, found.get("mentions", 0) / 1e6
        console.print(
            f"indexed at {figures['index_rate']:,.0f} mentions/s; rollups rebuilt in "
            f"{figures['rollup_s']:.1f} s ({found.get('rollups_docs', 0):,} rollup documents, "
            f"{rollup_mb:,.1f} MB vs {found.get('mentions_docs', 0):,} mentions, "
            f"{mention_mb:,.1f} MB)"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
        env.update(
            EARFUL_SEARCH__URL=search_url, EARFUL_SEARCH__INDEX_PREFIX=prefix, HF_HUB_OFFLINE="1"
        )
        with (
            tempfile.TemporaryDirectory() as tmp,
            api_server(env, Path(tmp) / "api.log", 120) as base,
        ):
            for name, make in cases(base):
                p50, p99 = asyncio.run(measure(base, make, requests, concurrency))
                table.add_row(name, f"{p50:,.0f}", f"{p99:,.0f}")
                console.print(f"  {name}: p50 {p50:,.0f} ms, p99 {p99:,.0f} ms")
        with tempfile.TemporaryDirectory() as tmp:
            seconds = asyncio.run(render_month(search_url, prefix, Path(tmp)))
        table.add_row(
            "monthly leadership report: facts, charts, PDF (2026-10)",
            f"{seconds * 1000:,.0f}",
            "(one run)",
        )
        table.add_row(
            "index sizes: rollups vs mentions",
            f"{found.get('rollups', 0) / 1e6:,.1f} MB",
            f"{found.get('mentions', 0) / 1e6:,.1f} MB",
        )
    finally:
        httpx.delete(f"{search_url}/{prefix}-*", timeout=120)
        for name in ("mentions", "alerts", "care-metrics", "audit", "reports", "rollups"):
            httpx.delete(f"{search_url}/_index_template/{prefix}-{name}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    console.print(run(args.mentions, args.requests))


if __name__ == "__main__":
    main()
