"""CUSUM statistics against simulation (false-alarm rate and delay against theory), and the
crisis detector on a small brand's stream."""

import json
import math
import re
import struct
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.engine import DetectionEngine
from alerts.llr import count_llr, round3, share_llr
from alerts.replay import Replayer, observations_from_dict
from alerts.rule_state import SeriesCusumState, ShareCusumsState
from alerts.rules import RuleSet
from alerts.sequential import (
    LEARN_DELAY_S,
    Alternative,
    Cusum,
    Overdispersion,
    argmax,
    bank,
    cusum_step,
    ripe,
    threshold,
)
from alerts.share_cusums import FunctionShares, ShareCusums
from tooling.scenarios import SET_START, BrandProfile, Incident, TextPools, generate

E, P0 = 2.0, 0.25  # mentions per bucket and negative share under the baseline


def simulate(alternatives, h, buckets, rng, change_at=None, after=(1.0, 0.0)):
    """Buckets of Poisson counts with binomial negatives; returns the alarm bucket indexes
    (the CUSUM restarts after each alarm)."""
    alarms, cusum = [], Cusum.empty(len(alternatives))
    for t in range(buckets):
        factor, rise = after if change_at is not None and t >= change_at else (1.0, 0.0)
        n = int(rng.poisson(E * factor))
        p = P0 + rise * (1 - P0)
        k = int(rng.binomial(n, p))
        llrs = [
            count_llr(n, E, a.factor, None) + share_llr(k, n, P0, a.negative_share(P0))
            for a in alternatives
        ]
        cusum.update(llrs, t, cap=10 * h)
        if cusum.best()[1] >= h:
            alarms.append(t)
            cusum = Cusum.empty(len(alternatives))
            if change_at is not None:
                break
    return alarms


def test_false_alarms_stay_within_the_target_rate():
    alternatives = bank((1.0, 2.0, 4.0), (0.2, 0.4))
    per_month = 200.0  # a high target, so a short simulation sees enough alarms
    h = threshold(len(alternatives), per_month, 300)
    buckets = 60_000
    alarms = simulate(alternatives, h, buckets, np.random.default_rng(7))
    months = buckets * 300 / 2_592_000
    # Lorden: each CUSUM's run length to a false alarm is at least e^h; the union bound
    # over the bank makes the target an upper bound on the rate
    assert len(alarms) <= per_month * months
    assert len(alarms) >= 1  # and not absurdly conservative: the threshold is not infinite


def test_detection_delay_matches_theory():
    """Delay of a CUSUM ~ h / KL per bucket (Lorden), plus a little overshoot."""
    alt = Alternative(3.0, 0.0)
    h = threshold(1, 1.0, 300)
    kl = E * (3.0 * math.log(3.0) - 3.0 + 1.0)
    rng = np.random.default_rng(11)
    delays = [
        simulate([alt], h, 200, rng, change_at=0, after=(3.0, 0.0))[0] + 1 for _ in range(300)
    ]
    mean = sum(delays) / len(delays)
    assert h / kl <= mean <= h / kl + 3.0


def test_joint_evidence_beats_either_signal_alone():
    """A small change in volume *and* sentiment: the joint CUSUM is faster than each alone."""
    h = threshold(1, 1.0, 300)
    change = (2.0, 0.3)
    mean = {}
    for name, alt in {
        "joint": Alternative(2.0, 0.3),
        "volume": Alternative(2.0, 0.0),
        "sentiment": Alternative(1.0, 0.3),
    }.items():
        rng = np.random.default_rng(5)
        runs = [simulate([alt], h, 400, rng, change_at=0, after=change) for _ in range(200)]
        mean[name] = sum(r[0] + 1 for r in runs if r) / len(runs)
    assert mean["joint"] < mean["volume"] and mean["joint"] < mean["sentiment"]


def test_the_bank_and_state_round_trip_through_json():
    cusum = Cusum.empty(4)
    cusum.update([1.0, -1.0, 3.0, 0.5], 600, cap=20)
    stored = SeriesCusumState(cu=cusum.stored())
    back = Cusum.of(SeriesCusumState.load(json.loads(json.dumps(stored.dump()))).cu, 4)
    assert back == cusum and back.best() == (2, 3.0) and back.since[2] == 600
    assert Cusum.of(cusum.stored(), 6) == Cusum.empty(6)  # the bank was edited


