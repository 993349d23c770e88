"""Alert lifecycle: firing -> (escalated) -> resolved, one episode at a time per fingerprint.

The fingerprint is stable for (kind, brand, topic/term, rule), so downstream grouping and
de-duplication recognise every notice of the same condition. A firing alert resolves only
after `resolve_after` consecutive evaluations that are not even *sustained* (a looser test than
the one that fired), which keeps borderline conditions from flapping.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from alerts.detectors.base import Finding
from earful.records import SEVERITY_RANK, Alert, Evidence


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
    episode: dict[str, Any] | None,
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
) -> tuple[dict[str, Any] | None, Alert | None]:
    """Advance one episode by one evaluation. Returns (new episode state, alert to emit)."""
    anomalous = finding is not None and finding.anomalous
    sustained = finding is not None and (finding.anomalous or finding.sustained)
    if episode is None:
        if not anomalous:
            return None, None
        assert finding is not None
        new = {
            "started": end,
            "severity": finding.severity,
            "calm": 0,
            "last": _finding_dict(finding),
        }
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
        episode = {**episode, "calm": 0}
        if finding.evidence is not None:
            episode["last"] = _finding_dict(finding)
        if anomalous and SEVERITY_RANK[finding.severity] > SEVERITY_RANK[episode["severity"]]:
            episode["severity"] = finding.severity
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
    calm = episode["calm"] + 1
    if calm < resolve_after:
        return {**episode, "calm": calm}, None
    last = _finding_from_dict(episode["last"])
    resolved_evidence = finding.evidence if finding and finding.evidence else last.evidence
    closing = Finding(
        anomalous=False,
        sustained=False,
        severity=episode["severity"],
        evidence=resolved_evidence,
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
    episode: dict[str, Any],
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
        severity=episode["severity"],
        fingerprint=fingerprint(kind, brand, rule, finding.topic, finding.term, series),
        fired_at=_dt(end),
        window_start=_dt(end - window_s),
        window_end=_dt(end),
        topic=finding.topic,
        term=finding.term,
        summary=finding.summary,
        labels={**labels, **finding.labels},
        evidence=finding.evidence or Evidence(observed=0, expected=0),
        started_at=_dt(episode["started"]),
    )


def _finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "severity": f.severity,
        "summary": f.summary,
        "topic": f.topic,
        "term": f.term,
        "labels": f.labels,
        "evidence": f.evidence.model_dump(mode="json") if f.evidence else None,
    }


def _finding_from_dict(d: dict[str, Any]) -> Finding:
    ev = Evidence.model_validate(d["evidence"]) if d.get("evidence") else None
    return Finding(
        anomalous=True,
        sustained=True,
        severity=d["severity"],
        evidence=ev,
        summary=d["summary"],
        topic=d.get("topic"),
        term=d.get("term"),
        labels=d.get("labels") or {},
    )
