"""CUSUM thresholds calibrated by simulation (alerts/calibration.py)."""

import json
import math
import random

import numpy as np
import pytest
from scipy import stats

from alerts import calibration
from alerts.buckets import Bucket
from alerts.calibration import (
    NullGrid,
    Thresholds,
    Tolerance,
    calibrate,
    calibrated,
    period_max,
)
from alerts.detectors.crisis import BUSY_PER_DAY, HYSTERESIS, CrisisDetector
from alerts.detectors.crisis_bank import VOLUME_TOLERANCE
from alerts.detectors.sentiment_dip import SentimentDipDetector
from alerts.detectors.volume_sequential import TOLERANCE
from alerts.detectors.volume_spike import VolumeSpikeDetector
from alerts.llr import count_llr
from alerts.rule_state import CrisisState
from alerts.rules import RuleSet
from alerts.sequential import threshold

RULES = """
rules:
  - {name: crisis, kind: crisis, window: 1h, false_alarms_per_month: 1}
  - {name: vol, kind: volume_spike, window: 1h, min_volume: 15, min_ratio: 2,
     false_alarms_per_month: 1}
  - {name: dip, kind: sentiment_dip, window: 1h, min_volume: 15, min_delta: 0.18,
     false_alarms_per_month: 1}
"""


def detectors():
    crisis, volume, _ = RuleSet.from_text(RULES).rules
    return CrisisDetector(crisis), VolumeSpikeDetector(volume)


def dip():
    return SentimentDipDetector(RuleSet.from_text(RULES).rules[2]).sequential


def random_buckets(seed, count=300):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        n = rng.choice([0, 1, 2, 3, 5, 8, 13, 40])
        pos = rng.randint(0, n)
        neg = rng.randint(0, n - pos)
        out.append((Bucket(start=0, n=n, pos=pos, neg=neg), rng.uniform(0.05, 20.0)))
    return out


def test_the_simulations_score_buckets_as_the_detectors_do():
    """The calibration simulates each bank's vectorised LLRs; they equal the scalar LLRs the
    detectors score live buckets with (so the threshold is set for the statistic in use)."""
    crisis, volume = detectors()
    sequential = volume.sequential
    assert sequential is not None
    for bucket, expected in random_buckets(1):
        for share, r in ((0.15, 8.0), (0.4, 50.0)):
            live = crisis.bucket_llrs(bucket, expected, share, r)
            arrays = [np.array([[float(x)]]) for x in (bucket.n, bucket.pos, bucket.neg)]
            simulated = crisis.bank_llrs(*arrays, np.array([expected]), share, r)[0, 0]
            assert np.allclose(live, simulated, atol=1e-9)
            # the volume bank scores a bucket as its share of the hour's evidence: here
            # the hour's first bucket (whole hours: `test_an_hours_buckets_add_up_...`)
            live = sequential.bucket_llrs(bucket, expected, {"pos": share, "neg": share}, r)
            hour = [np.array([[float(x)] + [0.0] * 11]) for x in (bucket.n, bucket.pos, bucket.neg)]
            expected_hour = np.array([expected] * 12)
            simulated = sequential.bank_llrs(*hour, expected_hour, share, r)[0, 0]
            assert np.allclose(live, simulated, atol=1e-9)
            if bucket.n:
                live = dip().bucket_llrs(bucket.n, bucket.neg, share)
                simulated = dip().bank_llrs(*arrays, np.array([expected]), share, r)[0, 0]
                assert np.allclose(live, simulated, atol=1e-9)


