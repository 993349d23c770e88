"""The correction loop on real services: Swedish posts scored by the worker (real model) ->
corrected over HTTP and from a spreadsheet -> the index, search and rollups show the corrections
-> `earful models adapt` learns a Swedish head, judged on held-out corrections, and moves
Slovenian (posts nobody corrected) onto English from its indexed mentions -> the running worker
scores with the new version (no restart) -> `earful models rollback` takes it back."""

import csv
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from earful.records import SENTIMENT_LABELS
from earful.settings import ModelSettings
from models.adapt import held_out, probs
from models.registry import load_analyzer
from models.versions import VersionStore
from streams.labels import correction_for
from streams.model_adapt import examples_from
from tooling.harness import (
    Worker,
    api_server,
    count_docs,
    earful_env,
    run_cli,
    wait_until,
    write_jsonl,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
OPERATOR = "corrections-operator-token-0123"
AUTH = {"Authorization": f"Bearer {OPERATOR}"}


def posts(lang: str = "sv") -> list[dict]:
    return [json.loads(line) for line in (ROOT / f"data/eval/social/{lang}.jsonl").open()]


#: How the team files its Swedish posts under the default taxonomy's topics (by keyword).
TEAM_TOPICS = {
    "delays and cancellations": ("inställ", "försen", "i tid", "sen avgång", "tidtabellen"),
    "baggage": ("bagage",),
    "customer service": ("kundtjänst", "kö", "support", "chatten", "svarar"),
    "billing and refunds": ("faktura", "pengarna", "återbetalning", "tog betalt", "avgift"),
    "outage and bugs": ("kraschar", "avbrott", "buffr", "loggar ut", "appen"),
    "shipping and delivery": ("paket", "leverans", "levere", "budet"),
}


def team_topics(text: str) -> list[str]:
    low = text.lower()
    return [topic for topic, words in TEAM_TOPICS.items() if any(w in low for w in words)]


def mention(row: dict, i: int, suffix: str = "") -> dict:
    return {
        "id": row["id"] + suffix,
        "platform": "twitter",
        "created_at": (T0 + timedelta(minutes=i)).isoformat(),
        "author": {"id": f"u{i}", "handle": f"user{i}", "followers": 10 * i},
        "text": row["text"],
        "lang": row.get("lang", "sv"),
        "brands": ["Skyway Air"],
    }


def search(url: str, prefix: str, kind: str, body: dict) -> dict:
    # An index the worker has just created answers 503 until its shard has started (seen in
    # CI on a loaded machine, for the first rollups): wait for it as the API's store does.
    for _ in range(40):
        httpx.post(f"{url}/{prefix}-{kind}*/_refresh")
        r = httpx.post(f"{url}/{prefix}-{kind}*/_search", json=body, timeout=30)
        if r.status_code != 503:
            break
        time.sleep(0.5)
    r.raise_for_status()
    return r.json()


def by_id(url: str, prefix: str, ids: list[str]) -> dict[str, dict]:
    found = search(url, prefix, "mentions", {"size": len(ids), "query": {"ids": {"values": ids}}})
    return {h["_id"]: h["_source"] for h in found["hits"]["hits"]}


def rollup_counts(url: str, prefix: str) -> dict[str, int]:
    """Hourly rollups summed per sentiment (the by-language family, all brands)."""
    body = {
        "size": 1000,
        "query": {
            "bool": {
                "filter": [
                    {"term": {"interval": "1h"}},
                    {"term": {"brand": "_all"}},
                    {"term": {"topic": "_all"}},
                    {"term": {"lang": "sv"}},
                ]
            }
        },
    }
    out: dict[str, int] = {}
    for h in search(url, prefix, "rollups", body)["hits"]["hits"]:
        s = h["_source"]
        out[s["sentiment"]] = out.get(s["sentiment"], 0) + s["count"]
    return out


@pytest.fixture()
def loop(real_services, run_id, tmp_path):
    env = earful_env(
        run_id,
        real_services,
        tmp_path,
        EARFUL_API__TOKENS=json.dumps([{"name": "ana", "token": OPERATOR, "role": "operator"}]),
        EARFUL_MODEL__RELOAD_INTERVAL_S="1",
        EARFUL_MODEL__ADAPT_INTERVAL_H="0",
        # the 84 Slovenian posts are the language's whole stream here (300 in production)
        EARFUL_MODEL__ADAPT_SHIFT_MIN_TEXTS="50",
    )
    worker = Worker(env, tmp_path / "worker.log").start(timeout=300)
    try:
        with api_server(env, tmp_path / "api.log") as url:
            yield {"env": env, "api": url, "worker": worker, "tmp": tmp_path, **real_services}
    finally:
        worker.stop()


def test_corrections_teach_the_model_and_the_worker_follows(loop, run_id):
    env, api, search_url = loop["env"], loop["api"], loop["search"]
    # and a few German posts: too few for a shift of their own, so the starter shift stays
    rows, slovenian, german = posts(), posts("sl"), posts("de")[:10]
    sent = [mention(r, i) for i, r in enumerate([*rows, *slovenian, *german])]
    run_cli(["replay", str(write_jsonl(loop["tmp"] / "sv.jsonl", sent))], env)
    wait_until(lambda: count_docs(search_url, run_id) == len(sent), 240, "the posts indexed")
    ids = [r["id"] for r in rows]
    scored = by_id(search_url, run_id, ids)
    assert {m["model"] for m in scored.values()} == {"earful-me5-small-v3/onnx-int8"}

    def sentiments() -> dict[str, int]:
        out: dict[str, int] = {}
        for m in by_id(search_url, run_id, ids).values():
            out[m["sentiment"]["label"]] = out.get(m["sentiment"]["label"], 0) + 1
        return out

    wait_until(lambda: rollup_counts(search_url, run_id) == sentiments(), 60, "rollups")

    # one correction over HTTP: at once in the mention, search and the trend rollups
    wrong = next(r for r in rows if scored[r["id"]]["sentiment"]["label"] != r["label"])
    said = scored[wrong["id"]]["sentiment"]["label"]
    assert (
        httpx.post(
            f"{api}/api/mentions/{wrong['id']}/label", json={"sentiment": wrong["label"]}
        ).status_code
        == 401
    )
    r = httpx.post(
        f"{api}/api/mentions/{wrong['id']}/label",
        json={"sentiment": wrong["label"], "comment": "sarcasm"},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mention"]["sentiment"]["label"] == wrong["label"]
    assert body["mention"]["model_sentiment"]["label"] == said
    assert body["correction"]["by"] == "ana" and body["correction"]["text"] == wrong["text"]
    found = httpx.get(f"{api}/api/mentions", params={"q": f'id:"{wrong["id"]}"'}).json()
    assert found["hits"][0]["sentiment"]["label"] == wrong["label"]
    assert rollup_counts(search_url, run_id) == sentiments()
    assert (
        httpx.post(
            f"{api}/api/mentions/nope/label", json={"sentiment": "neutral"}, headers=AUTH
        ).status_code
        == 404
    )

    # the rest from a spreadsheet, as a team labels a batch
    # (with the topics the team puts them under, where a post names one)
    sheet = loop["tmp"] / "labels.csv"
    with sheet.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "sentiment", "topics"])
        for row in rows:
            if row["id"] != wrong["id"]:
                w.writerow([row["id"], row["label"], "|".join(team_topics(row["text"]))])
    # a topic the taxonomy lacks is refused with file and line, before anything is imported
    bad = loop["tmp"] / "bad-labels.csv"
    bad.write_text(f"id,sentiment,topics\n{rows[0]['id']},negative,Baggage|Krigszon\n")
    with pytest.raises(AssertionError, match=r"bad-labels.csv:2: topics: no topic 'Krigszon'"):
        run_cli(["labels", "import", str(bad), "--by", "bo", "--dry-run"], env)
    out = run_cli(["labels", "import", str(sheet), "--by", "bo"], env)
    assert f"imported {len(rows) - 1} corrections" in out
    indexed = by_id(search_url, run_id, ids)
    assert all(indexed[r["id"]]["sentiment"]["label"] == r["label"] for r in rows)
    assert all(
        indexed[r["id"]]["topics"] == team_topics(r["text"])
        for r in rows
        if r["id"] != wrong["id"] and team_topics(r["text"])
    )
    assert count_docs(search_url, run_id, "labels") == len(rows)

    # adapt: a Swedish head, judged on the held-out fifth of the corrections
    out = run_cli(["models", "adapt", "--by", "ana"], env, timeout=300)
    assert "published v1" in out, out
    versions = VersionStore(Path(env["EARFUL_MODEL__VERSIONS_DIR"]))
    [sv] = [e for e in versions.get("v1").evaluation if e["lang"] == "sv"]
    assert sv["adopted"] and sv["held_out"] >= 5
    # the model in use reads Swedish through the starter shift, 15 of the 17 held-out posts
    # right (0.765 without it): the head learned on top of it is as accurate and surer where
    # it is right (strict improvements in accuracy are tested where there is room for them:
    # tests/models, Slovenian)
    assert sv["after"]["accuracy"] >= sv["before"]["accuracy"]
    assert sv["after"]["log_loss"] < sv["before"]["log_loss"]
    # Slovenian, never corrected, is moved onto English from its 84 indexed posts
    [sl] = [e for e in versions.get("v1").shift_evaluation if e["lang"] == "sl"]
    assert sl["estimated"] and sl["texts"] == len(slovenian) and sl["adopted"], sl
    assert not [e for e in versions.get("v1").shift_evaluation if e["lang"] == "sv"]  # own head
    # the topic corrections were read back from the index and judged as well
    topics = versions.get("v1").topic_evaluation
    labeled = sum(bool(team_topics(r["text"])) for r in rows if r["id"] != wrong["id"])
    assert topics is not None and topics["train"] + topics["held_out"] == labeled
    assert "topics: " in out
    models = httpx.get(f"{api}/api/models").json()
    assert models["version"] == "v1"
    [row] = [x for x in models["languages"] if x["lang"] == "sv"]
    assert row["corrections"] == len(rows) and row["accuracy"] == sv["after"]["accuracy"]
    assert models["topics"]["corrections"] == labeled
    assert models["topics"]["held_out"] == topics["held_out"]
    [sl_row] = [x for x in models["languages"] if x["lang"] == "sl"]
    assert sl_row["shift"] == {"texts": len(slovenian), "changed": sl["changed"], "kept": False}
    assert not sl_row["starter"]  # its own stream shift replaced the starter
    [de_row] = [x for x in models["languages"] if x["lang"] == "de"]
    assert de_row["starter"] and de_row["shift"] is None
    # nothing new since v1: a second adapt publishes nothing
    assert "no corrections since v1" in run_cli(["models", "adapt"], env, timeout=300)

    # the running worker switches to v1: the held-out posts, sent again, are scored by it
    wait_until(
        lambda: "scoring with model version v1" in loop["worker"].log(), 60, "the worker to load v1"
    )
    test_rows = [r for r in rows if held_out(r["id"])]
    again = [mention(r, i, "-again") for i, r in enumerate(test_rows)]
    run_cli(["replay", str(write_jsonl(loop["tmp"] / "again.jsonl", again))], env)
    want = len(sent) + len(again)
    wait_until(lambda: count_docs(search_url, run_id) == want, 180, "the re-sent posts indexed")
    rescored = by_id(search_url, run_id, [m["id"] for m in again])
    assert {m["model"] for m in rescored.values()} == {"earful-me5-small-v3/onnx-int8@v1"}
    # they are what the adapted head says: the same encoder and head, and every text has a
    # forward pass of its own, so the worker's labels are the ones computed here whatever they
    # were batched with
    analyzer = load_analyzer(ModelSettings(versions_dir=versions.root))
    corrections = [
        correction_for(
            {"id": r["id"], "text": r["text"], "lang": "sv"}, by="t", at=T0, sentiment=r["label"]
        )
        for r in test_rows
    ]
    examples = examples_from(corrections, analyzer)
    head = versions.heads(versions.get("v1"), analyzer.scorer.base_id)["sv"]
    for e in examples:
        expected = SENTIMENT_LABELS[int(probs(head, e.embedding[None])[0].argmax())]
        assert rescored[e.mention_id + "-again"]["sentiment"]["label"] == expected
    right = sum(rescored[r["id"] + "-again"]["sentiment"]["label"] == r["label"] for r in test_rows)
    # (the report rounds accuracy to 4 places)
    assert right == round(sv["after"]["accuracy"] * len(test_rows))

    # the Slovenian posts, sent again, are read through the shift: labels change, for the better
    sl_again = [mention(r, i, "-again") for i, r in enumerate(slovenian)]
    run_cli(["replay", str(write_jsonl(loop["tmp"] / "sl-again.jsonl", sl_again))], env)
    want += len(sl_again)
    wait_until(lambda: count_docs(search_url, run_id) == want, 180, "the Slovenian posts again")
    first = by_id(search_url, run_id, [r["id"] for r in slovenian])
    second = by_id(search_url, run_id, [m["id"] for m in sl_again])
    assert {m["model"] for m in second.values()} == {"earful-me5-small-v3/onnx-int8@v1"}
    changed = sum(
        first[r["id"]]["sentiment"]["label"] != second[r["id"] + "-again"]["sentiment"]["label"]
        for r in slovenian
    )
    before_right = sum(first[r["id"]]["sentiment"]["label"] == r["label"] for r in slovenian)
    after_right = sum(
        second[r["id"] + "-again"]["sentiment"]["label"] == r["label"] for r in slovenian
    )
    assert changed > 0 and after_right >= before_right, (changed, before_right, after_right)

    # rollback: the worker goes back to the shipped heads
    assert "base in use" in run_cli(["models", "rollback", "--by", "ana"], env)
    wait_until(
        lambda: "scoring with model version base" in loop["worker"].log(),
        60,
        "the worker back on base",
    )
    last = [mention(test_rows[0], 0, "-after-rollback")]
    run_cli(["replay", str(write_jsonl(loop["tmp"] / "last.jsonl", last))], env)
    wait_until(lambda: count_docs(search_url, run_id) == want + 1, 120, "the last post indexed")
    assert (
        by_id(search_url, run_id, [last[0]["id"]])[last[0]["id"]]["model"]
        == "earful-me5-small-v3/onnx-int8"
    )
    assert httpx.get(f"{api}/api/models").json()["version"] == "base"
