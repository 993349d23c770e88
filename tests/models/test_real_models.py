"""The real models: the offline default, a local Hugging Face directory, both backends.

These load transformer weights (seconds each), so they are marked `slow`; CI runs them (the
default model is built from packages by `make test` before pytest starts)."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from earful.settings import ModelSettings
from models.build import ModelCorrupt, default_model_dir, read_manifest
from models.onnx_backend import INT8_ONE_PASS_NAME
from models.registry import ModelLoadError, load_analyzer, load_scorer, load_topic_encoder
from models.training.data import english_tweets

pytestmark = pytest.mark.slow
CACHE = ModelSettings().cache_dir


@pytest.fixture(scope="module")
def analyzer():
    """The fp32 torch backend (int8 is checked against it below)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    return load_analyzer(ModelSettings(build_if_missing=True, backend="torch"))


def test_default_model_loads_offline_and_reads_several_languages(analyzer):
    texts = [
        "@skywayair cancelled my flight AGAIN and nobody answers, worst airline ever",
        "Thank you @skywayair, the crew was wonderful! #happy",
        "Tack för hjälpen, fantastisk service!",
        "Let je bil spet odpovedan, grozna storitev",
        "Hvala za hitro pomoč, odlična storitev!",
        "Der Flug wurde schon wieder gestrichen, eine Katastrophe",
        "El vuelo fue cancelado otra vez, pésimo servicio",
        "Le vol a encore été annulé, service horrible",
    ]
    out = analyzer.analyze(texts)
    assert [a.sentiment.label for a in out] == [
        "negative",
        "positive",
        "positive",
        "negative",
        "positive",
        "negative",
        "negative",
        "negative",
    ]
    assert [a.lang for a in out] == ["en", "en", "sv", "sl", "sl", "de", "es", "fr"]
    assert "delays and cancellations" in out[0].topics
    assert all(-1 <= a.sentiment.score <= 1 for a in out)


@pytest.mark.xfail(
    strict=True,
    reason="known weakness (MODEL_CARD.md): the English-trained head "
    "reads this Swedish complaint as positive",
)
def test_swedish_complaint_is_negative(analyzer):
    [a] = analyzer.analyze(["Flyget blev inställt igen, hemsk kundtjänst"])
    assert a.sentiment.label == "negative"


def test_length_bucketing_preserves_order(analyzer):
    encoder = analyzer.scorer.encoder
    texts = [
        "short",
        "a considerably longer text that needs far more tokens than the first",
        "mid length text here",
    ]
    together = encoder.encode(texts)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


def test_missing_or_corrupt_model_gives_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="earful models build --force"):
        load_scorer(ModelSettings(cache_dir=tmp_path, build_if_missing=False))
    broken = tmp_path / "broken"
    shutil.copytree(
        default_model_dir(CACHE),
        broken,
        ignore=shutil.ignore_patterns("model.safetensors", "onnx*"),
    )
    with pytest.raises(ModelCorrupt, match="missing; rebuild it with `earful models build"):
        read_manifest(broken)


