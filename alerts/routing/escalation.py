"""The escalation stage: a firing alert nobody acknowledged is told to the route's escalation
receiver once `escalate.after` has passed since its receiver was first told."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from datetime import datetime

from alerts.routing.state import Group
from alerts.routing.tree import RouteOpts
from earful.records import Alert


@dataclass(frozen=True)
class Escalation:
    receiver: str
    group_key: str
    labels: dict[str, str]
    alert: Alert


def due_escalations(
    groups: Iterable[Group],
    opts_of: Callable[[Group], RouteOpts | None],
    *,
    acknowledged: Container[str],
    escalated: Container[str],
    muted: Container[str],
    now: datetime,
) -> list[Escalation]:
    out = []
    for group in groups:
        opts = opts_of(group)
        if opts is None or opts.escalate is None:
            continue
        for fp, when in group.first_told.items():
            raw = group.alerts.get(fp)
            if raw is None or raw["status"] != "firing" or fp in acknowledged or fp in muted:
                continue
            if raw["severity"] not in opts.escalate.severities or fp in escalated:
                continue
            if group.time(now) >= datetime.fromisoformat(when) + opts.escalate.after:
                out.append(
                    Escalation(
                        opts.escalate.to,
                        f"escalation:{fp}",
                        {**group.labels, "escalated_from": group.receiver},
                        group.alert(fp),
                    )
                )
    return out