def test_an_hours_buckets_add_up_to_the_evidence_of_the_hours_total():
    """The volume bank scores each bucket as its share of the hour's evidence: over an hour
    the bucket LLRs (live, with the hour's running totals, and simulated) sum to the LLR of
    the hour's total, so a lucky hour is one piece of evidence, not twelve."""
    _, volume = detectors()
    sequential = volume.sequential
    rng = random.Random(3)
    at = sequential.alternatives.index((4.0, None, 0.0))  # volume alone at ratio 4
    r, factor = 8.0, sequential.alternatives[at][0] / (1 + TOLERANCE)  # as the bank scores it
    counts = [rng.choice([0, 2, 5, 9]) for _ in range(12)]
    expected = [rng.uniform(1.0, 6.0) for _ in range(12)]
    so_far, live = [0.0, 0.0], []
    for n, e in zip(counts, expected, strict=True):
        bucket = Bucket(start=0, n=n, pos=0, neg=0)
        live.append(sequential.bucket_llrs(bucket, e, None, r, so_far)[at])
        so_far = [so_far[0] + n, so_far[1] + e * (1 + TOLERANCE)]
    assert sum(live) == pytest.approx(count_llr(sum(counts), so_far[1], factor, r, added=True))
    zeros = np.zeros((1, 12))
    simulated = sequential.bank_llrs(
        np.array([counts], dtype=float), zeros, zeros, np.array(expected), 0.3, r
    )[0, :, at]
    assert np.allclose(simulated, live, atol=1e-9)
    # within one hour, a surge of exactly the alternative's size gives bounded evidence
    # against a Gamma(r) hour however busy the brand (a burst that big is rare, not
    # impossible); the next hour's draw is a fresh piece of evidence. Scored as the usual
    # traffic scaled up, the bound is r (f - 1 - ln f) nats; as arrivals of the surge's own
    # added to it, the Gamma(f^2 r) hour's density against the Gamma(r) one's, more than that
    scaled = r * (factor - 1 - math.log(factor))
    added = stats.gamma.logpdf(factor, a=factor**2 * r, scale=1 / (factor * r)) - (
        stats.gamma.logpdf(factor, a=r, scale=1 / r)
    )
    assert added > scaled + 1
    for hour_expected in (25.0, 250.0, 2500.0):
        n = round(factor * hour_expected)
        assert count_llr(n, hour_expected, factor, r) < scaled + 0.05
        surge = count_llr(n, hour_expected, factor, r, added=True)
        assert count_llr(n, hour_expected, factor, r) < surge < added + 0.05


def test_a_busy_brands_crisis_counts_are_scored_by_the_hour_as_simulated():
    """From `BUSY_PER_DAY` the crisis rule scores a bucket's count as its share of the hour's
    evidence: live (with the hour's running totals) and simulated LLRs agree bucket by bucket,
    over an hour the counts add up to the LLR of the hour's total, and the share's evidence
    is the bucket's own as before. Smaller brands keep scoring buckets alone."""
    crisis, _ = detectors()
    assert not crisis.scoring(CrisisState(), BUSY_PER_DAY - 1)
    assert not crisis.scoring(CrisisState(), None)
    assert crisis.scoring(CrisisState(), BUSY_PER_DAY)
    rng = random.Random(5)
    share, r = 0.3, 12.0
    counts = [rng.choice([0, 2, 5, 9, 14]) for _ in range(12)]
    negs = [rng.randint(0, n) for n in counts]
    expected = [rng.uniform(1.0, 6.0) for _ in range(12)]
    so_far, live = (0.0, 0.0), []
    for n, k, e in zip(counts, negs, expected, strict=True):
        bucket = Bucket(start=0, n=n, pos=0, neg=k)
        hour_counts = crisis.count_llrs(n, e, share, r, so_far)
        live.append(crisis.bucket_llrs(bucket, e, share, r, hour_counts))
        alone = crisis.bucket_llrs(bucket, e, share, r)
        for a, alt in enumerate(crisis.alternatives):  # the share's part is unchanged
            hour_part = hour_counts[alt.factor]
            alone_part = crisis.count_llrs(n, e, share, r)[alt.factor]
            assert live[-1][a] - hour_part == pytest.approx(alone[a] - alone_part)
        so_far = (so_far[0] + n, so_far[1] + e * (1 + VOLUME_TOLERANCE))
    simulated = crisis.hourly_bank_llrs(
        np.array([counts], dtype=float),
        np.zeros((1, 12)),
        np.array([negs], dtype=float),
        np.array(expected),
        share,
        r,
    )[0]
    assert np.allclose(simulated, np.array(live), atol=1e-9)
    top = max(crisis.alternatives, key=lambda a: a.factor)
    at = crisis.alternatives.index(top)
    hours_share = sum(row[at] for row in live) - sum(
        crisis.bucket_llrs(Bucket(start=0, n=n, pos=0, neg=k), e, share, r)[at]
        - crisis.count_llrs(n, e, share, r)[top.factor]
        for n, k, e in zip(counts, negs, expected, strict=True)
    )
    assert hours_share == pytest.approx(
        count_llr(sum(counts), so_far[1], top.factor / (1 + VOLUME_TOLERANCE), r, added=True)
    )


def test_the_crisis_rules_explanation_says_what_still_counts_as_usual():
    """`earful rules check` says what the false-alarm budget is spent against: the baseline
    give or take the edge the threshold is calibrated at."""
    crisis, _ = detectors()
    text = crisis.explain()
    assert "(up to 10% more volume and 2 points more negative than learned still counts as " in (
        " ".join(text.split())
    )
    assert "calibrated by simulation" in text


