"""CUSUM thresholds calibrated by simulation: "one false alarm a month per brand" -> h.

Lorden's bound with a union over a bank of K alternatives, h = ln(K x ARL0) (`threshold()`), is
safe but loose where counts are small: a small brand's buckets hold zero, one or two mentions,
the bank's alternatives are strongly correlated (a bucket that is evidence for "volume x2, 30%
more negative" is evidence for "volume x3, 50% more negative" too), and its real false-alarm
rate sits far below the target while every alarm waits for evidence it does not need.

`calibrate` finds h by simulating the detector's own bucket LLRs under the null it guards
against: the worst case it still calls usual (volume at the edge of its tolerance, each
sentiment share at the edge of its tolerance) with bursts that last (each hour's rate one
Gamma(r) draw shared by its buckets, as real feeds and the evaluation scenarios behave, while
the LLR scores buckets as independent). Over a period of 1 / target months, P(no alarm) = e^-1
(alarms as a Poisson process at the target rate), so h is the e^-1 quantile of the period's
largest statistic, taken over a grid of usual shares, per brand size (with a day's rhythm).
Measured for the crisis bank at one false alarm a month: h = 8.0 at 20 mentions a day, 9.0 at
45, 10.6 at 150, and from 600 a day more than Lorden's bound (12.0): 17.0 at 600, 25.1 at 2,000.
A busy brand's hour-long burst is many buckets of evidence to an LLR that scores them as
independent; h is set where the simulation puts it, not held at the bound (held there, busy
brands were paged several times their budget: most false volume alerts of the scenario sets).
How bursty a brand is matters as much as its size: h comes in rows by the dispersion r of an
hour's volume (8: ±35%, 16, 32: ±18%), read at the brand's learned r (the bucket-level
overdispersion the detectors already learn sees an hour-long burst as its own). At 2,000 a day
the crisis bank needs 25.1 when bursty, 14.6 when steady; at 20 a day 8.0 and 7.6.
So small brands are judged sooner, and busy ones as often as their budget says. Simulations
are seeded (the same h on every run and in every process) and cached per bank in the process,
and on disk where the process says where (`remember_in`: the CLI and the worker), so a dry run
or a restart does not simulate again for seconds (the store is theirs: `ThresholdStore`). An
entry is named by everything the thresholds depend on: the bank, the target, the grid, and the
source of the modules that compute them (an edit to the LLRs or the simulation is a new entry,
never a stale one).
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from alerts import llr
from alerts.sequential import threshold

#: Bucket LLRs of a bank, vectorised: (mentions, positives, negatives: [chains, buckets];
#: expected mentions: [buckets]; usual share of each sentiment; dispersion) -> [chains,
#: buckets, alternatives]. Each detector writes it beside its scalar LLRs (a unit test checks
#: that the two agree).
BankLLRs = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float], np.ndarray]
#: Relative volume by hour of day (mean 1): quiet nights, busy evenings.
DAY_SHAPE = np.array(
    (0.3, 0.2, 0.2, 0.2, 0.3, 0.5, 0.8, 1.1, 1.3, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4, 1.5,
     1.6, 1.7, 1.6, 1.4, 1.1, 0.7, 0.5)
)  # fmt: skip
DAY_SHAPE = DAY_SHAPE / DAY_SHAPE.mean()
PER_MONTH_S = 2_592_000


@dataclass(frozen=True)
class NullGrid:
    """The brands a threshold must hold for: sizes (mentions a day), usual shares of each
    sentiment, and count dispersions (the negative binomial's r: 2 is very bursty)."""

    sizes: tuple[float, ...] = (20.0, 45.0, 150.0, 600.0, 2000.0)
    shares: tuple[float, ...] = (0.15, 0.4)
    #: Of each hour's volume (the bucket LLR assumes the same at bucket level): one row of
    #: thresholds each, read at the brand's learned dispersion. 8 (an hour's volume ±35%) is
    #: the burstiest brand of the evaluation scenarios; 32 (±18%) a steady one.
    dispersions: tuple[float, ...] = (8.0, 16.0, 32.0)
    chains: int = 256
    seed: int = 20261203
    #: Simulated per grid point; a longer period adds ln(period / simulated) to h (the
    #: chance of crossing h decays as e^-h: Lorden), measured within 0.15 of simulating a
    #: whole month for the crisis bank.
    simulated_s: int = 7 * 86400
    #: Added for the simulation's own noise (the e^-1 quantile of 256 chains).
    margin: float = 0.2


@dataclass(frozen=True)
class Tolerance:
    """How far off the detector lets its baseline be: volume (relative) and share (absolute)."""

    volume: float = 0.25
    share: float = 0.04


def period_max(
    llrs: BankLLRs,
    *,
    per_day: float,
    share: float,
    dispersion: float,
    buckets: int,
    bucket_s: int,
    tolerance: Tolerance,
    chains: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per simulated chain, the largest bank statistic over `buckets` buckets of the null."""
    hours = (np.arange(buckets) * bucket_s // 3600) % 24
    expected = per_day * bucket_s / 86400 * DAY_SHAPE[hours]
    edge = expected * (1 + tolerance.volume)
    edge_share = min(share + tolerance.share, 0.45)  # both shares at their edge: sum < 1
    # S_t = max(0, S_t-1 + llr_t) is W_t - min(0, min_s<=t W_s) for the running sum W: the
    # whole block at once, carrying W and its running minimum across blocks
    carry = np.zeros((chains, 1, 1))
    low = np.zeros((chains, 1, 1))
    best = np.zeros(chains)
    # draw the null a block of whole hours at a time (memory stays small; the volume bank
    # scores a bucket as its share of its hour, so a block never splits an hour: 576 buckets
    # of 1 minute did, and a 1-minute engine bucket, which rules check accepts, crashed)
    block = max(1, 576 * bucket_s // 3600) * (3600 // bucket_s)
    for first in range(0, buckets, block):
        size = (chains, min(block, buckets - first))
        # bursts last: each hour's rate is one Gamma(dispersion) draw shared by its buckets (as
        # real feeds and the scenarios behave), while the LLR scores buckets as independent
        hour = (np.arange(first, first + size[1]) * bucket_s) // 3600
        luck = rng.gamma(dispersion, 1 / dispersion, size=(chains, int(hour[-1] - hour[0]) + 1))
        n = rng.poisson(luck[:, hour - hour[0]] * edge[first : first + size[1]])
        pos = rng.binomial(n, edge_share)
        neg = rng.binomial(n - pos, edge_share / (1 - edge_share))
        steps = llrs(
            n.astype(float),
            pos.astype(float),
            neg.astype(float),
            expected[first : first + size[1]],
            share,
            dispersion,
        )
        walk = carry + np.cumsum(steps, axis=1)
        floor = np.minimum(np.minimum.accumulate(walk, axis=1), low)
        np.maximum(best, (walk - floor).max(axis=(1, 2)), out=best)
        carry, low = walk[:, -1:, :], floor[:, -1:, :]
    return best


@dataclass(frozen=True)
class Thresholds:
    """h by brand size (mentions a day), non-decreasing, and by burstiness (the negative
    binomial's r of an hour's volume), non-increasing: read at a brand's learned size and
    dispersion, interpolated in log size and log r, held at the ends (the largest size and the
    burstiest row where either is unknown). `values` is the burstiest row."""

    sizes: tuple[float, ...]
    values: tuple[float, ...]
    #: Lorden's bound over the bank, for comparison (`rules check`).
    bound: float
    #: The dispersions calibrated for (ascending: burstiest first), and h per size for each.
    dispersions: tuple[float, ...] = ()
    rows: tuple[tuple[float, ...], ...] = ()

    @cached_property
    def _log_sizes(self) -> list[float]:
        return [math.log(v) for v in self.sizes]

    def at(self, per_day: float | None, dispersion: float | None = None) -> float:
        rows, rs = self.rows or (self.values,), self.dispersions or (0.0,)
        if dispersion is None or len(rows) == 1 or dispersion <= rs[0]:
            return self._along(rows[0], per_day)
        if dispersion >= rs[-1]:
            return self._along(rows[-1], per_day)
        x = math.log(dispersion)
        for i in range(1, len(rs)):
            if dispersion <= rs[i]:
                x0, x1 = math.log(rs[i - 1]), math.log(rs[i])
                h0, h1 = self._along(rows[i - 1], per_day), self._along(rows[i], per_day)
                return h0 + (h1 - h0) * (x - x0) / (x1 - x0)
        return self._along(rows[-1], per_day)

    def scored_dispersion(self, dispersion: float) -> float:
        """The dispersion a bank scores with: the brand's, but no steadier than the steadiest
        row calibrated. The thresholds hold their false-alarm rate for LLRs computed at a
        dispersion the simulation used; a brand read as steadier (a day-old baseline's quiet
        buckets read as under-dispersed, r = 1,000, i.e. Poisson: seen on a 150-a-day brand's
        second day) would be scored with sharper LLRs against a threshold simulated for
        r = 32, and its false-alarm rate would not be the target."""
        if not self.dispersions:
            return dispersion
        return min(dispersion, self.dispersions[-1])

    def _along(self, values: tuple[float, ...], per_day: float | None) -> float:
        if per_day is None or per_day <= 0:
            return values[-1]
        x = math.log(per_day)
        xs = self._log_sizes
        if x <= xs[0]:
            return values[0]
        for i in range(1, len(xs)):
            if x <= xs[i]:
                h0, h1 = values[i - 1], values[i]
                return h0 + (h1 - h0) * (x - xs[i - 1]) / (xs[i] - xs[i - 1])
        return values[-1]

    def describe(self) -> str:
        ends = f"{self.values[0]:.1f} ({self.sizes[0]:,.0f} a day)"
        if self.values[-1] != self.values[0]:
            ends += f" to {self.values[-1]:.1f} ({self.sizes[-1]:,.0f} a day)"
        if len(self.rows) > 1 and self.rows[-1][-1] != self.values[-1]:
            # an hour's volume varies by 1 / sqrt(r) (the Gamma(r) burst's spread)
            bursty, steady = [100 / r**0.5 for r in (self.dispersions[0], self.dispersions[-1])]
            ends += (
                f" for the burstiest brands (an hour's volume ±{bursty:.0f}%), "
                f"{self.rows[-1][-1]:.1f} at {self.sizes[-1]:,.0f} a day for steady ones "
                f"(±{steady:.0f}%)"
            )
        return f"h = {ends}, calibrated by simulation (Lorden's bound would ask {self.bound:.1f})"


def calibrate(
    llrs: BankLLRs,
    alternatives: int,
    false_alarms_per_month: float,
    bucket_s: int,
    *,
    tolerance: Tolerance = Tolerance(),
    grid: NullGrid = NullGrid(),
) -> Thresholds:
    """h per brand size such that the bank raises at most `false_alarms_per_month` false
    alarms a month at any usual share of the grid (plus the margin, rounded up to 0.1), above
    Lorden's bound where lasting bursts need it."""
    bound = threshold(alternatives, false_alarms_per_month, bucket_s)
    period_s = PER_MONTH_S / max(false_alarms_per_month, 1e-9)
    simulated_s = min(period_s, grid.simulated_s)
    buckets = max(int(simulated_s / bucket_s), 1)
    rng = np.random.default_rng(grid.seed)
    rows: list[list[float]] = []
    for dispersion in sorted(grid.dispersions):
        values: list[float] = []
        for per_day in grid.sizes:
            h = 0.0
            for share in grid.shares:
                best = period_max(
                    llrs,
                    per_day=per_day,
                    share=share,
                    dispersion=dispersion,
                    buckets=buckets,
                    bucket_s=bucket_s,
                    tolerance=tolerance,
                    chains=grid.chains,
                    rng=rng,
                )
                h = max(h, float(np.quantile(best, math.exp(-1))))
            h += math.log(period_s / simulated_s) + grid.margin
            values.append(math.ceil(h * 10) / 10)
        # non-decreasing in size (a bigger brand's counts are smoother, its bank's statistic
        # closer to Gaussian: it needs the larger h); simulation noise must not reverse that
        rows.append([max(values[: i + 1]) for i in range(len(values))])
    # non-increasing in dispersion: a burstier brand never gets the lower threshold
    for i in range(len(rows) - 2, -1, -1):
        rows[i] = [max(a, b) for a, b in zip(rows[i], rows[i + 1], strict=True)]
    table = tuple(tuple(row) for row in rows)
    return Thresholds(grid.sizes, table[0], bound, tuple(sorted(grid.dispersions)), table)


def calibrated(
    key: tuple[object, ...],
    llrs: BankLLRs,
    alternatives: int,
    false_alarms_per_month: float,
    bucket_s: int,
    tolerance: Tolerance,
    grid: NullGrid = NullGrid(),
) -> Thresholds:
    """`calibrate`, once per process for a bank described by `key` (the detector's kind and
    every parameter its LLRs depend on: `llrs` itself is not compared)."""
    return _cached_by_key(
        key, alternatives, false_alarms_per_month, bucket_s, tolerance, grid, _Box(llrs)
    )


class _Box:
    """Keeps the LLR function out of the cache key (a bound method differs per detector)."""

    def __init__(self, llrs: BankLLRs):
        self.llrs = llrs

    def __hash__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Box)


class ThresholdStore(Protocol):
    """Where calibrated thresholds outlive the process: JSON-safe records by name (a directory
    of files in the CLI and the worker, earful/json_files.py). Detection never opens a file."""

    def get(self, name: str) -> Any | None: ...
    def put(self, name: str, value: Any) -> None: ...


@dataclass
class _Kept:
    store: ThresholdStore | None = None


_KEPT = _Kept()


def remember_in(store: ThresholdStore | None) -> None:
    """Keep calibrated thresholds in `store` (None: only in this process's memory)."""
    _KEPT.store = store


@lru_cache(maxsize=64)
def _cached_by_key(
    key: tuple[object, ...],
    alternatives: int,
    fapm: float,
    bucket_s: int,
    tolerance: Tolerance,
    grid: NullGrid,
    box: _Box,
) -> Thresholds:
    store = _KEPT.store
    name = (
        None
        if store is None
        else _name(key, alternatives, fapm, bucket_s, tolerance, grid, box.llrs)
    )
    if store is not None and name is not None:
        raw = store.get(name)
        try:
            if isinstance(raw, dict):
                rows = tuple(tuple(float(h) for h in row) for row in raw["rows"])
                return Thresholds(
                    tuple(raw["sizes"]),
                    rows[0],
                    float(raw["bound"]),
                    tuple(raw["dispersions"]),
                    rows,
                )
        except (KeyError, IndexError, TypeError, ValueError):
            pass  # not a record of thresholds (or a truncated one): calibrate and keep it
    found = calibrate(box.llrs, alternatives, fapm, bucket_s, tolerance=tolerance, grid=grid)
    if store is not None and name is not None:
        store.put(
            name,
            {
                "sizes": found.sizes,
                "values": found.values,
                "bound": found.bound,
                "dispersions": found.dispersions,
                "rows": found.rows,
            },
        )
    return found


def _name(
    key: tuple[object, ...],
    alternatives: int,
    fapm: float,
    bucket_s: int,
    tolerance: Tolerance,
    grid: NullGrid,
    llrs: BankLLRs,
) -> str | None:
    """A name for these thresholds made of everything they depend on, the source of the code
    that computes them included; None where that source cannot be read (nothing is kept)."""
    try:
        sources = [_source(name) for name in computing_modules(llrs)]
    except (KeyError, OSError):
        return None
    digest = hashlib.sha256(
        repr(
            (key, alternatives, fapm, bucket_s, tolerance, grid, np.__version__, *sources)
        ).encode()
    ).hexdigest()
    return digest[:32]


def computing_modules(llrs: BankLLRs) -> list[str]:
    """The modules whose source the thresholds of `llrs` depend on: this one, the LLRs', and
    those of the detector's class and of every class it inherits from (where `llrs` is a
    bound method: the crisis rule's LLRs are its base class's)."""
    owner = getattr(llrs, "__self__", None)
    defined = (
        {c.__module__ for c in type(owner).__mro__ if c is not object}
        if owner is not None
        else {getattr(llrs, "__module__", None) or ""}
    )
    return sorted({__name__, threshold.__module__, llr.__name__, *defined} - {""})


def _source(module: str) -> str:
    """A module's source text, also where it runs compiled (mypyc: the source sits beside the
    extension it was built into)."""
    file = getattr(sys.modules[module], "__file__", None)
    if file is None:
        raise OSError(f"{module} has no file")
    path = Path(file)
    if path.suffix != ".py":
        path = path.with_name(path.name.split(".")[0] + ".py")
    return path.read_text(encoding="utf-8")
