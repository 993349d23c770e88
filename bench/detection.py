"""`make bench`: offline detection replay speed (pre-scored mentions through the detection
driver, one core, no Kafka) — the path `earful eval detect` and `earful rules backtest` take —
compiled (alerts/native.py) and interpreted, the detector state size of the largest brand, each
brand replayed alone, and each shipped rule replayed alone (where the time goes: no single rule
or loop holds most of it)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alerts.replay import Replayer
    from tooling.scenarios import BrandProfile

#: Mentions of the stream each rule is replayed alone on (the first days of it).
PER_RULE_MENTIONS = 60_000
#: The changelog row: mentions replayed first (about three days of the stream), then the
#: mentions whose state writes are counted, one per batch as a live stream delivers them.
CHANGELOG_WARMUP, CHANGELOG_MENTIONS = 14_000, 3_000


def run(seed: int = 901, days: int = 30) -> list[tuple[str, str, float]]:
    rows = _measure(seed, days)
    rows += _changelog(seed, days)
    rows += _per_brand(seed, days)
    rows += _per_rule(seed, days)
    from alerts import native

    if native.active():  # the same replay interpreted, in a process that ignores the build
        done = subprocess.run(
            [sys.executable, "-m", "bench.detection", str(seed), str(days)],
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "EARFUL_PURE_PYTHON": "1"},
            capture_output=True,
            text=True,
            check=True,
        )
        name, what, rate = json.loads(done.stdout.splitlines()[-1])[0]
        rows.insert(1, (name, what, rate))
    return rows


def _measure(seed: int, days: int) -> list[tuple[str, str, float]]:
    from faust.serializers import codecs

    from alerts import native
    from alerts.engine import DetectionEngine
    from alerts.replay import Replayer
    from alerts.rules import load_rules

    brands, lines = _stream(seed, days)
    replayer = Replayer(DetectionEngine(load_rules(None)))
    mentions, seconds = _timed_replay(replayer, lines)
    # measured as the Faust table writes it to its changelog (compact JSON)
    sizes = {brand: len(codecs.dumps("json", s.to_dict())) for brand, s in replayer.states.items()}
    largest = max(sizes, key=sizes.__getitem__)
    per_day = {b.name: b.per_day for b in brands}
    return [
        (
            "detection replay (shipped rules, 1 core, "
            f"{'compiled with mypyc' if native.active() else 'interpreted'})",
            f"{mentions:,} pre-scored mentions, {len(brands)} brands, {days} days",
            mentions / seconds,
        ),
        (
            "detector state, largest brand",
            f"{sizes[largest] / 1024:,.0f} kB as stored (compact JSON) after {days} days "
            f"({largest}, {per_day[largest]:,.0f} mentions a day)",
            float("nan"),
        ),
    ]


def _stream(
    seed: int, days: int, first: int | None = None
) -> tuple[list[BrandProfile], list[bytes]]:
    """The bench's scenario brands and their mentions (the `first` of them) as JSON lines, as
    `eval detect` reads them."""
    from models.training.data import airline_pools, airline_topic_pools
    from tooling.scenario_sets import scenario_stream
    from tooling.scenarios import TextPools

    pools = TextPools(by_label=airline_pools(), by_topic=airline_topic_pools())
    brands, _, mentions = scenario_stream(seed, days, pools)
    return brands, [json.dumps(m).encode() for m in itertools.islice(mentions, first)]


def _timed_replay(replayer: Replayer, lines: list[bytes]) -> tuple[int, float]:
    """(mentions, seconds) of one replay, read and fed as `eval detect` and `rules backtest`
    do; the replayer is built (its thresholds calibrated) before the clock starts."""
    from alerts.replay import ReplayStats, batch_collection, parse_lines

    stats = ReplayStats()
    started = time.perf_counter()
    with batch_collection():
        for observations in parse_lines(lines, stats):
            replayer.feed(observations)
        replayer.finish()
    return stats.mentions, time.perf_counter() - started


def _changelog(seed: int, days: int) -> list[tuple[str, str, float]]:
    """Bytes of detector state written to the changelog per mention in a live stream (one
    mention per batch), whole after every batch against split (streams/detector_states.py:
    the whole state now and then, between them the open part and the buckets closed since)."""
    from alerts.driver import DetectionDriver
    from alerts.engine import DetectionEngine
    from alerts.replay import ReplayStats, parse_lines
    from alerts.rules import load_rules
    from streams.detector_states import SplitStates
    from streams.state_codec import dumps

    class Counted(dict[str, Any]):
        written = 0

        def __setitem__(self, key: str, value: dict[str, Any]) -> None:
            self.written += len(dumps(value))
            super().__setitem__(key, value)

    class Both:
        """The driver's store: every write goes to both ways of keeping it."""

        def __init__(self) -> None:
            self.whole, self.full, self.parts = Counted(), Counted(), Counted()
            self.split = SplitStates(self.full, self.parts, engine=engine)

        def get(self, key: str) -> dict[str, Any] | None:
            return None  # every brand is in the driver's cache by then

        def __setitem__(self, key: str, value: dict[str, Any]) -> None:
            self.whole[key] = value
            self.split[key] = value

        def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
            return iter(())

    _, lines = _stream(seed, days, CHANGELOG_WARMUP + CHANGELOG_MENTIONS)
    engine = DetectionEngine(load_rules(None))
    driver = DetectionDriver(engine)
    batches = list(parse_lines(lines, ReplayStats()))
    for observations in batches[:CHANGELOG_WARMUP]:
        driver.feed((o, 0, 0) for o in observations)
    store = driver.store = Both()
    for observations in batches[CHANGELOG_WARMUP:]:
        driver.feed((o, 0, 0) for o in observations)
    n = len(batches) - CHANGELOG_WARMUP
    whole, split = store.whole.written / n, (store.full.written + store.parts.written) / n
    return [
        (
            "detector state written to its changelog, live (one mention a batch)",
            f"{whole:,.0f} bytes a mention whole after every batch; {split:,.0f} split (whole "
            f"{store.split.writes['full']:,} times; open parts with the buckets closed since, "
            f"{store.split.writes['open']:,}): {whole / split:.1f}x less "
            f"({n:,} mentions after the stream's first {CHANGELOG_WARMUP:,})",
            float("nan"),
        )
    ]


