"""Alert lifecycle: firing -> (escalated) -> resolved, one episode at a time per fingerprint.

The fingerprint is stable for (kind, brand, topic/term, rule), so downstream grouping and
de-duplication recognise every notice of the same condition. A firing alert resolves only
after `resolve_after` consecutive evaluations that are not even *sustained* (a looser test than
the one that fired), which keeps borderline conditions from flapping.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from alerts.detectors.base import Finding
from alerts.rule_state import RuleState
from earful.records import SEVERITY_RANK, Alert, Evidence, Severity


@dataclass(frozen=True)
class StoredFinding:
    """What an episode remembers of its last finding with evidence (the resolved notice
    repeats it)."""

    severity: Severity
    summary: str
    topic: str | None = None
    term: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    evidence: Evidence | None = None

    @classmethod
    def of(cls, f: Finding) -> StoredFinding:
        return cls(f.severity, f.summary, f.topic, f.term, f.labels, f.evidence)

    def finding(self) -> Finding:
        return Finding(
            anomalous=True,
            sustained=True,
            severity=self.severity,
            proof=self.evidence,
            summary=self.summary,
            topic=self.topic,
            term=self.term,
            labels=self.labels,
        )


@dataclass(frozen=True)
class Episode(RuleState):
    """One open alert episode (stored with its series, keyed "rule|topic|term")."""

    KEEP_NONE = True  # the evidence's own None fields are part of it

    #: Bucket end at which it fired (epoch seconds).
    started: int
    #: The highest severity raised so far.
    severity: Severity
    last: StoredFinding
    #: Consecutive evaluations that were not even sustained.
    calm: int = 0


def fingerprint(
    kind: str,
    brand: str,
    rule: str,
    topic: str | None = None,
    term: str | None = None,
    series: str = "",
) -> str:
    raw = "\x1f".join([kind, brand, rule, topic or "", term or ""] + ([series] if series else []))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def step(
    episode: Episode | None,
    finding: Finding | None,
    *,
    kind: str,
    brand: str,
    rule: str,
    end: int,
    window_s: int,
    resolve_after: int,
    labels: dict[str, str],
    series: str = "",
) -> tuple[Episode | None, Alert | None]:
    """Advance one episode by one evaluation. Returns (new episode state, alert to emit)."""
    anomalous = finding is not None and finding.anomalous
    sustained = finding is not None and (finding.anomalous or finding.sustained)
    if episode is None:
        if not anomalous:
            return None, None
        assert finding is not None
        new = Episode(started=end, severity=finding.severity, last=StoredFinding.of(finding))
        return new, _alert(
            "firing",
            new,
            finding,
            kind=kind,
            brand=brand,
            rule=rule,
            end=end,
            window_s=window_s,
            labels=labels,
            series=series,
        )
    if sustained:
        assert finding is not None
        episode = replace(episode, calm=0)
        if finding.evidence is not None:
            episode = replace(episode, last=StoredFinding.of(finding))
        if anomalous and SEVERITY_RANK[finding.severity] > SEVERITY_RANK[episode.severity]:
            episode = replace(episode, severity=finding.severity)
            return episode, _alert(
                "firing",
                episode,
                finding,
                kind=kind,
                brand=brand,
                rule=rule,
                end=end,
                window_s=window_s,
                labels=labels,
                series=series,
            )
        return episode, None
    calm = episode.calm + 1
    if calm < resolve_after:
        return replace(episode, calm=calm), None
    last = episode.last.finding()
    resolved_evidence = finding.evidence if finding and finding.evidence else last.evidence
    closing = Finding(
        anomalous=False,
        sustained=False,
        severity=episode.severity,
        proof=resolved_evidence,
        summary=f"resolved: {last.summary}",
        topic=last.topic,
        term=last.term,
        labels=last.labels,
    )
    return None, _alert(
        "resolved",
        episode,
        closing,
        kind=kind,
        brand=brand,
        rule=rule,
        end=end,
        window_s=window_s,
        labels=labels,
        series=series,
    )


def _alert(
    status: str,
    episode: Episode,
    finding: Finding,
    *,
    kind: str,
    brand: str,
    rule: str,
    end: int,
    window_s: int,
    labels: dict[str, str],
    series: str = "",
) -> Alert:
    return Alert(
        kind=kind,
        brand=brand,
        rule=rule,
        status=status,
        severity=episode.severity,
        fingerprint=fingerprint(kind, brand, rule, finding.topic, finding.term, series),
        fired_at=_dt(end),
        window_start=_dt(end - window_s),
        window_end=_dt(end),
        topic=finding.topic,
        term=finding.term,
        summary=finding.summary,
        labels={**labels, **finding.labels},
        evidence=finding.evidence or Evidence(observed=0, expected=0),
        started_at=_dt(episode.started),
    )
