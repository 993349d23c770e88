"""The inhibition stage: a firing source alert mutes the target alerts that share its `equal`
labels (one page per incident: a critical volume spike mutes the same brand's warnings)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alerts.routing.config import InhibitRule, matches_all


def inhibited(rules: Sequence[InhibitRule], firing: Mapping[str, dict[str, str]]) -> set[str]:
    """Fingerprints muted, given the labels of every firing alert by fingerprint."""
    muted: set[str] = set()
    for rule in rules:
        sources = [
            labels for labels in firing.values() if matches_all(rule.source_matchers, labels)
        ]
        for fp, labels in firing.items():
            if not matches_all(rule.target_matchers, labels):
                continue
            for src in sources:
                if src is labels:
                    continue
                if all(src.get(k) == labels.get(k) for k in rule.equal):
                    muted.add(fp)
                    break
    return muted
