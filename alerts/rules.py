"""Detection rules in YAML, validated on load (`earful rules check FILE`).

    engine:
      bucket: 5m
    rules:
      - name: pr-sentiment-dip
        kind: sentiment_dip
        window: 30m
        brands: ["*"]
        min_volume: 20
        labels: {team: pr}

Durations are written `90s`, `15m`, `2h`, `7d`. Every rule has a name (unique), a kind, the
brands it applies to (`*` for all), and the minimum volume below which it never fires.
"""

from __future__ import annotations

import fnmatch
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from earful.configfile import SemanticChecks
from earful.types import Duration


class RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    #: Brand names or glob patterns this rule watches; `*` is every brand.
    brands: tuple[str, ...] = ("*",)
    window: Duration = timedelta(minutes=30)
    min_volume: int = Field(default=20, ge=1)
    #: One-sided p-value below which the observed window is called anomalous.
    alpha: float = Field(default=1e-4, gt=0, lt=0.5)
    #: Consecutive normal evaluations before a firing alert resolves.
    resolve_after: int = Field(default=3, ge=1)
    #: History needed before the rule may fire at all (warm-up).
    warmup: Duration = timedelta(hours=12)
    labels: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    #: Evaluate separately per language or platform (each value is its own series).
    split_by: Literal["lang", "platform"] | None = None
    #: Only these platforms / languages count (empty: all).
    platforms: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()

    def applies_to(self, brand: str) -> bool:
        return any(fnmatch.fnmatchcase(brand, pattern) for pattern in self.brands)


class SentimentDipRule(RuleBase):
    """Negative share of a brand's mentions rising significantly above its baseline."""

    kind: Literal["sentiment_dip"] = "sentiment_dip"
    #: Smallest rise in negative share (absolute) worth an alert, whatever the p-value.
    min_delta: float = Field(default=0.10, gt=0, lt=1)
    #: Half-life of the baseline negative share, in time.
    baseline_half_life: Duration = timedelta(days=2)
    #: Weight each mention by log(1 + followers): a complaint from a large account counts more,
    #: without one celebrity outweighing everyone (effective sample size is used in the test).
    reach_weighted: bool = False
    #: Also judge the negative share as evidence accumulates (a CUSUM over rises of 1, 2 and
    #: 3 x `min_delta`; mentions unweighted), with at most about this many false alarms per
    #: brand and month; unset: the windowed test alone.
    false_alarms_per_month: float | None = Field(default=None, gt=0, le=100)


class VolumeSpikeRule(RuleBase):
    """Mention volume above its seasonal expectation (hour of day, day of week, level)."""

    kind: Literal["volume_spike"] = "volume_spike"
    #: Observed must also be at least this many times the expectation.
    min_ratio: float = Field(default=1.8, ge=1)
    #: Alert on drops as well (a flatline can mean an outage of the source, not of the brand).
    direction: Literal["up", "both"] = "up"
    #: Half-life of the hour-of-day profile, and of the level that follows slow drifts.
    profile_half_life: Duration = timedelta(days=7)
    level_half_life: Duration = timedelta(hours=12)
    warmup: Duration = timedelta(hours=24)
    #: Also judge volume as evidence accumulates (a CUSUM over 1, 2 and 4 x `min_ratio`),
    #: with at most about this many false alarms per brand and month; unset: the windowed
    #: test alone.
    false_alarms_per_month: float | None = Field(default=None, gt=0, le=100)


class CrisisRule(RuleBase):
    """Volume and negative share rising together, judged as they accumulate (CUSUM): the joint
    evidence of both catches a small brand's crisis long before either test alone."""

    kind: Literal["crisis"] = "crisis"
    #: The false alarms you accept per brand and month: it sets the CUSUM's threshold.
    false_alarms_per_month: float = Field(default=1.0, gt=0, le=100)
    #: The changes the detector looks for: volume factors x rises of the negative share (the
    #: share moved that far towards 100%). Every pair is one CUSUM.
    volume_factors: tuple[Annotated[float, Field(ge=1, le=100)], ...] = Field(
        default=(1.0, 1.5, 2.0, 3.0, 5.0, 8.0), min_length=1
    )
    negative_rises: tuple[Annotated[float, Field(gt=0, lt=1)], ...] = Field(
        default=(0.15, 0.3, 0.5), min_length=1
    )
    #: Mentions since the estimated start of the change needed before it may fire.
    min_volume: int = Field(default=8, ge=1)
    baseline_half_life: Duration = timedelta(days=2)
    profile_half_life: Duration = timedelta(days=7)
    level_half_life: Duration = timedelta(hours=12)
    warmup: Duration = timedelta(hours=24)