# -- the crisis detector on scenario streams ---------------------------------------------------
POOLS = TextPools(
    by_label={
        "negative": ["@{brand} flight cancelled again, stuck at the gate", "awful delay {name}"],
        "neutral": ["@{brand} what time does boarding start", "flying {name} tomorrow"],
        "positive": ["@{brand} great crew today, thank you", "love flying {name}"],
    }
)
RULES = """
engine: {bucket: 5m, allowed_lateness: 2m}
rules:
  - {name: crisis, kind: crisis, window: 1h, false_alarms_per_month: 1, warmup: 24h}
  - {name: dip, kind: sentiment_dip, window: 1h, min_volume: 15, min_delta: 0.18, alpha: 1.0e-4,
     warmup: 12h}
  - {name: spike, kind: volume_spike, window: 1h, min_volume: 15, min_ratio: 2.0, alpha: 1.0e-5,
     warmup: 24h}
"""


def replay(per_day, incident, seed=3, days=5, rules=RULES, statuses=("firing",)):
    brand = BrandProfile("Tiny", "tiny", per_day=per_day, mix=(0.25, 0.45, 0.30))
    # a busy brand shares the stream, as in any deployment: the small brand's silent
    # quarter-hours are zero traffic, not an ingestion gap
    other = BrandProfile("Busy", "busy", per_day=2000)
    rows = generate(
        [brand, other],
        POOLS,
        start=SET_START,
        days=days,
        incidents=[incident] if incident else [],
        seed=seed,
        with_sentiment=True,
        retweet_share=0.0,
    )
    replayer = Replayer(DetectionEngine(RuleSet.from_text(rules)))
    alerts = replayer.feed(o for row in rows for o in observations_from_dict(row))
    return [a for a in alerts + replayer.finish() if a.status in statuses and a.brand == "Tiny"]


def test_a_45_a_day_brands_crisis_is_caught_first_by_the_joint_detector():
    start = SET_START + timedelta(days=3, hours=10)
    crisis = Incident(
        "crisis", "Tiny", start, timedelta(hours=3), volume_factor=6, mix=(0.8, 0.15, 0.05)
    )
    alerts = replay(45, crisis)
    assert alerts and all(a.fired_at >= start for a in alerts)  # nothing before it
    first = {a.rule: a.fired_at for a in sorted(alerts, key=lambda a: a.fired_at, reverse=True)}
    assert "crisis" in first and first["crisis"] - start <= timedelta(hours=1, minutes=30)
    assert all(first["crisis"] <= t for t in first.values())
    [crisis_alert] = [a for a in alerts if a.rule == "crisis"][:1]
    assert "started around" in crisis_alert.summary


def test_a_viral_positive_surge_is_not_a_crisis():
    start = SET_START + timedelta(days=3, hours=10)
    viral = Incident(
        "viral_positive", "Tiny", start, timedelta(hours=2), volume_factor=5, mix=(0.03, 0.1, 0.87)
    )
    assert not [a for a in replay(150, viral) if a.rule == "crisis"]


def test_ordinary_weeks_raise_no_crisis():
    for seed in (21, 22):
        assert not [a for a in replay(45, None, seed=seed, days=7) if a.rule == "crisis"]


@pytest.mark.parametrize("per_day", [150, 2000])
def test_a_crisis_resolves_soon_after_it_ends(per_day):
    """Once it fired, a reverse test weighs "back to usual" against halfway to what was
    observed. Before, the capped forward CUSUM had to fall below h / 2, and the alert stayed
    open 2.7-4.3 h after a 2-hour crisis had ended (measured on this stream: 3:45 at 150 a day,
    2:40 at 2,000), while nothing the PR team saw was still happening."""
    start = SET_START + timedelta(days=3, hours=10)
    crisis = Incident(
        "crisis", "Tiny", start, timedelta(hours=2), volume_factor=4, mix=(0.7, 0.2, 0.1)
    )
    alerts = [
        a for a in replay(per_day, crisis, statuses=("firing", "resolved")) if a.rule == "crisis"
    ]
    assert [a.status for a in alerts] == ["firing", "resolved"]
    fired, resolved = (a.fired_at for a in alerts)
    assert start <= fired <= start + timedelta(minutes=30)
    assert resolved - (start + timedelta(hours=2)) <= timedelta(hours=1)


def test_scenario_replays_are_reproducible():
    assert replay(45, None, seed=21, days=2) == replay(45, None, seed=21, days=2)


