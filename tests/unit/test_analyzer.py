import numpy as np
import pytest

from models.analyzer import TextAnalyzer, sentiment_from_probs
from models.cache import LRUCache
from models.heads import SoftmaxHead, fit_temperature, softmax
from models.preprocess import dedup_key, normalize
from models.scorers import label_mapping
from models.topics import Taxonomy, TopicTagger
from tests.fakes import KeywordEncoder, KeywordScorer


class FixedLanguage:
    def identify(self, text: str) -> tuple[str | None, float]:
        return ("sv", 0.9) if "och" in text else ("en", 0.9)


def test_each_distinct_text_is_scored_once_across_batches():
    scorer = KeywordScorer()
    analyzer = TextAnalyzer(scorer, cache_size=100)
    first = analyzer.analyze(["bad flight", "good crew", "bad flight", "RT @user: bad flight"])
    second = analyzer.analyze(["good crew", "meh"])
    assert [len(b) for b in scorer.batches] == [2, 1]  # "RT @user:" normalises away
    assert [a.sentiment.label for a in first] == ["negative", "positive", "negative", "negative"]
    assert second[0].sentiment == first[1].sentiment
    # duplicates inside one call are collapsed before the cache is consulted
    assert (analyzer.cache.hits, analyzer.cache.misses) == (1, 3)


def test_language_is_detected_only_when_the_source_did_not_say():
    analyzer = TextAnalyzer(KeywordScorer(), language=FixedLanguage())  # type: ignore[arg-type]
    out = analyzer.analyze(["flyget och hotellet", "late again", "hello"], ["", None, "de-AT"])
    assert [(a.lang, a.lang_detected) for a in out] == [("sv", True), ("en", True), ("de", False)]


def test_lru_cache_evicts_least_recently_used():
    cache: LRUCache[int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and len(cache) == 2


def test_sentiment_score_is_pos_minus_neg_and_bounded():
    s = sentiment_from_probs(np.array([0.7, 0.2, 0.1]))
    assert s.label == "negative" and s.score == pytest.approx(-0.6)
    assert s.probs == (0.7, 0.2, 0.1)


def test_head_round_trips_and_temperature_softens(tmp_path):
    rng = np.random.default_rng(0)
    head = SoftmaxHead(
        rng.normal(size=(3, 4)).astype(np.float32),
        np.zeros(3, np.float32),
        ("negative", "neutral", "positive"),
        temperature=2.0,
    )
    head.save(tmp_path / "h.npz")
    loaded = SoftmaxHead.load(tmp_path / "h.npz")
    x = rng.normal(size=(5, 4)).astype(np.float32)
    assert np.allclose(loaded.predict_proba(x), head.predict_proba(x))
    sharp = softmax(head.logits(x))
    assert (head.predict_proba(x).max(axis=1) <= sharp.max(axis=1) + 1e-6).all()


def test_temperature_fit_recovers_overconfidence():
    rng = np.random.default_rng(3)
    true_logits = rng.normal(size=(4000, 3))
    labels = np.array([rng.choice(3, p=p) for p in softmax(true_logits)])
    assert fit_temperature(true_logits * 3.0, labels) == pytest.approx(3.0, rel=0.15)


def test_preprocess_replaces_handles_and_links_and_keeps_emoji():
    assert normalize("RT @bob: Love it 😍 https://t.co/x &amp; more") == "Love it 😍 http & more"
    assert dedup_key("RT @a: Flight DELAYED!!! http://x") == dedup_key("flight delayed")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({0: "negative", 1: "neutral", 2: "positive"}, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
        ({0: "NEGATIVE", 1: "POSITIVE"}, [[1, 0, 0], [0, 0, 1]]),
        (
            {0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"},
            [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]],
        ),
    ],
)
def test_label_mapping_folds_model_labels(labels, expected):
    assert label_mapping(labels).tolist() == expected


def test_label_mapping_rejects_unknown_labels():
    with pytest.raises(ValueError, match="joy"):
        label_mapping({0: "joy", 1: "anger"})


