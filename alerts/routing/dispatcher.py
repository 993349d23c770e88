"""The dispatcher: alerts in, notifications out, each group told once per change.

Alertmanager's model, as pure code with an injected clock and state that round-trips through
JSON (it lives in a Faust table, so a restarted worker never re-notifies what was delivered):

- `ingest(alert)` files the alert notice into one group per matching route;
- `due(now)` lists the notifications to send now (`now` is the wall clock; each group's timers
  run on its own event time, see `Group.time`): a new group after `group_wait`, a changed
  group after `group_interval` since its last notice, an unchanged firing group again after
  `repeat_interval`; silenced and inhibited alerts are left out; a receiver's quiet hours hold
  notices (except critical ones) until they end; an unacknowledged critical alert escalates;
- `delivered(notification, now)` records what the receiver was told. Nothing is recorded for a
  failed delivery, so it is retried at the next `due`.

State is kept as many small records (one per group, one per alert notice in a group, one for
silences and acks) rather than one document: a storm of care alerts would otherwise outgrow a
Kafka message (1 MiB) and every tick would rewrite all of it. `changes()` hands the worker only
the records touched since the last call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from alerts.notification import Notification
from alerts.routing.config import Matcher, RoutingConfig
from alerts.routing.escalation import due_escalations
from alerts.routing.inhibition import inhibited
from alerts.routing.persistence import DispatcherRecords
from alerts.routing.quiet import held, in_quiet_hours
from alerts.routing.records import AckRecord
from alerts.routing.silencing import expired, silenced
from alerts.routing.state import META, Group, Silence, group_record, notice_record
from alerts.routing.tree import RouteOpts, match_routes
from earful.records import SEVERITY_RANK, Alert

__all__ = ["Dispatcher", "in_quiet_hours", "utc"]


def _told_as(alert: Alert) -> str:
    return "resolved" if alert.status == "resolved" else f"firing:{alert.severity}"


class Dispatcher(DispatcherRecords):
    def __init__(self, config: RoutingConfig, *, public_url: str = ""):
        self.config = config
        self.public_url = public_url
        self.groups: dict[str, Group] = {}
        self.silences: dict[str, Silence] = {}
        self.acks: dict[str, AckRecord] = {}  # fingerprint -> who and when
        self.escalated: dict[str, str] = {}  # fingerprint -> when (ISO)
        #: Record keys written or removed since the last `changes()`.
        self._dirty: set[str] = set()

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
            fp = alert.fingerprint
            if alert.status == "resolved" and (
                group is None or group.told.get(fp, "resolved") == "resolved"
            ):
                # over before anyone was told it began: nothing to say, nothing to keep
                if group is not None and fp in group.alerts:
                    group.forget(fp)
                    self._dirty.add(notice_record(key, fp))
                    self._drop_if_empty(group)
                continue
            if group is None:
                group = self.groups[key] = Group(
                    key, opts.receiver, opts.group_labels(labels), opts.path, alert.fired_at
                )
                self._dirty.add(group_record(key))
            if group.observe(alert.fired_at, now):
                self._dirty.add(group_record(key))
            group.put(alert)
            self._dirty.add(notice_record(key, fp))
            keys.append(key)
        return keys

    def observe(self, alert: Alert, now: datetime) -> None:
        """Move the event time of the groups this alert goes to (before filing it, so timers
        that ran out before it can fire first)."""
        labels = alert.all_labels()
        for opts in self.routes_for(labels):
            group = self.groups.get(opts.group_key(labels))
            if group is not None and group.observe(alert.fired_at, now):
                self._dirty.add(group_record(group.key))

    def _drop_if_empty(self, group: Group) -> None:
        if not group.alerts and self.groups.get(group.key) is group:
            del self.groups[group.key]
            self._dirty.add(group_record(group.key))

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
        self._dirty.add(META)
        return silence

    def expire_silence(self, silence_id: str, now: datetime) -> bool:
        silence = self.silences.get(silence_id)
        if silence is None:
            return False
        silence.ends_at = min(silence.ends_at, now)
        self._dirty.add(META)
        return True

    def ack(self, fingerprint: str, by: str, now: datetime) -> None:
        self.acks[fingerprint] = AckRecord(by=by, at=now)
        self._dirty.add(META)

    # -- judgement --------------------------------------------------------------------------
    def silenced(self, labels: dict[str, str], now: datetime) -> bool:
        return silenced(self.silences.values(), labels, now)

    def inhibited(self) -> set[str]:
        """Fingerprints muted because a firing source alert with equal labels exists."""
        firing = {
            fp: group.alert(fp).all_labels()
            for group in self.groups.values()
            for fp, raw in group.alerts.items()
            if raw["status"] == "firing"
        }
        return inhibited(self.config.inhibit_rules, firing)

    def _visible(self, group: Group, now: datetime, muted: set[str]) -> list[Alert]:
        out = []
        for fp in group.alerts:
            alert = group.alert(fp)
            if fp in muted or self.silenced(alert.all_labels(), now):
                continue
            if alert.status == "resolved" and group.told.get(fp, "resolved") == "resolved":
                continue  # nobody was told it fired
            out.append(alert)
        return out

    def due(self, now: datetime) -> list[Notification]:
        """What to send at wall-clock `now`. Grouping timers run on each group's event time;
        silences and quiet hours are human, so the wall clock decides those."""
        wall = now
        muted = self.inhibited()
        out: list[Notification] = []
        for group in list(self.groups.values()):
            opts = self._opts(group)
            if opts is None:
                continue
            at = group.time(now)
            alerts = self._visible(group, wall, muted)
            firing = [a for a in alerts if a.status == "firing"]
            changed = any(group.told.get(a.fingerprint) != _told_as(a) for a in alerts)
            if group.last_sent is None:
                ready = bool(firing) and at >= group.created + opts.group_wait
            elif changed:
                ready = at >= group.last_sent + opts.group_interval
            else:
                ready = bool(firing) and at >= group.last_sent + opts.repeat_interval
            if not ready or not alerts:
                continue
            top = max((SEVERITY_RANK[a.severity] for a in firing), default=-1)
            if held(self.config.receiver(group.receiver).quiet_hours, top, wall):
                continue  # held, not dropped: re-examined at the next call
            previous = group.last_sent.isoformat() if group.last_sent is not None else ""
            out.append(
                self._notification(group.receiver, group.key, group.labels, alerts, previous)
            )
        out.extend(self._escalations(now, muted))
        return out

    def timers_due(self, now: datetime) -> bool:
        """Whether a group timer (group_wait, group_interval, repeat_interval or escalation)
        has run out; cheap (per group, not per alert), so a replay can ask before every alert
        whether `due` must run first."""
        for group in self.groups.values():
            opts = self._opts(group)
            if opts is None:
                continue
            if group.last_sent is None:
                at = group.created + opts.group_wait
            else:
                wait = opts.group_interval if group.changed else opts.repeat_interval
                at = group.last_sent + wait
            if opts.escalate is not None and group.first_told:
                first = min(datetime.fromisoformat(t) for t in group.first_told.values())
                at = min(at, first + opts.escalate.after)
            if group.time(now) >= at:
                return True
        return False

    def _escalations(self, now: datetime, muted: set[str]) -> list[Notification]:
        due = due_escalations(
            self.groups.values(),
            self._opts,
            acknowledged=self.acks,
            escalated=self.escalated,
            muted=muted,
            now=now,
        )
        return [self._notification(e.receiver, e.group_key, e.labels, [e.alert]) for e in due]

    def _notification(
        self,
        receiver: str,
        key: str,
        labels: dict[str, str],
        alerts: list[Alert],
        previous: str = "",
    ) -> Notification:
        silence = urlencode([("matcher", f"{k}={v}") for k, v in sorted(labels.items()) if v])
        return Notification(
            receiver=receiver,
            group_key=key,
            group_labels=labels,
            alerts=tuple(sorted(alerts, key=lambda a: a.fired_at)),
            public_url=self.public_url,
            silence_url=f"{self.public_url}/silences/new?{silence}" if self.public_url else "",
            previous=previous,
        )

    def _opts(self, group: Group) -> RouteOpts | None:
        for fp in group.alerts:
            labels = group.alert(fp).all_labels()
            for opts in self.routes_for(labels):
                if opts.path == group.path:
                    return opts
        return None

    def delivered(self, notification: Notification, now: datetime) -> None:
        if notification.group_key.startswith("escalation:"):
            for a in notification.alerts:
                self.escalated[a.fingerprint] = now.isoformat()
            self._dirty.add(META)
            return
        group = self.groups.get(notification.group_key)
        if group is None:
            return
        group.last_sent = group.time(now)
        group.changed = False
        self._dirty.add(group_record(group.key))
        for alert in notification.alerts:
            fp = alert.fingerprint
            self._dirty.add(notice_record(group.key, fp))
            group.told[fp] = _told_as(alert)
            if alert.status == "firing":
                group.first_told.setdefault(fp, group.last_sent.isoformat())
            elif group.alerts.get(fp, {}).get("status") == "resolved":
                # the episode is over and said to be over: forget it
                group.forget(fp)
                if self.escalated.pop(fp, None) or self.acks.pop(fp, None):
                    self._dirty.add(META)
        self._drop_if_empty(group)

    def expire(self, now: datetime, keep: timedelta = timedelta(days=7)) -> None:
        """Forget expired silences and groups that have been silent for long."""
        for sid in expired(self.silences.values(), now, keep):
            del self.silences[sid]
            self._dirty.add(META)


def utc(clock: Callable[[], datetime] | None = None) -> datetime:
    return clock() if clock else datetime.now(UTC)
