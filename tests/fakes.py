"""Fakes for unit tests: in-memory outbox, store, scorer, encoder, clock."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from models.scorers import ScoreBatch
from streams.search.base import BulkFailure, BulkResult, Doc, Kind


class MemoryOutbox:
    """Records what was sent; `flush` acknowledges it, or fails `fail_flushes` times (a broker
    that lost the records: they are not in `acked`)."""

    def __init__(self, fail_flushes: int = 0) -> None:
        self.sent: dict[str, list[tuple[str | None, bytes, float | None]]] = defaultdict(list)
        self.acked: dict[str, int] = defaultdict(int)
        self.fail_flushes = fail_flushes

    async def send(
        self, topic: str, key: str | None, value: bytes, timestamp: float | None = None
    ) -> None:
        self.sent[topic].append((key, value, timestamp))

    async def flush(self) -> None:
        if self.fail_flushes > 0:
            self.fail_flushes -= 1
            raise ConnectionError("fake broker: records not acknowledged")
        for topic, records in self.sent.items():
            self.acked[topic] = len(records)


class MemoryStore:
    """SearchStore fake: keeps documents per kind; can reject ids or be unavailable."""

    engine = "memory"

    def __init__(self, reject: Mapping[str, str] | None = None, fail_times: int = 0):
        self.docs: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.reject = dict(reject or {})
        self.fail_times = fail_times
        self.calls = 0

    async def ensure_setup(self) -> None:
        pass

    async def bulk_index(self, kind: Kind, docs: Sequence[Doc]) -> BulkResult:
        from streams.search.base import SearchUnavailable

        self.calls += 1
        if self.fail_times > 0:
            self.fail_times -= 1
            raise SearchUnavailable("fake outage")
        result = BulkResult()
        for doc in docs:
            if doc.id in self.reject:
                result.failures.append(BulkFailure(doc.id, self.reject[doc.id], 400))
            else:
                self.docs[kind][doc.id] = dict(doc.body)
                result.indexed += 1
        return result

    async def close(self) -> None:
        pass


class KeywordEncoder:
    """Deterministic 'embedding': one dimension per keyword, plus a bias dimension."""

    name = "keyword-encoder"

    def __init__(self, keywords: Sequence[str] = ("bad", "good", "late", "refund", "app")):
        self.keywords = list(keywords)
        self.dim = len(self.keywords) + 1
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for j, k in enumerate(self.keywords):
                out[i, j] = float(k in t.lower())
            out[i, -1] = 0.1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class KeywordScorer:
    """Sentiment from keywords: 'bad' negative, 'good' positive, else neutral."""

    name = "keyword-scorer"

    def __init__(self) -> None:
        self.encoder = KeywordEncoder()
        self.batches: list[list[str]] = []

    def score(self, texts: Sequence[str], langs: Sequence[str | None]) -> ScoreBatch:
        self.batches.append(list(texts))
        probs = np.array(
            [
                [0.9, 0.05, 0.05]
                if "bad" in t.lower()
                else [0.05, 0.05, 0.9]
                if "good" in t.lower()
                else [0.1, 0.8, 0.1]
                for t in texts
            ],
            dtype=np.float32,
        ).reshape(-1, 3)
        return ScoreBatch(probs=probs, embeddings=self.encoder.encode(texts))


class StepClock:
    def __init__(self, start: datetime | None = None):
        self.now = start or datetime(2026, 11, 16, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)
