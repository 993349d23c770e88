"""The SearchStore contract against real servers on 127.0.0.1.

- OpenSearch: the real OpenSearch 2.19 node started by deploy/local/services.sh.
- Elasticsearch: no real Elasticsearch is runnable on these machines (not on Maven Central in a
  runnable form, no Docker), so the official `elasticsearch` client path runs against noida-db,
  an emulator of the Elasticsearch 8.15 REST API. It is an emulator, not an engine.
"""

import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from earful.settings import SearchSettings
from streams.search import open_store
from streams.search.base import Doc

T0 = datetime(2026, 11, 16, tzinfo=UTC)


@pytest.fixture(scope="module")
def elasticsearch_api(tmp_path_factory, unused_tcp_port_factory):
    binary = Path(sys.executable).parent / "noida-db"
    if not binary.exists():
        binary = Path(shutil.which("noida-db") or "noida-db")
    port = unused_tcp_port_factory()
    data = tmp_path_factory.mktemp("noida")
    proc = subprocess.Popen(
        [
            str(binary),
            "start",
            "--only",
            "elasticsearch",
            "--elasticsearch-port",
            str(port),
            "--data-dir",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"the Elasticsearch API emulator did not start on {url}")
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(params=["opensearch", "elasticsearch"])
async def store(request, real_services, run_id):
    url = (
        real_services["search"]
        if request.param == "opensearch"
        else request.getfixturevalue("elasticsearch_api")
    )
    s = await open_store(SearchSettings(url=url, index_prefix=run_id))
    assert s.engine == request.param  # detected by asking the server
    await s.ensure_setup()
    s.url = url  # type: ignore[attr-defined]
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


async def test_templates_are_installed(store, run_id):
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{store.url}/_index_template/{run_id}-mentions")
    mapping = r.json()["index_templates"][0]["index_template"]["template"]["mappings"]
    assert mapping["properties"]["brands"]["type"] == "keyword"
    assert mapping["dynamic"] in (False, "false")


async def test_bulk_writes_are_idempotent_by_id_and_time_partitioned(store, run_id):
    result = await store.bulk_index("mentions", [doc(i) for i in range(5)])
    assert (result.indexed, result.failures) == (5, [])
    await store.bulk_index("mentions", [doc(i) for i in range(5)])  # replay
    await store.refresh("mentions")
    assert await store.count("mentions") == 5
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{store.url}/{run_id}-mentions-*/_search", params={"size": 0})
        indices = await client.get(
            f"{store.url}/_cat/indices/{run_id}-mentions-*", params={"h": "index", "format": "json"}
        )
    assert r.json()["hits"]["total"]["value"] == 5
    assert [i["index"] for i in indices.json()] == [f"{run_id}-mentions-2026.11"]


async def test_rejected_documents_come_back_with_the_engine_reason(store):
    result = await store.bulk_index("mentions", [doc(1), doc(2, created_at="not a date")])
    assert result.indexed == 1
    [failure] = result.failures
    assert failure.id == "m2" and failure.status == 400
    assert "created_at" in failure.reason


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
    bucket = result["aggregations"]["by_brand"]["buckets"][0]
    assert (bucket["key"], bucket["doc_count"]) == ("Acme", 3)


async def test_language_sample_reads_the_newest_originals_per_language(store):
    """What `models adapt` estimates language shifts from: per language, the newest mentions,
    retweets left out and copies counted once."""
    from datetime import timedelta

    from streams.model_adapt import read_language_sample

    docs = []
    for i in range(6):
        at = (T0 + timedelta(minutes=i)).isoformat()
        docs.append(doc(i, lang="sl", text=f"let {i} odpovedan", created_at=at))
        docs.append(doc(100 + i, lang="sv", text=f"flyg {i} inställt", created_at=at))
    docs.append(doc(200, lang="sl", text="RT @acme: let 5 odpovedan"))
    docs.append(doc(201, lang="sl", text="let 5 odpovedan"))  # a copy of m5's text
    await store.bulk_index("mentions", docs)
    await store.refresh("mentions")
    sample = await read_language_sample(store, per_language=4)
    assert set(sample) == {"sl", "sv"}
    assert sample["sv"] == [f"flyg {i} inställt" for i in (5, 4, 3, 2)]  # newest first
    assert sample["sl"][0] == "let 5 odpovedan" and len(sample["sl"]) <= 4
    assert not any(t.startswith("RT @") for t in sample["sl"])


async def test_delete_all_removes_only_this_prefix(store, run_id):
    await store.bulk_index("mentions", [doc(1)])
    await store.delete_all()
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{store.url}/_cat/indices", params={"format": "json"})
    assert not [i for i in r.json() if i["index"].startswith(f"{run_id}-")]


async def test_unreachable_cluster_is_reported_clearly():
    from streams.search.base import SearchUnavailable

    with pytest.raises(SearchUnavailable, match="cannot reach"):
        await open_store(SearchSettings(url="http://127.0.0.1:1"))


async def test_scan_pages_in_event_time_order_across_monthly_indexes(store):
    from datetime import timedelta

    docs = []
    for i in range(23):  # two months, so two monthly indexes
        at = T0 + timedelta(days=3 * i)
        docs.append(Doc(id=f"m{i:02d}", body={**doc(i).body, "created_at": at.isoformat()}, at=at))
    docs.append(Doc(id="m00b", body={**doc(0).body, "id": "m00b"}, at=T0))  # same instant
    await store.bulk_index("mentions", docs)
    await store.refresh("mentions")
    query = {"range": {"created_at": {"lt": (T0 + timedelta(days=60)).isoformat()}}}
    pages = [page async for page in store.scan("mentions", query, page_size=7)]
    seen = [(d["created_at"], d["id"]) for page in pages for d in page]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 21  # days 0..60 (exclusive)
    assert [len(p) for p in pages] == [7, 7, 7]


def test_backtest_replays_the_mention_index(real_services, run_id, tmp_path):
    """`earful rules backtest` over scored mentions read back from the real OpenSearch."""
    import asyncio
    import json
    from datetime import timedelta

    from tooling.harness import earful_env, run_cli
    from tooling.scenarios import SET_START, BrandProfile, Incident, TextPools, generate

    pools = TextPools(
        by_label={
            "negative": ["@{brand} flight cancelled, stuck at the gate"],
            "neutral": ["@{brand} when does boarding start"],
            "positive": ["@{brand} great crew, thank you"],
        }
    )
    crisis_at = SET_START + timedelta(days=2, hours=11)
    rows = list(
        generate(
            [BrandProfile("Acme", "acme", 300), BrandProfile("Busy", "busy", 2000)],
            pools,
            start=SET_START,
            days=3,
            incidents=[
                Incident("crisis", "Acme", crisis_at, timedelta(hours=2), 4, mix=(0.85, 0.1, 0.05))
            ],
            seed=9,
            with_sentiment=True,
            retweet_share=0.0,
        )
    )

    async def index() -> None:
        s = await open_store(SearchSettings(url=real_services["search"], index_prefix=run_id))
        await s.ensure_setup()
        for i in range(0, len(rows), 2000):
            part = rows[i : i + 2000]
            docs = [
                Doc(r["id"], r, datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")))
                for r in part
            ]
            assert not (await s.bulk_index("mentions", docs)).failures
        await s.refresh("mentions")
        await s.close()

    asyncio.run(index())
    out = run_cli(
        ["rules", "backtest", "--from", "2026-10-05", "--to", "2026-10-07", "--brand", "Acme"],
        earful_env(run_id, real_services, tmp_path),
        timeout=300,
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert result["mentions"] == sum(1 for r in rows if r["brands"] == ["Acme"])
    assert result["per_week"].get("pr-crisis"), out[-2000:]
    assert "what would have fired" in out and "alerts per week and rule" in out


async def test_scan_reads_only_the_fields_asked_for(store):
    """A backtest asks the index for what detection reads (`OBSERVATION_FIELDS`), not whole
    documents; what comes back is the text as written (the client's JSON is orjson's)."""
    from alerts.replay import OBSERVATION_FIELDS, observations_from_dict

    text = "Letalo je spet zamujalo 😡 — flyget är försenat, «encore» en retard"
    body = {**doc(1).body, "text": text, "engagement": {"likes": 3}, "model": "v3"}
    await store.bulk_index("mentions", [Doc(id="m1", body=body, at=T0)])
    await store.refresh("mentions")
    pages = [p async for p in store.scan("mentions", {"match_all": {}}, fields=OBSERVATION_FIELDS)]
    (found,) = [d for page in pages for d in page]
    assert set(found) == set(OBSERVATION_FIELDS) & set(body)  # no engagement, no model
    assert found["text"] == text
    (obs,) = observations_from_dict(found)
    assert (obs.id, obs.brand, obs.sentiment, obs.at) == ("m1", "Acme", "negative", T0)