def _per_brand(seed: int, days: int) -> list[tuple[str, str, float]]:
    """Each brand of the stream replayed alone with every shipped rule: its rate, and the time
    a closed bucket of it costs. In the whole stream every bucket of a brand is closed and
    judged, busy or not, and so it is here: alone, a small brand's empty buckets would read as
    ingestion gaps (nothing arrived from anywhere) and be skipped, which put its buckets at
    9-83 us where in the stream they cost 50-100 (no gap is tracked in these runs). A busy
    brand's buckets cost most (every term of every mention is folded into the emerging-term
    rule's statistics, and the windows hold more)."""
    from alerts.engine import DetectionEngine
    from alerts.replay import Replayer
    from alerts.rules import load_rules

    brands, lines = _stream(seed, days)
    by_brand: dict[str, list[bytes]] = {b.name: [] for b in brands}
    for line in lines:
        by_brand[json.loads(line)["brands"][0]].append(line)
    rules = load_rules(None)
    buckets = days * 86_400 // int(rules.engine.bucket.total_seconds())
    rows = []
    for brand in sorted(brands, key=lambda b: -b.per_day):
        never_a_gap = Replayer(DetectionEngine(rules), min_gap_buckets=10**9)
        mentions, seconds = _timed_replay(never_a_gap, by_brand[brand.name])
        rows.append(
            (
                f"  brand {brand.name} alone ({brand.per_day:,.0f} mentions a day)",
                f"{mentions:,} mentions, {seconds / buckets * 1e6:,.0f} us a bucket "
                f"({buckets:,} buckets)",
                mentions / seconds,
            )
        )
    return rows


def _per_rule(seed: int, days: int) -> list[tuple[str, str, float]]:
    """Each shipped rule alone, then all of them, on the first `PER_RULE_MENTIONS` mentions.
    What every rule shares (reading, bucketing, the engine's loop) is in each row; the rows
    together say which rules a faster replay has to rewrite."""
    from alerts import native
    from alerts.engine import DetectionEngine
    from alerts.replay import Replayer
    from alerts.rules import Rule, load_rules

    _, lines = _stream(seed, days, PER_RULE_MENTIONS)
    shipped = load_rules(None)
    what = f"first {len(lines):,} mentions, {'compiled' if native.active() else 'interpreted'}"

    def replay(rules: tuple[Rule, ...]) -> float:
        ruleset = shipped.model_copy(update={"rules": rules})
        mentions, seconds = _timed_replay(Replayer(DetectionEngine(ruleset)), lines)
        return mentions / seconds

    replay(shipped.rules[:1])  # warm: the first replay of a process pays for its imports
    rows = [(f"  rule {rule.name} alone", what, replay((rule,))) for rule in shipped.rules]
    rows.append(("  all rules", what, replay(shipped.rules)))
    return rows


if __name__ == "__main__":
    from bench import keep_calibrations

    keep_calibrations()
    print(json.dumps(_measure(int(sys.argv[1]), int(sys.argv[2]))))
