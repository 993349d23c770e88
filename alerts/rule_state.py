"""A rule's detector state, declared once as a dataclass per detector.

What a detector remembers between buckets (its baselines, CUSUM statistics, the guard band) is
a plain dataclass that subclasses `RuleState`; the JSON it is stored as in the changelog comes
from the declaration (pydantic), so there is no hand-written codec to keep in step with it.

The stored shape is the one wave 1 wrote by hand (field names are the old keys, aliases where
a name would read badly), so state written before the declarations loads unchanged. Loading
validates: a record that does not fit the declaration (a rule whose kind was edited under the
same name, a truncated record) raises `RuleStateError` naming the rule and the field, and the
engine starts that rule afresh rather than run on a half-read baseline.

Every detector's state is declared here, in one place, and this module is never compiled
(alerts/native.py): pydantic reads the declarations' annotations, which a module compiled with
mypyc no longer carries as written (`Annotated` aliases, `X | None`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from pydantic import TypeAdapter, ValidationError

from alerts.stats import EWMA


class RuleStateError(ValueError):
    """A stored rule state that does not fit its detector's declaration."""


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(cls: type) -> TypeAdapter[Any]:
    found = _ADAPTERS.get(cls)
    if found is None:
        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found


class RuleState:
    """Base of every detector state dataclass: `dump` to JSON-safe data, `load` it back.

    None fields are left out of the record (the hand-written records had no key where there
    was nothing to say); `KEEP_NONE` keeps them, where nested models have non-None defaults."""

    KEEP_NONE: ClassVar[bool] = False

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = _adapter(type(self)).dump_python(
            self, mode="json", by_alias=True, exclude_none=not self.KEEP_NONE
        )
        return out

    @classmethod
    def load(cls, raw: Any, rule: str = "?") -> Self:
        try:
            found: Self = _adapter(cls).validate_python(raw)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(record)"
            raise RuleStateError(
                f"stored state of rule {rule!r} does not fit {cls.__name__}: {where}: "
                f"{first['msg']} ({e.error_count()} problem(s))"
            ) from e
        return found


#: A CUSUM bank as stored: the statistics and where each began (-1: at zero).
StoredCusum = tuple[list[float], list[int]]
#: A key's CUSUM in `ShareCusums`: statistics, where each began, the mention clock of its last
#: update, and the clock at which absence alone brings every statistic to zero.
StoredShareCusum = tuple[list[float], list[int], int, int]


def _pairs(n: int) -> list[list[float]]:
    return [[0.0, 0.0] for _ in range(n)]


@dataclass
class ShareCusumsState(RuleState):
    """What `ShareCusums` keeps, inside the state of the detector that uses it."""

    cu: dict[str, StoredShareCusum] = field(default_factory=dict)
    #: Mentions folded so far (the clock absent keys catch up against).
    clock: int = 0
    #: Per firing key, the level its reverse test weighs "it is over" against.
    trend: dict[str, float] = field(default_factory=dict)
    calm: dict[str, float] = field(default_factory=dict)
    #: Keys the last bucket took to h or above (between `fold` and the next `restart` only).
    touched: list[str] | None = None
    firing: list[str] = field(default_factory=list)
    #: Per key with evidence, per alternative: the mention clock where its evidence began and
    #: the key's count since (flat: [clock, count] x alternatives), so what an alarm says of
    #: "since it began" never depends on how many buckets the engine holds.
    spans: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class SeriesCusumState(RuleState):
    """What `SeriesCusum` keeps."""

    cu: StoredCusum | None = None
    #: Per alternative, the caller's values summed since its evidence began.
    span: list[list[float]] | None = None
    #: Armed (the alert fires): the level the reverse test weighs "it is over" against.
    trend: float | None = None
    calm: float = 0.0
    #: 1 while an episode is open.
    ep: int = 0


@dataclass
class SequentialVolumeState(SeriesCusumState):
    #: The brand's bucket-level overdispersion: [excess, scale] (see `Overdispersion`).
    phi: list[float] = field(default_factory=lambda: [0.0, 0.0])
    #: Volume-weighted means of positives, negatives and mentions per bucket (the usual mix),
    #: learned from buckets outside alerts (None until the first).
    pos: EWMA | None = None
    neg: EWMA | None = None
    n: EWMA | None = None
    #: Buckets the dispersion has yet to learn: the last two hours', and more while the rule's
    #: guard band is up (`flag_from`: this CUSUM at half its threshold, or an unusual window):
    #: [count, expected] (`Overdispersion.learn_or_hold`).
    held: list[list[float]] = field(default_factory=list)
    #: The hour being scored: [its start, mentions so far, expected so far (the null's)].
    hour: list[float] = field(default_factory=lambda: [-1.0, 0.0, 0.0])
    #: Buckets the usual mix has yet to learn (`ripe`): [start, mentions, positives, negatives].
    mix_held: list[list[float]] = field(default_factory=list)


