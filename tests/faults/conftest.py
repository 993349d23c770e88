"""The fault suite: real faults (kill -9, outages, restarts, old timestamps, hostile input) on the
real Kafka and OpenSearch, each test counting by mention id.

Faults that stop a service need the services started by `deploy/local/services.sh` (as
`make test` does): the suite stops and restarts them with their data through the same script.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tooling.harness import ROOT

SERVICES = ROOT / "deploy" / "local" / "services.sh"
STATE = Path(os.environ.get("EARFUL_STATE_DIR", ROOT / "var" / "local"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.faults)


class Services:
    """Stop and restart the local Kafka / OpenSearch, keeping their data."""

    def _pidfile(self, name: str) -> Path:
        return STATE / name / f"{name}.pid"

    def check(self, name: str) -> None:
        if not self._pidfile(name).exists():
            pytest.fail(
                f"this fault test stops and restarts {name}: start it with "
                "`deploy/local/services.sh start` (or run `make test`)",
                pytrace=False,
            )

    def stop(self, name: str) -> float:
        self.check(name)
        t0 = time.monotonic()
        subprocess.run([str(SERVICES), "stop", name], check=True, capture_output=True)
        return time.monotonic() - t0

    def start(self, name: str) -> float:
        t0 = time.monotonic()
        subprocess.run(
            [str(SERVICES), "start", name],
            check=True,
            capture_output=True,
            env={**os.environ, "EARFUL_KEEP_DATA": "1"},
        )
        return time.monotonic() - t0


@pytest.fixture(scope="session")
def services(real_services: dict[str, str]) -> Services:
    return Services()


@pytest.fixture()
def run_id() -> str:
    return "f" + uuid.uuid4().hex[:10]


class Receiver:
    """A loopback webhook receiver that can be 'down' (HTTP 503) for a while."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.refused = 0
        self.down = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.down:
                    receiver.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def assert_no_duplicates(self) -> None:
        """Nothing told twice: an escalation or a resolution is a new notice with a new key;
        a repeat after a restart would carry the same idempotency key."""
        keys = [n["idempotency_key"] for n in self.received]
        assert len(keys) == len(set(keys)), [n["title"] for n in self.received]

    def firing(self, brand: str) -> list[dict[str, Any]]:
        return [
            n
            for n in self.received
            if n["status"] == "firing" and any(a["brand"] == brand for a in n["alerts"])
        ]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
