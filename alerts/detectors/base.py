"""The detector contract.

A detector is stateless code over explicit state: `learn` folds one closed bucket into the
rule's baseline, `evaluate` judges the window ending at a bucket boundary. Each detector
declares its state once, as a `RuleState` dataclass (`State`); the engine owns the instances
(they live in the brand's `KeyState`) and the alert lifecycle, so detectors stay small and
testable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from alerts.buckets import Bucket
from alerts.rule_state import RuleState
from alerts.stats import EWMA
from alerts.windows import WindowSummary, summarize
from earful.records import Evidence, Severity


def mean_of(ewma: EWMA) -> float:
    """`ewma.mean`, the same arithmetic, read from compiled code: the property is Python code
    in a module that is not compiled (the states are declared there for pydantic), and the
    baselines' shares are read at every bucket of every brand."""
    w = ewma.w
    return ewma.s / w if w > 0 else 0.0


# Findings and contexts are made for every rule of every bucket: plain dataclasses, as
# `Observation` (a frozen one sets each field through object.__setattr__), with their
# `__init__` written out (the generated one is Python code even compiled). Nothing changes
# one after it is made except a finding's evidence, built on first use.
@dataclass(init=False)
class Finding:
    """The window is anomalous (or, with `anomalous=False`, what it looked like)."""

    anomalous: bool
    #: Still abnormal by the looser criterion that keeps a firing alert from flapping.
    sustained: bool
    severity: Severity = "warning"
    #: The evidence, or a function that builds it (`functools.partial(build_evidence, ...)`):
    #: most findings are dropped at once (nothing fires and nothing is open), and evidence
    #: (top posts, top terms, a validated model) is the costly part of a finding, so it is
    #: built on first use of `evidence` only.
    proof: Evidence | Callable[[], Evidence] | None = None
    summary: str = ""
    #: For per-topic / per-term detectors: what the finding is about.
    topic: str | None = None
    term: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def __init__(
        self,
        anomalous: bool,
        sustained: bool,
        severity: Severity = "warning",
        proof: Evidence | Callable[[], Evidence] | None = None,
        summary: str = "",
        topic: str | None = None,
        term: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.anomalous = anomalous
        self.sustained = sustained
        self.severity = severity
        self.proof = proof
        self.summary = summary
        self.topic = topic
        self.term = term
        self.labels = {} if labels is None else labels

    @property
    def evidence(self) -> Evidence | None:
        proof = self.proof
        if proof is None or isinstance(proof, Evidence):
            return proof
        built = proof()
        self.proof = built  # built once, however often it is read
        return built


@dataclass(init=False)
class Context:
    brand: str
    #: Bucket-aligned end of the window being judged (epoch seconds).
    end: int
    bucket_s: int
    #: Seconds of history the rule has seen with data flowing.
    history_s: int
    search_url: str | None = None
    #: The series' closed buckets, and a transient per-series cache detectors may use for
    #: incremental aggregates (never serialized; rebuilt after the state round-trips).
    closed: dict[int, Bucket] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)

    def __init__(
        self,
        brand: str,
        end: int,
        bucket_s: int,
        history_s: int,
        search_url: str | None = None,
        closed: dict[int, Bucket] | None = None,
        cache: dict[Any, Any] | None = None,
    ) -> None:
        self.brand = brand
        self.end = end
        self.bucket_s = bucket_s
        self.history_s = history_s
        self.search_url = search_url
        self.closed = {} if closed is None else closed
        self.cache = {} if cache is None else cache

    def held_since(self, since: int) -> WindowSummary:
        """The closed buckets still held from `since` to the end: the evidence (posts, terms)
        of a change a sequential test dates back to `since`. Counts since then are the
        detector's own: the engine holds only what the longest window needs."""
        return summarize([b for t, b in sorted(self.closed.items()) if t >= since], since, self.end)


class Detector(Protocol):
    #: The declared state (a `RuleState` dataclass whose defaults are "nothing learned yet").
    @property
    def State(self) -> type[RuleState]: ...  # a class attribute of each detector

    def learn(self, bucket: Bucket, state: Any, ctx: Context, firing: set[str]) -> None:
        """Fold a closed bucket into the baseline. `firing` holds what currently fires for
        this rule and series: '' for the series as a whole, or topic / term names; anomalous
        data must not become the new normal."""
        ...

    def evaluate(self, window: WindowSummary, state: Any, ctx: Context) -> list[Finding]: ...


def strongest(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per topic or term: the stronger verdict (anomalous, then sustained), the
    first on a tie (a detector with two tests lists the windowed one first)."""
    chosen: dict[tuple[str | None, str | None], Finding] = {}
    for f in findings:
        have = chosen.get((f.topic, f.term))
        if have is None or (f.anomalous, f.sustained) > (have.anomalous, have.sustained):
            chosen[(f.topic, f.term)] = f
    return list(chosen.values())
