"""Helpers shared by the fault tests: labelled mention streams and exact counts by id."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from models.training.data import airline_pools
from tooling.harness import caught_up, indexed_ids, lag, wait_until, write_jsonl
from tooling.scenarios import BrandProfile, Incident, TextPools, generate

POOLS = TextPools(by_label=airline_pools())
CONSUMED = ("mentions", "inbox", "mentions.scored", "mentions.by-brand", "alerts", "control")


def mentions(
    brand: str,
    per_day: float,
    start: datetime,
    days: float,
    *,
    seed: int,
    incidents: tuple[Incident, ...] = (),
    prefix: str = "",
) -> list[dict[str, Any]]:
    rows = list(
        generate(
            [BrandProfile(brand, brand.lower(), per_day=per_day, mix=(0.15, 0.55, 0.30))],
            POOLS,
            start=start,
            days=days,
            incidents=list(incidents),
            seed=seed,
            retweet_share=0.0,
        )
    )
    for row in rows:  # ids unique across the parts of one test
        row["id"] = f"{prefix}{row['id']}"
    return rows


def save(tmp: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    return write_jsonl(tmp / name, rows)


def done(services: dict[str, str], run_id: str) -> bool:
    """Whether the worker's group has committed everything on its input topics."""
    from kafka.errors import KafkaError

    try:
        return caught_up(services["kafka"], run_id, [f"{run_id}.{t}" for t in CONSUMED])
    except KafkaError:  # the coordinator moves while a broker restarts
        return False


def drain(
    services: dict[str, str], run_id: str, timeout: float = 300, logs: tuple[Path, ...] = ()
) -> None:
    """Wait until the worker's group has committed everything on its input topics."""
    wait_until(
        lambda: done(services, run_id),
        timeout,
        "the worker to consume every topic",
        interval=1.0,
        explain=lambda: behind(services, run_id, logs),
    )


def behind(services: dict[str, str], run_id: str, logs: tuple[Path, ...] = ()) -> str:
    """What a drain that timed out leaves to diagnose it: the partitions the group has not
    committed, and the workers' last warnings (consumer re-reads, rebalances, errors)."""
    try:
        late = lag(services["kafka"], run_id, [f"{run_id}.{t}" for t in CONSUMED])
        if late is None:
            out = ["partitions behind: unknown (the broker did not answer within 30 s)"]
        else:
            out = ["partitions behind: " + ("; ".join(late) if late else "none")]
    except Exception as e:  # a diagnosis must never hide the failure it explains
        out = [f"partitions behind: unknown ({e!r})"]
    for path in logs:
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        notable = [line for line in lines if _NOTABLE.search(line)]
        out.append(f"--- {path.name}: last of {len(notable)} notable lines of {len(lines)}")
        out.extend(line[:300] for line in notable[-60:])
        out.append(f"--- {path.name}: last 20 lines")
        out.extend(line[:300] for line in lines[-20:])
    return "\n".join(out)


_NOTABLE = re.compile(
    r"WARNING|ERROR|CRITICAL|Traceback|re-reading|no progress|newly assigned|Rebalanc|recover",
    re.IGNORECASE,
)


def assert_indexed_exactly(search: str, run_id: str, rows: list[dict[str, Any]]) -> int:
    """Every id indexed once, nothing else: returns the count."""
    ids = indexed_ids(search, run_id)
    doubled = [i for i, n in Counter(ids).items() if n > 1]
    expected = {r["id"] for r in rows}
    missing = sorted(expected - set(ids))
    extra = sorted(set(ids) - expected)
    assert not doubled, f"indexed twice: {doubled[:10]}"
    assert not missing, f"{len(missing)} of {len(expected)} lost, e.g. {missing[:10]}"
    assert not extra, f"unexpected documents: {extra[:10]}"
    return len(ids)


def count_indexed(search: str, run_id: str) -> int:
    return len(indexed_ids(search, run_id))


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
    webhook: {url_env: TEST_HOOK_URL}
route:
  receiver: default
  group_by: [brand]
  group_wait: 2m
  group_interval: 3s
  repeat_interval: 4h
  routes:
    - {matchers: [team=pr], receiver: pr}
"""


def alerting_env(tmp: Path, hook_url: str) -> dict[str, str]:
    """Extra environment for a worker with a dip rule routed to a loopback webhook."""
    (tmp / "rules.yaml").write_text(RULES)
    (tmp / "routes.yaml").write_text(ROUTES)
    return {
        "EARFUL_RULES_FILE": str(tmp / "rules.yaml"),
        "EARFUL_ROUTES_FILE": str(tmp / "routes.yaml"),
        "TEST_HOOK_URL": hook_url,
    }


def crisis_stream(brand: str, *, seed: int, hours: float = 3.5) -> tuple[list[dict[str, Any]], Any]:
    """A busy brand's morning with a 30-minute complaint wave two hours in (after warm-up)."""
    from datetime import UTC, timedelta

    start = datetime(2026, 11, 16, 8, tzinfo=UTC)
    crisis = Incident(
        "crisis",
        brand,
        start + timedelta(hours=2),
        timedelta(minutes=30),
        volume_factor=2.5,
        mix=(0.95, 0.04, 0.01),
        keywords=("cancel",),
    )
    return mentions(brand, 4000, start, hours / 24, seed=seed, incidents=(crisis,)), crisis


def record(test: str, **figures: Any) -> None:
    """Append measured figures (counts, recovery times, drain rates) to var/faults/results.jsonl."""
    import json

    from tooling.harness import ROOT

    out = ROOT / "var" / "faults"
    out.mkdir(parents=True, exist_ok=True)
    with (out / "results.jsonl").open("a") as f:
        f.write(json.dumps({"test": test, **figures}) + "\n")
