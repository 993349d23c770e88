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
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from alerts.notification import Notification
from alerts.routing.config import (
    Matcher,
    QuietHours,
    RoutingConfig,
    matches_all,
)
from alerts.routing.records import AckRecord, MetaRecord
from alerts.routing.state import META, Group, Silence, group_record, notice_record
from alerts.routing.tree import RouteOpts, match_routes
from earful.records import SEVERITY_RANK, Alert
from earful.types import DAYS


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
        return any(
            s.active(now) and matches_all(s.matchers, labels) for s in self.silences.values()
        )

    def inhibited(self) -> set[str]:
        """Fingerprints muted because a firing source alert with equal labels exists."""
        firing = {}
        for group in self.groups.values():
            for fp, raw in group.alerts.items():
                if raw["status"] == "firing":
                    firing[fp] = group.alert(fp).all_labels()
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
                if group.time(now) >= datetime.fromisoformat(when) + opts.escalate.after:
                    alert = group.alert(fp)
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
        silence = urlencode([("matcher", f"{k}={v}") for k, v in sorted(labels.items()) if v])
        return Notification(
            receiver=receiver,
            group_key=key,
            group_labels=labels,
            alerts=tuple(sorted(alerts, key=lambda a: a.fired_at)),
            public_url=self.public_url,
            silence_url=f"{self.public_url}/silences/new?{silence}" if self.public_url else "",
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
        for sid in [s.id for s in self.silences.values() if s.ends_at < now - keep]:
            del self.silences[sid]
            self._dirty.add(META)

    # -- state ------------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return MetaRecord(
            silences={k: s.record() for k, s in self.silences.items()},
            acks=self.acks,
            escalated={fp: datetime.fromisoformat(at) for fp, at in self.escalated.items()},
        ).dump()

    def _record(self, key: str) -> dict[str, Any] | None:
        """The current value of one record key (None: it no longer exists)."""
        if key == META:
            return self._meta()
        kind, _, rest = key.partition("|")
        if kind == "g":
            group = self.groups.get(rest)
            return group.header() if group else None
        fp, _, group_key = rest.partition("|")
        group = self.groups.get(group_key)
        return group.notice(fp) if group and fp in group.alerts else None

    def records(self) -> dict[str, dict[str, Any]]:
        """The whole state as records (what `load_records` takes back)."""
        out = {META: self._meta()}
        for key, group in self.groups.items():
            out[group_record(key)] = group.header()
            for fp in group.alerts:
                out[notice_record(key, fp)] = group.notice(fp)
        return out

    def changes(self) -> dict[str, dict[str, Any] | None]:
        """Records touched since the last call: new values, or None for removed ones."""
        out = {key: self._record(key) for key in sorted(self._dirty)}
        self._dirty.clear()
        return out

    def load_records(self, items: Iterable[tuple[str, dict[str, Any] | None]]) -> None:
        self.groups, self.silences, self.acks, self.escalated = {}, {}, {}, {}
        self._dirty.clear()
        notices = []
        for key, value in items:
            if not value:
                continue
            if key == META:
                meta = MetaRecord.model_validate(value)
                self.silences = {k: Silence.from_record(s) for k, s in meta.silences.items()}
                self.acks = dict(meta.acks)
                self.escalated = {fp: at.isoformat() for fp, at in meta.escalated.items()}
            elif key.startswith("g|"):
                self.groups[key[2:]] = Group.from_header(value)
            elif key.startswith("a|"):
                notices.append((key, value))
        for key, value in notices:
            fp, _, group_key = key[2:].partition("|")
            group = self.groups.get(group_key)
            if group is not None:
                group.restore(fp, value)
        for group in list(self.groups.values()):
            if not group.alerts:  # a header whose notices were all removed
                del self.groups[group.key]
                self._dirty.add(group_record(group.key))


def utc(clock: Callable[[], datetime] | None = None) -> datetime:
    return clock() if clock else datetime.now(UTC)
