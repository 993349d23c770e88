"""Shared fixtures. Fakes live in tests/fakes.py and are used by unit tests only."""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlparse

import pytest

KAFKA = os.environ.get("EARFUL_TEST_KAFKA", "127.0.0.1:9092")
SEARCH = os.environ.get("EARFUL_TEST_SEARCH", "http://127.0.0.1:9200")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def real_services() -> dict[str, str]:
    """The real Kafka broker and search engine. Integration tests *fail* (never skip) without
    them: start them with `deploy/local/services.sh start` (the Makefile does)."""
    host, port = KAFKA.rsplit(":", 1)
    search = urlparse(SEARCH)
    missing = []
    if not _reachable(host, int(port)):
        missing.append(f"Kafka at {KAFKA}")
    if not _reachable(search.hostname or "127.0.0.1", search.port or 9200):
        missing.append(f"search engine at {SEARCH}")
    if missing:
        pytest.fail(
            "integration tests need "
            + " and ".join(missing)
            + ": run `deploy/local/services.sh start` (or `make test`)",
            pytrace=False,
        )
    return {"kafka": KAFKA, "search": SEARCH}


@pytest.fixture()
def run_id() -> str:
    """A unique prefix so tests sharing one broker and cluster never see each other's data."""
    return "t" + uuid.uuid4().hex[:10]