def test_what_a_crisis_alert_says_does_not_depend_on_other_rules_windows():
    """The engine holds as many buckets as the longest window needs; the crisis detector keeps
    its own sums since the change began, so adding a 3-hour rule changes none of its alerts
    (before, "N mentions since 09:40" counted only the buckets held, and its checks with it)."""
    start = SET_START + timedelta(days=3, hours=10)
    crisis = Incident(
        "crisis", "Tiny", start, timedelta(hours=3), volume_factor=4, mix=(0.7, 0.2, 0.1)
    )
    slow = "  - {name: slow, kind: volume_spike, window: 3h, min_volume: 900, warmup: 24h}\n"
    said = []
    for rules in (RULES, RULES + slow):
        alerts = replay(45, crisis, rules=rules)
        said.append(
            [(a.fired_at, a.summary, a.evidence.observed) for a in alerts if a.rule == "crisis"]
        )
    assert said[0] and said[0] == said[1]
    # the change began longer ago than the 1 h of buckets the engine holds
    lead = re.search(r"(\d+) min before this alert", said[0][0][1])
    assert lead and int(lead.group(1)) > 60


TERM_RULES = """
engine: {bucket: 5m, allowed_lateness: 2m}
rules:
  - {name: term, kind: emerging_term, window: 1h, min_volume: 8, min_lift: 5, alpha: 1.0e-4,
     false_alarms_per_month: 1, warmup: 24h}
"""


def test_what_a_term_alert_says_does_not_depend_on_other_rules_windows():
    """A new hashtag at a 150-a-day brand builds up for more than the hour the engine holds
    with only a 1-hour rule: its CUSUM keeps the term's count and the mentions since it
    began, so adding a 3-hour rule changes neither when it fires nor what it says (before,
    the count was taken from the buckets held: the alarm came late, with 4 of 10 mentions
    instead of 5 of 16, or never)."""
    slow = "  - {name: slow, kind: volume_spike, window: 3h, min_volume: 900, warmup: 24h}\n"
    for hour, rate in ((14, 0.3), (11, 0.25)):
        start = SET_START + timedelta(days=3, hours=hour)
        incident = Incident(
            "new_term", "Tiny", start, timedelta(hours=3), term="#wifidown", term_rate=rate
        )
        said = []
        for rules in (TERM_RULES, TERM_RULES + slow):
            alerts = replay(150, incident, rules=rules)
            said.append(
                [(a.fired_at, a.summary, a.evidence.observed) for a in alerts if a.rule == "term"]
            )
        assert said[0] and said[0] == said[1]
        lead = re.search(r"(\d+) min before this alert", said[0][0][1])
        assert lead and int(lead.group(1)) > 60  # longer ago than the hour of buckets held


def test_term_cusums_caught_up_lazily_equal_a_cusum_updated_at_every_bucket():
    """`ShareCusums.fold` touches only the keys in a bucket and lets an absent key catch up
    when it next appears; that must be the CUSUM of every bucket (an absent key's bucket is
    k = 0 of n), for each key and alternative, with the same change points."""
    rng = np.random.default_rng(5)
    shares = ShareCusums(tolerance=0.2)
    state = ShareCusumsState()
    usual = {"a": 0.002, "b": 0.01, "c": 0.05, "d": 0.2}

    def alternatives(q0):
        return [max(s, min(q0 * 3, 0.95)) for s in (0.05, 0.15, 0.4)]

    h = 40.0
    eager = {k: Cusum.empty(3) for k in usual}
    peak, compared = 0.0, 0
    for b in range(300):  # 25 hours of 5-minute buckets: evidence older than 6 h is let go
        start, n = b * 300, int(rng.integers(1, 12))
        # rare keys, and "a" in 30% of mentions for 7.5 hours: evidence capped, then let go
        counts = {k: int(rng.binomial(n, 0.3 if k == "a" and 100 <= b < 190 else p))
                  for k, p in usual.items()}  # fmt: skip
        counts = {k: c for k, c in counts.items() if c}
        shares.fold(state, n, counts, FunctionShares(usual.get, alternatives), start=start,
                    end=start + 300, h=h)  # fmt: skip
        for key, p0 in usual.items():
            q0 = min(p0 * 1.2, 0.95)
            llrs = [share_llr(counts.get(key, 0), n, q0, p1) for p1 in alternatives(q0)]
            eager[key].update(llrs, start, cap=1.5 * h)
            eager[key].forget_before(start + 300 - shares.new_normal_s)
        peak = max(peak, *eager["a"].s)
        if b % 10 == 9:  # compare the keys the lazy state has just caught up
            for key in counts:
                s, since = state.cu[key][0], state.cu[key][1]
                assert since == eager[key].since, (b, key)
                assert s == pytest.approx(eager[key].s, abs=0.01), (b, key)
                compared += any(x > 0 for x in s)
    assert peak > 20 and compared > 10  # evidence was built and compared (not vacuous)


