"""Tail probabilities and running statistics used by the detectors.

Tails are written with regularised incomplete beta/gamma functions (`scipy.special`): they are
exact, fast for scalars, and the unit tests compare them with `scipy.stats`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field
from scipy import special


def binom_tail_ge(k: float, n: float, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p); k and n may be fractional (effective counts)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    p = min(max(p, 0.0), 1.0)
    return float(special.betainc(k, n - k + 1, p))


def binom_tail_le(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return 1.0 - binom_tail_ge(k + 1, n, p)


def poisson_tail_ge(k: int, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu)."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    return float(special.gammainc(k, mu))


def poisson_tail_le(k: int, mu: float) -> float:
    """P(X <= k) for X ~ Poisson(mu)."""
    if k < 0:
        return 0.0
    if mu <= 0:
        return 1.0
    return float(special.gammaincc(k + 1, mu))


def negbin_tail_ge(k: int, mu: float, dispersion: float) -> float:
    """P(X >= k) for a negative binomial with mean `mu` and variance mu + mu^2 / dispersion.

    Social volume is overdispersed (bursty); a Poisson test on it fires far too often. As the
    dispersion grows the distribution tends to Poisson(mu).
    """
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    if not math.isfinite(dispersion) or dispersion > 1e6:
        return poisson_tail_ge(k, mu)
    p = dispersion / (dispersion + mu)  # scipy's nbinom(n=dispersion, p)
    # P(X >= k) = 1 - I_p(r, k) = I_{1-p}(k, r)
    return float(special.betainc(k, dispersion, 1.0 - p))


def negbin_quantile(q: float, mu: float, dispersion: float) -> int:
    """Smallest k with P(X <= k) >= q (for 'expected up to' intervals in evidence)."""
    if mu <= 0:
        return 0
    lo, hi = 0, max(1, int(mu * 4 + 20))
    while negbin_tail_ge(hi + 1, mu, dispersion) > 1 - q:
        hi *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if 1.0 - negbin_tail_ge(mid + 1, mu, dispersion) >= q:
            hi = mid
        else:
            lo = mid + 1
    return lo


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion k/n."""
    if n <= 0:
        return 0.0, 1.0
    phat = k / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def z_from_p(p: float) -> float:
    """One-sided standard-normal score for a tail probability (a readable effect size)."""
    p = min(max(p, 1e-300), 1 - 1e-16)
    return float(-special.ndtri(p))


@dataclass
class EWMA:
    """Bias-corrected exponentially weighted mean and variance; half-life in updates.

    Each update first decays what came before by 0.5 ** (1 / half_life), then adds x with the
    given weight, so early estimates are not pulled towards an arbitrary starting value.
    Missing data is simply not an update: gaps neither decay nor dilute the estimate.

    >>> m = EWMA(half_life=1.0)
    >>> for x in (0.0, 1.0): m.update(x)
    >>> round(m.mean, 3)
    0.667
    """

    #: Stored as "h" and "c" (the names wave 1 wrote), see alerts/rule_state.py.
    half_life: Annotated[float, Field(alias="h")]
    s: float = 0.0
    s2: float = 0.0
    w: float = 0.0
    count: Annotated[int, Field(alias="c")] = 0

    def update(self, x: float, weight: float = 1.0) -> None:
        if weight <= 0:
            return
        decay = 0.5 ** (1.0 / self.half_life)
        self.s = self.s * decay + weight * x
        self.s2 = self.s2 * decay + weight * x * x
        self.w = self.w * decay + weight
        self.count += 1

    @property
    def mean(self) -> float:
        return self.s / self.w if self.w > 0 else 0.0

    @property
    def var(self) -> float:
        if self.w <= 0:
            return 0.0
        return max(0.0, self.s2 / self.w - self.mean**2)
