"""The persistence stage: the dispatcher's state as many small records (one per group, one per
alert notice in a group, one for silences, acks and escalations), written as they change.

A storm of care alerts would otherwise outgrow a Kafka message (1 MiB) and every tick would
rewrite all of it. `changes()` hands the worker only the records touched since the last call;
`load_records()` takes the whole state back after a restart or a rebalance. The record types
are declared and versioned in alerts/routing/records.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from alerts.routing.records import AckRecord, MetaRecord
from alerts.routing.state import META, Group, Silence, group_record, notice_record


class DispatcherRecords:
    """Mixed into the Dispatcher: its state in and out as records."""

    groups: dict[str, Group]
    silences: dict[str, Silence]
    acks: dict[str, AckRecord]
    escalated: dict[str, str]
    _dirty: set[str]

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
