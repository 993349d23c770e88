"""Topic prototypes adapted to a team's topic corrections, judged on corrections they never saw.

A correction of a mention's topics says which taxonomy topics it belongs to, and so also which it
does not. For each topic with enough corrected members, the zero-shot prototype (description and
examples, models/topics.py) is moved towards the members' embeddings (Rocchio: the zero-shot
prototype counts as `k` members) and gets its own similarity threshold; `k` and the threshold are
chosen on the training corrections. The held-out fifth (the same hash as the sentiment heads,
models/adapt.py) scores the tagger in use and the candidate with the tagger's own rules (threshold,
margin to the best topic, at most `max_topics`); the candidate is adopted only if it is not worse.
Pure numpy; no Kafka, no search engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.adapt import held_out
from models.topics import TopicModel, TopicOverrides

#: How many members the zero-shot prototype counts as (chosen per topic on training corrections).
PRIOR_WEIGHTS = (1.0, 4.0, 16.0)
#: Corrected members a topic needs in the training part before it is adapted.
MIN_MEMBERS = 3
#: Held-out corrections needed to judge a candidate.
MIN_HELD_OUT = 5


@dataclass(frozen=True)
class TopicExample:
    mention_id: str
    #: The topics a person said the mention has (any others: it has not).
    topics: frozenset[str]
    #: The mention's embedding by the encoder the tagger uses (L2-normalised).
    embedding: np.ndarray


@dataclass(frozen=True)
class TopicScores:
    n: int
    #: None where there is nothing to score (no topic corrected, none tagged): n/a, not 1.0.
    micro_f1: float | None
    #: Exactly the corrected set of topics.
    exact: float

    def as_dict(self) -> dict[str, float | None]:
        f1 = None if self.micro_f1 is None else round(self.micro_f1, 4)
        return {"n": self.n, "micro_f1": f1, "exact": round(self.exact, 4)}


def score_tags(predicted: Sequence[frozenset[str]], truth: Sequence[frozenset[str]]) -> TopicScores:
    tp = sum(len(p & t) for p, t in zip(predicted, truth, strict=True))
    fp = sum(len(p - t) for p, t in zip(predicted, truth, strict=True))
    fn = sum(len(t - p) for p, t in zip(predicted, truth, strict=True))
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    exact = float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))
    return TopicScores(len(truth), f1, exact)


@dataclass
class TopicReport:
    train: int
    held_out: int
    #: Corrections left out because they name a topic the taxonomy does not have (a typo in a
    #: spreadsheet, a topic since renamed): counted, so a team sees why they taught nothing.
    unknown: int = 0
    #: Topics with enough corrected members to adapt.
    topics: list[str] = field(default_factory=list)
    before: TopicScores | None = None
    after: TopicScores | None = None
    adopted: bool = False
    why: str = ""
    #: The candidate (those in use, with the adapted topics replaced), and the same once
    #: adopted: the overrides of the new version.
    candidate: TopicOverrides | None = None
    overrides: TopicOverrides | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": "topics",
            "train": self.train,
            "held_out": self.held_out,
            "unknown": self.unknown,
            "topics": self.topics,
            "before": self.before.as_dict() if self.before else None,
            "after": self.after.as_dict() if self.after else None,
            "adopted": self.adopted,
            "why": self.why,
        }


def _best_threshold(sims: np.ndarray, member: np.ndarray, fallback: float) -> tuple[float, float]:
    """The similarity threshold with the best F1 for 'is a member' on training corrections,
    halfway between neighbouring similarities (the highest on a tie: fewer false tags)."""
    order = np.sort(np.unique(sims))
    candidates = np.concatenate([[order[0] - 1e-3], (order[1:] + order[:-1]) / 2])
    best_f1, best = -1.0, fallback
    for c in candidates:
        tagged = sims >= c
        tp = float(np.sum(tagged & member))
        f1 = 2 * tp / (float(np.sum(tagged)) + float(np.sum(member)))
        if f1 >= best_f1:
            best_f1, best = f1, float(c)
    return best, best_f1


def fit_topic(
    prototype: np.ndarray, x: np.ndarray, member: np.ndarray, threshold: float
) -> tuple[np.ndarray, float]:
    """A topic's adapted prototype and threshold from training embeddings `x` (rows) and which
    of them are members.

    A member is scored against the prototype built without it (leave-one-out): against its own
    centroid every member looks closer than a new post will, and a threshold chosen that way
    is too high for the posts it will tag (seen: with 3 members a topic, tagging got worse)."""
    best: tuple[float, np.ndarray, float] | None = None
    total = x[member].sum(axis=0)
    for k in PRIOR_WEIGHTS:
        full = k * prototype + total
        proto = full / max(float(np.linalg.norm(full)), 1e-9)
        sims = x @ proto
        without = full[None, :] - x[member]  # each member's prototype without it
        sims[member] = np.einsum("ij,ij->i", x[member], without) / np.maximum(
            np.linalg.norm(without, axis=1), 1e-9
        )
        cut, f1 = _best_threshold(sims, member, threshold)
        if best is None or f1 > best[0]:
            best = (f1, proto, cut)
    assert best is not None
    return best[1].astype(np.float32), best[2]


def adapt_topics(
    base: TopicModel,
    current: TopicOverrides | None,
    examples: Sequence[TopicExample],
    *,
    min_members: int = MIN_MEMBERS,
) -> TopicReport:
    """Candidate prototypes from the corrections, adopted if not worse on the held-out ones.

    `base` is the zero-shot tagger (what candidates start from), `current` the overrides in use
    (what the candidate must not be worse than)."""
    known = set(base.names)
    usable = [e for e in examples if e.topics <= known]
    train = [e for e in usable if not held_out(e.mention_id)]
    test = [e for e in usable if held_out(e.mention_id)]
    report = TopicReport(train=len(train), held_out=len(test), unknown=len(examples) - len(usable))
    if not train:
        report.why = "no topic corrections to learn from"
        return report
    x = np.stack([e.embedding for e in train]).astype(np.float32)
    names, protos, thresholds = [], [], []
    for i, name in enumerate(base.names):
        member = np.array([name in e.topics for e in train])
        if int(member.sum()) < min_members:
            continue
        proto, cut = fit_topic(base.prototypes[i], x, member, float(base.thresholds[i]))
        names.append(name)
        protos.append(proto)
        thresholds.append(cut)
    report.topics = names
    if not names:
        report.why = f"no topic has {min_members} corrected mentions yet"
        return report
    candidate = TopicOverrides(tuple(names), np.stack(protos), np.array(thresholds, np.float32))
    if current is not None:  # topics adapted before and not now keep their adapted prototype
        kept = [n for n in current.names if n not in names]
        idx = [current.names.index(n) for n in kept]
        candidate = TopicOverrides(
            (*candidate.names, *kept),
            np.concatenate([candidate.prototypes, current.prototypes[idx]]),
            np.concatenate([candidate.thresholds, current.thresholds[idx]]),
        )
    report.candidate = candidate
    if len(test) < MIN_HELD_OUT:
        report.why = f"only {len(test)} held-out topic corrections (needs {MIN_HELD_OUT})"
        return report
    xt = np.stack([e.embedding for e in test]).astype(np.float32)
    truth = [e.topics for e in test]
    report.before = score_tags(_sets(base.with_overrides(current).tag(xt)), truth)
    report.after = score_tags(_sets(base.with_overrides(candidate).tag(xt)), truth)
    if report.before.micro_f1 is None or report.after.micro_f1 is None:
        report.why = "the held-out corrections name no topic and none was tagged: nothing to judge"
        return report
    if report.after.micro_f1 < report.before.micro_f1:
        report.why = "the candidate was worse on the held-out corrections"
        return report
    report.adopted, report.overrides = True, candidate
    report.why = "not worse on the held-out corrections"
    return report


def _sets(tags: list[tuple[str, ...]]) -> list[frozenset[str]]:
    return [frozenset(t) for t in tags]
