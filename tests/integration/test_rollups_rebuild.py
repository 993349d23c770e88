"""Rollup rebuilds against the real search engine: a reader never sees a bucket empty while it
is rebuilt (the dashboard's charts read rollups while corrections and the worker rebuild
them), and a combination that no longer occurs leaves no stale count behind."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from earful.records import Author, ScoredMention, Sentiment
from earful.settings import SearchSettings
from streams.indexing import mention_document
from streams.rollups import rebuild
from streams.search import open_store
from streams.search.base import Doc

pytestmark = pytest.mark.integration

HOUR = datetime(2026, 11, 20, 14, tzinfo=UTC)


def mention(i: int, label: str) -> ScoredMention:
    return ScoredMention(
        id=f"rb-{i}",
        platform="twitter",
        created_at=HOUR + timedelta(minutes=i % 60),
        author=Author(id=f"u{i}", handle=f"user{i}", followers=10),
        text=f"post {i}",
        lang="en",
        brands=("Skyway Air",),
        sentiment=Sentiment(label=label, score=-0.8 if label == "negative" else 0.8),
        topics=("baggage",),
    )


def hourly_by_sentiment(found: dict) -> dict[str, int]:
    return {
        h["_source"]["sentiment"]: h["_source"]["count"]
        for h in found["hits"]["hits"]
        if h["_source"]["brand"] == "Skyway Air"
        and h["_source"]["topic"] == "baggage"
        and h["_source"]["interval"] == "1h"
    }


def test_a_reader_never_sees_the_hour_empty_and_stale_counts_go(real_services, run_id):
    async def scenario() -> tuple[list[int], dict[str, int], dict[str, int]]:
        store = await open_store(SearchSettings(url=real_services["search"], index_prefix=run_id))
        try:
            await store.ensure_setup()
            rows = [mention(i, "negative" if i < 30 else "positive") for i in range(60)]
            docs = [Doc(r.id, mention_document(r, indexed_at=HOUR), r.created_at) for r in rows]
            assert (await store.bulk_index("mentions", docs)).failures == []
            await store.refresh("mentions")
            await rebuild(store, HOUR, HOUR + timedelta(hours=1))
            await store.refresh("rollups")
            query = {"size": 1000, "query": {"term": {"interval": "1h"}}}
            before = hourly_by_sentiment(await store.search("rollups", query))

            # every negative mention is corrected to positive: the negative combination is gone
            fixed = [mention(i, "positive") for i in range(30)]
            docs = [Doc(r.id, mention_document(r, indexed_at=HOUR), r.created_at) for r in fixed]
            assert (await store.bulk_index("mentions", docs)).failures == []
            await store.refresh("mentions")

            seen: list[int] = []
            done = asyncio.Event()

            async def reader() -> None:
                while not done.is_set():
                    await store.refresh("rollups")
                    found = await store.search("rollups", query)
                    seen.append(sum(hourly_by_sentiment(found).values()))

            task = asyncio.create_task(reader())
            for _ in range(5):  # rebuilders racing each other, as a correction and the worker do
                await asyncio.gather(
                    rebuild(store, HOUR, HOUR + timedelta(hours=1)),
                    rebuild(store, HOUR, HOUR + timedelta(hours=1)),
                )
            done.set()
            await task
            await store.refresh("rollups")
            after = hourly_by_sentiment(await store.search("rollups", query))
            return seen, before, after
        finally:
            await store.close()

    seen, before, after = asyncio.run(scenario())
    assert before == {"negative": 30, "positive": 30}
    assert after == {"positive": 60}
    assert seen and 0 not in seen  # never an empty hour, whatever the reader caught


def test_a_restarted_worker_rolls_up_what_its_predecessor_indexed_and_never_rolled_up(
    real_services, run_id
):
    """A worker killed after indexing a batch (offsets committed) and before its next rollup
    flush: the restarted one finds those hours by when their mentions were indexed, measured
    from the newest mention (the worker may have been down for a day)."""
    from streams.rollups import RollupStep

    async def scenario() -> tuple[int, dict[str, int], int]:
        store = await open_store(SearchSettings(url=real_services["search"], index_prefix=run_id))
        try:
            await store.ensure_setup()
            crashed_at = datetime.now(UTC) - timedelta(days=1)
            rolled = [mention(i, "negative") for i in range(20)]  # rolled up before the kill
            lost = [
                m.model_copy(update={"id": f"lost-{i}", "created_at": HOUR + timedelta(hours=3)})
                for i, m in enumerate(mention(i, "positive") for i in range(7))
            ] + [  # and another hour, two days later
                m.model_copy(update={"id": f"late-{i}", "created_at": HOUR + timedelta(days=2)})
                for i, m in enumerate(mention(i, "negative") for i in range(3))
            ]
            docs = [
                Doc(
                    r.id,
                    mention_document(r, indexed_at=crashed_at - timedelta(hours=2)),
                    r.created_at,
                )
                for r in rolled
            ] + [Doc(r.id, mention_document(r, indexed_at=crashed_at), r.created_at) for r in lost]
            assert (await store.bulk_index("mentions", docs)).failures == []

            clock = [0.0]
            step = RollupStep(lambda: _ready(store), monotonic=lambda: clock[0])
            marked = await step.recover()
            clock[0] += 10  # past the settle time
            await step.flush()
            await store.refresh("rollups")
            found = await store.search(
                "rollups", {"size": 1000, "query": {"term": {"interval": "1h"}}}
            )
            lost_hour = (HOUR + timedelta(hours=3)).isoformat()
            counts = {
                h["_source"]["sentiment"]: h["_source"]["count"]
                for h in found["hits"]["hits"]
                if h["_source"]["bucket"] == lost_hour
                and h["_source"]["brand"] == "Skyway Air"
                and h["_source"]["topic"] == "baggage"
            }
            later = (HOUR + timedelta(days=2)).isoformat()
            others = sum(
                1 for h in found["hits"]["hits"] if h["_source"]["bucket"] not in (lost_hour, later)
            )
            return marked, counts, others
        finally:
            await store.close()

    marked, counts, others = asyncio.run(scenario())
    assert marked == 2  # only the hours of what was indexed within the lookback
    assert counts == {"positive": 7}
    assert others == 0  # the older hour (indexed before the lookback) was not marked


async def _ready(store):
    return store
