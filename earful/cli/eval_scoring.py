"""Score mentions that arrive without sentiment, so `eval detect` accepts raw streams too.

Pre-scored lines (the usual case) pass straight through without even being parsed here; the
model is loaded only if some line lacks `sentiment`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

BATCH = 256


def score_missing(lines: Iterable[bytes]) -> Iterator[bytes]:
    analyzer: Any = None
    pending: list[bytes] = []

    def flush() -> Iterator[bytes]:
        nonlocal analyzer
        parsed: list[tuple[int, dict[str, Any]]] = []
        for i, line in enumerate(pending):
            if b'"sentiment"' in line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue  # reported as malformed downstream
            if isinstance(obj, dict) and "text" in obj:
                parsed.append((i, obj))
        if parsed:
            if analyzer is None:
                from earful.settings import Settings
                from models.registry import load_analyzer

                analyzer = load_analyzer(Settings().model)
            results = analyzer.analyze(
                [o["text"] for _, o in parsed], [o.get("lang") for _, o in parsed]
            )
            for (i, obj), r in zip(parsed, results, strict=True):
                obj["sentiment"] = {"label": r.sentiment.label, "score": r.sentiment.score}
                obj.setdefault("topics", list(r.topics))
                obj["lang"] = obj.get("lang") or r.lang
                pending[i] = json.dumps(obj).encode()
        yield from pending
        pending.clear()

    for line in lines:
        pending.append(line)
        if len(pending) >= BATCH:
            yield from flush()
    yield from flush()