def tiny_classifier(tmp_path: Path) -> Path:
    """A small sequence-classification model saved as users save a hub one (random weights)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    torch.manual_seed(0)

    encoder_dir = default_model_dir(CACHE) / "encoder"
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(encoder_dir / "tokenizer.json"),
        pad_token="<pad>",
        unk_token="<unk>",
        cls_token="<s>",
        sep_token="</s>",
    )
    config = BertConfig(
        vocab_size=tokenizer.vocab_size + 100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=3,
        id2label={0: "negative", 1: "neutral", 2: "positive"},
        label2id={"negative": 0, "neutral": 1, "positive": 2},
    )
    model_dir = tmp_path / "tiny-sentiment"
    BertForSequenceClassification(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return model_dir


def test_local_hugging_face_classifier_directory(tmp_path):
    """Any sequence-classification model saved to a directory loads through the same path
    users take for e.g. cardiffnlp/twitter-xlm-roberta-base-sentiment."""
    model_dir = tiny_classifier(tmp_path)
    analyzer = load_analyzer(ModelSettings(name=str(model_dir), cache_size=0))
    out = analyzer.analyze(["my flight was cancelled", "great crew"])
    assert [len(a.embedding) for a in out] == [32, 32]
    assert all(abs(sum(a.sentiment.probs or ()) - 1) < 1e-3 for a in out)
    with pytest.raises(ModelLoadError, match="not a model directory"):
        load_scorer(ModelSettings(name=str(tmp_path)))


def test_a_hub_classifiers_topics_learn_from_corrections(tmp_path):
    """With a hub classifier the sentiment is the classifier's own, but the topics (tagged from
    its embedding) still learn from the team's topic corrections, as a model version the
    worker switches to."""
    from datetime import UTC, datetime

    from earful.records import Correction
    from models.registry import VersionWatcher
    from models.versions import VersionStore
    from streams.model_adapt import run_adapt

    analyzer = load_analyzer(ModelSettings(name=str(tiny_classifier(tmp_path)), cache_size=0))
    said = {
        "baggage": ["my suitcase never arrived", "lost luggage again", "bag left behind"],
        "billing and refunds": ["still waiting for my refund", "charged twice", "refund please"],
        "delays and cancellations": ["flight cancelled", "three hours late", "delayed again"],
    }
    at = datetime(2026, 11, 1, tzinfo=UTC)
    corrections = [
        Correction(
            mention_id=f"{topic[:4]}-{i}", topics=(topic,), by="t", at=at, text=f"{text} {i}"
        )
        for topic, texts in said.items()
        for i in range(24)
        for text in [texts[i % 3]]
    ]
    versions = VersionStore(tmp_path / "versions")
    run = run_adapt(corrections, analyzer, versions, by="t")
    assert "classifier's own sentiment" in run.sentiment_skipped
    assert run.topics is not None and run.topics.train + run.topics.held_out == len(corrections)
    assert run.topics.adopted and run.version is not None, run.topics.why
    assert VersionWatcher(versions).check(analyzer) == run.version.id
    assert analyzer.scorer.name.endswith(f"@{run.version.id}")
    tagged = analyzer.analyze(["lost luggage again 99", "charged twice 99"])
    assert [a.topics[0] for a in tagged] == ["baggage", "billing and refunds"], tagged


def test_onnx_int8_backend_agrees_with_torch():
    texts = [e.text for e in english_tweets("test")[:300]]
    torch_scorer = load_scorer(ModelSettings(backend="torch"))
    onnx_scorer = load_scorer(ModelSettings(backend="onnx-int8"))
    a = torch_scorer.score(texts, ["en"] * len(texts))
    b = onnx_scorer.score(texts, ["en"] * len(texts))
    cosine = (a.embeddings * b.embeddings).sum(axis=1)
    agreement = float((a.probs.argmax(1) == b.probs.argmax(1)).mean())
    # the tolerance MODEL_CARD.md states (measured there: min 0.921, mean 0.956, 95.3% same
    # label, macro-F1 0.7897 vs 0.7898 on the English test split)
    assert cosine.min() > 0.90 and cosine.mean() > 0.95
    assert agreement >= 0.93
    assert Path(default_model_dir(CACHE) / "onnx" / INT8_ONE_PASS_NAME).exists()


def test_an_int8_texts_embedding_does_not_depend_on_the_texts_beside_it():
    """A post scores the same whatever arrived with it: int8 scales activations per forward
    pass, so each text gets a pass of its own (with a batch of 64, 4.8% of the labels of
    data/eval/social moved with their neighbours). Bit for bit, both encoders, both ways of
    spreading over the cores, alone or among longer and shorter texts in any order."""
    texts = [e.text for e in english_tweets("test")[:80]]
    model_dir = default_model_dir(CACHE)
    for p in ("batches", "operators"):
        settings = ModelSettings(backend="onnx-int8", threads=2, parallelism=p)  # type: ignore[arg-type]
        scorer = load_scorer(settings)
        encoders = [scorer.encoder, load_topic_encoder(model_dir, settings, scorer)]  # type: ignore[attr-defined]
        for encoder in encoders:
            assert encoder is not None
            alone = np.vstack([encoder.encode([t]) for t in texts[:12]])
            among = encoder.encode(texts)[:12]
            reversed_ = encoder.encode(texts[::-1])[::-1][:12]
            assert np.array_equal(alone, among) and np.array_equal(alone, reversed_), p
        # and so the labels: the first twelve scored alone and among the eighty
        first = scorer.score(texts[:12], ["en"] * 12).probs
        assert np.array_equal(first, scorer.score(texts, ["en"] * len(texts)).probs[:12])


def test_onnx_int8_topic_encoder_stays_close_to_torch():
    """Topics are tagged by cosine to prototypes, so the frozen encoder's int8 embeddings must
    stay close to fp32 (per-tensor scales drifted enough to cost 12 points of zero-shot topic
    accuracy on Reuters R8; measured per channel: min 0.992, mean 0.996)."""
    texts = [e.text for e in english_tweets("test")[:300]]
    model_dir = default_model_dir(CACHE)
    torch_settings = ModelSettings(backend="torch")
    int8_settings = ModelSettings(backend="onnx-int8")
    fp32 = load_topic_encoder(model_dir, torch_settings, load_scorer(torch_settings))
    int8 = load_topic_encoder(model_dir, int8_settings, load_scorer(int8_settings))
    assert fp32 is not None and int8 is not None
    cosine = (fp32.encode(texts) * int8.encode(texts)).sum(axis=1)
    assert cosine.min() > 0.98 and cosine.mean() > 0.99


def test_language_shifts_from_unlabeled_text_lift_slovenian_and_spanish(tmp_path: Path):
    """`models adapt` with no corrections at all: shifts estimated from unlabeled text in each
    language (the hand-written sets' texts, labels unread) are published as a version, the
    worker's watcher loads them, and the two languages the shipped model reads worst score
    better (measured on the same texts: a transductive figure, as the model card says)."""
    import json

    from models.registry import VersionWatcher
    from models.versions import VersionStore
    from streams.model_adapt import run_adapt

    social = Path(__file__).resolve().parents[2] / "data" / "eval" / "social"
    sets = {
        lang: [json.loads(line) for line in (social / f"{lang}.jsonl").open()]
        for lang in ("sl", "es")
    }
    stream = {lang: [r["text"] for r in rows] for lang, rows in sets.items()}
    stream["en"] = [e.text for e in english_tweets("test")[:100]]
    analyzer = load_analyzer(ModelSettings(versions_dir=tmp_path / "versions", cache_size=0))

    def macro_f1(lang: str) -> float:
        from models.evaluation import score

        rows = sets[lang]
        got = analyzer.analyze([r["text"] for r in rows], [lang] * len(rows))
        return score([r["label"] for r in rows], [a.sentiment.label for a in got]).macro_f1

    before = {lang: macro_f1(lang) for lang in sets}
    versions = VersionStore(tmp_path / "versions")
    run = run_adapt([], analyzer, versions, by="t", stream=stream, shift_min_texts=50)
    assert run.result is None and run.version is not None and run.shifts is not None
    assert {e.lang for e in run.shifts.estimates} == {"sl", "es"}  # English is the source
    assert set(versions.shifts(run.version, analyzer.scorer.base_id)) == {"sl", "es"}
    assert VersionWatcher(versions).check(analyzer) == run.version.id
    after = {lang: macro_f1(lang) for lang in sets}
    assert after["sl"] > before["sl"] and after["es"] > before["es"], (before, after)
    # the same sample again: the same shifts, no new version
    again = run_adapt([], analyzer, versions, by="t", stream=stream, shift_min_texts=50)
    assert again.version is None and again.shifts is not None and not again.shifts.changed


def test_corrections_refine_the_model_as_it_scores_with_its_starter_shift(tmp_path: Path):
    """Corrections in a language the shipped head reads through its starter shift: the head
    learned from them starts from that shift and carries it. Slovenian, read worst, is
    measurably better on its held-out corrections (model card: 0.556 -> 0.722 of 18); Swedish,
    already 15 of 17 right with the starter, is no less accurate and surer."""
    import json
    from types import SimpleNamespace

    from models.adapt import adapt
    from streams.model_adapt import examples_from

    analyzer = load_analyzer(ModelSettings(versions_dir=tmp_path / "versions", cache_size=0))
    scorer = analyzer.scorer
    assert {"sl", "sv"} <= set(scorer.starter_shifts)
    social = Path(__file__).resolve().parents[2] / "data" / "eval" / "social"
    for lang in ("sl", "sv"):
        rows = [json.loads(line) for line in (social / f"{lang}.jsonl").open()]
        corrections = [
            SimpleNamespace(mention_id=r["id"], sentiment=r["label"], text=r["text"], lang=lang)
            for r in rows
        ]
        examples = examples_from(corrections, analyzer)  # type: ignore[arg-type]
        result = adapt(scorer.base_heads, scorer.heads, examples, input_shifts=scorer.shifts)
        [report] = result.languages
        assert report.adopted and report.before is not None and report.after is not None
        head = (result.heads or {})[lang]
        assert head.shift is not None and np.allclose(head.shift, scorer.starter_shifts[lang])
        if lang == "sl":
            assert report.after.accuracy > report.before.accuracy + 0.1, report
        else:
            assert report.after.accuracy >= report.before.accuracy
            assert report.after.log_loss < report.before.log_loss


def test_one_pass_reads_sentiment_at_layer_6_and_keeps_the_untouched_embedding_at_12(tmp_path):
    """The default encoder is one pass: its first 6 layers are the sentiment encoder, so the
    sentiment embedding is exactly a 6-layer cut of it; its last layer keeps the untouched
    multilingual-e5-small's embedding (what topics and the stored embedding were made with),
    in English and in the languages it was not trained on (model card: cosine 0.98)."""
    import json

    from transformers import AutoModel

    from models.e5 import write_encoder
    from models.encoder import TransformerEncoder

    model_dir = default_model_dir(CACHE)
    manifest = read_manifest(model_dir)
    layer = manifest["sentiment_layer"]
    encoder_dir = model_dir / manifest["encoder"]
    one_pass = TransformerEncoder(encoder_dir, prefix="query: ", sentiment_layer=layer)
    cut = TransformerEncoder(
        encoder_dir,
        prefix="query: ",
        model=AutoModel.from_pretrained(str(encoder_dir), num_hidden_layers=layer),
    )
    write_encoder(tmp_path / "e5")
    untouched = TransformerEncoder(tmp_path / "e5", prefix="query: ")
    social = Path(__file__).resolve().parents[2] / "data" / "eval" / "social"
    texts = [e.text for e in english_tweets("validation")[:100]] + [
        json.loads(line)["text"]
        for lang in ("sv", "sl")
        for line in (social / f"{lang}.jsonl").open()
    ]
    sentiment, general = one_pass.encode_pair(texts)
    assert np.allclose(sentiment, cut.encode(texts), atol=1e-5)
    cosine = (general * untouched.encode(texts)).sum(axis=1)
    assert cosine.mean() > 0.97 and cosine.min() > 0.9, (cosine.mean(), cosine.min())
