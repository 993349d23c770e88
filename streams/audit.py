"""Count a replayed file by id: sent, indexed, dead-lettered, lost (`earful audit`).

"Nothing lost" is checked, not assumed: every id in the file is either in the search index or on
the dead-letter topic with a reason; anything else is lost and named. The audit first waits until
the worker's consumer group has consumed everything on its topics (lag 0), so it never reports a
mention as lost that is merely still on its way.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from earful.codec import InvalidMessage, decode_record
from earful.records import Mention
from streams.lag import TP, GroupOffsets
from streams.search.base import SearchStore


@dataclass
class Expected:
    lines: int = 0
    ids: set[str] = field(default_factory=set)
    malformed: int = 0


def read_expected(path: Path) -> Expected:
    """Every non-empty line is one message sent; the valid ones must end up indexed."""
    out = Expected()
    with path.open("rb") as f:
        for line in f:
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            out.lines += 1
            try:
                out.ids.add(decode_record(raw, Mention).id)
            except InvalidMessage:
                out.malformed += 1
    return out


async def indexed_ids(store: SearchStore, ids: Iterable[str], chunk: int = 2000) -> set[str]:
    wanted = sorted(ids)
    found: set[str] = set()
    await store.refresh("mentions")
    for i in range(0, len(wanted), chunk):
        part = wanted[i : i + chunk]
        body = {"query": {"ids": {"values": part}}, "size": len(part), "_source": False}
        result = await store.search("mentions", body)
        found.update(h["_id"] for h in result["hits"]["hits"])
    return found


def dead_lettered(records: Iterable[dict[str, Any]], source_topic: str) -> tuple[int, set[str]]:
    """(dead letters from `source_topic`, ids among them that parse to a mention id)."""
    count, ids = 0, set()
    for d in records:
        if d.get("source_topic") != source_topic:
            continue
        count += 1
        try:
            original = json.loads(base64.b64decode(d.get("original_b64", "")))
            if isinstance(original, dict) and isinstance(original.get("id"), str):
                ids.add(original["id"])
        except (ValueError, UnicodeDecodeError):
            pass
    return count, ids


@dataclass
class Audit:
    sent: int
    indexed: int
    dead_lettered: int
    lost: list[str]
    offsets_lost: int = 0

    def line(self) -> str:
        return (
            f"sent {self.sent:,} · indexed {self.indexed:,} · "
            f"dead-lettered {self.dead_lettered:,} · lost {len(self.lost):,}"
        )


def audit(expected: Expected, indexed: set[str], letters: int, letter_ids: set[str]) -> Audit:
    lost = sorted(expected.ids - indexed - letter_ids)
    return Audit(expected.lines, len(expected.ids & indexed), letters, lost)


def wait_drained(
    offsets: GroupOffsets,
    group: str,
    topics: list[str],
    timeout_s: float,
    *,
    progress: Callable[[int, dict[TP, int]], None] | None = None,
    interval_s: float = 2.0,
    settle_samples: int = 2,
) -> dict[TP, int]:
    """Wait until `group` has committed every message on `topics` (seen `settle_samples` times
    in a row, since consuming one topic produces into the next). Returns the remaining lag."""
    deadline = time.monotonic() + timeout_s
    calm = 0
    from kafka.errors import KafkaError

    left: dict[TP, int] = {}
    while True:
        try:
            _, lag = offsets.sample(group, topics)
        except KafkaError:  # e.g. the group coordinator moving: ask again
            time.sleep(interval_s)
            if time.monotonic() > deadline:
                return left
            continue
        left = {tp: n for tp, n in lag.items() if n}
        if progress:
            progress(sum(left.values()), left)
        calm = calm + 1 if not left else 0
        if calm >= settle_samples or time.monotonic() > deadline:
            return left
        time.sleep(interval_s)