def test_the_volume_rules_explanation_says_what_still_counts_as_usual():
    """The volume CUSUM's threshold is calibrated at the same kind of edge as the crisis
    rule's, and `earful rules check` says so."""
    _, volume = detectors()
    text = " ".join(volume.explain().split())
    assert (
        "up to 10% more volume than learned, and positive and negative shares 2 points above "
        "the usual, still count as usual" in text
    )
    assert "calibrated by simulation" in text


def test_a_brand_changes_how_its_crisis_counts_are_scored_with_hysteresis_and_afresh():
    """A brand that grows past `BUSY_PER_DAY` is scored by the hour from then on, and by the
    bucket again only once it is `HYSTERESIS` times smaller (a brand near the line does not
    flip with its weekdays); its statistics start afresh at each change (built for the other
    threshold, they could fire at once against the lower hourly one); an open episode keeps
    the scoring it fired with until it ends."""
    crisis, _ = detectors()
    state = CrisisState(cusum=([12.0], [0]), span=[[9.0, 7.0, 2.0]], surge=([5.0], [0]))
    assert not crisis.scoring(state, BUSY_PER_DAY * 0.99)
    assert state.cusum is not None  # no change, nothing forgotten
    assert crisis.scoring(state, BUSY_PER_DAY)
    assert state.by_hour == 1
    assert state.cusum is None and state.span is None and state.surge is None
    state.cusum = ([3.0], [0])
    assert crisis.scoring(state, BUSY_PER_DAY / HYSTERESIS)  # within the band: still busy
    assert state.cusum is not None
    state.ep = 1
    assert crisis.scoring(state, 20.0)  # an open episode keeps its scoring
    state.ep = 0
    assert not crisis.scoring(state, BUSY_PER_DAY / HYSTERESIS - 1)
    assert state.by_hour == 0 and state.cusum is None


def test_a_busy_brands_crisis_threshold_need_not_absorb_its_bursty_hours():
    """Scored bucket by bucket, a busy brand's ordinary bursty hour is many buckets of
    evidence and the crisis threshold sits far above Lorden's bound; scored by the hour, it
    stays near the volume CUSUM's, under the bound, at every busy size and burstiness."""
    crisis, _ = detectors()
    bound = threshold(len(crisis.alternatives), 1.0, 300)
    for per_day in (BUSY_PER_DAY, 600.0, 2000.0):
        for r in (8.0, 16.0, 32.0):
            assert crisis.hourly_thresholds.at(per_day, r) < bound
            assert crisis.hourly_thresholds.at(per_day, r) < crisis.thresholds.at(per_day, r)
    assert crisis.thresholds.at(2000.0, 8.0) - crisis.hourly_thresholds.at(2000.0, 8.0) > 10


def test_thresholds_grow_with_brand_size_past_lordens_bound_where_bursts_last():
    """A small brand's lumpy counts need less evidence for the same false-alarm target than
    the union bound asks; a big brand's volume, bursty for an hour at a time, needs more than
    the bound where buckets are scored as independent (the crisis bank; held at the bound, it
    paged several times the target: the scenario sets' false volume alerts at busy brands);
    the volume bank, which scores an hour as one piece of evidence, stays under the bound at
    every size; a share (the dip's) is not bursty, and stays under it."""
    crisis, volume = detectors()
    banks = (
        (crisis.thresholds, 18),
        (volume.sequential.thresholds, len(volume.sequential.alternatives)),
        (dip().thresholds, 3),
    )
    for thresholds, k in banks:
        bound = threshold(k, 1.0, 300)
        assert thresholds.bound == pytest.approx(bound)
        assert list(thresholds.values) == sorted(thresholds.values)
        assert thresholds.at(20) <= bound - 2.5  # e^2.5: 12x fewer false alarms than allowed
        assert thresholds.at(5000) == thresholds.values[-1]
        assert thresholds.at(None) == thresholds.values[-1]  # unknown size: the safest
        assert thresholds.at(10) == thresholds.values[0]
        middle = thresholds.at(math.sqrt(20 * 45))  # interpolated in log size
        assert middle == pytest.approx((thresholds.values[0] + thresholds.values[1]) / 2)
    assert crisis.thresholds.at(2000) > threshold(18, 1.0, 300) + 5
    k = len(volume.sequential.alternatives)
    assert volume.sequential.thresholds.at(2000) < threshold(k, 1.0, 300)
    assert dip().thresholds.at(5000) < threshold(3, 1.0, 300) - 1


