"""A surge scored as arrivals of its own added to the usual bursty traffic (`count_llr`'s
`added`), against the usual traffic scaled up with its burstiness."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from alerts.llr import added_nb, count_llr, count_llr_array, hour_count_llr_array


def nb_logpmf(n: np.ndarray | int, mean: float, dispersion: float) -> np.ndarray:
    return np.asarray(stats.nbinom.logpmf(n, dispersion, dispersion / (dispersion + mean)))


@pytest.mark.parametrize(
    ("n", "mu", "factor", "r"),
    [(0, 0.5, 4.0, 20.0), (3, 0.5, 4.0, 20.0), (30, 7.0, 3.2, 9.0), (336, 105.0, 3.2, 9.0)],
)
def test_an_added_surge_is_the_moment_matched_negative_binomial(
    n: int, mu: float, factor: float, r: float
) -> None:
    r1 = added_nb(factor, r)
    # the usual bursts (mu^2 / r) plus the Poisson spread of every arrival (f mu)
    assert factor * mu + (factor * mu) ** 2 / r1 == pytest.approx(factor * mu + mu**2 / r)
    expected = nb_logpmf(n, factor * mu, r1) - nb_logpmf(n, mu, r)
    assert count_llr(n, mu, factor, r, added=True) == pytest.approx(float(expected), abs=1e-9)
    # scaled is the same negative binomial with the null's dispersion
    scaled = nb_logpmf(n, factor * mu, r) - nb_logpmf(n, mu, r)
    assert count_llr(n, mu, factor, r) == pytest.approx(float(scaled), abs=1e-9)


def test_the_calibrations_arrays_score_as_the_detector_does() -> None:
    rng = np.random.default_rng(3)
    n = rng.poisson(6.0, size=(2, 24)).astype(float)
    expected = rng.uniform(1.0, 8.0, size=24)
    arrays = count_llr_array(n, expected, 2.4, 9.0, added=True)
    for chain in range(2):
        for b in range(24):
            one = count_llr(int(n[chain, b]), float(expected[b]), 2.4, 9.0, added=True)
            assert arrays[chain, b] == pytest.approx(one, abs=1e-9)
    hourly = hour_count_llr_array(n, expected, 2.4, 9.0, 12)
    first_hour = count_llr(int(n[0, :12].sum()), float(expected[:12].sum()), 2.4, 9.0, added=True)
    assert hourly[0, :12].sum() == pytest.approx(first_hour, abs=1e-9)


def test_a_lucky_hour_is_no_surge_and_a_surges_own_hour_is_more_of_one() -> None:
    """A busy brand's hour (84 expected, 105 with the baseline's tolerance, dispersion 9):
    twice the usual is an ordinary lucky hour, and reads as much less of a 3.2x surge when
    the surge is arrivals of its own; an hour of the surge's size reads as more of one."""
    e0, factor, r = 105.0, 3.2, 9.0
    assert count_llr(168, e0, factor, r, added=True) < count_llr(168, e0, factor, r) - 5
    assert count_llr(336, e0, factor, r, added=True) > count_llr(336, e0, factor, r)


def test_added_arrivals_are_told_from_bursts_sooner() -> None:
    """Hours simulated as the scenarios make them (one Gamma draw per hour, an incident's
    Poisson arrivals on top): the added form gathers more evidence a surge hour (its KL) and
    gives less to ordinary hours, at every brand size."""
    rng = np.random.default_rng(11)
    r, factor = 9.0, 3.0
    for mu in (2.0, 25.0, 85.0):
        draw = rng.gamma(r, 1.0 / r, size=20_000) * mu
        usual = rng.poisson(draw)
        surge = usual + rng.poisson((factor - 1.0) * mu, size=draw.size)
        as_added = count_llr_array(surge.astype(float), mu, factor, r, added=True)
        as_scaled = count_llr_array(surge.astype(float), mu, factor, r)
        assert as_added.mean() > as_scaled.mean()
        quiet_added = count_llr_array(usual.astype(float), mu, factor, r, added=True)
        quiet_scaled = count_llr_array(usual.astype(float), mu, factor, r)
        assert quiet_added.mean() < quiet_scaled.mean() < 0
