"""The engine's per-key state (one brand), as plain data that round-trips through JSON.

A key holds one or more *series*: the brand as a whole (id ""), and one per language or
platform value for rules that `split_by` it, and one per filtered rule. Each series has its own
buckets, rule baselines and alert episodes; the key's event-time clock is shared.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from alerts.buckets import Bucket
from alerts.lifecycle import Episode
from alerts.rule_state import RuleState, RuleStateError

log = logging.getLogger(__name__)

#: Version of the state record written to the changelog. 1: wave 1 up to the detection driver
#: (no marker); 2: the same layout, marked, read back from either. A worker never guesses at a
#: newer record: it stops with `StateVersionError` rather than lose state it cannot read.
STATE_VERSION = 2


class StateVersionError(ValueError):
    """A detector state record written by a newer Earful than this one."""


@dataclass
class SeriesState:
    open: dict[int, Bucket] = field(default_factory=dict)
    closed: dict[int, Bucket] = field(default_factory=dict)
    #: Per-rule detector state (baselines): each detector's declared `RuleState`, or the
    #: stored record until the engine first uses the rule (it validates it then).
    rules: dict[str, RuleState | dict[str, Any]] = field(default_factory=dict)
    #: Open alert episodes by "rule|topic|term".
    episodes: dict[str, Episode] = field(default_factory=dict)
    #: Last bucket start that received data (idle series are pruned eventually).
    last_data: int = 0
    #: Derived aggregates detectors keep between evaluations; not part of the state.
    cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "open": [b.to_dict() for b in self.open.values()],
            "closed": [b.to_dict() for b in self.closed.values()],
            "rules": {
                name: r.dump() if isinstance(r, RuleState) else r for name, r in self.rules.items()
            },
            "episodes": {k: e.dump() for k, e in self.episodes.items()},
            "last": self.last_data,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeriesState:
        return cls(
            open={b["start"]: Bucket.from_dict(b) for b in d["open"]},
            closed={b["start"]: Bucket.from_dict(b) for b in d["closed"]},
            rules=dict(d["rules"]),  # a copy: the engine replaces records with states
            episodes=_episodes(d["episodes"]),
            last_data=d.get("last", 0),
        )


def _episodes(raw: dict[str, Any]) -> dict[str, Episode]:
    """The open episodes of a stored record; one that cannot be read is dropped with a warning
    (its condition, if it lasts, fires again) rather than stop the worker on every restart."""
    out: dict[str, Episode] = {}
    for key, record in raw.items():
        try:
            out[key] = Episode.load(record, key)
        except RuleStateError as e:
            log.warning("%s; the episode is dropped (it fires again if the condition lasts)", e)
    return out


@dataclass
class KeyState:
    series: dict[str, SeriesState] = field(default_factory=dict)
    #: Every bucket starting before this is closed (None until the first observation).
    closed_until: int | None = None
    first_event: int | None = None
    max_event: int = 0
    late: int = 0
    #: Seconds of closed history in which data was flowing (gaps excluded).
    history_s: int = 0
    #: Kafka partition this key lives on (set by the stream wiring; -1 offline).
    partition: int = -1
    #: Offset (on `partition`) of the latest observation applied: one read again after a crash
    #: (its offset not committed, this state already kept) is not counted twice (-1: none).
    offset: int = -1

    @property
    def episodes(self) -> dict[str, Episode]:
        """All open episodes, prefixed by series id (for inspection and tests)."""
        return {f"{sid}#{k}": v for sid, s in self.series.items() for k, v in s.episodes.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "series": {sid: s.to_dict() for sid, s in self.series.items()},
            "closed_until": self.closed_until,
            "first_event": self.first_event,
            "max_event": self.max_event,
            "late": self.late,
            "history_s": self.history_s,
            "partition": self.partition,
            "offset": self.offset,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KeyState:
        version = d.get("v", 1)
        if not isinstance(version, int) or version > STATE_VERSION:
            raise StateVersionError(
                f"detector state version {version!r} was written by a newer Earful (this one "
                f"reads versions 1 to {STATE_VERSION}); run the newer version, or start with "
                "empty detector state (a new EARFUL_WORKER__APP_ID) and let baselines relearn"
            )
        return cls(
            series={sid: SeriesState.from_dict(s) for sid, s in d["series"].items()},
            closed_until=d["closed_until"],
            first_event=d["first_event"],
            max_event=d["max_event"],
            late=d["late"],
            history_s=d.get("history_s", 0),
            partition=d.get("partition", -1),
            offset=d.get("offset", -1),
        )
