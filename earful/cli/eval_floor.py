"""`earful eval detect --truth`: Earful's delay beside the clairvoyant floor, per incident and
per brand size and kind (tooling/clairvoyant.py)."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tooling.clairvoyant import (
    FloorRow,
    IncidentModel,
    MinuteCounts,
    floor_rows,
    unknown_term_keys,
)


def _minutes(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def floor_report(
    input: Path, truth: dict[str, Any], delays: dict[str, float], console: Console
) -> dict[str, Any] | None:
    """Print and return the floor comparison, or None when the truth has no incident models
    (truth files from before `eval scenarios` wrote them)."""
    models = [IncidentModel.from_dict(i["model"]) for i in truth["incidents"] if i.get("model")]
    if not models:
        return None
    counts = MinuteCounts(m.term for m in models if m.term)
    with input.open("rb") as f:
        for line in f:
            if line.strip():
                try:
                    counts.add(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    continue  # reported by the replay already
    rows = floor_rows(models, counts, delays)
    table = Table(title="delay against the clairvoyant floor (minutes)")
    for col in ("incident", "size/day", "Earful", "floor", "ratio", "goal", "term unknown"):
        table.add_column(col, justify="left" if col == "incident" else "right")
    for r in sorted(rows, key=lambda r: (r.kind, r.size, r.incident)):
        goal = {True: "[green]yes[/]", False: "[red]no[/]", None: "—"}[r.within_goal]
        ratio = "—" if r.ratio is None else f"{r.ratio:.1f}"
        table.add_row(
            r.incident,
            str(r.size),
            _minutes(r.earful_min),
            _minutes(r.floor_min),
            ratio,
            goal,
            _minutes(r.unknown_floor_min) if r.kind == "new_term" else "",
        )
    console.print(table)
    summary = _by_size_and_kind(rows)
    table = Table(title="by brand size and incident kind (median minutes)")
    for col in ("kind", "size/day", "incidents", "detected", "Earful", "floor", "ratio", "goal"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for s in summary:
        table.add_row(
            s["kind"],
            str(s["size"]),
            str(s["incidents"]),
            str(s["detected"]),
            _minutes(s["earful_median_min"]),
            _minutes(s["floor_median_min"]),
            "—" if s["median_ratio"] is None else f"{s['median_ratio']:.1f}",
            f"{s['within_goal']}/{s['detected']}",
        )
    console.print(table)
    unknown = [s for s in summary if s["kind"] == "new_term"]
    if unknown:
        table = Table(
            title=f"new terms against a floor not told the term (h + ln {unknown_term_keys():,}"
            ", the keys any detector of new terms watches; median minutes)"
        )
        for col in ("size/day", "incidents", "detected", "Earful", "floor", "term unknown"):
            table.add_column(col, justify="right")
        table.add_column("goal, term unknown", justify="right")
        for u in unknown:
            table.add_row(
                str(u["size"]),
                str(u["incidents"]),
                str(u["detected"]),
                _minutes(u["earful_median_min"]),
                _minutes(u["floor_median_min"]),
                _minutes(u["unknown_floor_median_min"]),
                f"{u['within_unknown_goal']}/{u['detected']}",
            )
        console.print(table)
    judged = [r for r in rows if r.within_goal is not None]
    # An incident the clairvoyant detector itself cannot see (within the incident and an hour
    # after it, at the same false-alarm rate) is below the physical limit: recall over the
    # detectable ones is the figure a detector can be held to.
    detectable = [r for r in rows if r.floor_min is not None]
    caught = sum(1 for r in detectable if r.earful_min is not None)
    console.print(
        f"floor: {len(detectable)} of {len(rows)} incidents detectable at all; Earful caught "
        f"{caught} of them, {sum(1 for r in judged if r.within_goal)} of {len(judged)} detected "
        "within max(1.5 x floor, floor + 10 min)"
    )
    return {
        "floor": {
            "incidents": len(rows),
            "detectable": len(detectable),
            "recall_detectable": round(caught / len(detectable), 4) if detectable else None,
            "within_goal": sum(1 for r in judged if r.within_goal),
            "judged": len(judged),
            "median_ratio": _median([r.ratio for r in rows]),
            "by_size_and_kind": summary,
        }
    }


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


def _by_size_and_kind(rows: Sequence[FloorRow]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int], list[FloorRow]] = defaultdict(list)
    for r in rows:
        groups[(r.kind, r.size)].append(r)
    return [
        {
            "kind": kind,
            "size": size,
            "incidents": len(group),
            "detected": sum(1 for r in group if r.earful_min is not None),
            "earful_median_min": _median([r.earful_min for r in group]),
            "floor_median_min": _median([r.floor_min for r in group]),
            "median_ratio": _median([r.ratio for r in group]),
            "within_goal": sum(1 for r in group if r.within_goal),
            **(_term_unknown(group) if kind == "new_term" else {}),
        }
        for (kind, size), group in sorted(groups.items())
    ]


def _term_unknown(group: Sequence[FloorRow]) -> dict[str, Any]:
    """New terms against the floor that pays for watching every key
    (`FloorRow.unknown_floor_min`) as well as the clairvoyant one."""
    return {
        "unknown_floor_median_min": _median([r.unknown_floor_min for r in group]),
        "within_unknown_goal": sum(1 for r in group if r.within_unknown_goal),
    }