def test_a_cusum_step_floors_at_zero_caps_and_dates_its_evidence():
    assert cusum_step(0.0, -1, -2.0, 600, cap=10.0) == (0.0, -1)  # never below zero
    assert cusum_step(0.0, -1, 3.0, 600, cap=10.0) == (3.0, 600)  # begins with this bucket
    assert cusum_step(3.0, 600, 4.0, 900, cap=10.0) == (7.0, 600)  # goes on: same start
    assert cusum_step(7.0, 600, 9.0, 1200, cap=10.0) == (10.0, 600)  # held at the cap
    assert cusum_step(7.0, 600, -7.5, 1200, cap=10.0) == (0.0, -1)  # evidence used up


def test_a_surge_does_not_raise_its_own_threshold_and_ordinary_bursts_are_learned_in_full():
    """The dispersion (and with it h) learns each bucket two hours late, and holds buckets
    back for longer while evidence builds: a surge that fires never made the brand look
    burstier, and a burst that subsides is learned after all, exactly as if it had been
    learned at once (same buckets, same order)."""
    rng = np.random.default_rng(7)
    dispersion = Overdispersion(prior=0.1, prior_weight=50.0)
    late = dispersion.delay_buckets
    plain, held_pair, held = [0.0, 0.0], [0.0, 0.0], []
    e, r = 2.0, 16.0  # mentions per bucket, the true burstiness
    counts = [float(rng.poisson(e * rng.gamma(r, 1 / r))) for _ in range(4000)]  # two weeks
    for n in counts:
        dispersion.learn(plain, n, e)
        dispersion.learn_or_hold(held_pair, held, n, e, building=False)
    lagged = [0.0, 0.0]
    for n in counts[:-late]:
        dispersion.learn(lagged, n, e)
    assert held_pair == lagged and [n for n, _ in held] == counts[-late:]
    before = dispersion.dispersion(held_pair)
    assert before == pytest.approx(dispersion.dispersion(plain), rel=0.02)

    surge = (9.0, 7.0, 13.0, 8.0, 10.0)  # a viral surge's first 25 minutes at 4x
    for n in surge:
        dispersion.learn(plain, n, e)
        dispersion.learn_or_hold(held_pair, held, n, e, building=True)
    assert dispersion.dispersion(plain) < 0.75 * before  # learned at once: h would rise
    assert dispersion.dispersion(held_pair) == before  # held: judged as before it began
    held.clear()  # it fired: its buckets are never learned

    burst = held_pair.copy()
    ordinary = [float(rng.poisson(e)) for _ in range(late)]
    steps = [(6.0, True), (5.0, True), (1.0, False)] + [(n, False) for n in ordinary]
    for n, building in steps:  # an ordinary burst builds evidence, then subsides
        dispersion.learn_or_hold(burst, held, n, e, building=building)
    replayed = held_pair.copy()
    for n in (6.0, 5.0, 1.0):
        dispersion.learn(replayed, n, e)
    assert burst == pytest.approx(replayed) and [n for n, _ in held] == ordinary
    # at most max_held wait: a change that builds for long is learned from its oldest on
    pair, waiting = [0.0, 0.0], []
    for _ in range(80):
        dispersion.learn_or_hold(pair, waiting, 4.0, e, building=True, max_held=72)
    assert len(waiting) == 72 and pair[1] > 0


def test_a_small_brands_rare_big_buckets_do_not_read_as_burstiness_once_winsorised():
    """At 0.25 mentions a bucket (a 45-a-day brand) whose hours vary by dispersion 12, one
    bucket of 4 a day (a thread, an incident no alert caught) made the plain pooled moments
    read the brand as bursty as dispersion 1-2 over two weeks, so a surge's volume counted
    for little; residuals clipped at 4 standard deviations leave it several times steadier."""
    plain = Overdispersion(prior=0.1, prior_weight=50.0)
    clipped = Overdispersion(prior=0.1, prior_weight=50.0, clip_sd=4.0)
    found = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        a, b = [0.0, 0.0], [0.0, 0.0]
        for i in range(2 * 2016):
            n = 4.0 if i % 288 == 100 else float(rng.poisson(0.25 * rng.gamma(12.0, 1 / 12.0)))
            plain.learn(a, n, 0.25)
            clipped.learn(b, n, 0.25)
        found.append((plain.dispersion(a), clipped.dispersion(b)))
    assert all(c > 2 * p for p, c in found)
    assert sorted(p for p, _ in found)[2] < 2.5 and sorted(c for _, c in found)[2] > 6


