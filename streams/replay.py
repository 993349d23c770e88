"""`earful replay FILE.jsonl`: publish recorded events to Kafka with their original timestamps.

Each line is sent as-is (a malformed line is published too, so the worker's dead-letter path is
exercised exactly as in production). Lines that parse carry their event time into the Kafka
message timestamp and, with `--speed`, are paced: `60x` plays an hour in a minute.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

#: Bytes a one-record batch adds to its key and value (batch and record headers, generously).
RECORD_OVERHEAD = 128

_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*x?\s*$", re.IGNORECASE)


def parse_speed(value: str | None) -> float | None:
    """'60x' -> 60.0; 'max' / None -> None (as fast as possible)."""
    if value is None or value.strip().lower() in ("max", "0", "inf"):
        return None
    m = _SPEED.match(value)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"invalid speed {value!r}: write e.g. 60x, 3600x or max")
    return float(m.group(1))


@dataclass
class ReplayStats:
    sent: int = 0
    unparsed: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Line:
    raw: bytes
    key: bytes | None
    at: datetime | None


def read_lines(path: Path, key_fields: tuple[str, ...] = ("id",)) -> Iterator[Line]:
    with path.open("rb") as f:
        for line in f:
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            key: bytes | None = None
            at: datetime | None = None
            try:
                obj = json.loads(raw)
                if isinstance(obj, dict):
                    for field in key_fields:
                        if isinstance(obj.get(field), str | int):
                            key = str(obj[field]).encode()
                            break
                    stamp = obj.get("created_at") or obj.get("at")
                    if isinstance(stamp, str):
                        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
                        at = parsed if parsed.tzinfo else None
            except (ValueError, UnicodeDecodeError):
                pass
            yield Line(raw, key, at)


def replay(
    path: Path,
    send: Callable[[bytes, bytes | None, int | None], Any],
    *,
    speed: float | None = None,
    key_fields: tuple[str, ...] = ("id",),
    on_line: Callable[[], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ReplayStats:
    stats = ReplayStats()
    started = clock()
    first: datetime | None = None
    for line in read_lines(path, key_fields):
        if line.at is None:
            stats.unparsed += 1
        elif speed is not None:
            first = first or line.at
            due = (line.at - first).total_seconds() / speed - (clock() - started)
            if due > 0:
                sleep(due)
        ts_ms = int(line.at.timestamp() * 1000) if line.at else None
        send(line.raw, line.key, ts_ms)
        stats.sent += 1
        if on_line:
            on_line()
    stats.seconds = clock() - started
    return stats
