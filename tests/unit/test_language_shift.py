"""Language shifts (models/language_shift.py, models/shift_adapt.py) without a real model."""

from pathlib import Path

import numpy as np
import pytest

from earful.records import SENTIMENT_LABELS
from models.heads import SoftmaxHead, softmax
from models.language_shift import (
    apply_shift,
    estimate_shift,
    load_shifts,
    reference_mean,
    save_shifts,
    unit,
)
from models.scorers import EncoderHeadScorer
from models.versions import VersionStore
from tests.fakes import KeywordEncoder

DIM = 24
CENTROIDS = np.eye(3, DIM) * 1.2  # negative, neutral, positive: one direction each


def language(
    n: int, mix: tuple[float, float, float], offset: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Unit embeddings around the class centroids, moved by a language's offset."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=mix)
    x = CENTROIDS[y] + rng.normal(0, 0.35, (n, DIM)) + offset
    return unit(x), y


def head_probs(x: np.ndarray) -> np.ndarray:
    """An 'English' head: the nearest centroid."""
    out: np.ndarray = softmax(8 * x @ CENTROIDS.T)
    return out


def accuracy(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(head_probs(x).argmax(1) == y))


OFFSET = np.zeros(DIM)
OFFSET[:3] = (-0.3, 1.0, -0.5)  # the language reads as neutral, less positive
OFFSET[5] = 0.8  # and sits in a direction of its own


@pytest.mark.parametrize(
    "mix", [(1 / 3, 1 / 3, 1 / 3), (0.7, 0.2, 0.1), (0.1, 0.2, 0.7)], ids=["even", "neg", "pos"]
)
def test_the_shift_recovers_the_language_offset_whatever_the_class_mix(mix):
    english, _ = language(3000, (0.45, 0.35, 0.2), np.zeros(DIM), seed=1)
    reference = reference_mean(english, head_probs)
    sample, _ = language(1500, mix, OFFSET, seed=2)
    est = estimate_shift("sl", sample, head_probs, reference)
    assert est.shift is not None and est.texts == 1500
    test, y = language(2000, (1 / 3, 1 / 3, 1 / 3), OFFSET, seed=3)
    before, after = accuracy(test, y), accuracy(apply_shift(test, est.shift), y)
    home, hy = language(2000, (1 / 3, 1 / 3, 1 / 3), np.zeros(DIM), seed=4)
    assert before < 0.7 < after  # the offset costs a lot; the shift wins most of it back
    assert after > accuracy(home, hy) - 0.03
    # a plain mean would carry the sample's class mix into the shift
    if mix != (1 / 3, 1 / 3, 1 / 3):
        plain = unit(english).mean(0) - sample.mean(0)
        assert accuracy(apply_shift(test, plain), y) < after


def test_no_shift_from_too_few_texts_or_one_class():
    english, _ = language(600, (1 / 3, 1 / 3, 1 / 3), np.zeros(DIM), seed=1)
    reference = reference_mean(english, head_probs)
    few, _ = language(100, (1 / 3, 1 / 3, 1 / 3), OFFSET, seed=2)
    assert "needs 300" in estimate_shift("sv", few, head_probs, reference).why
    one, _ = language(400, (1.0, 0.0, 0.0), np.zeros(DIM), seed=2)
    est = estimate_shift("sv", one, head_probs, reference)
    assert est.shift is None and "fewer than two" in est.why


def test_shifts_apply_to_languages_on_the_shipped_head_only(tmp_path: Path):
    encoder = KeywordEncoder()  # dims: bad good late refund app bias
    shipped = SoftmaxHead(
        np.array([[4.0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 3], [0, 4, 0, 0, 0, 0]], np.float32),
        np.zeros(3, np.float32),
        SENTIMENT_LABELS,
    )
    scorer = EncoderHeadScorer(encoder, {"*": shipped}, name="m", base_id="m1")
    toward_bad = np.array([3.0, 0, 0, 0, 0, 0], np.float32)
    own = SoftmaxHead(shipped.weight, shipped.bias, shipped.labels)
    scorer.use_heads({"sv": own}, "v1", {"sl": toward_bad, "sv": toward_bad})
    labels = scorer.score(["late"] * 3, ["sl", "sv", "en"]).probs.argmax(1)
    # Slovenian is moved (to 'bad'); Swedish has its own head (fitted unshifted); English none
    assert [SENTIMENT_LABELS[i] for i in labels] == ["negative", "neutral", "neutral"]

    # a version carries its shifts; one without them (older version.json) has none
    store = VersionStore(tmp_path)
    v1 = store.publish(
        {}, base="m1", by="t", corrections=0, corrections_through=None, evaluation=[]
    )
    v2 = store.publish(
        {},
        base="m1",
        by="t",
        corrections=0,
        corrections_through=None,
        evaluation=[],
        shifts={"sl": toward_bad},
        shift_evaluation=[{"lang": "sl", "texts": 400}],
    )
    assert store.shifts(v1, "m1") == {}
    got = store.shifts(v2, "m1")
    assert set(got) == {"sl"} and np.allclose(got["sl"], toward_bad)
    assert store.get("v2").shift_evaluation == [{"lang": "sl", "texts": 400}]
    save_shifts(tmp_path / "s.npz", {"de": toward_bad})
    assert np.allclose(load_shifts(tmp_path / "s.npz")["de"], toward_bad)


def test_the_report_says_which_languages_the_version_shifts_and_which_shifts_are_kept(capsys):
    from models.language_shift import ShiftEstimate, too_few
    from models.shift_adapt import ShiftReport

    v = np.ones(DIM, np.float32)
    refused = too_few("sv", 120)
    assert refused is not None and refused.shift is None
    report = ShiftReport(
        estimates=[ShiftEstimate("sl", 900, v, changed=0.1), refused],
        judged={"sl": {"adopted": True, "judged": "not judged: 0 held-out corrections"}},
        shifts={"sl": v, "sv": v, "de": v},  # sv and de: kept from the version in use
    )
    rows = {r["lang"]: r for r in report.as_list()}
    assert (rows["sl"]["in_use"], rows["sl"]["kept"]) == (True, False)
    assert (rows["sv"]["in_use"], rows["sv"]["kept"], rows["sv"]["texts"]) == (True, True, 120)
    assert rows["de"] == {
        "lang": "de",
        "estimated": False,
        "in_use": True,
        "kept": True,
        "why": "not sampled",
    }
    # and `models adapt` prints every kind of row (a kept, unsampled one has no text count)
    from earful.cli.models_cmd import _print_shifts

    _print_shifts(report.as_list())
    printed = " ".join(capsys.readouterr().out.split())
    assert "not sampled" in printed and "kept" in printed and "10.0%" in printed
