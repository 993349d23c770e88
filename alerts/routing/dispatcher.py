"""The dispatcher: alerts in, notifications out, each group told once per change.

Alertmanager's model, as pure code with an injected clock and state that round-trips through
JSON (it lives in a Faust table, so a restarted worker never re-notifies what was delivered):

- `ingest(alert)` files the alert notice into one group per matching route;
- `due(now)` lists the notifications to send now: a new group after `group_wait`, a changed
  group after `group_interval` since its last notice, an unchanged firing group again after
  `repeat_interval`; silenced and inhibited alerts are left out; a receiver's quiet hours hold
  notices (except critical ones) until they end; an unacknowledged critical alert escalates;
- `delivered(notification, now)` records what the receiver was told. Nothing is recorded for a
  failed delivery, so it is retried at the next `due`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.notifiers.base import Notification
from alerts.routing.config import (
    Matcher,
    QuietHours,
    RoutingConfig,
    matches_all,
)
from alerts.routing.tree import RouteOpts, match_routes
from earful.records import SEVERITY_RANK, Alert

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str = ""
    comment: str = ""

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [str(m) for m in self.matchers],
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "created_by": self.created_by,
            "comment": self.comment,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Silence:
        return cls(
            d["id"],
            tuple(Matcher.parse(m) for m in d["matchers"]),
            datetime.fromisoformat(d["starts_at"]),
            datetime.fromisoformat(d["ends_at"]),
            d.get("created_by", ""),
            d.get("comment", ""),
        )


@dataclass
class Group:
    key: str
    receiver: str
    labels: dict[str, str]
    path: str
    created: datetime
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)  # fingerprint -> Alert json
    #: What the receiver was last told per fingerprint: "firing:critical" / "resolved".
    told: dict[str, str] = field(default_factory=dict)
    #: When each fingerprint was first notified as firing (escalation clock).
    first_told: dict[str, str] = field(default_factory=dict)
    last_sent: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "receiver": self.receiver,
            "labels": self.labels,
            "path": self.path,
            "created": self.created.isoformat(),
            "alerts": self.alerts,
            "told": self.told,
            "first_told": self.first_told,
            "last_sent": self.last_sent.isoformat() if self.last_sent else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Group:
        return cls(
            d["key"],
            d["receiver"],
            d["labels"],
            d["path"],
            datetime.fromisoformat(d["created"]),
            d["alerts"],
            d["told"],
            d.get("first_told", {}),
            datetime.fromisoformat(d["last_sent"]) if d.get("last_sent") else None,
        )


def _told_as(alert: Alert) -> str:
    return "resolved" if alert.status == "resolved" else f"firing:{alert.severity}"


def in_quiet_hours(quiet: QuietHours, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(quiet.timezone))
    day = DAYS[local.weekday()]
    t = local.time()
    if quiet.start <= quiet.end:
        return day in quiet.days and quiet.start <= t < quiet.end
    # spans midnight: the evening part belongs to today, the morning part to yesterday
    if t >= quiet.start:
        return day in quiet.days
    yesterday = DAYS[(local.weekday() - 1) % 7]
    return t < quiet.end and yesterday in quiet.days


class Dispatcher:
    def __init__(self, config: RoutingConfig, *, public_url: str = ""):
        self.config = config
        self.public_url = public_url
        self.groups: dict[str, Group] = {}
        self.silences: dict[str, Silence] = {}
        self.acks: dict[str, dict[str, str]] = {}  # fingerprint -> {by, at}
        self.escalated: dict[str, str] = {}  # fingerprint -> when

    # -- input ------------------------------------------------------------------------------
    def routes_for(self, labels: dict[str, str]) -> list[RouteOpts]:
        return match_routes(self.config.route, labels)

    def ingest(self, alert: Alert, now: datetime) -> list[str]:
        """File an alert notice; returns the keys of the groups it went to."""
        labels = alert.all_labels()
        keys = []
        for opts in self.routes_for(labels):
            key = opts.group_key(labels)
            group = self.groups.get(key)
            if group is None:
                if alert.status == "resolved":
                    continue  # resolution of something this receiver never heard about
                group = self.groups[key] = Group(
                    key, opts.receiver, opts.group_labels(labels), opts.path, now
                )
            group.alerts[alert.fingerprint] = alert.model_dump(mode="json")
            keys.append(key)
        return keys

    def add_silence(
        self,
        matchers: tuple[Matcher, ...],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str = "",
        comment: str = "",
        id: str | None = None,
    ) -> Silence:
        if not matchers:
            raise ValueError("a silence needs at least one matcher")
        if ends_at <= starts_at:
            raise ValueError("a silence must end after it starts")
        silence = Silence(
            id or uuid.uuid4().hex[:12], matchers, starts_at, ends_at, created_by, comment
        )
        self.silences[silence.id] = silence
        return silence

    def expire_silence(self, silence_id: str, now: datetime) -> bool:
        silence = self.silences.get(silence_id)
        if silence is None:
            return False
        silence.ends_at = min(silence.ends_at, now)
        return True

    def ack(self, fingerprint: str, by: str, now: datetime) -> None:
        self.acks[fingerprint] = {"by": by, "at": now.isoformat()}

    # -- judgement --------------------------------------------------------------------------
    def silenced(self, labels: dict[str, str], now: datetime) -> bool:
        return any(
            s.active(now) and matches_all(s.matchers, labels) for s in self.silences.values()
        )

    def inhibited(self, now: datetime) -> set[str]:
        """Fingerprints muted because a firing source alert with equal labels exists."""
        firing = {}
        for group in self.groups.values():
            for fp, raw in group.alerts.items():
                if raw["status"] == "firing":
                    firing[fp] = Alert.model_validate(raw).all_labels()
        muted: set[str] = set()
        for rule in self.config.inhibit_rules:
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

    def _visible(self, group: Group, now: datetime, muted: set[str]) -> list[Alert]:
        out = []
        for fp, raw in group.alerts.items():
            alert = Alert.model_validate(raw)
            if fp in muted or self.silenced(alert.all_labels(), now):
                continue
            if alert.status == "resolved" and group.told.get(fp, "resolved") == "resolved":
                continue  # nobody was told it fired
            out.append(alert)
        return out

    def due(self, now: datetime, wall: datetime | None = None) -> list[Notification]:
        """`now` drives the grouping timers (event time in the worker); silences and quiet
        hours are human, wall-clock matters (`wall`, defaulting to `now`)."""
        wall = wall or now
        muted = self.inhibited(now)
        out: list[Notification] = []
        for group in self.groups.values():
            opts = self._opts(group)
            if opts is None:
                continue
            alerts = self._visible(group, wall, muted)
            firing = [a for a in alerts if a.status == "firing"]
            changed = any(group.told.get(a.fingerprint) != _told_as(a) for a in alerts)
            if group.last_sent is None:
                ready = bool(firing) and now >= group.created + opts.group_wait
            elif changed:
                ready = now >= group.last_sent + opts.group_interval
            else:
                ready = bool(firing) and now >= group.last_sent + opts.repeat_interval
            if not ready or not alerts:
                continue
            receiver = self.config.receiver(group.receiver)
            top = max((SEVERITY_RANK[a.severity] for a in firing), default=-1)
            quiet = receiver.quiet_hours
            if (
                quiet
                and in_quiet_hours(quiet, wall)
                and not (quiet.except_ != "none" and top >= SEVERITY_RANK[quiet.except_])
            ):
                continue  # held, not dropped: re-examined at the next call
            out.append(self._notification(group.receiver, group.key, group.labels, alerts))
        out.extend(self._escalations(now, muted))
        return out

    def _escalations(self, now: datetime, muted: set[str]) -> list[Notification]:
        out = []
        for group in self.groups.values():
            opts = self._opts(group)
            if opts is None or opts.escalate is None:
                continue
            for fp, when in group.first_told.items():
                raw = group.alerts.get(fp)
                if raw is None or raw["status"] != "firing" or fp in self.acks or fp in muted:
                    continue
                if raw["severity"] not in opts.escalate.severities or fp in self.escalated:
                    continue
                if now >= datetime.fromisoformat(when) + opts.escalate.after:
                    alert = Alert.model_validate(raw)
                    out.append(
                        self._notification(
                            opts.escalate.to,
                            f"escalation:{fp}",
                            {**group.labels, "escalated_from": group.receiver},
                            [alert],
                        )
                    )
        return out

    def _notification(
        self, receiver: str, key: str, labels: dict[str, str], alerts: list[Alert]
    ) -> Notification:
        silence = "&".join(f"matcher={k}%3D{v}" for k, v in sorted(labels.items()) if v)
        return Notification(
            receiver=receiver,
            group_key=key,
            group_labels=labels,
            alerts=tuple(sorted(alerts, key=lambda a: a.fired_at)),
            public_url=self.public_url,
            silence_url=f"{self.public_url}/silences/new?{silence}" if self.public_url else "",
        )

    def _opts(self, group: Group) -> RouteOpts | None:
        for raw in group.alerts.values():
            labels = Alert.model_validate(raw).all_labels()
            for opts in self.routes_for(labels):
                if opts.path == group.path:
                    return opts
        return None

    def delivered(self, notification: Notification, now: datetime) -> None:
        if notification.group_key.startswith("escalation:"):
            for a in notification.alerts:
                self.escalated[a.fingerprint] = now.isoformat()
            return
        group = self.groups.get(notification.group_key)
        if group is None:
            return
        group.last_sent = now
        for alert in notification.alerts:
            fp = alert.fingerprint
            group.told[fp] = _told_as(alert)
            if alert.status == "firing":
                group.first_told.setdefault(fp, now.isoformat())
            elif group.alerts.get(fp, {}).get("status") == "resolved":
                # the episode is over and said to be over: forget it
                group.alerts.pop(fp, None)
                group.told.pop(fp, None)
                group.first_told.pop(fp, None)
                self.escalated.pop(fp, None)
                self.acks.pop(fp, None)
        if not group.alerts:
            del self.groups[notification.group_key]

    def expire(self, now: datetime, keep: timedelta = timedelta(days=7)) -> None:
        """Forget expired silences and groups that have been silent for long."""
        for sid in [s.id for s in self.silences.values() if s.ends_at < now - keep]:
            del self.silences[sid]

    # -- state ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "groups": {k: g.to_dict() for k, g in self.groups.items()},
            "silences": {k: s.to_dict() for k, s in self.silences.items()},
            "acks": self.acks,
            "escalated": self.escalated,
        }

    def load(self, d: dict[str, Any] | None) -> None:
        d = d or {}
        self.groups = {k: Group.from_dict(g) for k, g in d.get("groups", {}).items()}
        self.silences = {k: Silence.from_dict(s) for k, s in d.get("silences", {}).items()}
        self.acks = dict(d.get("acks", {}))
        self.escalated = dict(d.get("escalated", {}))


def utc(clock: Callable[[], datetime] | None = None) -> datetime:
    return clock() if clock else datetime.now(UTC)