@pytest.mark.parametrize(("per_day", "dispersion"), [(45.0, 8.0), (2000.0, 8.0), (2000.0, 32.0)])
def test_a_calibrated_threshold_holds_its_target_in_a_fresh_simulation(per_day, dispersion):
    """h calibrated for 30 false alarms a month (seeded chains), then checked on chains it
    never saw, run for a month: about 30 alarms a month or fewer, at a small brand (where h is
    under Lorden's bound) and at a busy one whose hour-long bursts need more than the bound,
    bursty or steady."""
    crisis, _ = detectors()
    grid = NullGrid(sizes=(per_day,), shares=(0.3,), dispersions=(dispersion,), chains=256, seed=1)
    h = calibrate(crisis.bank_llrs, 18, 30.0, 300, grid=grid).values[0]
    bound = threshold(18, 30.0, 300)
    if per_day < 100:
        assert h < bound
    elif dispersion <= 8:
        assert h > bound
    # a fresh month of 256 chains, cut into 30 periods of a day: the share of periods with an
    # alarm estimates 1 - e^-(rate x period); at the target rate it is 1 - e^-1 = 0.63
    crossed = []
    rng = np.random.default_rng(99)
    for _ in range(30):
        best = period_max(
            crisis.bank_llrs,
            per_day=per_day,
            share=0.3,
            dispersion=dispersion,
            buckets=288,
            bucket_s=300,
            tolerance=Tolerance(),
            chains=256,
            rng=rng,
        )
        crossed.append(float((best >= h).mean()))
    assert float(np.mean(crossed)) <= 1 - math.exp(-1) + 0.05


def test_a_rarer_target_raises_the_threshold_by_its_log():
    crisis, _ = detectors()
    grid = NullGrid(sizes=(20.0,), shares=(0.3,), chains=128, simulated_s=86400)
    monthly = calibrate(crisis.bank_llrs, 18, 1.0, 300, grid=grid).values[0]
    yearly = calibrate(crisis.bank_llrs, 18, 1 / 12, 300, grid=grid).values[0]
    assert yearly - monthly == pytest.approx(math.log(12), abs=0.11)


def test_thresholds_interpolate_and_describe_themselves():
    t = Thresholds(sizes=(20.0, 2000.0), values=(8.0, 12.0), bound=12.0)
    assert t.at(200) == pytest.approx(10.0)
    assert t.at(200, 16.0) == pytest.approx(10.0)  # one row: the dispersion changes nothing
    assert t.describe() == (
        "h = 8.0 (20 a day) to 12.0 (2,000 a day), calibrated by simulation (Lorden's bound "
        "would ask 12.0)"
    )
    rows = ((8.0, 24.0), (8.0, 16.0))
    t = Thresholds((20.0, 2000.0), rows[0], 12.0, (8.0, 32.0), rows)
    assert t.at(2000) == t.at(2000, 4.0) == 24.0  # unknown or burstier: the burstiest row
    assert t.at(2000, 16.0) == pytest.approx(20.0)  # interpolated in log dispersion
    assert t.at(200, 16.0) == pytest.approx((16.0 + 12.0) / 2)
    assert t.at(2000, 100.0) == 16.0
    assert t.describe() == (
        "h = 8.0 (20 a day) to 24.0 (2,000 a day) for the burstiest brands (an hour's volume "
        "±35%), 16.0 at 2,000 a day for steady ones (±18%), calibrated by simulation (Lorden's "
        "bound would ask 12.0)"
    )


def test_a_bank_scores_no_steadier_than_its_steadiest_calibrated_row():
    """Thresholds hold their false-alarm rate for LLRs at a dispersion they were simulated
    with: a brand read as steadier than the steadiest row (r = 1,000, Poisson, from a day-old
    baseline) is scored as that row; a burstier one as itself; one row: unchanged."""
    rows = ((8.0, 24.0), (8.0, 16.0))
    t = Thresholds((20.0, 2000.0), rows[0], 12.0, (8.0, 32.0), rows)
    assert t.scored_dispersion(1000.0) == 32.0
    assert t.scored_dispersion(12.0) == 12.0
    assert t.scored_dispersion(2.0) == 2.0
    assert Thresholds((20.0,), (8.0,), 12.0).scored_dispersion(1000.0) == 1000.0
    crisis, volume = detectors()
    for bank in (crisis.thresholds, volume.sequential.thresholds):
        assert bank.scored_dispersion(1000.0) == max(NullGrid().dispersions)