def test_a_baseline_learns_a_bucket_once_it_has_waited_two_hours():
    queue: list[list[float]] = []
    learned = []
    for start in range(0, 4 * 3600, 300):
        learned += ripe(queue, [float(start), 1.0], start)
        assert all(row[0] > start - LEARN_DELAY_S for row in queue)
        assert [row[0] for row in learned] == [
            float(t) for t in range(0, start - LEARN_DELAY_S + 1, 300)
        ]


def test_a_viral_surge_does_not_make_the_crisis_rule_read_the_brand_as_burstier():
    """A surge whose mix does not turn negative never builds the crisis CUSUM; its buckets
    had been learned as ordinary burstiness (a 600-a-day brand read r = 6 where its volume rule
    read 26), which raised the crisis threshold and cut every later crisis's evidence."""
    from alerts.detectors.crisis import DISPERSION

    def dispersion_after(incidents: list[Incident]) -> float:
        brand = BrandProfile("Brand", "brand", per_day=600, mix=(0.25, 0.45, 0.30))
        rows = generate(
            [brand],
            POOLS,
            start=SET_START,
            days=5,
            incidents=incidents,
            seed=11,
            with_sentiment=True,
            retweet_share=0.0,
        )
        replayer = Replayer(DetectionEngine(RuleSet.from_text(RULES)))
        replayer.feed(o for row in rows for o in observations_from_dict(row))
        replayer.finish()
        [series] = replayer.states["Brand"].series.values()
        return DISPERSION.dispersion(series.rules["crisis"].phi)

    start = SET_START + timedelta(days=3, hours=10)
    viral = Incident(
        "viral_positive", "Brand", start, timedelta(hours=1), volume_factor=4, mix=(0.1, 0.2, 0.7)
    )
    ordinary = dispersion_after([])
    assert dispersion_after([viral]) >= 0.8 * ordinary


def test_a_findings_evidence_is_built_once_and_only_when_read():
    from alerts.detectors.base import Finding
    from earful.records import Evidence

    built: list[int] = []

    def build() -> Evidence:
        built.append(1)
        return Evidence(observed=3, expected=1)

    dropped = Finding(anomalous=False, sustained=True, proof=build)
    kept = Finding(anomalous=True, sustained=True, proof=build)
    assert built == []  # nothing reads the dropped one's evidence
    assert kept.evidence is not None and kept.evidence.observed == 3
    assert kept.evidence is kept.evidence and built == [1]
    assert dropped.anomalous is False and built == [1]


def test_a_resolved_crisis_spends_its_evidence():
    """Once a crisis alert resolves, the evidence it was raised on must not raise it again (a
    busy brand's sentiment dip, capped at 1.5 h of evidence, re-raised the same crisis minutes
    after the resolved notice, "started 5 h ago")."""
    from alerts.buckets import Bucket
    from alerts.detectors.base import Context
    from alerts.detectors.crisis import CrisisDetector
    from alerts.rules import CrisisRule

    detector = CrisisDetector(CrisisRule(name="c"))
    state = detector.State()
    k = len(detector.alternatives)
    ctx = Context(brand="acme", end=1_800_000_300, bucket_s=300, history_s=2 * 86400)
    bucket = Bucket(start=1_800_000_000, n=3, neg=2)
    state.cusum, state.span = ([9.0] * k, [1_799_990_000] * k), [[30.0, 20.0, 10.0]] * k
    state.armed, state.calm = [2.5, 0.45], 1.2
    detector.learn(bucket, state, ctx, {""})  # firing: the evidence stays
    assert state.ep == 1 and state.cusum is not None and state.armed is not None
    detector.learn(bucket, state, ctx, set())  # resolved: spent, the reverse test disarmed
    assert state.ep == 0 and state.cusum is None and state.span is None
    assert state.armed is None and state.calm == 0.0
    assert detector.State.load(json.loads(json.dumps(state.dump()))) == state


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(min_value=-2e3, max_value=2e3),
        st.integers(-(10**7), 10**7).map(lambda k: k / 2000),  # ties and near-ties
        st.integers(-(10**7), 10**7).map(lambda k: k / 1000 + 5e-4),
    )
)
def test_round3_is_round_to_three_places_bit_for_bit(x):
    assert struct.pack("<d", round3(x)) == struct.pack("<d", round(x, 3))