def test_topic_tagger_assigns_by_similarity_with_threshold_and_margin():
    taxonomy = Taxonomy.model_validate(
        {
            "threshold": 0.5,
            "margin": 0.05,
            "max_topics": 2,
            "topics": [
                {"name": "refunds", "description": "refund please", "examples": ["refund"]},
                {"name": "apps", "description": "the app", "examples": ["app broken"]},
            ],
        }
    )
    tagger = TopicTagger(taxonomy, KeywordEncoder())
    emb = KeywordEncoder().encode(["where is my refund", "app crashed", "nice weather"])
    assert tagger.tag(emb) == [("refunds",), ("apps",), ()]


def test_taxonomy_rejects_duplicate_topics():
    with pytest.raises(ValueError, match="defined twice"):
        Taxonomy.model_validate(
            {"topics": [{"name": "a", "description": "xyz"}, {"name": "a", "description": "xyz"}]}
        )


class ThreadRecordingEncoder(KeywordEncoder):
    """A topic encoder that says it runs batches side by side, and where it ran."""

    parallelism = "batches"

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.threads: list[str] = []
        self.fail = fail

    def encode(self, texts):  # type: ignore[no-untyped-def]
        import threading

        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise RuntimeError("topic pass failed")
        return super().encode(texts)


def test_side_by_side_encoders_run_both_passes_together_with_the_same_result():
    import threading

    texts = ["bad flight", "good app", "late refund"]
    scorer = KeywordScorer()
    scorer.encoder.parallelism = "batches"  # type: ignore[attr-defined]
    together = TextAnalyzer(scorer, topic_encoder=(topics := ThreadRecordingEncoder()))
    apart = TextAnalyzer(KeywordScorer(), topic_encoder=KeywordEncoder())
    a, b = together.analyze(texts), apart.analyze(texts)
    assert [x.sentiment for x in a] == [x.sentiment for x in b]
    assert all(np.array_equal(x.embedding, y.embedding) for x, y in zip(a, b, strict=True))
    # the topic pass ran beside the caller's sentiment pass, not after it
    assert topics.threads and topics.threads[0] != threading.current_thread().name
    # a failing pass fails the batch (the score step then scores its mentions one by one)
    failing = TextAnalyzer(scorer, topic_encoder=ThreadRecordingEncoder(fail=True))
    with pytest.raises(RuntimeError, match="topic pass failed"):
        failing.analyze(["new text"])


class PairKeywordEncoder(KeywordEncoder):
    """A one-pass encoder: the keyword embedding for sentiment, its reverse as the
    general-purpose one, both from one call (counted)."""

    one_pass = True

    def __init__(self) -> None:
        super().__init__()
        self.pairs = 0

    def encode_pair(self, texts):  # type: ignore[no-untyped-def]
        self.pairs += 1
        sentiment = KeywordEncoder.encode(self, texts)
        return sentiment, sentiment[:, ::-1].copy()


def test_a_one_pass_encoder_gives_sentiment_and_topics_from_one_pass():
    from models.analyzer import Blend
    from models.encoder import GeneralView
    from models.scorers import EncoderHeadScorer

    encoder = PairKeywordEncoder()
    weight = np.zeros((3, encoder.dim), np.float32)
    weight[0, 0] = weight[2, 1] = 5.0  # "bad" negative, "good" positive
    head = SoftmaxHead(weight, np.zeros(3, np.float32), ("negative", "neutral", "positive"))
    scorer = EncoderHeadScorer(encoder, {"*": head})
    general = GeneralView(encoder)
    blend_weight = np.zeros((3, encoder.dim), np.float32)
    blend_weight[1, -1] = 5.0  # the general embedding's last dimension is "bad": neutral
    blend = Blend(SoftmaxHead(blend_weight, np.zeros(3, np.float32), head.labels), 0.5)
    analyzer = TextAnalyzer(scorer, topic_encoder=general, blend=blend)
    texts = ["bad flight", "good app", "late refund"]
    out = analyzer.analyze(texts, ["en"] * 3)
    assert encoder.pairs == 1 and encoder.calls == [texts]  # one pass for the whole batch
    sentiment, topics = encoder.encode_pair(texts)
    expected = blend.mix(scorer.probs(sentiment, ["en"] * 3), topics)
    assert [a.sentiment for a in out] == [sentiment_from_probs(p) for p in expected]
    # the stored embedding is the general-purpose one (topics read it too)
    assert all(np.array_equal(a.embedding, t) for a, t in zip(out, topics, strict=True))
    assert np.array_equal(general.encode(texts), topics)