def test_a_steadier_brand_is_given_the_lower_threshold():
    """An hour's volume ±18% (r = 32) against ±35% (r = 8): the same 2,000-a-day brand's
    bursts look like less evidence to a bank that scores buckets as independent (crisis), so
    the threshold that keeps the budget is lower; at 20 a day counts are lumpy whatever the
    bursts, and the rows nearly meet. The volume bank scores an hour's burst as one piece of
    evidence against the brand's own burstiness: its rows nearly meet at every size."""
    crisis, volume = detectors()
    for thresholds in (crisis.thresholds, volume.sequential.thresholds):
        assert thresholds.dispersions == (8.0, 16.0, 32.0)
        for burstier, steadier in zip(thresholds.rows, thresholds.rows[1:], strict=False):
            assert all(a >= b for a, b in zip(burstier, steadier, strict=True))
        assert thresholds.at(20, 32.0) > thresholds.at(20, 8.0) - 1
    assert crisis.thresholds.at(2000, 32.0) < crisis.thresholds.at(2000, 8.0) - 4
    by_hour = volume.sequential.thresholds
    assert by_hour.at(2000, 32.0) > by_hour.at(2000, 8.0) - 1


class MemoryStore:
    """A `ThresholdStore` in a dict (the CLI and the worker keep files: test_json_files.py)."""

    def __init__(self):
        self.kept = {}

    def get(self, name):
        return self.kept.get(name)

    def put(self, name, value):
        self.kept[name] = json.loads(json.dumps(value))  # as a file would give it back


def test_thresholds_are_kept_and_read_back_without_simulating():
    seq = dip()
    simulated = []

    def counted(*a):  # a simulation is what calls the bank's LLRs (compiled or not)
        simulated.append(1)
        return seq.bank_llrs(*a)

    args = (("test-store", seq.rises), counted, len(seq.rises), 1.0, 300, Tolerance(0, 0.04))
    store = MemoryStore()
    calibration.remember_in(store)
    try:
        first = calibrated(*args)
        [name] = store.kept
        assert simulated
        calibration._cached_by_key.cache_clear()  # as a new process: nothing in memory
        simulated.clear()
        assert calibrated(*args) == first
        assert not simulated, "simulated again"
        calibrated(args[0], *args[1:3], 0.5, *args[4:])  # another target: another entry
        assert simulated and len(store.kept) == 2
        # a record that is not one of thresholds is simulated again and replaced
        store.kept[name] = {"half": "a record"}
        calibration._cached_by_key.cache_clear()
        assert calibrated(*args) == first
        assert store.kept[name]["values"] == list(first.values)
    finally:
        calibration.remember_in(None)


def test_a_stored_thresholds_name_covers_the_source_of_every_class_with_the_llrs():
    """The crisis rule's LLRs live in the class it inherits (`CrisisBank`): its module's
    source is part of the name, so an edit there names a new entry, never a stale one."""
    crisis, volume = detectors()
    assert calibration.computing_modules(crisis.bank_llrs) == [
        "alerts.calibration",
        "alerts.detectors.crisis",
        "alerts.detectors.crisis_bank",
        "alerts.llr",
        "alerts.sequential",
    ]
    assert volume.sequential is not None
    assert "alerts.detectors.volume_sequential" in calibration.computing_modules(
        volume.sequential.bank_llrs
    )


@pytest.mark.parametrize("bucket_s", [60, 240, 300, 600, 3600])
def test_any_bucket_that_divides_an_hour_is_simulated_in_whole_hours(bucket_s):
    """`rules check` accepts any engine bucket that divides an hour; the simulation draws the
    null a block at a time, and a block must hold whole hours (the volume bank scores each
    bucket as its share of its hour): 1-minute buckets crashed in blocks of 576."""
    volume = VolumeSpikeDetector(RuleSet.from_text(RULES).rules[1], bucket_s=bucket_s)
    assert volume.sequential is not None
    per_day = 86400 // bucket_s
    best = period_max(
        volume.sequential.bank_llrs,
        per_day=150.0,
        share=0.2,
        dispersion=10.0,
        buckets=3 * per_day,
        bucket_s=bucket_s,
        tolerance=Tolerance(),
        chains=20,
        rng=np.random.default_rng(0),
    )
    assert best.shape == (20,) and np.all(np.isfinite(best)) and np.all(best >= 0)
