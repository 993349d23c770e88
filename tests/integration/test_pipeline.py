"""End to end on real services: replay -> Kafka -> Faust worker (real model) -> OpenSearch,
dead letters and alerts on their Kafka topics, notifications in the JSONL sink."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models.training.data import airline_pools
from tooling.harness import (
    Worker,
    caught_up,
    count_docs,
    earful_env,
    read_topic,
    run_cli,
    wait_until,
    write_jsonl,
)
from tooling.scenarios import BrandProfile, Incident, TextPools, generate

T0 = datetime(2026, 11, 16, tzinfo=UTC)
MALFORMED = [
    b'{"id": "cut-off", "text": "unterminated',
    b'{"id": "no-text", "platform": "x"}',
    b"\xff\xfe\x00 not utf-8",
]
RULES = """
engine: {bucket: 5m, allowed_lateness: 1m}
rules:
  - name: test-dip
    kind: sentiment_dip
    window: 15m
    min_volume: 10
    min_delta: 0.15
    warmup: 1h
    resolve_after: 2
    labels: {team: pr}
"""


@pytest.fixture(scope="module")
def pipeline(real_services, tmp_path_factory):
    import uuid

    run_id = "t" + uuid.uuid4().hex[:10]
    tmp = tmp_path_factory.mktemp("pipeline")
    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    env = earful_env(run_id, real_services, tmp, EARFUL_RULES_FILE=str(rules))
    worker = Worker(env, tmp / "worker.log").start()
    yield {"env": env, "run_id": run_id, "tmp": tmp, "worker": worker, **real_services}
    worker.stop()


def topic(p, name: str) -> str:
    return f"{p['run_id']}.{name}"


def settle(p, timeout: float = 180) -> None:
    """Wait until the worker has consumed and committed everything on its input topics."""
    topics = [topic(p, t) for t in ("mentions", "mentions.scored", "mentions.by-brand", "alerts")]
    wait_until(
        lambda: caught_up(p["kafka"], p["run_id"], topics),
        timeout,
        "the worker to consume every topic",
        interval=1.0,
    )


POOLS = TextPools(by_label=airline_pools())


def test_mentions_indexed_exactly_once_and_malformed_dead_lettered(pipeline):
    p = pipeline
    brand = BrandProfile("Indexco", "indexco", per_day=2400)
    rows = list(generate([brand], POOLS, start=T0, days=0.05, seed=11))
    n = len(rows)
    assert 50 < n < 400
    stream = write_jsonl(p["tmp"] / "index.jsonl", rows, MALFORMED)

    out = run_cli(["replay", str(stream)], p["env"])
    assert f"sent {n + 3} messages" in out
    wait_until(
        lambda: count_docs(p["search"], p["run_id"], query='brands:"Indexco"') == n,
        180,
        f"{n} indexed documents",
    )
    settle(p)
    letters = [json.loads(m.value) for m in read_topic(p["kafka"], topic(p, "deadletter"))]
    reasons = {
        json.loads(__import__("base64").b64decode(d["original_b64"]) or b"null").get("id")
        if d["error_type"] == "invalid_record"
        else d["error_type"]: d["reason"]
        for d in letters
    }
    assert reasons["bad_json"].startswith("invalid JSON")
    assert reasons["no-text"].startswith("missing field")
    assert reasons["bad_encoding"].startswith("not valid UTF-8")

    # every document carries its scores
    import httpx

    hits = httpx.post(
        f"{p['search']}/{p['run_id']}-mentions-*/_search",
        json={"size": n, "query": {"term": {"brands": "Indexco"}}},
    ).json()["hits"]["hits"]
    assert all(
        h["_source"]["sentiment"]["label"] in ("negative", "neutral", "positive")
        and -1 <= h["_source"]["sentiment"]["score"] <= 1
        and h["_source"]["lang"] == "en"
        for h in hits
    )
    assert {h["_id"] for h in hits} == {r["id"] for r in rows}

    # replaying the same file again leaves exactly n documents
    run_cli(["replay", str(stream)], p["env"])
    wait_until(
        lambda: len(read_topic(p["kafka"], topic(p, "deadletter"))) >= 6,
        120,
        "the second replay's dead letters",
    )
    settle(p)
    assert count_docs(p["search"], p["run_id"], query='brands:"Indexco"') == n

    # the worker keeps the trend rollups: every mention counted once per interval, replays
    # and redeliveries included (rollups are recomputed from the index, not incremented)
    def rolled(interval: str) -> int:
        found = httpx.post(
            f"{p['search']}/{p['run_id']}-rollups-*/_search",
            json={
                "size": 0,
                "query": {
                    "bool": {
                        "filter": [
                            {"term": {"interval": interval}},
                            {"term": {"brand": "Indexco"}},
                            {"term": {"topic": "_all"}},
                        ]
                    }
                },
                "aggs": {"n": {"sum": {"field": "count"}}},
            },
        )
        return int(found.json().get("aggregations", {}).get("n", {}).get("value") or 0)

    wait_until(lambda: rolled("5m") == n and rolled("1h") == n, 60, f"rollups counting {n}")


def test_negative_burst_raises_an_alert_on_the_topic_and_in_the_sink(pipeline):
    p = pipeline
    brand = BrandProfile("Burstco", "burstco", per_day=4000, mix=(0.15, 0.55, 0.30))
    morning = T0 + timedelta(hours=8)  # business hours: the brand's normal daytime volume
    crisis = Incident(
        "crisis",
        "Burstco",
        morning + timedelta(hours=2),
        timedelta(minutes=30),
        volume_factor=2.5,
        mix=(0.95, 0.04, 0.01),
        keywords=("cancel",),
    )
    rows = list(
        generate(
            [brand],
            POOLS,
            start=morning,
            days=3.25 / 24,
            incidents=[crisis],
            seed=5,
            retweet_share=0.0,
        )
    )
    stream = write_jsonl(p["tmp"] / "burst.jsonl", rows)
    run_cli(["replay", str(stream)], p["env"])

    def alerts_for_brand():
        return [
            json.loads(m.value)
            for m in read_topic(p["kafka"], topic(p, "alerts"), 2000)
            if json.loads(m.value)["brand"] == "Burstco"
        ]

    alerts = wait_until(
        lambda: [a for a in alerts_for_brand() if a["status"] == "firing"],
        240,
        "a firing alert for Burstco",
    )
    first = alerts[0]
    assert first["kind"] == "sentiment_dip" and first["labels"]["team"] == "pr"
    fired = datetime.fromisoformat(first["fired_at"])
    assert crisis.start < fired <= crisis.start + timedelta(minutes=15)
    assert first["evidence"]["observed"] > first["evidence"]["expected"] + 0.15
    assert first["evidence"]["top_posts"]

    sink = Path(p["env"]["EARFUL_ALERTS_LOG"])
    wait_until(lambda: sink.exists() and "Burstco" in sink.read_text(), 60, "the sink to record it")
    notes = [json.loads(line) for line in sink.read_text().splitlines()]
    assert any(n["status"] == "firing" and n["alerts"][0]["brand"] == "Burstco" for n in notes)
    wait_until(
        lambda: count_docs(p["search"], p["run_id"], "alerts", 'brand:"Burstco"') >= 1,
        60,
        "the alert in the alerts index",
    )
