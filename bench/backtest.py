"""`make bench`'s backtest rows: `earful rules backtest` over the detection replay's stream,
read from the search index and from a file."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from bench.pipeline import bench_services


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
    services = bench_services()
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
