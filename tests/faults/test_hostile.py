"""Hostile input at volume: hundreds of bad messages of every kind between valid ones. Each bad
one is on the dead-letter topic with its reason and bytes; every valid one is indexed; the worker
stays up and its memory bounded."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime

from kafka import KafkaProducer

from tests.faults.common import assert_indexed_exactly, drain, mentions, record
from tooling.harness import (
    Worker,
    earful_env,
    read_topic,
    rss_mb,
    run_cli,
    write_jsonl,
)

NEAR_MAX = 1_000_000  # bytes: under the broker's 1,048,588-byte default, over every field limit


def valid(i: int) -> dict:
    return {
        "id": f"bad-neighbour-{i}",
        "platform": "twitter",
        "created_at": "2026-11-19T10:00:00Z",
        "author": {"id": "1", "handle": "x", "followers": 3},
        "text": "flight was fine",
        "brands": ["Hostileco"],
    }


def bad_messages(rng: random.Random) -> list[tuple[str, bytes | None]]:
    """(kind, bytes): every kind of bad message the issue names, 20 of each."""
    out: list[tuple[str, bytes | None]] = []
    for i in range(20):
        base = valid(10_000 + i)
        variants: dict[str, object] = {
            "not_json": b"hello {" + bytes(rng.randrange(32, 127) for _ in range(20)),
            "binary": bytes(rng.randrange(256) for _ in range(64)) + b"\xff",
            "invalid_utf8": b'{"id": "x\xc3\x28", "text": "\xff\xfe"}',
            "empty": b"",
            "tombstone": None,
            "nested": b'{"id": "n", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "wrong_types": json.dumps({**base, "id": 5, "platform": [], "text": {"a": 1}}),
            "naive_time": json.dumps({**base, "created_at": "2026-11-19T10:00:00"}),
            "bad_time": json.dumps({**base, "created_at": "yesterday at noon"}),
            "absurd_numbers": json.dumps({**base, "author": {"id": "1", "followers": 10**30}}),
            "negative": json.dumps({**base, "engagement": {"likes": -5}}),
            "huge_int": b'{"id": "h", "n": ' + b"9" * 5000 + b"}",
            "lone_surrogate": b'{"id": "s", "platform": "x", "created_at": '
            b'"2026-11-19T10:00:00Z", "author": {"id": "1"}, "text": "bad \\ud800 text"}',
            "nan": b'{"id": "nan", "author": {"id": "1", "followers": NaN}}',
            "not_object": json.dumps([base]),
        }
        if i < 4:  # near the broker's limit: a dead letter must still fit
            variants["near_max"] = json.dumps({**base, "text": "x" * NEAR_MAX})
        for kind, value in variants.items():
            out.append((kind, value.encode() if isinstance(value, str) else value))  # type: ignore[arg-type]
    rng.shuffle(out)
    return out


def test_hostile_input_is_dead_lettered_and_the_valid_is_all_indexed(
    real_services, run_id, tmp_path
):
    kafka, search = real_services["kafka"], real_services["search"]
    env = earful_env(run_id, real_services, tmp_path)
    run_cli(["topics", "apply"], env)
    topic = f"{run_id}.mentions"
    good = mentions("Hostileco", 6000, datetime(2026, 11, 19, 9, tzinfo=UTC), 0.08, seed=61)
    bad = bad_messages(random.Random(7))
    assert len(bad) >= 300 and len(good) >= 300

    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        producer = KafkaProducer(bootstrap_servers=kafka, max_request_size=4 * 1024 * 1024)
        warm = good[:50]
        for row in warm:
            producer.send(topic, json.dumps(row).encode(), key=row["id"].encode())
        producer.flush()
        drain(real_services, run_id, logs=(worker.log_path,))
        rss_before = rss_mb(worker.proc.pid)  # type: ignore[union-attr]

        sent_bad: dict[tuple[int, int], tuple[str, bytes | None]] = {}
        futures = []
        queue = list(good[50:])
        for kind, value in bad:  # interleaved: a valid one between bad ones
            key = b"tombstone" if value is None else None  # a record needs a key or a value
            futures.append((kind, value, producer.send(topic, value, key=key)))
            if queue:
                row = queue.pop()
                producer.send(topic, json.dumps(row).encode(), key=row["id"].encode())
        for row in queue:
            producer.send(topic, json.dumps(row).encode(), key=row["id"].encode())
        producer.flush()
        for kind, value, future in futures:
            meta = future.get(timeout=30)
            sent_bad[(meta.partition, meta.offset)] = (kind, value)
        producer.close()

        drain(real_services, run_id, timeout=420, logs=(worker.log_path,))
        assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
        rss_after = rss_mb(worker.proc.pid)
        assert_indexed_exactly(search, run_id, good)
        letters = [
            json.loads(m.value)
            for m in read_topic(kafka, f"{run_id}.deadletter", 5000)
            if json.loads(m.value)["source_topic"] == topic
        ]
        by_offset = {(d["partition"], d["offset"]): d for d in letters}
        assert len(letters) == len(by_offset) == len(sent_bad)
        assert set(by_offset) == set(sent_bad)
        for where, (kind, value) in sent_bad.items():
            d = by_offset[where]
            assert d["reason"] and d["error_type"], (kind, d)
            original = base64.b64decode(d["original_b64"])
            if d["details"].get("original_truncated"):
                assert kind == "near_max" and "truncated" in d["reason"]
                assert (value or b"").startswith(original)
                assert d["details"]["original_size"] == len(value or b"")
            else:
                assert original == (value or b""), kind
        # memory stays bounded: a few MB of bad input must not grow the worker by hundreds
        assert rss_after - rss_before < 400, (rss_before, rss_after)
    finally:
        worker.stop()

    # over the broker's limit: refused at publish, and `earful replay` dead-letters it too
    over = write_jsonl(tmp_path / "over.jsonl", [{**valid(1), "text": "y" * 1_200_000}])
    out = run_cli(["replay", str(over)], env)
    assert "1 refused by the broker" in out
    refused = [
        json.loads(m.value)
        for m in read_topic(kafka, f"{run_id}.deadletter", 5000)
        if json.loads(m.value)["error_type"] == "refused_at_publish"
    ]
    assert len(refused) == 1 and "MessageSizeTooLarge" in refused[0]["reason"]
    assert refused[0]["details"]["original_truncated"] is True
    kinds: dict[str, int] = {}
    for kind, _ in sent_bad.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    record(
        "hostile_input",
        valid_sent=len(good),
        valid_indexed=len(good),
        bad_sent=len(sent_bad),
        dead_lettered=len(letters),
        refused_at_publish=len(refused),
        lost=0,
        rss_before_mb=round(rss_before),
        rss_after_mb=round(rss_after),
        kinds=kinds,
    )
