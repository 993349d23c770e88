"""Corrections and adapted model versions, without Kafka or a search engine."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from earful.configfile import ConfigError
from earful.labels_file import read_label_file
from earful.records import SENTIMENT_LABELS, Correction
from models.adapt import Example, adapt, fit_head, held_out, score
from models.analyzer import TextAnalyzer
from models.heads import SoftmaxHead
from models.registry import VersionWatcher
from models.scorers import EncoderHeadScorer
from models.versions import BASE, VersionError, VersionStore
from streams.labels import apply_correction, correction_for
from tests.fakes import KeywordEncoder

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
DIM = 16


def base_head() -> SoftmaxHead:
    """A head that reads polarity off dimension 0 (the 'English' meaning of the embedding)."""
    w = np.zeros((3, DIM), dtype=np.float32)
    w[0, 0], w[2, 0] = -4.0, 4.0
    return SoftmaxHead(w, np.zeros(3, dtype=np.float32), SENTIMENT_LABELS)


def team_language(n: int, lang: str, rng: np.random.Generator) -> list[Example]:
    """A language whose polarity lives on dimension 1; dimension 0 is noise the base head
    believes in (a domain word that means the opposite here)."""
    out = []
    for i in range(n):
        label = int(rng.integers(0, 3))
        x = rng.normal(0, 0.3, DIM)
        x[1] += (label - 1) * 1.5
        x[0] += -(label - 1) * 0.5  # misleads the base head
        out.append(Example(f"{lang}-{i}", lang, label, x.astype(np.float32)))
    return out


def test_held_out_fifth_is_stable_and_about_a_fifth():
    ids = [f"m{i}" for i in range(5000)]
    share = sum(held_out(i) for i in ids) / len(ids)
    assert 0.17 < share < 0.23
    assert [held_out(i) for i in ids[:50]] == [held_out(i) for i in ids[:50]]


def test_adapt_learns_a_language_and_leaves_the_others_alone():
    rng = np.random.default_rng(1)
    base = {"*": base_head()}
    examples = team_language(300, "sl", rng) + team_language(10, "sv", rng)
    result = adapt(base, base, examples, min_train=20)
    sl, sv = (
        {r.lang: r for r in result.languages}["sl"],
        {r.lang: r for r in result.languages}["sv"],
    )
    assert sl.adopted and sl.before is not None and sl.after is not None
    assert sl.after.accuracy > sl.before.accuracy + 0.3  # base is worse than chance here
    assert not sv.adopted and "needed" in sv.why
    assert result.heads is not None and set(result.heads) == {"*", "sl"}
    assert result.heads["*"] is base["*"]


def test_a_candidate_worse_than_the_head_in_use_is_not_adopted():
    rng = np.random.default_rng(2)
    base = {"*": base_head()}
    examples = team_language(300, "sl", rng)
    good = adapt(base, base, examples).heads
    assert good is not None
    # labels that are pure noise: the candidate cannot beat the head that already learned sl
    noisy = [Example(e.mention_id, e.lang, int(rng.integers(0, 3)), e.embedding) for e in examples]
    again = adapt(base, good, noisy)
    assert not again.languages[0].adopted and again.heads is None


def test_a_candidate_starts_from_the_shift_in_use_and_carries_it(tmp_path: Path):
    """A language the shipped head reads through a shift (a starter or a stream one): its
    candidate is fitted on the shifted embeddings, pulled towards the shipped head *as it
    scores now*, and reads raw embeddings itself (the scorer hands an adapted head the
    encoder's output unshifted)."""
    from models.language_shift import apply_shift, unit

    rng = np.random.default_rng(4)
    w = np.zeros((3, DIM), dtype=np.float32)
    w[0, 0], w[2, 0] = -6.0, 6.0
    shipped = SoftmaxHead(w, np.array([-1.5, 0.0, -1.5], np.float32), SENTIMENT_LABELS)
    offset = np.zeros(DIM, dtype=np.float32)
    offset[0] = -0.5  # the language reads as more negative than it is
    examples = []
    for i in range(120):
        label = int(rng.integers(0, 3))
        english = rng.normal(0, 0.1, DIM)
        english[0], english[1] = (label - 1) * 0.6 + rng.normal(0, 0.1), 0.8
        raw = unit(english + offset).astype(np.float32)
        examples.append(Example(f"sl-{i}", "sl", label, raw))
    x = np.stack([e.embedding for e in examples])
    y = np.array([e.label for e in examples])
    base = {"*": shipped}
    assert score(shipped, x, y).accuracy < 0.5 < score(shipped, apply_shift(x, -offset), y).accuracy

    result = adapt(base, base, examples, min_train=20, input_shifts={"sl": -offset})
    [report] = result.languages
    head = (result.heads or {})["sl"]
    assert report.adopted and head.shift is not None and np.allclose(head.shift, -offset)
    test = [held_out(e.mention_id) for e in examples]
    shifted_before = score(shipped, apply_shift(x[test], -offset), y[test])
    assert report.after is not None and report.after.accuracy >= shifted_before.accuracy
    # it takes the raw embeddings and shifts them itself
    unshifted = replace(head, shift=None)
    assert np.allclose(
        head.predict_proba(x), unshifted.predict_proba(apply_shift(x, -offset)), atol=1e-6
    )
    # saved and loaded with its shift; the next round refines it on its own shift, whatever
    # shift the shipped head now reads the language through
    head.save(tmp_path / "sl.npz")
    loaded = SoftmaxHead.load(tmp_path / "sl.npz")
    assert loaded.shift is not None
    assert np.allclose(loaded.predict_proba(x), head.predict_proba(x), atol=1e-6)
    again = adapt(base, {"*": shipped, "sl": loaded}, examples, input_shifts={"sl": offset})
    assert again.languages[0].before is not None
    assert again.languages[0].before.accuracy == score(loaded, x[test], y[test]).accuracy
    for lang, h in (again.heads or {}).items():
        assert lang != "sl" or (h.shift is not None and np.allclose(h.shift, -offset))


def test_fit_head_with_a_huge_penalty_stays_the_base_head():
    rng = np.random.default_rng(3)
    base = base_head()
    examples = team_language(100, "sl", rng)
    x = np.stack([e.embedding for e in examples])
    y = np.array([e.label for e in examples])
    pinned = fit_head(base, x, y, penalty=1e6)
    assert np.allclose(pinned.weight, base.weight, atol=1e-3)
    assert score(pinned, x, y).accuracy == score(base, x, y).accuracy


def test_versions_publish_use_rollback_and_refuse_another_base(tmp_path: Path):
    store = VersionStore(tmp_path / "versions")
    assert store.stamp() == BASE and store.current() is None
    head = base_head()
    v1 = store.publish(
        {"sl": head}, base="m1", by="ana", corrections=30, corrections_through=None, evaluation=[]
    )
    v2 = store.publish(
        {"sv": head}, base="m1", by="ana", corrections=60, corrections_through=None, evaluation=[]
    )
    assert (v1.id, v2.id, store.stamp()) == ("v1", "v2", "v2")
    assert store.rollback(by="bo") == "v1"
    assert store.rollback(by="bo") == "v2"  # rolling back a rollback returns
    store.use(BASE, by="bo")
    assert store.current() is None
    with pytest.raises(VersionError, match="known: v1, v2"):
        store.use("v9", by="bo")
    with pytest.raises(VersionError, match="adapted for m1"):
        store.heads(v1, base="m2")
    assert [h["version"] for h in store.history()] == ["v1", "v2", "v1", "v2", BASE]
    assert set(store.heads(v2, base="m1")) == {"sv"}


def test_worker_follows_current_without_restart(tmp_path: Path):
    encoder = KeywordEncoder()
    shipped = SoftmaxHead(
        np.zeros((3, encoder.dim), dtype=np.float32),
        np.array([0, 1, 0], dtype=np.float32),
        SENTIMENT_LABELS,
    )
    scorer = EncoderHeadScorer(encoder, {"*": shipped}, name="m", base_id="m1")
    analyzer = TextAnalyzer(scorer)
    store = VersionStore(tmp_path)
    watcher = VersionWatcher(store)
    assert watcher.check(analyzer) is None
    before = analyzer.analyze(["bad bad"], ["sl"])[0]
    assert before.sentiment.label == "neutral" and before.model == "m"
    negative = SoftmaxHead(
        np.zeros((3, encoder.dim), dtype=np.float32),
        np.array([3, 0, 0], dtype=np.float32),
        SENTIMENT_LABELS,
    )
    store.publish(
        {"sl": negative}, base="m1", by="t", corrections=1, corrections_through=None, evaluation=[]
    )
    assert watcher.check(analyzer) == "v1"
    after = analyzer.analyze(["bad bad", "bad bad"], ["sl", "sv"])
    # the cached score was forgotten; only Slovenian changed
    assert [a.sentiment.label for a in after] == ["negative", "neutral"]
    assert after[0].model == "m@v1"
    store.publish(
        {"sl": negative},
        base="other",
        by="t",
        corrections=1,
        corrections_through=None,
        evaluation=[],
    )
    assert watcher.check(analyzer) is None  # refused (another base): keeps v1, says why once
    assert scorer.version == "v1"


def test_correction_overrides_sentiment_and_keeps_what_the_model_said():
    body = {
        "id": "m1",
        "text": "Krigszon är sjukt bra",
        "lang": "sv",
        "created_at": T0.isoformat(),
        "sentiment": {"label": "negative", "score": -0.6, "probs": [0.7, 0.2, 0.1]},
        "topics": ["war"],
        "model": "me5@v1",
    }
    c = correction_for(body, by="ana", at=T0, sentiment="positive", topics=["gameplay"])
    assert (c.text, c.lang, c.model_sentiment, c.model) == (
        body["text"],
        "sv",
        "negative",
        "me5@v1",
    )
    once = apply_correction(body, c)
    assert once["sentiment"] == {"label": "positive", "score": 1.0, "probs": None}
    assert once["model_sentiment"]["label"] == "negative"
    assert once["topics"] == ["gameplay"] and once["model_topics"] == ["war"]
    assert once["corrected"]["by"] == "ana"
    # corrected again: what the model said is still the model's, not the first correction's
    c2 = correction_for(once, by="bo", at=T0 + timedelta(minutes=1), sentiment="neutral")
    assert c2.model_sentiment == "negative"
    twice = apply_correction(once, c2)
    assert twice["sentiment"]["label"] == "neutral"
    assert twice["model_sentiment"]["label"] == "negative"
    assert twice["topics"] == ["gameplay"]


def test_a_correction_needs_something_to_correct():
    with pytest.raises(ValueError, match="sentiment, topics, or both"):
        Correction(mention_id="m1", by="ana", at=T0)


def test_label_file_errors_name_file_line_and_column(tmp_path: Path):
    good = tmp_path / "good.csv"
    good.write_text(
        "ID;Sentiment;Topics;text;lang\n"
        "m1;pos;;;\n"
        "m2;-;delays| refunds;;\n"
        "x9;neutral;;Hej, hur byter jag lösenord?;sv\n"
    )
    rows = read_label_file(good)
    assert [(r.mention_id, r.sentiment, r.topics) for r in rows] == [
        ("m1", "positive", None),
        ("m2", "negative", ("delays", "refunds")),
        ("x9", "neutral", None),
    ]
    assert rows[2].text == "Hej, hur byter jag lösenord?" and rows[2].line == 4
    bad = tmp_path / "bad.csv"
    bad.write_text("id,sentiment\nm1,posit\n,positive\nm1,negative\nm3,\n")
    with pytest.raises(ConfigError) as err:
        read_label_file(bad)
    assert [str(p) for p in err.value.problems] == [
        f"{bad}:2: sentiment: 'posit' is not negative, neutral or positive",
        f"{bad}:3: id: empty",
        f"{bad}:4: id: m1 is labeled on line 2 too",
        f"{bad}:5: sentiment: no sentiment and no topics",
    ]


def test_the_device_follows_what_torch_sees():
    from earful.settings import ModelSettings
    from models.registry import ModelLoadError, resolve_device

    assert resolve_device(ModelSettings(), cuda_available=True) == "cuda"
    assert resolve_device(ModelSettings(), cuda_available=False) == "cpu"
    assert resolve_device(ModelSettings(device="cpu"), cuda_available=True) == "cpu"
    with pytest.raises(ModelLoadError, match="no CUDA GPU"):
        resolve_device(ModelSettings(device="cuda"), cuda_available=False)


def test_the_blend_mixes_shipped_heads_only_and_sets_the_before_to_beat():
    """The frozen encoder's head is mixed into languages on the shipped head; a language with
    a head adapted from corrections is scored by that head alone, and adapt judges candidates
    against what the worker really shows (the blend), not against the bare head."""
    from models.analyzer import Blend

    encoder = KeywordEncoder()
    shipped = SoftmaxHead(
        np.array([[4.0, -4, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [-4, 4, 0, 0, 0, 0]], np.float32),
        np.array([0, 1, 0], np.float32),  # neutral where it sees neither 'bad' nor 'good'
        SENTIMENT_LABELS,
    )
    # the frozen head thinks 'late' is negative; the shipped head has no view on it
    frozen_head = SoftmaxHead(
        np.array([[0, 0, 6.0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, -6, 0, 0, 0]], np.float32),
        np.zeros(3, np.float32),
        SENTIMENT_LABELS,
    )
    scorer = EncoderHeadScorer(encoder, {"*": shipped}, name="m", base_id="m1")
    blend = Blend(frozen_head, 0.7)
    analyzer = TextAnalyzer(scorer, topic_encoder=KeywordEncoder(), blend=blend)
    plain = TextAnalyzer(scorer)
    late = analyzer.analyze(["flight late"], ["sv"])[0].sentiment
    assert plain.analyze(["flight late"], ["sv"])[0].sentiment.label == "neutral"
    assert late.label == "negative"  # 0.7 x 0.21 + 0.3 x ~1 beats 0.7 x 0.58 neutral

    scorer.use_heads({"sv": shipped}, "v1")  # an adapted Swedish head (here: the same weights)
    analyzer.use_heads({"sv": SoftmaxHead(shipped.weight, shipped.bias, shipped.labels)}, "v1")
    assert analyzer.analyze(["flight late"], ["sv"])[0].sentiment.label == "neutral"
    assert analyzer.analyze(["flight late"], ["de"])[0].sentiment.label == "negative"

    # adapt's "before" for a language on the shipped head is the blended figure
    y = SENTIMENT_LABELS.index("negative")
    x = encoder.encode(["flight late"])[0]
    assert late.probs is not None
    examples = [Example(f"m{i}", "fi", y, x, shipped=np.array(late.probs)) for i in range(30)]
    report = adapt({"*": shipped}, {"*": shipped}, examples).languages[0]
    assert report.before is not None and report.before.accuracy == 1.0
    bare = adapt({"*": shipped}, {"*": shipped}, [replace(e, shipped=None) for e in examples])
    assert bare.languages[0].before is not None and bare.languages[0].before.accuracy == 0.0


def test_correcting_one_field_keeps_the_earlier_correction_of_the_other():
    """The labels index holds one correction per mention (the training set): a topic
    correction after a sentiment one must not drop the sentiment, nor the other way round,
    and what the model said is kept from the model, whichever field was corrected first."""
    body = {
        "id": "m1",
        "text": "Flyget blev inställt igen",
        "lang": "sv",
        "created_at": T0.isoformat(),
        "sentiment": {"label": "positive", "score": 0.4, "probs": [0.2, 0.2, 0.6]},
        "topics": ["praise"],
    }
    first = apply_correction(body, correction_for(body, by="ana", at=T0, sentiment="negative"))
    c = correction_for(first, by="bo", at=T0 + timedelta(minutes=1), topics=["delays"])
    assert (c.sentiment, c.topics, c.model_sentiment) == ("negative", ("delays",), "positive")
    second = apply_correction(first, c)
    assert second["sentiment"]["label"] == "negative" and second["topics"] == ["delays"]
    assert second["model_sentiment"]["label"] == "positive" and second["model_topics"] == ["praise"]
    # topics first, then sentiment: the model's sentiment is still the model's
    first = apply_correction(body, correction_for(body, by="ana", at=T0, topics=["delays"]))
    c = correction_for(first, by="bo", at=T0 + timedelta(minutes=1), sentiment="negative")
    assert (c.sentiment, c.topics, c.model_sentiment) == ("negative", ("delays",), "positive")
    second = apply_correction(first, c)
    assert second["model_sentiment"]["label"] == "positive" and second["model_topics"] == ["praise"]


def test_a_topic_correction_names_the_taxonomys_topics():
    from models.topics import load_taxonomy

    taxonomy = load_taxonomy(None)
    assert taxonomy.spelled(["Customer Service ", "praise", "praise"]) == (
        ["customer service", "praise"],
        [],
    )
    found, unknown = taxonomy.spelled(["warzone", "baggage"])
    assert (found, unknown) == (["baggage"], ["warzone"])
    text = taxonomy.unknown_text(unknown)
    assert (
        "no topic 'warzone' in the taxonomy 'default'" in text
        and "delays and cancellations" in text
    )
