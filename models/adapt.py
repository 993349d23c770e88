"""Sentiment heads adapted to a team's corrections, per language, judged on corrections they
never saw.

Each language with enough corrections gets its own softmax head over the sentiment encoder's
embeddings. It starts from the shipped head and is pulled back towards it (an L2 penalty on the
difference, chosen by cross-validation on the training part), so a few dozen corrections move the
decision where the team's language needs it without forgetting what the shipped head learned
from its training data. Classes are weighted to balance, so a team that mostly corrects
complaints does not teach the head that everything is negative.

A fixed fifth of the corrections (chosen by a hash of the mention id, so the same ones every run)
is held out: the head in use and the candidate are both scored on it, and a candidate replaces
the head in use for its language only if it is not worse. Pure numpy and scipy; no Kafka, no
search engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import minimize

from earful.records import SENTIMENT_LABELS
from models.heads import SoftmaxHead, softmax
from models.language_shift import apply_shift

#: Penalties tried (times the number of training examples) for the pull towards the shipped head.
PENALTIES = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)


def held_out(mention_id: str) -> bool:
    """One in five corrections, always the same ones, is kept for evaluation only."""
    return hashlib.sha1(mention_id.encode()).digest()[0] % 5 == 0


@dataclass(frozen=True)
class Example:
    mention_id: str
    lang: str
    #: Index into SENTIMENT_LABELS.
    label: int
    embedding: np.ndarray
    #: What the shipped model says of it when that is more than the head on `embedding` (the
    #: blend with the frozen encoder's head, models/analyzer.py): the "before" to beat.
    shipped: np.ndarray | None = None


@dataclass(frozen=True)
class Scores:
    n: int
    accuracy: float
    macro_f1: float
    log_loss: float

    def as_dict(self) -> dict[str, float]:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "log_loss": round(self.log_loss, 4),
        }


@dataclass
class LanguageReport:
    lang: str
    train: int
    held_out: int
    #: The head in use now and the candidate, on the held-out corrections (None: too few).
    before: Scores | None = None
    after: Scores | None = None
    adopted: bool = False
    why: str = ""
    penalty: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "lang": self.lang,
            "train": self.train,
            "held_out": self.held_out,
            "before": self.before.as_dict() if self.before else None,
            "after": self.after.as_dict() if self.after else None,
            "adopted": self.adopted,
            "why": self.why,
            "penalty": self.penalty,
        }


@dataclass
class AdaptResult:
    languages: list[LanguageReport] = field(default_factory=list)
    #: The heads of the new version (the ones in use, with adopted languages replaced), or None
    #: when no language changed.
    heads: dict[str, SoftmaxHead] | None = None


def probs(head: SoftmaxHead, x: np.ndarray) -> np.ndarray:
    """(n, 3) probabilities in SENTIMENT_LABELS order."""
    p = head.predict_proba(x)
    index = {label: i for i, label in enumerate(head.labels)}
    out: np.ndarray = p[:, [index[label] for label in SENTIMENT_LABELS]]
    return out


def score(head: SoftmaxHead, x: np.ndarray, y: np.ndarray) -> Scores:
    return score_probs(probs(head, x), y)


def score_probs(p: np.ndarray, y: np.ndarray) -> Scores:
    pred = p.argmax(axis=1)
    f1s = []
    for k in range(len(SENTIMENT_LABELS)):
        tp = float(np.sum((pred == k) & (y == k)))
        fp = float(np.sum((pred == k) & (y != k)))
        fn = float(np.sum((pred != k) & (y == k)))
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    nll = float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-9, 1)).mean())
    return Scores(len(y), float(np.mean(pred == y)), float(np.mean(f1s)), nll)


def _as_plain(head: SoftmaxHead) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The head as W, b over raw embeddings, SENTIMENT_LABELS order, temperature folded in."""
    order = [list(head.labels).index(label) for label in SENTIMENT_LABELS]
    w = head.weight[order].astype(np.float64) / head.temperature
    b = head.bias[order].astype(np.float64) / head.temperature
    center = np.zeros(w.shape[1]) if head.center is None else head.center.astype(np.float64)
    return w, b - w @ center, center


