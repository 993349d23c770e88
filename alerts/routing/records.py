"""The router's persisted records, declared once and versioned.

They live in a compacted changelog across upgrades, so each carries a schema version `v` and
a reader accepts every older version. Version 1 (the first release) wrote the same fields
under their full names and without `v`; version 2 writes the numerous group and notice records
with short aliases (a busy care inbox keeps thousands of them). Both read back into the same
models: pydantic accepts a field by name or by alias.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from earful.records import Alert

VERSION = 2


class _Record(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    v: int = VERSION

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class SilenceRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    matchers: list[str]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_by: str = ""
    comment: str = ""


class AckRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")
    by: str = ""
    at: AwareDatetime


class MetaRecord(_Record):
    """Silences, acknowledgements and escalations: one record (few, and changed together)."""

    silences: dict[str, SilenceRecord] = Field(default_factory=dict)
    acks: dict[str, AckRecord] = Field(default_factory=dict)
    #: fingerprint -> when it was escalated
    escalated: dict[str, AwareDatetime] = Field(default_factory=dict)


class GroupRecord(_Record):
    key: str = Field(alias="k")
    receiver: str = Field(alias="r")
    labels: dict[str, str] = Field(alias="l")
    path: str = Field(alias="p")
    created: AwareDatetime = Field(alias="c")
    last_sent: AwareDatetime | None = Field(default=None, alias="ls")
    seen: AwareDatetime | None = Field(default=None, alias="s")
    seen_at: AwareDatetime | None = Field(default=None, alias="sa")


class NoticeRecord(_Record):
    """One alert notice filed in a group, and what its receiver was told about it."""

    alert: Alert = Field(alias="a")
    #: "firing:critical" / "resolved"
    told: str | None = Field(default=None, alias="t")
    first_told: AwareDatetime | None = Field(default=None, alias="ft")


class NotificationRecord(BaseModel):
    """A notification as parked for a later retry (what the receiver is to be told)."""

    model_config = ConfigDict(extra="ignore")
    receiver: str
    group_key: str
    group_labels: dict[str, str]
    alerts: list[Alert]
    public_url: str = ""
    silence_url: str = ""
    previous: str = ""


class ParkedRecord(_Record):
    """A delivery a receiver could not take yet (alerts/delivery_queue.py)."""

    notifier: str
    notification: NotificationRecord = Field(alias="n")
    attempts: int
    first_at: AwareDatetime
    next_at: AwareDatetime
    error: str = ""
