"""Log-likelihood ratios of one bucket (and their array forms for the calibration's
simulations): a count against its expectation (Poisson or negative binomial, a surge scaled or
added to the usual traffic, scored alone or as its share of the hour), and a share of mentions
(binomial). `round3` rounds the statistics they add up to, as they are stored.

The CUSUMs that accumulate them are in alerts/sequential.py and alerts/share_cusums.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from math import lgamma  # a global: compiled, `math.lgamma` is an attribute lookup each call

import numpy as np


def round3(x: float) -> float:
    """`round(x, 3)`, bit for bit, without its decimal conversion (300 ns a call, and a replay
    rounds every statistic of every key of every bucket). Away from a tie, x * 1000 is within
    1e-6 of the exact product (|x| < 1e6), so its nearest integer n is the exact one, and
    n / 1000 is the double nearest the decimal result, as `round` returns it; near a tie, or
    for larger x, `round` decides."""
    y = x * 1000.0
    if not -1e9 < y < 1e9:
        return round(x, 3)
    low = math.floor(y)
    rest = y - low
    if -1e-6 < rest - 0.5 < 1e-6:
        return round(x, 3)
    n = low + 1 if rest > 0.5 else low
    return n / 1000.0 if n else x * 0.0  # copysign(0.0, x) for a finite x, without a call


def count_llr(
    n: int, expected: float, factor: float, dispersion: float | None, *, added: bool = False
) -> float:
    """LLR of a bucket count under mean `factor` x `expected` against mean `expected`.

    Negative binomial (variance mu + mu^2 / dispersion) when a dispersion is given: bursty
    social volume would otherwise read as evidence; Poisson as the dispersion grows.

    `added`: the rise is an event's own mentions *added* to the usual traffic (a story, an
    outage: arrivals of their own), not the usual traffic scaled up with its burstiness. The
    count then has variance f mu + mu^2 / r (the usual bursts plus the Poisson spread of all
    arrivals), matched by a negative binomial of mean f mu and dispersion f^2 r (`added_nb`):
    a burst of the usual kind, wide, no longer reads as the narrower surge (scaled, a surge of
    exactly the alternative's f = 3.2 against an hour of dispersion r = 9 could never gather
    more than r (f - 1 - ln f) = 9.3 nats in that hour, however busy the brand: under the
    10.1-10.5 a 2,000-a-day brand's volume CUSUM needs). The null is unchanged, so the
    false-alarm rate is what the calibration by simulation under it says."""
    if factor == 1.0 or expected <= 0:
        return 0.0
    mu0, mu1 = expected, factor * expected
    if dispersion is None or dispersion > 1e6:
        return n * math.log(factor) - (mu1 - mu0)
    r = dispersion
    if not added:
        return n * math.log(mu1 / mu0) + (n + r) * math.log((r + mu0) / (r + mu1))
    r1 = added_nb(factor, r)
    if n == 0:
        # the same double as the full expression below: its lgamma terms cancel exactly at
        # n = 0 (x - x), and adding 0 * (...) changes nothing (a quiet bucket of a small
        # brand, the most common count there is, skips four lgamma calls)
        return r1 * math.log(r1 / (r1 + mu1)) - r * math.log(r / (r + mu0))
    return (
        lgamma(n + r1)
        - lgamma(r1)
        - lgamma(n + r)
        + lgamma(r)
        + r1 * math.log(r1 / (r1 + mu1))
        - r * math.log(r / (r + mu0))
        + n * (math.log(mu1 / (r1 + mu1)) - math.log(mu0 / (r + mu0)))
    )


def added_nb(factor: float, dispersion: float) -> float:
    """The dispersion of mean f mu whose variance is f mu + mu^2 / r: the usual traffic's
    bursts (dispersion r) with (f - 1) mu arrivals of an event's own added (`count_llr`)."""
    return factor * factor * dispersion


def share_llr(k: int, n: int, p0: float, p1: float) -> float:
    """LLR of k negatives among n under share p1 against share p0 (binomial)."""
    if n == 0 or p0 == p1:
        return 0.0
    p0, p1 = clamped_share(p0), clamped_share(p1)
    return k * math.log(p1 / p0) + (n - k) * math.log((1 - p1) / (1 - p0))


def clamped_share(p: float) -> float:
    """A share kept off 0 and 1 (by comparisons, not min/max calls: this runs for every key,
    alternative and bucket of a replay; the same values either way)."""
    return 1e-6 if p < 1e-6 else (1 - 1e-6 if p > 1 - 1e-6 else p)


def count_llr_array(
    n: np.ndarray,
    expected: np.ndarray | float,
    factor: float,
    dispersion: float | None,
    *,
    added: bool = False,
) -> np.ndarray:
    """`count_llr` over arrays of counts and expectations (the calibration's simulations)."""
    if factor == 1.0:
        return np.zeros(np.broadcast_shapes(n.shape, np.shape(expected)))
    mu0, mu1 = expected, factor * expected
    if dispersion is None or dispersion > 1e6:
        out: np.ndarray = n * math.log(factor) - (mu1 - mu0)
        return out
    r = dispersion
    if not added:
        out = n * math.log(factor) + (n + r) * np.log((r + mu0) / (r + mu1))
        return out
    from scipy.special import gammaln  # the calibration's simulations only

    r1 = added_nb(factor, r)
    out = (
        gammaln(n + r1)
        - math.lgamma(r1)
        - gammaln(n + r)
        + math.lgamma(r)
        + r1 * np.log(r1 / (r1 + mu1))
        - r * np.log(r / (r + mu0))
        + n * (np.log(mu1 / (r1 + mu1)) - np.log(mu0 / (r + mu0)))
    )
    return out


def hour_count_llr(
    n: int,
    so_far: Sequence[float],
    expected: float,
    factor: float,
    dispersion: float | None,
) -> float:
    """`count_llr` (a surge `added` to the usual traffic) for one bucket whose hour already held
    `so_far` = (mentions, expected): the bucket's share of the hour's evidence, i.e. the hour's
    count LLR with the bucket minus without it. Real volume (and the scenarios) is bursty by the
    hour: an hour's rate is one Gamma(r) draw its buckets share. Scored bucket by bucket as
    independent negative binomials, one lucky hour is twelve buckets of evidence, and the
    threshold must sit high to absorb it (calibrated h = 24.7 for a 2,000-a-day brand), so a
    surge waits for it. Here an hour's buckets add up to the evidence of the hour's total, which
    is what a burst can and cannot explain: a lucky hour adds little, a 3x surge a lot (Gamma-
    Poisson, conjugate: the sum telescopes)."""
    total_n, total_e = so_far
    return count_llr(
        int(total_n) + n, total_e + expected, factor, dispersion, added=True
    ) - count_llr(int(total_n), total_e, factor, dispersion, added=True)


def hour_count_llr_array(
    n: np.ndarray,
    expected: np.ndarray | float,
    factor: float,
    dispersion: float,
    per_hour: int,
) -> np.ndarray:
    """`hour_count_llr` over [chains, buckets] arrays that begin at the top of an hour."""
    chains, buckets = n.shape
    if buckets % per_hour:
        raise ValueError(f"{buckets} buckets are not whole hours of {per_hour}")
    shape = (chains, buckets // per_hour, per_hour)
    totals = np.cumsum(n.reshape(shape), axis=2)
    exposure = np.cumsum(np.broadcast_to(expected, n.shape).reshape(shape), axis=2)
    running = count_llr_array(totals, exposure, factor, dispersion, added=True)
    before = np.concatenate([np.zeros((*shape[:2], 1)), running[:, :, :-1]], axis=2)
    out: np.ndarray = (running - before).reshape(chains, buckets)
    return out


def share_llr_array(k: np.ndarray, n: np.ndarray, p0: float, p1: float) -> np.ndarray:
    """`share_llr` over arrays of counts (the calibration's simulations)."""
    p0 = min(max(p0, 1e-6), 1 - 1e-6)
    p1 = min(max(p1, 1e-6), 1 - 1e-6)
    out: np.ndarray = k * math.log(p1 / p0) + (n - k) * math.log((1 - p1) / (1 - p0))
    return out
