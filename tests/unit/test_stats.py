import math
import pickle

import numpy as np
import pytest
from pydantic import TypeAdapter
from scipy import stats

from alerts.stats import (
    EWMA,
    binom_tail_ge,
    binom_tail_le,
    negbin_quantile,
    negbin_tail_ge,
    poisson_tail_ge,
    poisson_tail_le,
    wilson_interval,
)

CASES = [
    (0, 10, 0.3),
    (1, 1, 0.5),
    (3, 10, 0.3),
    (9, 10, 0.3),
    (50, 100, 0.2),
    (700, 1000, 0.62),
    (5, 400, 0.001),
]


@pytest.mark.parametrize(("k", "n", "p"), CASES)
def test_binomial_tails_match_scipy(k, n, p):
    assert binom_tail_ge(k, n, p) == pytest.approx(
        stats.binom.sf(k - 1, n, p), rel=1e-9, abs=1e-300
    )
    assert binom_tail_le(k, n, p) == pytest.approx(stats.binom.cdf(k, n, p), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("k", "mu"), [(0, 3.0), (1, 0.2), (5, 3.0), (30, 12.5), (200, 150.0)])
def test_poisson_tails_match_scipy(k, mu):
    assert poisson_tail_ge(k, mu) == pytest.approx(
        stats.poisson.sf(k - 1, mu), rel=1e-9, abs=1e-300
    )
    assert poisson_tail_le(k, mu) == pytest.approx(stats.poisson.cdf(k, mu), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(
    ("k", "mu", "r"), [(1, 2.0, 5.0), (10, 4.0, 2.0), (40, 20.0, 10.0), (300, 100.0, 3.0)]
)
def test_negative_binomial_tail_matches_scipy(k, mu, r):
    p = r / (r + mu)
    assert negbin_tail_ge(k, mu, r) == pytest.approx(stats.nbinom.sf(k - 1, r, p), rel=1e-8)
    q = negbin_quantile(0.99, mu, r)
    assert q == int(stats.nbinom.ppf(0.99, r, p))


def test_negative_binomial_tends_to_poisson():
    assert negbin_tail_ge(20, 10.0, 1e9) == pytest.approx(stats.poisson.sf(19, 10.0), rel=1e-6)


def test_wilson_interval_matches_statsmodels_formula():
    lo, hi = wilson_interval(30, 100)
    z = 1.959963984540054
    phat, n = 0.3, 100
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (lo, hi) == pytest.approx((centre - half, centre + half), rel=1e-3)


def test_ewma_matches_explicit_weighted_mean_and_variance():
    rng = np.random.default_rng(1)
    xs = rng.normal(5, 2, size=200)
    m = EWMA(half_life=10)
    for x in xs:
        m.update(float(x))
    decay = 0.5 ** (1 / 10)
    w = decay ** np.arange(len(xs))[::-1]
    mean = np.sum(w * xs) / np.sum(w)
    var = np.sum(w * xs**2) / np.sum(w) - mean**2
    assert m.mean == pytest.approx(mean)
    assert m.var == pytest.approx(var)


def test_mean_of_is_the_ewmas_own_mean_bit_for_bit():
    """`mean_of` repeats `EWMA.mean` for compiled callers (the property is Python code): the
    two must never drift apart."""
    from alerts.detectors.base import mean_of

    m = EWMA(half_life=7)
    assert mean_of(m) == m.mean == 0.0  # nothing learned yet
    rng = np.random.default_rng(3)
    for x in rng.poisson(2.5, size=300):
        m.update(int(x))  # counts, as the baselines learn them
        assert mean_of(m).hex() == m.mean.hex()


def test_ewma_round_trips_and_pickles():
    m = EWMA(half_life=3)
    for x in (1.0, 2.0, 4.0):
        m.update(x)
    stored = TypeAdapter(EWMA).dump_python(m, mode="json", by_alias=True)
    assert stored["h"] == 3 and TypeAdapter(EWMA).validate_python(stored) == m
    assert pickle.loads(pickle.dumps(m)) == m