@settings(max_examples=3000, deadline=None)
@given(
    st.floats(min_value=1e-3, max_value=1e4),
    st.floats(min_value=1.0001, max_value=50.0),
    st.floats(min_value=0.05, max_value=1e6),
)
def test_an_empty_buckets_added_count_llr_is_the_full_expression_bit_for_bit(e, f, r):
    """`count_llr` skips the lgamma terms at n = 0 (they cancel exactly): the same double."""
    mu0, mu1, r1 = e, f * e, f * f * r
    n = 0
    full = (
        math.lgamma(n + r1)
        - math.lgamma(r1)
        - math.lgamma(n + r)
        + math.lgamma(r)
        + r1 * math.log(r1 / (r1 + mu1))
        - r * math.log(r / (r + mu0))
        + n * (math.log(mu1 / (r1 + mu1)) - math.log(mu0 / (r + mu0)))
    )
    got = count_llr(0, e, f, r, added=True)
    assert struct.pack("<d", got) == struct.pack("<d", full)


@given(st.lists(st.sampled_from([0.0, 0.5, 1.25, 3.0, -1.0]), min_size=1, max_size=20))
def test_argmax_is_the_first_largest_as_max_over_the_indices(values):
    assert argmax(values) == max(range(len(values)), key=values.__getitem__)
    with pytest.raises(ValueError):
        argmax([])


def test_a_bank_at_rest_keeps_its_sums_and_one_that_moved_gets_new_ones():
    cusum = Cusum.empty(3)
    sums = [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    assert cusum.follow(sums, 600, (4.0, 1.0)) is sums  # nothing began: the zeros as they are
    cusum.update([-1.0, 2.0, -3.0], 600, cap=100.0)
    moved = cusum.follow(sums, 600, (4.0, 1.0))
    assert moved == [[0.0, 0.0], [4.0, 1.0], [0.0, 0.0]] and moved is not sums
    assert sums == [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    # back at rest, but the sums it holds are not zeros yet: built afresh
    back = Cusum.empty(3)
    assert back.follow(moved, 900, (2.0, 0.0)) == [[0.0, 0.0]] * 3


def test_the_crisis_rules_level_learns_two_hours_late_and_never_an_alerts_onset():
    """At a 45-a-day brand the level (hours-long half-life, each bucket capped at twice the
    expectation plus 3) rose 10% within a crisis's first 25 minutes, before its evidence
    reached half the threshold, and lowered the evidence of every bucket after."""
    from alerts.buckets import Bucket
    from alerts.detectors.base import Context
    from alerts.detectors.volume_spike import VolumeSpikeDetector
    from alerts.rule_state import VolumeProfile
    from alerts.rules import VolumeSpikeRule

    def fed(level_late: bool, onset: int, marks: set[str]) -> list[float]:
        detector = VolumeSpikeDetector(
            VolumeSpikeRule(name="crisis.volume", window=timedelta(hours=1)),
            level_late=level_late,
        )
        state, start = VolumeProfile(), 0
        rng = np.random.default_rng(5)
        for i in range(3 * 288 + onset):  # three ordinary days, then the onset's buckets
            start = i * 300
            n = 4 if i >= 3 * 288 else int(rng.poisson(0.3))
            ctx = Context(brand="Tiny", end=start + 300, bucket_s=300, history_s=start + 300)
            detector.learn(Bucket(n=n, start=start), state, ctx, set())
        levels = [detector.level(state)]
        for i in range(1, 25):  # the alert fires (or not), then two ordinary hours
            start += 300
            ctx = Context(brand="Tiny", end=start + 300, bucket_s=300, history_s=start + 300)
            detector.learn(Bucket(n=0, start=start), state, ctx, marks if i < 3 else set())
        return [*levels, detector.level(state)]

    at_once, late = fed(False, 5, set()), fed(True, 5, set())
    assert at_once[0] > 1.15 * late[0]  # learned at once, five buckets of 4 moved the level
    fired = fed(True, 5, {"firing"})
    assert fired[1] < late[1]  # no alert: learned two hours late; an alert's onset never
    building = fed(True, 5, {"building"})
    assert building[1] > fired[1] and building[1] == pytest.approx(late[1], rel=1e-3)

    from alerts.detectors.crisis import CrisisDetector
    from alerts.rules import CrisisRule

    assert CrisisDetector(CrisisRule(name="crisis")).volume.level_late