class TrendingTopicRule(RuleBase):
    """A taxonomy topic's share of the brand's mentions rising against its own baseline."""

    kind: Literal["trending_topic"] = "trending_topic"
    #: Mentions of the topic in the window needed to consider it at all.
    min_volume: int = Field(default=10, ge=1)
    #: The topic's share must grow at least this many times over its baseline share.
    min_lift: float = Field(default=2.0, ge=1)
    #: A topic never seen before is compared with this share instead of zero.
    share_floor: float = Field(default=0.01, gt=0, lt=1)
    baseline_half_life: Duration = timedelta(days=3)
    #: The false alarms you accept per brand and month from the sequential (CUSUM) test: it
    #: sets that test's threshold over every topic and lift.
    false_alarms_per_month: float = Field(default=1.0, gt=0, le=100)


class EmergingTermRule(RuleBase):
    """A hashtag or word rising from nothing against the brand's own background vocabulary."""

    kind: Literal["emerging_term"] = "emerging_term"
    #: Occurrences in the window needed to consider a term.
    min_volume: int = Field(default=8, ge=2)
    #: The window share must be this many times the background share.
    min_lift: float = Field(default=5.0, ge=1)
    #: Terms whose background share is above this are not "new".
    max_background_share: float = Field(default=0.005, gt=0, lt=1)
    #: Family-wise alpha over all candidate terms (divided by their number).
    alpha: float = Field(default=1e-3, gt=0, lt=0.5)
    background_half_life: Duration = timedelta(days=7)
    #: The false alarms you accept per brand and month from the sequential (CUSUM) test: it
    #: sets that test's threshold over the brand's whole vocabulary.
    false_alarms_per_month: float = Field(default=1.0, gt=0, le=100)
    #: Hashtags only, or hashtags and words.
    terms: Literal["hashtags", "all"] = "all"
    #: Terms never reported (brand names, campaign tags you already know).
    ignore: tuple[str, ...] = ()


Rule = Annotated[
    SentimentDipRule | VolumeSpikeRule | CrisisRule | TrendingTopicRule | EmergingTermRule,
    Field(discriminator="kind"),
]


class EngineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Pane length every window is built from; windows must be multiples of it.
    bucket: Duration = timedelta(minutes=5)
    #: How long after a bucket ends late mentions are still counted into it.
    allowed_lateness: Duration = timedelta(minutes=2)
    #: Base URL of the dashboard's search page, for evidence links.
    search_url: str | None = None


class RuleSet(BaseModel, SemanticChecks):
    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: EngineConfig = EngineConfig()
    rules: tuple[Rule, ...] = Field(min_length=1)

    def semantic_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        seen: set[str] = set()
        bucket = self.engine.bucket.total_seconds()
        if 3600 % bucket:
            # the seasonal profile and the volume CUSUM's hours are built from whole buckets
            problems.append(
                (
                    ("engine", "bucket"),
                    f"{_fmt(self.engine.bucket)} does not divide an hour "
                    "(use 1m, 2m, 5m, 10m, 15m, 30m or 1h)",
                )
            )
        for i, rule in enumerate(self.rules):
            if rule.name in seen:
                problems.append((("rules", i, "name"), f"rule name '{rule.name}' is used twice"))
            seen.add(rule.name)
            window = rule.window.total_seconds()
            if window < bucket or window % bucket:
                problems.append(
                    (
                        ("rules", i, "window"),
                        f"{_fmt(rule.window)} is not a multiple of the bucket "
                        f"({_fmt(self.engine.bucket)})",
                    )
                )
        return problems


def _fmt(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


DEFAULT_RULES_PATH = Path(__file__).with_name("defaults") / "rules.yaml"


def load_rules(path: str | Path | None) -> RuleSet:
    return RuleSet.load(path or DEFAULT_RULES_PATH)
