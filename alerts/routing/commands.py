"""Control commands for the router: silences, their expiry, acknowledgements.

People send them from the CLI (`earful silences add`, `earful alerts ack`), the API and the
dashboard; all publish the same typed JSON record on the `control` topic, which the worker's
`control` agent applies with `apply_command`. Each record carries a schema version (`v`) so a
worker can read commands written by an older release (the topic keeps them for 30 days, and
`earful silences list` rebuilds the silences from it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from alerts.routing.config import Matcher
from alerts.routing.dispatcher import Dispatcher
from alerts.routing.state import Silence

#: The current version of the control records; bump it and migrate in `parse_command`.
VERSION = 1


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    v: int = VERSION


class SilenceCommand(_Command):
    type: Literal["silence"] = "silence"
    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12], min_length=1)
    matchers: tuple[str, ...] = Field(min_length=1)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    duration_s: float | None = Field(default=None, gt=0)
    created_by: str = ""
    comment: str = ""

    @field_validator("matchers")
    @classmethod
    def _parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        value = tuple(m.strip() for m in value if m.strip())
        if not value:
            raise ValueError("a silence needs at least one matcher, e.g. brand=Skyway Air")
        for m in value:
            Matcher.parse(m)  # raises ValueError naming the bad matcher
        return value

    def parsed(self) -> tuple[Matcher, ...]:
        return tuple(Matcher.parse(m) for m in self.matchers)

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        starts = self.starts_at or now
        if self.ends_at is not None:
            return starts, self.ends_at
        if self.duration_s is None:
            raise ValueError("a silence needs ends_at or duration_s")
        return starts, starts + timedelta(seconds=self.duration_s)


class ExpireSilenceCommand(_Command):
    type: Literal["expire"] = "expire"
    id: str = Field(min_length=1)
    by: str = ""
    comment: str = ""


class AckCommand(_Command):
    type: Literal["ack"] = "ack"
    fingerprint: str = Field(min_length=1)
    by: str = ""
    comment: str = ""


ControlCommand = Annotated[
    SilenceCommand | ExpireSilenceCommand | AckCommand, Field(discriminator="type")
]
_ADAPTER: TypeAdapter[SilenceCommand | ExpireSilenceCommand | AckCommand] = TypeAdapter(
    ControlCommand
)


KINDS = ("silence", "expire", "ack")


def parse_command(raw: bytes | str | dict[str, object]) -> ControlCommand:
    """A command from its JSON; pydantic's ValidationError (a ValueError) says what is wrong."""
    value = json.loads(raw) if isinstance(raw, bytes | str) else raw
    if not isinstance(value, dict):
        raise ValueError("a control message is a JSON object")
    kind = value.get("type")
    if kind not in KINDS:
        raise ValueError(f"unknown control message type {kind!r} (known: {', '.join(KINDS)})")
    version = value.get("v", VERSION)
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(f"control message version {version!r} is newer than this worker's")
    return _ADAPTER.validate_python(value)


def encode_command(command: ControlCommand) -> bytes:
    return command.model_dump_json(exclude_none=True).encode()


def command_key(command: ControlCommand) -> bytes:
    return (command.fingerprint if isinstance(command, AckCommand) else command.id).encode()


def silence_command(
    matchers: Sequence[str],
    duration: timedelta,
    now: datetime,
    created_by: str = "",
    comment: str = "",
) -> SilenceCommand:
    """A validated silence starting now; ValueError says what is wrong with it."""
    if duration <= timedelta(0):
        raise ValueError("a silence must last longer than zero")
    return SilenceCommand(
        matchers=tuple(matchers),
        starts_at=now,
        duration_s=duration.total_seconds(),
        created_by=created_by,
        comment=comment,
    )


def apply_command(dispatcher: Dispatcher, command: ControlCommand, now: datetime) -> None:
    """What each command means to the router."""
    if isinstance(command, SilenceCommand):
        starts, ends = command.window(now)
        dispatcher.add_silence(
            command.parsed(), starts, ends, command.created_by, command.comment, id=command.id
        )
    elif isinstance(command, ExpireSilenceCommand):
        dispatcher.expire_silence(command.id, now)
    else:
        dispatcher.ack(command.fingerprint, command.by, now)


#: Label values no real alert carries: a matcher that accepts them accepts (almost) anything.
_PROBES = ("", "zq-earful-probe-7f3a", "Any Brand & Co")


def narrows(matcher: Matcher) -> bool:
    """Whether a matcher picks out some alerts rather than nearly all of them.

    `brand=Acme` narrows; `brand=~.*`, `brand=~.+` and any negative matcher (`kind!=x`)
    accept arbitrary values, so they do not."""
    if matcher.op in ("!=", "!~"):
        return False
    return not any(matcher.matches({matcher.name: probe}) for probe in _PROBES)


def too_broad(matchers: Sequence[Matcher]) -> str | None:
    """Why a silence would mute every alert (None when at least one matcher narrows it)."""
    if any(narrows(m) for m in matchers):
        return None
    shown = " ".join(str(m) for m in matchers)
    return (
        f"the silence {shown!r} matches every alert: add a matcher that picks them out, "
        "e.g. brand=Skyway Air or kind=volume_spike"
    )


def silences_from(commands: Iterable[tuple[datetime, ControlCommand]]) -> dict[str, Silence]:
    """The silences a worker holds after applying `commands` (each at the time Kafka took it):
    what `earful silences list` and the API show, without the router's other state."""
    out: dict[str, Silence] = {}
    for at, command in commands:
        if isinstance(command, SilenceCommand):
            starts, ends = command.window(at)
            if ends > starts:
                out[command.id] = Silence(
                    command.id, command.parsed(), starts, ends, command.created_by, command.comment
                )
        elif isinstance(command, ExpireSilenceCommand) and command.id in out:
            out[command.id].ends_at = min(out[command.id].ends_at, at)
    return out