@dataclass
class VolumeProfile(RuleState):
    """The seasonal baseline (exponentially weighted [sum, weight] pairs) and its guard band."""

    #: Mentions per bucket by hour of day (UTC).
    hod: list[list[float]] = field(default_factory=lambda: _pairs(24))
    #: Each weekday's volume against the hour-of-day profile.
    dow: list[list[float]] = field(default_factory=lambda: _pairs(7))
    #: Recent observed against expected volume: the level that follows slow drifts.
    lvl: list[float] = field(default_factory=lambda: [0.0, 0.0])
    #: Buckets the level has yet to learn, where it learns them late: [start, mentions].
    lvl_held: list[list[float]] = field(default_factory=list)
    #: Pooled moments of the windowed test's overdispersion: [excess, scale].
    phi: list[float] = field(default_factory=lambda: [0.0, 0.0])
    #: The day being summed for the weekday factor: [day index, observed, profile x level].
    day: list[float] = field(default_factory=lambda: [-1.0, 0.0, 0.0])
    #: The level as that day began: its factor is learned against the profile at this level,
    #: so the factor holds what is particular to the weekday, and the level the drift.
    day_level: float = 1.0
    #: What the day before and the current day put into the level's expected sum (decayed as
    #: it decays): [day index, expected, day index, expected]. Once a day's weekday factor is
    #: relearned, that day's part of the level is re-expressed at the new factor.
    lvl_days: list[float] = field(default_factory=lambda: [-1.0, 0.0, -1.0, 0.0])
    #: Closed buckets waiting to leave the window before they are learned:
    #: [start, count, flagged].
    pending: list[list[int]] = field(default_factory=list)
    #: Start of the window an unusual test result holds out of learning (-1: none).
    flag_from: int = -1
    #: Since when flagging has been continuous (a lasting change is learned after a while).
    flagged_since: int | None = None


@dataclass
class VolumeSpikeState(VolumeProfile):
    seq: SequentialVolumeState = field(default_factory=SequentialVolumeState)
    #: Pooled moments of single buckets' overdispersion for the windowed test: [excess,
    #: scale] (`burst_phi`; the crisis rule's bare profile has no windowed test to keep it for).
    burst: list[float] = field(default_factory=lambda: [0.0, 0.0])


@dataclass
class SentimentDipState(RuleState):
    #: Exponentially weighted negatives and mentions per bucket (None until the first).
    neg: EWMA | None = None
    n: EWMA | None = None
    #: Mentions learned from so far (the warm-up counts them).
    seen: int = 0
    #: The last window looked suspicious: its bucket is not learned from.
    hold: bool = False
    #: The sequential test's CUSUM (alerts/detectors/dip_sequential.py).
    seq: SeriesCusumState = field(default_factory=SeriesCusumState)


@dataclass
class CrisisState(RuleState):
    #: The rule's own seasonal volume baseline (as `volume_spike` keeps it).
    vol: VolumeProfile = field(default_factory=VolumeProfile)
    #: Exponentially weighted negatives and mentions per bucket (None until the first).
    neg: EWMA | None = None
    n: EWMA | None = None
    #: Bucket-level overdispersion of counts: [excess, scale] (see `Overdispersion`).
    phi: list[float] = field(default_factory=lambda: [0.0, 0.0])
    #: One CUSUM per (volume factor, negative rise) alternative.
    cusum: StoredCusum | None = None
    #: Per alternative, [mentions, negatives, expected] since its evidence began.
    span: list[list[float]] | None = None
    #: One CUSUM per volume factor on the count alone: while it builds, the baselines hold
    #: the buckets (a surge that is not a crisis is not ordinary either).
    surge: StoredCusum | None = None
    #: 1 from when that CUSUM reached the threshold until it falls under half of it.
    surged: int = 0
    #: 1 while an episode of this rule is open (its evidence is spent when it resolves).
    ep: int = 0
    #: Armed (the alert fired): [volume factor, negative share] halfway between usual and what
    #: was observed, the level the reverse test weighs "it is over" against, and that test's
    #: statistic.
    armed: list[float] | None = None
    calm: float = 0.0
    #: Buckets the dispersion has yet to learn: the last two hours', and more while evidence
    #: builds: [count, expected] (`Overdispersion.learn_or_hold`).
    held: list[list[float]] = field(default_factory=list)
    #: Buckets the usual negative share has yet to learn (`ripe`): [start, mentions, negatives].
    share_held: list[list[float]] = field(default_factory=list)
    #: 1 where the brand is busy enough for its counts to be scored by the hour, and the hour
    #: being scored: [its start, mentions so far, expected so far (the null's)].
    by_hour: int = 0
    hour: list[float] = field(default_factory=lambda: [-1.0, 0.0, 0.0])


@dataclass
class TrendingTopicState(ShareCusumsState):
    """The topics' CUSUMs (inherited) and their baseline."""

    #: Exponentially weighted mentions per topic, and of all mentions.
    tp: dict[str, float] = field(default_factory=dict)
    tot: float = 0.0
    #: Mentions learned from so far (the warm-up counts them).
    seen: int = 0
    #: Up-crossings of each level of alerts/history_threshold.py `LEVELS` by the topics'
    #: statistics after the warm-up, and the seconds watched, both decayed (a month's
    #: half-life): a brand burstier than the simulated null gets a higher threshold.
    crossings: list[float] = field(default_factory=list)
    watched_s: float = 0.0
    #: Start of the first bucket this rule learned from (-1: not yet): the brand's size, which
    #: the threshold is read at, is `seen` over the time since.
    since: int = -1


@dataclass
class EmergingTermState(ShareCusumsState):
    """The terms' CUSUMs (inherited) and the brand's background vocabulary."""

    #: Decayed count per term, times `scale` (the decay is applied lazily through it).
    bg: dict[str, float] = field(default_factory=dict)
    scale: float = 1.0
    #: Decayed mentions, times `scale`.
    N: float = 0.0
    #: Seconds of buckets since faded terms were last forgotten.
    since_prune: int = 0
    #: Mentions learned from so far (the warm-up counts them).
    seen: int = 0
    #: Up-crossings of each level of alerts/history_threshold.py `LEVELS` by the terms'
    #: statistics after the warm-up, and the seconds watched, both decayed (a month's
    #: half-life): the threshold the brand's own history supports.
    crossings: list[float] = field(default_factory=list)
    watched_s: float = 0.0
