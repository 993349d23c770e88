"""The clairvoyant floor (tooling/clairvoyant.py) on generated streams."""

from datetime import timedelta

import pytest

from tooling.clairvoyant import (
    FloorRow,
    IncidentModel,
    MinuteCounts,
    clairvoyant_delay,
    incident_model,
    seen_mix,
    size_class,
)
from tooling.scenarios import SET_START, BrandProfile, Incident, TextPools, generate

POOLS = TextPools(
    by_label={"negative": ["bad {name}"], "neutral": ["{name} today"], "positive": ["good {name}"]}
)
BRAND = BrandProfile("Acme", "acme", per_day=600, mix=(0.2, 0.5, 0.3))


def counts_for(incident, noise=0.2, *, brand=BRAND, others=()):
    counts = MinuteCounts([incident.term] if incident.term else [])
    for row in generate(
        [brand],
        POOLS,
        start=SET_START,
        days=4,
        incidents=[*others, incident],
        seed=4,
        with_sentiment=True,
        label_noise=noise,
    ):
        counts.add(row)
    return counts


def test_a_crisis_is_caught_within_minutes_by_the_clairvoyant_cusum():
    start = SET_START + timedelta(days=3, hours=11)
    crisis = Incident(
        "crisis", "Acme", start, timedelta(hours=1), volume_factor=3, mix=(0.8, 0.15, 0.05)
    )
    model = incident_model(crisis, BRAND, 0.2)
    delay = clairvoyant_delay(model, counts_for(crisis))
    assert delay is not None and 1 <= delay <= 10
    # the model survives the truth file
    assert IncidentModel.from_dict(model.to_dict()) == model


def test_no_change_is_never_detected():
    start = SET_START + timedelta(days=3, hours=11)
    nothing = Incident("sentiment_dip", "Acme", start, timedelta(hours=2), mix=BRAND.mix)
    assert clairvoyant_delay(incident_model(nothing, BRAND, 0.2), counts_for(nothing)) is None


def test_seen_mix_and_sizes():
    assert sum(seen_mix((0.8, 0.15, 0.05), 0.2)) == pytest.approx(1.0)
    assert seen_mix((0.8, 0.15, 0.05), 0.2)[0] == pytest.approx(0.8 * 0.8 + 0.2 * 0.2 / 2)
    assert [size_class(x) for x in (18, 40, 120, 700, 1800)] == [20, 45, 150, 600, 2000]
    row = FloorRow("i", "crisis", "Acme", 45, earful_min=23.0, floor_min=14.0)
    assert row.within_goal and row.ratio == pytest.approx(23 / 14)
    assert not FloorRow("i", "crisis", "Acme", 45, 40.0, 14.0).within_goal


def _null_month_alarms(per_day, dispersion, factor, seed):
    """False alarms in 30 days of a brand's ordinary bursty volume (the generator's model: one
    Gamma draw per hour), for the Poisson and the burst-aware volume evidence."""
    import math

    import numpy as np

    from tooling.clairvoyant import MINUTES_PER_MONTH, HourVolumeEvidence

    rng = np.random.default_rng(seed)
    h = math.log(MINUTES_PER_MONTH)
    rate = per_day / 24 / 60
    alarms = {"poisson": 0, "burst": 0}
    s = {"poisson": 0.0, "burst": 0.0}
    for _ in range(24 * 30):
        hour = HourVolumeEvidence(rate, dispersion)
        for n in rng.poisson(rate * rng.gamma(dispersion, 1 / dispersion), 60):
            steps = {
                "poisson": n * math.log(factor) - (factor - 1) * rate,
                "burst": hour.add(int(n), (factor - 1) * rate),
            }
            for kind, step in steps.items():
                s[kind] = max(0.0, s[kind] + step)
                if s[kind] >= h:
                    alarms[kind] += 1
                    s[kind] = 0.0
    return alarms


def test_the_floor_holds_its_false_alarm_rate_at_a_busy_bursty_brand():
    # scored as Poisson, a 2,000/day brand's ordinary hour-long bursts read as surges: dozens
    # of alarms a month at h = ln(ARL0), so its "delays" were no limit at one a month
    alarms = _null_month_alarms(2000, 10, 1.5, seed=3)
    assert alarms["poisson"] >= 10
    assert alarms["burst"] <= 3


