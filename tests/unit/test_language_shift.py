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


def test_a_paired_shift_moves_translations_onto_their_originals():
    from models.language_shift import paired_shift

    english, y = language(800, (1 / 3, 1 / 3, 1 / 3), np.zeros(DIM), seed=5)
    # the same content translated: the language's offset, plus noise of its own per text
    rng = np.random.default_rng(6)
    translated = unit(english * 1.0 + OFFSET + rng.normal(0, 0.1, english.shape))
    shift = paired_shift(english[:400], translated[:400])
    assert accuracy(translated[400:], y[400:]) < 0.7
    assert accuracy(apply_shift(translated[400:], shift), y[400:]) > accuracy(english, y) - 0.05
    with pytest.raises(ValueError):
        paired_shift(english[:3], translated[:2])


def test_starter_shifts_sit_under_the_versions_and_only_for_their_base(tmp_path: Path):
    from models.language_shift import load_starter_shifts

    toward_bad = np.array([3.0, 0, 0, 0, 0, 0], np.float32)
    toward_good = np.array([0, 3.0, 0, 0, 0, 0], np.float32)
    path = tmp_path / "starter.npz"
    np.savez(
        path,
        langs=np.array(["sl", "sv"]),
        shifts=np.stack([toward_bad, toward_bad]),
        pairs=np.array([400, 500]),
        base=np.array("m1"),
    )
    assert load_starter_shifts("another base", path) == {}
    assert load_starter_shifts("m1", tmp_path / "missing.npz") == {}
    starters = load_starter_shifts("m1", path)
    assert set(starters) == {"sl", "sv"}

    shipped = SoftmaxHead(
        np.array([[4.0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 3], [0, 4, 0, 0, 0, 0]], np.float32),
        np.zeros(3, np.float32),
        SENTIMENT_LABELS,
    )
    scorer = EncoderHeadScorer(KeywordEncoder(), {"*": shipped}, name="m", base_id="m1")
    scorer.use_starter_shifts(starters)

    def labels() -> list[str]:
        probs = scorer.score(["late"] * 4, ["sl", "sv", "de", "en"]).probs
        return [SENTIMENT_LABELS[i] for i in probs.argmax(1)]

    assert labels() == ["negative", "negative", "neutral", "neutral"]
    # a version's own (stream) shift replaces the starter for its language only, and going
    # back to the shipped heads keeps the starters
    scorer.use_heads({}, "v1", {"sv": toward_good})
    assert labels() == ["negative", "positive", "neutral", "neutral"]
    assert set(scorer.version_shifts) == {"sv"} and set(scorer.shifts) == {"sl", "sv"}
    scorer.use_heads({}, "base")
    assert labels() == ["negative", "negative", "neutral", "neutral"]


def test_a_new_version_carries_stream_shifts_never_the_starters(monkeypatch, capsys):
    from models import shift_adapt
    from models.analyzer import TextAnalyzer
    from models.shift_adapt import estimate_shifts

    monkeypatch.setattr(shift_adapt, "load_reference", lambda base: np.ones(6, np.float32))

    shipped = SoftmaxHead(
        np.array([[4.0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 3], [0, 4, 0, 0, 0, 0]], np.float32),
        np.zeros(3, np.float32),
        SENTIMENT_LABELS,
    )
    scorer = EncoderHeadScorer(KeywordEncoder(), {"*": shipped}, name="m", base_id="m1")
    scorer.use_starter_shifts({"sl": np.ones(6, np.float32)})
    analyzer = TextAnalyzer(scorer)
    scorer.use_heads({}, "v1", {"de": np.ones(6, np.float32)})
    # Swedish has too few texts: nothing new; the version's German shift is kept, and the
    # Slovenian starter is not copied into the version (it stays the shipped one)
    report = estimate_shifts(analyzer, {"sv": ["late"] * 20}, min_texts=300)
    assert set(report.shifts) == {"de"} and not report.changed
    assert set(scorer.shifts) == {"sl", "de"}
    # the report says Swedish (no starter) stays unshifted, and where a starter stays in use
    assert [r["starter"] for r in report.as_list() if r["lang"] == "sv"] == [False]
    report = estimate_shifts(analyzer, {"sl": ["late"] * 20}, min_texts=300)
    [sl] = [r for r in report.as_list() if r["lang"] == "sl"]
    assert sl["starter"] and not sl["in_use"]
    from earful.cli.models_cmd import _print_shifts

    _print_shifts(report.as_list())
    assert "starter shift" in " ".join(capsys.readouterr().out.split())


def test_parallel_pairs_come_from_catalogs_without_markup_fuzzy_or_short_strings(tmp_path):
    from models.training.starter_shifts import catalog_pairs

    def catalog(code: str, body: str) -> None:
        path = tmp_path / "app" / "locale" / code / "LC_MESSAGES" / "django.po"
        path.parent.mkdir(parents=True)
        header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        path.write_text(header + body)

    catalog(
        "sl",
        'msgid "Your order %(id)s could not be <b>saved</b>."\n'
        'msgstr "Vašega naročila %(id)s ni bilo mogoče <b>shraniti</b>."\n\n'
        'msgid "Save"\nmsgstr "Shrani"\n\n'  # one English word: too short to carry an offset
        '#, fuzzy\nmsgid "The page was not found on this server."\n'
        'msgstr "Strani ni bilo mogoče najti."\n',
    )
    catalog("pt_BR", 'msgid "Please try again later."\nmsgstr "Tente novamente mais tarde."\n')
    catalog("nb", 'msgid "Please try again later."\nmsgstr "Prøv igjen senere."\n')
    pairs = catalog_pairs(tmp_path)
    assert pairs["sl"] == {
        "Your order could not be saved .": "Vašega naročila ni bilo mogoče shraniti ."
    }
    assert pairs["pt"] == {"Please try again later.": "Tente novamente mais tarde."}
    assert set(pairs) == {"sl", "pt", "no"}  # Norwegian under the code py3langid gives it
