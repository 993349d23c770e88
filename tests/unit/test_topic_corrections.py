"""Topic corrections teach the tagger: adapted prototypes, judged on held-out corrections,
published in a model version and picked up by the worker without a restart."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from earful.records import SENTIMENT_LABELS, Correction
from models.adapt import held_out
from models.analyzer import TextAnalyzer
from models.heads import SoftmaxHead
from models.registry import VersionWatcher
from models.scorers import EncoderHeadScorer
from models.topic_adapt import TopicExample, adapt_topics
from models.topics import Taxonomy, TopicModel, TopicTagger
from models.versions import VersionStore
from streams.model_adapt import run_adapt
from tests.fakes import KeywordEncoder

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
DIM = 24


def _unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = x / np.linalg.norm(x, axis=-1, keepdims=True)
    return out


def zero_shot() -> TopicModel:
    """Two topics whose descriptions point a little away from where the team's posts lie."""
    protos = np.zeros((2, DIM), dtype=np.float32)
    protos[0, 0], protos[0, 2] = 1.0, 1.0  # "billing": the team's billing posts live on dim 0
    protos[1, 1], protos[1, 3] = 1.0, 1.0  # "delivery": dim 1
    return TopicModel(
        ("billing", "delivery"), _unit(protos), np.array([0.8, 0.8], np.float32), 0.03, 3
    )


def team_posts(n: int, rng: np.random.Generator) -> list[TopicExample]:
    """A third billing posts (dimension 0), a third delivery (1), a third neither."""
    out = []
    for i in range(n):
        x = rng.normal(0, 0.15, DIM)
        topics: frozenset[str] = frozenset()
        if i % 3 < 2:
            x[i % 3] += 1.0
            topics = frozenset({("billing", "delivery")[i % 3]})
        out.append(TopicExample(f"m{i}", topics, _unit(x).astype(np.float32)))
    return out


def test_prototypes_move_to_the_teams_posts_and_are_judged_on_held_out_ones():
    examples = team_posts(300, np.random.default_rng(1))
    report = adapt_topics(zero_shot(), None, examples)
    assert report.held_out == sum(held_out(e.mention_id) for e in examples)
    assert report.topics == ["billing", "delivery"]
    assert report.before is not None and report.after is not None
    assert report.before.micro_f1 < 0.5  # zero-shot misses the team's posts
    assert report.after.micro_f1 > 0.9
    assert report.adopted and report.overrides is not None
    adapted = zero_shot().with_overrides(report.overrides)
    fresh = team_posts(30, np.random.default_rng(2))
    tags = adapted.tag(np.stack([e.embedding for e in fresh]))
    assert sum(frozenset(t) == e.topics for t, e in zip(tags, fresh, strict=True)) >= 27


def test_too_few_members_or_held_out_corrections_adopt_nothing():
    few = team_posts(6, np.random.default_rng(3))  # 2 members per topic
    report = adapt_topics(zero_shot(), None, few)
    assert not report.adopted and "corrected mentions" in report.why
    unknown = [TopicExample("x1", frozenset({"no-such-topic"}), few[0].embedding)]
    report = adapt_topics(zero_shot(), None, unknown)
    assert report.why == "no topic corrections to learn from"
    assert report.unknown == 1 and report.as_dict()["unknown"] == 1


def test_held_out_corrections_with_nothing_to_score_are_not_a_perfect_score():
    rng = np.random.default_rng(6)
    examples = []
    for post in team_posts(300, rng):
        if not held_out(post.mention_id):
            examples.append(post)
            continue
        x = rng.normal(0, 0.05, DIM)  # "no topic", on a post far from every topic
        x[10] += 1.0
        examples.append(TopicExample(post.mention_id, frozenset(), _unit(x).astype(np.float32)))
    report = adapt_topics(zero_shot(), None, examples)
    assert report.before is not None and report.before.micro_f1 is None  # n/a, not 1.0
    assert report.as_dict()["before"]["micro_f1"] is None  # type: ignore[index]
    assert not report.adopted and "nothing to judge" in report.why


def test_a_worse_candidate_is_not_adopted():
    examples = team_posts(300, np.random.default_rng(4))
    first = adapt_topics(zero_shot(), None, examples)
    assert first.adopted
    # the same team now corrects posts that contradict the held-out part: the training part
    # says dimension 2 is billing, the held-out part still lives on dimension 0
    rng = np.random.default_rng(5)
    contrary = []
    for e in examples:
        if held_out(e.mention_id):
            contrary.append(e)
            continue
        x = rng.normal(0, 0.15, DIM)
        x[2 if "billing" in e.topics else 5] += 1.0
        contrary.append(TopicExample(e.mention_id, e.topics, _unit(x).astype(np.float32)))
    second = adapt_topics(zero_shot(), first.overrides, contrary)
    assert not second.adopted and "worse" in second.why


def test_adapt_publishes_topics_and_the_worker_tags_with_them(tmp_path: Path):
    encoder = KeywordEncoder(("invoice", "parcel", "app", "late", "good"))
    shipped = SoftmaxHead(
        np.zeros((3, encoder.dim), dtype=np.float32),
        np.array([0, 1, 0], dtype=np.float32),
        SENTIMENT_LABELS,
    )
    scorer = EncoderHeadScorer(encoder, {"*": shipped}, name="m", base_id="m1")
    # zero-shot, "billing" is described by the word "app" (a poor description)
    taxonomy = Taxonomy.model_validate(
        {
            "threshold": 0.6,
            "topics": [
                {"name": "billing", "description": "app"},
                {"name": "delivery", "description": "late"},
            ],
        }
    )
    analyzer = TextAnalyzer(scorer, tagger=TopicTagger(taxonomy, encoder))
    assert analyzer.analyze(["my invoice is wrong"])[0].topics == ()
    corrections = [
        Correction(
            mention_id=f"c{i}",
            topics=("billing",) if i % 2 else ("delivery",),
            by="care",
            at=T0,
            text=f"invoice number {i}" if i % 2 else f"parcel late {i}",
        )
        for i in range(60)
    ]
    store = VersionStore(tmp_path)
    run = run_adapt(corrections, analyzer, store, by="care", clock=lambda: T0)
    assert run.topics is not None and run.topics.adopted, run.topics
    assert run.version is not None and run.version.topics == "topics.npz"
    assert run.version.heads == {}  # no sentiment corrections: the shipped heads stay
    assert VersionWatcher(store).check(analyzer) == "v1"
    assert analyzer.analyze(["my invoice is wrong"])[0].topics == ("billing",)
    store.use("base", by="care")
    assert VersionWatcher(store).check(analyzer) == "base"
    assert analyzer.analyze(["my invoice is wrong"])[0].topics == ()