def test_the_burst_aware_floor_still_catches_a_surge():
    start = SET_START + timedelta(days=3, hours=11)
    crisis = Incident(
        "crisis", "Acme", start, timedelta(hours=1), volume_factor=3, mix=(0.8, 0.15, 0.05)
    )
    model = incident_model(crisis, BRAND, 0.2)
    assert model.dispersion == BRAND.dispersion
    delay = clairvoyant_delay(model, counts_for(crisis))
    assert delay is not None and 1 <= delay <= 15
    # a truth file from before the dispersion was recorded is scored as Poisson
    old = model.to_dict()
    del old["dispersion"]
    assert IncidentModel.from_dict(old).dispersion is None


def test_the_floor_expects_a_drifted_brand_at_its_drifted_volume():
    # a steady brand's volume doubled over its first two days; two days later a faint surge
    # (x1.3 for two hours, the usual mix) that even the floor cannot tell from chance. Told of
    # the drift it sees nothing; expecting the old volume, it took the drift for a surge
    steady = BrandProfile("Acme", "acme", per_day=600, mix=(0.2, 0.5, 0.3), dispersion=200.0)
    drift = Incident("drift", "Acme", SET_START, timedelta(days=2), volume_factor=2.0)
    start = SET_START + timedelta(days=3, hours=11)
    faint = Incident("crisis", "Acme", start, timedelta(hours=2), volume_factor=1.3, mix=steady.mix)
    counts = counts_for(faint, brand=steady, others=[drift])
    told = incident_model(faint, steady, 0.2, [drift, faint])
    assert told.drifts and IncidentModel.from_dict(told.to_dict()) == told
    assert clairvoyant_delay(told, counts) is None
    blind = incident_model(faint, steady, 0.2)
    delay = clairvoyant_delay(blind, counts)
    assert delay is not None


def test_a_term_two_incidents_share_is_counted_once_a_mention():
    counts = MinuteCounts(["#Seatgate", "#seatgate"])
    counts.add(
        {
            "created_at": "2026-10-16T23:48:26Z",
            "brands": ["Small"],
            "text": "so #seatgate",
            "sentiment": {"label": "neutral"},
        }
    )
    (row,) = counts.counts["Small"].values()
    assert row[0] == 1 and row[3]["#seatgate"] == 1


def test_a_floor_not_told_the_new_term_pays_for_every_key_it_watches():
    from tooling.clairvoyant import floor_rows, unknown_term_keys

    start = SET_START + timedelta(days=3, hours=11)
    term = Incident("new_term", "Acme", start, timedelta(hours=2), term="#seatgate", term_rate=0.1)
    model = incident_model(term, BRAND, 0.2)
    counts = counts_for(term)
    (row,) = floor_rows([model], counts, {model.id: 20.0})
    assert unknown_term_keys() == 3_000  # 1,000 terms x 3 shares, as the rule's threshold
    assert row.floor_min is not None and row.unknown_floor_min is not None
    # the same evidence against a threshold higher by ln(3,000): never sooner
    assert row.unknown_floor_min >= row.floor_min
    assert row.unknown_floor_min == clairvoyant_delay(
        model, counts, false_alarms_per_month=1 / 3_000
    )
    assert row.within_unknown_goal == (
        max(1.5 * row.unknown_floor_min, row.unknown_floor_min + 10) >= 20.0
    )
    # other kinds know every key they watch (one volume, one mix): no second floor
    crisis = Incident(
        "crisis", "Acme", start, timedelta(hours=1), volume_factor=3, mix=(0.8, 0.15, 0.05)
    )
    (other,) = floor_rows([incident_model(crisis, BRAND, 0.2)], counts_for(crisis), {})
    assert other.unknown_floor_min is None and other.within_unknown_goal is None
    # the report's summary by size and kind carries it for new terms only
    from earful.cli.eval_floor import _by_size_and_kind

    by_kind = {s["kind"]: s for s in _by_size_and_kind([row, other])}
    assert by_kind["new_term"]["unknown_floor_median_min"] == round(row.unknown_floor_min, 2)
    assert by_kind["new_term"]["within_unknown_goal"] == int(bool(row.within_unknown_goal))
    assert "unknown_floor_median_min" not in by_kind["crisis"]
