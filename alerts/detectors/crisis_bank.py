"""The crisis rule's bank of alternatives and its log-likelihood ratios (alerts/detectors/crisis.py
judges with them): per closed bucket and alternative (volume factor f, negative share rise r),
the count's LLR against the seasonal expectation plus the negative share's against the usual
share, each against a null that allows the baseline its own error; their array forms for the
calibration's simulations; and the reverse test's "back to usual" against the armed level.

A busy brand's counts are scored by the hour (`count_llrs`' `hour`, `hourly_bank_llrs`): a
bucket's count as its share of its hour's evidence (`hour_count_llr`), as the volume CUSUM
scores it.
"""

from __future__ import annotations

import numpy as np

from alerts.buckets import Bucket
from alerts.llr import (
    count_llr,
    count_llr_array,
    hour_count_llr,
    hour_count_llr_array,
    share_llr,
    share_llr_array,
)
from alerts.rules import CrisisRule
from alerts.sequential import bank

#: How far the baseline may be off before data counts as evidence against it. The threshold is
#: calibrated by simulation for the rule's `false_alarms_per_month` with the null at this edge
#: (alerts/calibration.py), so the edge decides how much of that budget the rule spends. On 24
#: fresh scenario sets (seeds 10551-10574, 56 brand-months; the shipped rule's budget, 0.3 a
#: month, allows 17 false pages there): at 25% and 4 points 3 false crisis episodes, and
#: crises waited for evidence the budget did not ask for; at 15% and 3 points 7, 21 crises
#: sooner; at 10% and 2 points 13, 38 crises sooner (530 minutes in all, none later) and one
#: caught that was missed. Narrower was not tried: an hour's learned expectation is itself off
#: by 14-25% (seasonal_volume.py).
VOLUME_TOLERANCE = 0.10
SHARE_TOLERANCE = 0.02


class CrisisBank:
    """The alternatives (`alerts.sequential.bank`: volume factors x negative rises) and their
    bucket LLRs."""

    def __init__(self, rule: CrisisRule, bucket_s: int = 300):
        self.alternatives = bank(rule.volume_factors, rule.negative_rises)
        #: One alternative per volume factor and per negative rise (`bucket_llrs`).
        self._by_factor = {a.factor: a for a in self.alternatives}
        self._by_rise = {a.rise: a for a in self.alternatives}
        self.per_hour = max(1, 3600 // bucket_s)

    @staticmethod
    def _null(expected: float, p0: float) -> tuple[float, float, float]:
        """The usual share clamped, and the null the evidence must beat: the baseline give or
        take its own error (a learned profile is never exact, least of all for a small brand's
        quiet hours): `VOLUME_TOLERANCE` higher volume, `SHARE_TOLERANCE` more negative, or a
        slightly low expectation would drift the CUSUM upwards for hours and page someone."""
        p0 = min(max(p0, 0.01), 0.95)
        return p0, expected * (1 + VOLUME_TOLERANCE), min(p0 + SHARE_TOLERANCE, 0.97)

    def count_llrs(
        self,
        n: int,
        expected: float,
        p0: float,
        r: float,
        hour: tuple[float, float] | None = None,
    ) -> dict[float, float]:
        """The count's LLR per volume factor of the bank: the bucket's alone, or where `hour`
        (the mentions and null expectation of its hour's earlier buckets) is given, its share
        of the hour's evidence (`hour_count_llr`)."""
        _, e0, _ = self._null(expected, p0)
        return {
            f: (
                count_llr(n, e0, f / (1 + VOLUME_TOLERANCE), r, added=True)
                if hour is None
                else hour_count_llr(n, hour, e0, f / (1 + VOLUME_TOLERANCE), r)
            )
            if f > 1 + VOLUME_TOLERANCE
            else 0.0
            for f in self._by_factor
        }

    def bucket_llrs(
        self,
        bucket: Bucket,
        expected: float,
        p0: float,
        r: float,
        counts: dict[float, float] | None = None,
    ) -> list[float]:
        """One bucket's LLR per alternative: the count's (`count_llrs`) plus the negative
        share's."""
        p0, _, q0 = self._null(expected, p0)
        n, neg = bucket.n, bucket.neg
        # the bank is factors x rises: each distinct term is computed once (a replay runs this
        # for every brand and bucket), and summed as before, so the values are the same
        if counts is None:
            counts = self.count_llrs(n, expected, p0, r)
        shares = {
            rise: share_llr(neg, n, q0, max(a.negative_share(p0), q0))
            for rise, a in self._by_rise.items()
        }
        return [counts[a.factor] + shares[a.rise] for a in self.alternatives]

    @staticmethod
    def _halfway(ratio: float, share: float, p0: float) -> list[float]:
        """The level "it is over" is weighed against: halfway between the null (the usual,
        give or take `_null`'s tolerance) and the volume factor and negative share observed
        since the crisis began, so a crisis that goes on at half strength is not over."""
        factor = ratio / (1 + VOLUME_TOLERANCE)
        q0 = min(p0 + SHARE_TOLERANCE, 0.97)
        return [
            round(max((1 + factor) / 2, 1.0), 4),
            round(min(max((q0 + share) / 2, q0), 0.97), 4),
        ]

    def _calm_llr(
        self, bucket: Bucket, expected: float, p0: float, r: float, armed: list[float]
    ) -> float:
        """One bucket's LLR of "back to usual" against the armed level."""
        _, e0, q0 = self._null(expected, p0)
        factor, share = armed
        llr = share_llr(bucket.neg, bucket.n, share, q0) if share > q0 else 0.0
        if factor > 1 and e0 > 0:
            llr += count_llr(bucket.n, e0 * factor, 1 / factor, r)
        return llr

    def bank_llrs(
        self,
        n: np.ndarray,
        pos: np.ndarray,
        neg: np.ndarray,
        expected: np.ndarray,
        share: float,
        r: float,
        *,
        hourly: bool = False,
    ) -> np.ndarray:
        """`bucket_llrs` over arrays ([chains, buckets] -> [chains, buckets, alternatives]),
        for the calibration's simulations (`hourly`: counts scored by the hour)."""
        p0, per_expected, q0 = self._null(1.0, share)  # the null per expected mention
        e0 = expected * per_expected

        def counts(factor: float) -> np.ndarray:
            f = factor / (1 + VOLUME_TOLERANCE)
            if factor <= 1 + VOLUME_TOLERANCE:
                return np.zeros_like(n)
            if hourly:
                return hour_count_llr_array(n, e0, f, r, self.per_hour)
            return count_llr_array(n, e0, f, r, added=True)

        return np.stack(
            [
                counts(a.factor) + share_llr_array(neg, n, q0, max(a.negative_share(p0), q0))
                for a in self.alternatives
            ],
            axis=-1,
        )

    def hourly_bank_llrs(
        self,
        n: np.ndarray,
        pos: np.ndarray,
        neg: np.ndarray,
        expected: np.ndarray,
        share: float,
        r: float,
    ) -> np.ndarray:
        """`bank_llrs` with counts scored by the hour (busy brands)."""
        return self.bank_llrs(n, pos, neg, expected, share, r, hourly=True)
