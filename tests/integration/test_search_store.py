"""OpenSearchStore against the real OpenSearch node started by deploy/local/services.sh."""

from datetime import UTC, datetime

import httpx
import pytest

from earful.settings import SearchSettings
from streams.search import open_store
from streams.search.base import Doc

T0 = datetime(2026, 11, 16, tzinfo=UTC)


@pytest.fixture()
async def store(real_services, run_id):
    s = await open_store(SearchSettings(url=real_services["search"], index_prefix=run_id))
    await s.ensure_setup()
    yield s
    await s.delete_all()
    await s.close()


def doc(i: int, **extra) -> Doc:
    body = {
        "id": f"m{i}",
        "platform": "twitter",
        "created_at": T0.isoformat(),
        "text": f"flight {i} cancelled",
        "brands": ["Acme"],
        "sentiment": {"label": "negative", "score": -0.9},
        **extra,
    }
    return Doc(id=f"m{i}", body=body, at=T0)


async def test_engine_is_detected_and_templates_are_installed(store, real_services, run_id):
    assert store.engine == "opensearch"
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{real_services['search']}/_index_template/{run_id}-mentions")
    mapping = r.json()["index_templates"][0]["index_template"]["template"]["mappings"]
    assert mapping["properties"]["brands"]["type"] == "keyword"
    assert mapping["dynamic"] in (False, "false")


async def test_bulk_writes_are_idempotent_by_id_and_time_partitioned(store, real_services, run_id):
    result = await store.bulk_index("mentions", [doc(i) for i in range(5)])
    assert (result.indexed, result.failures) == (5, [])
    await store.bulk_index("mentions", [doc(i) for i in range(5)])  # replay
    await store.refresh("mentions")
    assert await store.count("mentions") == 5
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{real_services['search']}/_cat/indices/{run_id}-mentions-*?h=index")
    assert r.text.split() == [f"{run_id}-mentions-2026.11"]


async def test_rejected_documents_come_back_with_the_engine_reason(store):
    result = await store.bulk_index("mentions", [doc(1), doc(2, created_at="not a date")])
    assert result.indexed == 1
    [failure] = result.failures
    assert failure.id == "m2" and failure.status == 400
    assert "created_at" in failure.reason or "date" in failure.reason


async def test_search_and_aggregations(store):
    await store.bulk_index("mentions", [doc(i) for i in range(3)])
    await store.refresh("mentions")
    body = {
        "query": {"query_string": {"query": 'brands:"Acme" AND sentiment.label:negative'}},
        "aggs": {"by_brand": {"terms": {"field": "brands"}}},
        "size": 2,
    }
    result = await store.search("mentions", body)
    assert result["hits"]["total"]["value"] == 3 and len(result["hits"]["hits"]) == 2
    assert result["aggregations"]["by_brand"]["buckets"][0] == {"key": "Acme", "doc_count": 3}


async def test_unreachable_cluster_is_reported_clearly():
    from streams.search.base import SearchUnavailable

    with pytest.raises(SearchUnavailable, match="cannot reach"):
        await open_store(SearchSettings(url="http://127.0.0.1:1"))
