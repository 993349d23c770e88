"""One CUSUM per key (a topic, a term) on the share of mentions that carry it: what the
trending-topic and emerging-term rules accumulate their sequential evidence in, each key with the
life of an alarm around it (alerts/sequential.py has the single-series bank, `SeriesCusum`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from alerts.history_threshold import count_crossings
from alerts.llr import clamped_share, round3, share_llr
from alerts.rule_state import ShareCusumsState
from alerts.sequential import CALM_LLR, argmax

T = TypeVar("T")


class KeyShares:
    """What `ShareCusums.fold` asks of the detector for each key of a bucket: its usual share
    (None where it is no candidate, e.g. a word too common to be new) and the shares its
    CUSUMs weigh against that one. A class, not two functions: compiled, a method of a
    subclass is called directly, a function object through Python's call protocol (this is
    asked for every term of every bucket of every brand)."""

    def baseline(self, key: str) -> float | None:
        raise NotImplementedError

    def alternatives(self, q0: float) -> list[float]:
        raise NotImplementedError


class FunctionShares(KeyShares):
    """`KeyShares` from two functions (tests, one-off callers)."""

    def __init__(
        self,
        baseline: Callable[[str], float | None],
        alternatives: Callable[[float], Sequence[float]],
    ) -> None:
        self.baseline_of = baseline
        self.alternatives_of = alternatives

    def baseline(self, key: str) -> float | None:
        return self.baseline_of(key)

    def alternatives(self, q0: float) -> list[float]:
        return list(self.alternatives_of(q0))


@dataclass(frozen=True)
class ShareCusums:
    """One CUSUM per key (a topic, a term) on the share of mentions that carry it, kept in a
    detector's state (`ShareCusumsState`), with the life of an alarm around it:

    - `fold` adds one closed bucket: per key, the binomial LLR of each alternative share
      (`shares.alternatives(q0)`) against the baseline share q0 = p0 x (1 + tolerance),
      p0 = `shares.baseline(key)`;
    - `crossed` lists the keys whose CUSUM reached h and that are not firing yet;
    - `arm` records, when a key fires, the level its reverse test weighs "it is over" against
      (halfway between usual and the observed share); `over` says when that reverse CUSUM has
      reached 20:1;
    - `restart` drops the statistics of keys whose alert resolved, so evidence already acted on
      never raises the same alarm twice.

    Evidence older than `new_normal_s` is let go: a change that lasts is the new normal.
    """

    tolerance: float = 0.2
    new_normal_s: int = 6 * 3600
    calm_llr: float = CALM_LLR

    def fold(
        self,
        state: ShareCusumsState,
        n: int,
        counts: Mapping[str, int],
        shares: KeyShares,
        *,
        start: int,
        end: int,
        h: float,
        crossings: list[float] | None = None,
    ) -> None:
        """Add one closed bucket of `n` mentions, `counts[key]` of which carry each key.

        A key absent from a bucket only loses evidence (n x ln((1 - p1) / (1 - q0)) per
        alternative), so absent keys are not touched: each key remembers the mention clock of
        its last update (and when absence alone runs its evidence out) and catches up when it
        next appears; once an hour the keys whose evidence has run out are dropped. A bucket
        costs O(keys in it), not O(vocabulary).

        `crossings` (alerts/history_threshold.py), where given, tallies each level a key's
        statistic (its best alternative's) climbs across in this bucket.
        """
        stats, spans = state.cu, state.spans
        before = state.clock
        clock = state.clock = before + n
        trend = state.trend
        watched = set(self.watched(state))
        touched: list[str] = []
        cap, forget, tolerance = 1.5 * h, end - self.new_normal_s, 1 + self.tolerance
        for key in sorted({*counts, *watched}):  # sorted: the same order in every process
            p0 = shares.baseline(key)
            if p0 is None:  # not a candidate (a common word is never "new")
                if key in stats:
                    del stats[key]
                if key in spans:
                    del spans[key]
                continue
            q0 = min(p0 * tolerance, 0.95)
            count = counts.get(key, 0)
            if watched and key in watched:
                calm = state.calm
                calm[key] = max(0.0, calm.get(key, 0.0) + share_llr(count, n, trend[key], q0))
            alts = shares.alternatives(q0)
            raw = stats.get(key)
            # a `Cusum` caught up, updated (`cusum_step`) and forgetting, in one pass per
            # alternative and without the object: this runs for every term of every bucket of
            # every brand (the arithmetic is `share_llr`'s and `cusum_step`'s, operation for
            # operation: the unit tests replay against them)
            k = len(alts)
            if raw is None:
                s, since = [0.0] * k, [-1] * k
                absent = 0
            else:
                absent = before - raw[2]
                if len(raw[0]) != k:
                    s, since = [0.0] * k, [-1] * k
                else:
                    s, since = list(raw[0]), list(raw[1])
            q0c = clamped_share(q0)  # as share_llr clamps it, once per key
            rest = n - count
            runs_out = 0.0  # the mention clock at which absence alone brings all to zero
            was = 0.0  # the best statistic before this bucket's evidence (caught up)
            best = 0.0  # the best statistic after it (as stored: rounded, never below 0)
            for i in range(k):
                p1 = alts[i]
                per_absent = math.log((1 - p1) / (1 - q0))
                v, began = s[i], since[i]
                if absent > 0:
                    v += absent * per_absent
                    if v <= 0.0:
                        v, began = 0.0, -1
                was = v if v > was else was
                if n == 0 or q0 == p1:
                    llr = 0.0
                else:
                    p1c = clamped_share(p1)
                    tail = (
                        per_absent if p1c == p1 and q0c == q0 else math.log((1 - p1c) / (1 - q0c))
                    )
                    llr = count * math.log(p1c / q0c) + rest * tail
                value = v + llr  # cusum_step
                if value <= 0.0:
                    v, began = 0.0, -1
                else:
                    began = start if v == 0.0 else began
                    v = value if value < cap else cap
                if 0 <= began < forget:  # as `Cusum.forget_before`
                    v, began = 0.0, -1
                if p1 > q0:
                    runs_out = max(runs_out, v / -per_absent)
                # rounded where it is computed (not where it is stored), so a replay cut into
                # batches anywhere still gives the same alerts, and the state stays small
                v = round3(v)
                s[i], since[i] = v, began
                best = v if v > best else best
            old_since = raw[1] if raw is not None else None
            stats[key] = (s, since, clock, clock + math.ceil(runs_out))
            follow_spans(spans, key, since, old_since, count, before, start)
            if crossings is not None:
                count_crossings(crossings, was, best)
            if best >= h:  # all `crossed` looks at
                touched.append(key)
        state.touched = touched
        if start % 3600 == 0:  # once an hour, forget the keys whose evidence has run out
            keep = set(state.trend)
            for key in [k for k, raw in stats.items() if raw[3] <= clock and k not in keep]:
                del stats[key]
                state.spans.pop(key, None)

    def since_began(self, state: ShareCusumsState, key: str) -> tuple[int, int] | None:
        """(the key's count, mentions) since the best alternative's evidence began, or None
        where that is not known (state from before spans were kept)."""
        raw, held = state.cu.get(key), state.spans.get(key)
        if raw is None or held is None or len(held) != 2 * len(raw[0]):
            return None
        s = raw[0]
        best = argmax(s)
        base, count = held[2 * best], held[2 * best + 1]
        if count < 0 or raw[1][best] < 0:
            return None
        return count, state.clock - base

    def crossed(self, state: ShareCusumsState, h: float) -> list[tuple[str, int, float]]:
        """(key, where its evidence began, statistic) for each key the last bucket took over h
        (only a key in it gained evidence; `fold` lists those at h or above)."""
        firing = set(state.firing)
        stats = state.cu
        out = []
        for key in state.touched or ():
            if key in firing or key not in stats:
                continue
            s, since = stats[key][0], stats[key][1]
            best = argmax(s)
            if s[best] >= h:
                out.append((key, int(since[best]), float(s[best])))
        return out

    def judge(
        self,
        state: ShareCusumsState,
        h: float,
        alarm: Callable[[str, int, float], T | None],
        still: Callable[[str, bool], T],
    ) -> list[T]:
        """One bucket's findings: `still(key, over)` for each key this test raised and that
        still fires, and `alarm(key, since, statistic)` for each key newly over h (None where
        it does not qualify, e.g. too few mentions yet)."""
        out = [still(key, self.over(state, key)) for key in self.watched(state)]
        for key, since, value in self.crossed(state, h):
            finding = alarm(key, since, value)
            if finding is not None:
                out.append(finding)
        return out

    def watched(self, state: ShareCusumsState) -> list[str]:
        """Firing keys this test raised (it judges when they are over)."""
        trend = state.trend
        return [k for k in state.firing if k in trend]

    def arm(self, state: ShareCusumsState, key: str, p0: float, share: float) -> None:
        q0 = min(p0 * (1 + self.tolerance), 0.95)
        state.trend[key] = min(max((q0 + share) / 2, q0 * 1.5), 0.95)
        state.calm.pop(key, None)

    def over(self, state: ShareCusumsState, key: str) -> bool:
        return state.calm.get(key, 0.0) >= self.calm_llr

    @staticmethod
    def restart(state: ShareCusumsState, firing: set[str]) -> None:
        state.touched = None
        for key in set(state.firing) - firing:
            state.cu.pop(key, None)
            state.spans.pop(key, None)
            state.trend.pop(key, None)
            state.calm.pop(key, None)
        state.firing = sorted(firing)


def follow_spans(
    spans: dict[str, list[int]],
    key: str,
    since: list[int],
    old_since: list[int] | None,
    count: int,
    before: int,
    start: int,
) -> None:
    """`ShareCusums.fold`'s spans of one key: per alternative, the key's count and the clock
    since its evidence began, started afresh where it began with this bucket, added to where
    it goes on (-1: unknown, state from before spans were kept). A function, not a method:
    mypyc calls it directly (as a static method it went through Python's call protocol, a
    tenth of `fold`)."""
    if all(b < 0 for b in since):
        spans.pop(key, None)
        return
    held = spans.get(key)
    k = len(since)
    known = held is not None and len(held) == 2 * k and old_since is not None
    out = [0] * (2 * k)  # [clock, count] per alternative (0, 0 where at zero)
    for i in range(k):
        began = since[i]
        if began < 0:
            continue
        if began == start:
            out[2 * i], out[2 * i + 1] = before, count
        elif (
            known
            and held is not None
            and old_since is not None
            and old_since[i] == began
            and held[2 * i + 1] >= 0
        ):
            out[2 * i], out[2 * i + 1] = held[2 * i], held[2 * i + 1] + count
        else:
            out[2 * i], out[2 * i + 1] = -1, -1
    spans[key] = out
