"""Care on real Kafka: a conversation log with known breaches -> the expected warnings and
breaches, once each; metrics on care.metrics equal an offline computation of the same log."""

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from alerts.care.aggregator import periodic_snapshots
from alerts.care.policies import CarePolicies
from models.training.data import airline_pools
from tests.care_reference import POLICIES, expected_sla_alerts
from tooling.care_sample import inbox_stream
from tooling.harness import (
    Worker,
    caught_up,
    earful_env,
    read_topic,
    run_cli,
    wait_until,
    write_jsonl,
)


def test_sla_alerts_once_each_and_metrics_match_offline(real_services, tmp_path):
    run_id = "t" + uuid.uuid4().hex[:10]
    (tmp_path / "care.yaml").write_text(POLICIES)
    policies = CarePolicies.from_text(POLICIES)
    env = earful_env(
        run_id, real_services, tmp_path, EARFUL_CARE_POLICIES_FILE=str(tmp_path / "care.yaml")
    )
    pools = airline_pools()
    texts = [t.replace("{brand}", "@acme").replace("{name}", "Acme") for t in pools["neutral"]]
    start = datetime(2026, 11, 16, 6, tzinfo=UTC)
    events = inbox_stream(
        texts,
        policies.calendar.build(),
        start=start,
        days=0.75,
        per_day=120,
        seed=21,
        brand="Acme",
        slow_share=0.25,
        unanswered_share=0.05,
    )
    log = write_jsonl(tmp_path / "inbox.jsonl", events, [b'{"type": "reply_sent", "at": "soon"}'])

    # offline reference, from the same log and policies
    expected, facts, last = expected_sla_alerts(events, policies)
    assert expected[("sla_breach", next(iter(expected))[1])] >= 0 and len(expected) > 10

    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        run_cli(["replay", str(log), "--topic", "inbox"], env)
        topics = [f"{run_id}.inbox", f"{run_id}.care.facts"]
        wait_until(
            lambda: caught_up(real_services["kafka"], run_id, topics),
            240,
            "the worker to consume the inbox",
        )

        def sla_alerts():
            return [
                json.loads(m.value)
                for m in read_topic(real_services["kafka"], f"{run_id}.alerts", 2000)
            ]

        wait_until(
            lambda: (
                sum(1 for a in sla_alerts() if a["status"] == "firing") >= sum(expected.values())
            ),
            120,
            "every expected SLA alert",
        )
    finally:
        worker.stop()

    got = Counter(
        (a["kind"], a["labels"]["conversation"]) for a in sla_alerts() if a["status"] == "firing"
    )
    assert got == expected  # the same warnings and breaches, once each
    assert all(n == 1 for n in got.values())
    assert {k for k, _ in got} == {"sla_warning", "sla_breach"}

    letters = [
        json.loads(m.value) for m in read_topic(real_services["kafka"], f"{run_id}.deadletter")
    ]
    assert len(letters) == 1 and letters[0]["source_topic"] == f"{run_id}.inbox"

    stream_rows = {
        (r["at"], r["scope"], r["key"]): r
        for r in (
            json.loads(m.value)
            for m in read_topic(real_services["kafka"], f"{run_id}.care.metrics")
        )
    }
    offline_rows = {
        (r["at"], r["scope"], r["key"]): r
        for r in periodic_snapshots(facts, timedelta(hours=6), timedelta(hours=1), last)
    }
    published = sorted(k for k in stream_rows if k[1] == "all")
    assert len(published) >= 5
    for key in published:
        stream, offline = dict(stream_rows[key]), dict(offline_rows[key])
        # the mood shift's value is the model's score, which the reference does not have;
        # whether there is one, and how many, is checked with everything else
        model_mean = stream.pop("sentiment_shift_mean")
        assert (model_mean is None) == (offline.pop("sentiment_shift_mean") is None), key
        assert model_mean is None or -2.0 <= model_mean <= 2.0
        assert stream == offline, key
