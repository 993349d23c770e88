"""Dispatcher state as small records: silences, groups and the alert notices filed in them.

Each group, each notice in a group and the silences/acks are separate records (Faust table
keys), so no record outgrows a Kafka message and a change rewrites only what it touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts.routing.config import Matcher
from alerts.routing.records import GroupRecord, NoticeRecord, SilenceRecord
from earful.records import Alert


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

    def record(self) -> SilenceRecord:
        return SilenceRecord(
            id=self.id,
            matchers=[str(m) for m in self.matchers],
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            created_by=self.created_by,
            comment=self.comment,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON the API and the CLI show."""
        return self.record().model_dump(mode="json")

    @classmethod
    def from_record(cls, r: SilenceRecord) -> Silence:
        return cls(
            r.id,
            tuple(Matcher.parse(m) for m in r.matchers),
            r.starts_at,
            r.ends_at,
            r.created_by,
            r.comment,
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
    #: The group's own event time: the latest `fired_at` among its notices, and the wall-clock
    #: moment it was seen. Timers (group_wait, ...) run on it, moving at wall speed between
    #: notices, so a replay is told as it would have been live, and alerts from a stream that
    #: runs hours ahead (a fast inbox replay) do not make another team's timers expire.
    seen: datetime | None = None
    seen_at: datetime | None = None
    #: Parsed alerts, so a tick does not re-validate every notice (not persisted).
    _parsed: dict[str, Alert] = field(default_factory=dict, repr=False, compare=False)
    #: A notice arrived since the receiver was last told (not persisted: assumed after a load).
    changed: bool = field(default=True, repr=False, compare=False)

    def time(self, now: datetime) -> datetime:
        """The group's event time at wall-clock `now`."""
        if self.seen is None or self.seen_at is None:
            return now
        return self.seen + (now - self.seen_at)

    def observe(self, fired_at: datetime, now: datetime) -> bool:
        if self.seen is None or fired_at > self.time(now):
            self.seen, self.seen_at = fired_at, now
            return True
        return False

    def alert(self, fp: str) -> Alert:
        found = self._parsed.get(fp)
        if found is None:
            found = self._parsed[fp] = Alert.model_validate(self.alerts[fp])
        return found

    def put(self, alert: Alert) -> None:
        self.alerts[alert.fingerprint] = alert.model_dump(mode="json")
        self._parsed[alert.fingerprint] = alert
        self.changed = True

    def forget(self, fp: str) -> None:
        for d in (self.alerts, self.told, self.first_told, self._parsed):
            d.pop(fp, None)

    def header(self) -> dict[str, Any]:
        return GroupRecord(
            key=self.key,
            receiver=self.receiver,
            labels=self.labels,
            path=self.path,
            created=self.created,
            last_sent=self.last_sent,
            seen=self.seen,
            seen_at=self.seen_at,
        ).dump()

    def notice(self, fp: str) -> dict[str, Any]:
        first = self.first_told.get(fp)
        return NoticeRecord(
            alert=self.alert(fp),
            told=self.told.get(fp),
            first_told=datetime.fromisoformat(first) if first else None,
        ).dump()

    @classmethod
    def from_header(cls, d: dict[str, Any]) -> Group:
        r = GroupRecord.model_validate(d)
        return cls(
            r.key,
            r.receiver,
            r.labels,
            r.path,
            r.created,
            last_sent=r.last_sent,
            seen=r.seen,
            seen_at=r.seen_at,
        )

    def restore(self, fp: str, d: dict[str, Any]) -> None:
        r = NoticeRecord.model_validate(d)
        self.alerts[fp] = r.alert.model_dump(mode="json")
        self._parsed[fp] = r.alert
        if r.told:
            self.told[fp] = r.told
        if r.first_told:
            self.first_told[fp] = r.first_told.isoformat()


META = "meta"


def group_record(key: str) -> str:
    return f"g|{key}"


def notice_record(key: str, fp: str) -> str:
    # the fingerprint (hex) goes first: group keys may contain any character
    return f"a|{fp}|{key}"