def fit_head(base: SoftmaxHead, x: np.ndarray, y: np.ndarray, penalty: float) -> SoftmaxHead:
    """Class-balanced softmax regression pulled towards `base` with strength `penalty`."""
    w0, b0, _ = _as_plain(base)
    k, d = w0.shape
    x = x.astype(np.float64)
    counts = np.bincount(y, minlength=k).astype(np.float64)
    weights = np.where(counts[y] > 0, len(y) / (k * np.maximum(counts[y], 1)), 0.0)
    weights /= weights.sum()
    onehot = np.eye(k)[y]
    theta0 = np.concatenate([w0.ravel(), b0])

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[: k * d].reshape(k, d)
        b = theta[k * d :]
        p = softmax(x @ w.T + b)
        nll = -float(np.sum(weights * np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1))))
        diff = theta - theta0
        g_logits = (p - onehot) * weights[:, None]
        grad = np.concatenate([(g_logits.T @ x).ravel(), g_logits.sum(axis=0)])
        return nll + penalty * float(diff @ diff), grad + 2 * penalty * diff

    fitted = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 300})
    theta = fitted.x
    return SoftmaxHead(
        weight=theta[: k * d].reshape(k, d).astype(np.float32),
        bias=theta[k * d :].astype(np.float32),
        labels=SENTIMENT_LABELS,
        temperature=1.0,
    )


def choose_penalty(base: SoftmaxHead, x: np.ndarray, y: np.ndarray, folds: int = 4) -> float:
    """The penalty with the best cross-validated log loss on the training corrections (ties go
    to the stronger pull: closer to the shipped head)."""
    order = np.arange(len(y))
    best, best_loss = PENALTIES[-1], np.inf
    for penalty in sorted(PENALTIES, reverse=True):
        losses = []
        for f in range(folds):
            test = order % folds == f
            if test.all() or not test.any():
                continue
            head = fit_head(base, x[~test], y[~test], penalty)
            losses.append(score(head, x[test], y[test]).log_loss)
        mean = float(np.mean(losses)) if losses else np.inf
        if mean < best_loss - 1e-6:
            best, best_loss = penalty, mean
    return best


def adapt(
    base: Mapping[str, SoftmaxHead],
    current: Mapping[str, SoftmaxHead],
    examples: Sequence[Example],
    *,
    min_train: int = 20,
    min_held_out: int = 5,
    input_shifts: Mapping[str, np.ndarray] | None = None,
) -> AdaptResult:
    """Candidate heads per language from the corrections, adopted where not worse.

    `base` are the shipped heads (what candidates start from and are pulled towards); `current`
    the heads in use (what candidates must not be worse than). Both need a fallback `*`.

    `input_shifts` are the language shifts the scorer applies before the shipped head
    (models/language_shift.py: a stream's, or the shipped starter): a language's candidate is
    fitted on embeddings moved by the shift in use for it (an adapted head's own, else that),
    and carries it, so corrections refine the model as it scores now rather than the unshifted
    one (with a starter shift in use, a Swedish head fitted unshifted from 67 corrections was
    worse on the held-out ones than the shifted shipped head it would replace)."""
    result = AdaptResult()
    heads = dict(current)
    by_lang: dict[str, list[Example]] = {}
    for e in examples:
        by_lang.setdefault(e.lang, []).append(e)
    for lang in sorted(by_lang):
        rows = sorted(by_lang[lang], key=lambda e: e.mention_id)
        train = [e for e in rows if not held_out(e.mention_id)]
        test = [e for e in rows if held_out(e.mention_id)]
        report = LanguageReport(lang, len(train), len(test))
        result.languages.append(report)
        in_use = current.get(lang, current["*"])
        if test:
            xt = np.stack([e.embedding for e in test])
            yt = np.array([e.label for e in test])
            shipped = in_use is base.get(lang, base["*"]) and all(
                e.shipped is not None for e in test
            )
            report.before = (
                score_probs(np.stack([e.shipped for e in test if e.shipped is not None]), yt)
                if shipped
                else score(in_use, xt, yt)
            )
        if len(train) < min_train:
            report.why = f"{len(train)} corrections to learn from; {min_train} needed"
            continue
        if len(test) < min_held_out:
            report.why = f"{len(test)} held-out corrections to judge by; {min_held_out} needed"
            continue
        shift = (
            in_use.shift
            if in_use is not base.get(lang, base["*"])
            else (input_shifts or {}).get(lang)
        )
        x = np.stack([e.embedding for e in train])
        if shift is not None:
            x = apply_shift(x, shift)
        y = np.array([e.label for e in train])
        start = base.get(lang, base["*"])
        report.penalty = penalty = choose_penalty(start, x, y)
        candidate = replace(fit_head(start, x, y, penalty), shift=shift)
        report.after = score(candidate, xt, yt)  # the candidate moves the raw embeddings itself
        before = report.before
        assert before is not None
        better = report.after.accuracy > before.accuracy or (
            report.after.accuracy == before.accuracy and report.after.log_loss < before.log_loss
        )
        if better:
            heads[lang] = candidate
            report.adopted = True
            report.why = "not worse on the held-out corrections"
        else:
            report.why = "worse than the head in use on the held-out corrections"
    if any(r.adopted for r in result.languages):
        result.heads = heads
    return result
