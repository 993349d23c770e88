"""Routing end to end on real Kafka: a burst -> one grouped Slack message to PR -> one resolved
message, with the worker killed (SIGKILL) and restarted in between and no duplicate."""

import json
import signal
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from models.training.data import airline_pools
from tooling.harness import Worker, earful_env, run_cli, wait_until, write_jsonl
from tooling.scenarios import BrandProfile, Incident, TextPools, generate

RULES = """
engine: {bucket: 5m, allowed_lateness: 1m}
rules:
  - {name: dip, kind: sentiment_dip, window: 15m, min_volume: 10, min_delta: 0.15, warmup: 1h,
     resolve_after: 2, labels: {team: pr}}
"""
ROUTES = """
receivers:
  - {name: default, console: {}}
  - name: pr
    slack: {url_env: TEST_SLACK_URL, channel: "#pr"}
route:
  receiver: default
  group_by: [brand]
  # grouping timers run on event time (the alerts' fired_at); see the test for when the
  # warning and its escalation merge
  group_wait: 2m
  group_interval: 3s
  repeat_interval: 4h
  routes:
    - {matchers: [team=pr], receiver: pr}
"""


@pytest.fixture()
def slack():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/services/T/B/X", received
    server.shutdown()


def test_firing_told_once_and_one_resolved_message_across_a_worker_kill(
    real_services, tmp_path, slack
):
    url, received = slack
    run_id = "t" + uuid.uuid4().hex[:10]
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "routes.yaml").write_text(ROUTES)
    env = earful_env(
        run_id,
        real_services,
        tmp_path,
        EARFUL_RULES_FILE=str(tmp_path / "rules.yaml"),
        EARFUL_ROUTES_FILE=str(tmp_path / "routes.yaml"),
        TEST_SLACK_URL=url,
    )
    start = datetime(2026, 11, 16, 8, tzinfo=UTC)
    crisis = Incident(
        "crisis",
        "Routeco",
        start + timedelta(hours=2),
        timedelta(minutes=30),
        volume_factor=2.5,
        mix=(0.95, 0.04, 0.01),
        keywords=("cancel",),
    )
    rows = list(
        generate(
            [BrandProfile("Routeco", "routeco", per_day=4000, mix=(0.15, 0.55, 0.3))],
            TextPools(by_label=airline_pools()),
            start=start,
            days=3.5 / 24,
            incidents=[crisis],
            seed=9,
            retweet_share=0.0,
        )
    )
    # part one holds the whole firing phase (escalation included), part two the recovery
    cut = (crisis.start + timedelta(minutes=35)).isoformat()
    first = write_jsonl(tmp_path / "first.jsonl", [r for r in rows if r["created_at"] < cut])
    rest = write_jsonl(tmp_path / "rest.jsonl", [r for r in rows if r["created_at"] >= cut])

    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        run_cli(["replay", str(first)], env)
        wait_until(lambda: received, 240, "the firing Slack message")
        # give a late escalation every chance to show up as a second message
        time.sleep(15)
        # The warning and its escalation to critical merge into one message when both reach
        # the router before group_wait runs out in event time; when the replay hands them over
        # in separate batches the warning is told first and the escalation follows once, as
        # Alertmanager does. Either way nothing is told twice.
        firing_phase = list(received)
        assert [m["text"].split("]")[0] for m in firing_phase] in (
            ["[WARNING"],
            ["[CRITICAL"],
            ["[WARNING", "[CRITICAL"],
        ), [m["text"] for m in firing_phase]
        worker.stop(signal.SIGKILL)
    finally:
        worker.stop()
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        run_cli(["replay", str(rest)], env)
        wait_until(lambda: len(received) >= 2, 240, "the resolved Slack message")
        time.sleep(10)  # anything duplicated after the restart would arrive now
    finally:
        worker.stop()

    *firing, resolved = received
    assert firing == firing_phase  # nothing from the first phase was told again after the kill
    for message in firing:
        assert message["channel"] == "#pr" and message["text"].startswith("[")
        assert "Routeco" in message["text"] and "RESOLVED" not in message["text"]
        assert any(b["type"] == "actions" for b in message["blocks"])
    assert resolved["text"].startswith("[RESOLVED] Routeco")
    assert len(received) == len(firing_phase) + 1
