"""Route matching, as Alertmanager's `dispatch/route.go` does it (a pure function of labels).

Depth first: a node matches when its matchers match; its children are tried in order, and the
first matching child ends the search among its siblings unless it has `continue: true`. A node
whose children all fail to match is itself the match. Options (receiver, group_by, timings)
are inherited from the parent unless the node sets them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from alerts.routing.config import (
    GROUP_INTERVAL,
    GROUP_WAIT,
    REPEAT_INTERVAL,
    Escalation,
    Route,
    matches_all,
)


@dataclass(frozen=True)
class RouteOpts:
    receiver: str
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    escalate: Escalation | None
    #: Position in the tree ("0.2.1"), so identical label sets on different routes group apart.
    path: str

    def group_labels(self, labels: dict[str, str]) -> dict[str, str]:
        if "..." in self.group_by:
            return dict(labels)
        return {k: labels.get(k, "") for k in self.group_by}

    def group_key(self, labels: dict[str, str]) -> str:
        pairs = ",".join(f"{k}={v}" for k, v in sorted(self.group_labels(labels).items()))
        return f"{self.path}:{self.receiver}:{{{pairs}}}"


def _pick(own: timedelta | None, parent: timedelta | None, default: timedelta) -> timedelta:
    # `is not None`, not `or`: a configured 0s is a real value (timedelta(0) is falsy)
    if own is not None:
        return own
    return parent if parent is not None else default


def _inherit(parent: RouteOpts | None, route: Route, path: str) -> RouteOpts:
    return RouteOpts(
        receiver=route.receiver or (parent.receiver if parent else ""),
        group_by=route.group_by
        if route.group_by is not None
        else (parent.group_by if parent else ("brand", "kind")),
        group_wait=_pick(route.group_wait, parent.group_wait if parent else None, GROUP_WAIT),
        group_interval=_pick(
            route.group_interval, parent.group_interval if parent else None, GROUP_INTERVAL
        ),
        repeat_interval=_pick(
            route.repeat_interval, parent.repeat_interval if parent else None, REPEAT_INTERVAL
        ),
        escalate=route.escalate
        if route.escalate is not None
        else (parent.escalate if parent else None),
        path=path,
    )


def match_routes(
    route: Route, labels: dict[str, str], parent: RouteOpts | None = None, path: str = "0"
) -> list[RouteOpts]:
    if not matches_all(route.matchers, labels):
        return []
    opts = _inherit(parent, route, path)
    matched: list[RouteOpts] = []
    for i, child in enumerate(route.routes):
        found = match_routes(child, labels, opts, f"{path}.{i}")
        matched.extend(found)
        if found and not child.continue_:
            break
    return matched or [opts]
