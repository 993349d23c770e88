"""Care state as persisted records, declared once and versioned: conversations (a Faust table
keyed by conversation id) and facts (the `care.facts` topic and the aggregator's buckets).

Version 1 (the first release) wrote the same fields without `v`; it reads back unchanged.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

VERSION = 2


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")
    v: int = VERSION

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class SlaEpisodeRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")
    since: AwareDatetime | None = None
    warned: bool = False
    breached: bool = False


class ConversationRecord(_Record):
    id: str
    channel: str
    brand: str
    opened_at: AwareDatetime
    customer: str = ""
    team: str = ""
    agent: str = ""
    priority: str = "normal"
    waiting_since: AwareDatetime | None = None
    first_response_at: AwareDatetime | None = None
    messages: int = 0
    replies: int = 0
    closed_at: AwareDatetime | None = None
    last_message: str = ""
    #: policy name -> the SLA episode running since the customer started waiting
    sla: dict[str, SlaEpisodeRecord] = Field(default_factory=dict)
    partition: int = -1
    #: Sentiment score of the customer's first message (the satisfaction shift's baseline).
    first_score: float | None = None
    #: Event time of the latest event folded in: after a restart, it restarts the partition's
    #: event clock (deadlines that came due just before a crash must still be judged).
    last_event_at: AwareDatetime | None = None
    #: Ids of the latest events folded in: an event read again after a crash (its offset was
    #: not committed yet) is recognised and not counted twice.
    recent_events: list[str] = Field(default_factory=list)


class FactRecord(_Record):
    kind: str
    conversation: str
    at: AwareDatetime
    channel: str
    team: str = ""
    agent: str = ""
    seconds: float | None = None
    since: AwareDatetime | None = None
    source: int = -1
    #: `shift`: sentiment now minus at the first message; `csat`: the survey score (1-5).
    value: float | None = None


class FactBucketRecord(_Record):
    """`f|<5-minute bucket>`: the facts of that bucket the aggregator still needs."""

    facts: list[FactRecord]


class WaitingRecord(_Record):
    """`w|<conversation>`: a conversation waiting for a reply (the backlog)."""

    since: AwareDatetime
    channel: str

    @classmethod
    def read(cls, value: dict[str, Any]) -> WaitingRecord:
        if "waiting" in value:  # version 1: {"waiting": [since, channel]}
            since, channel = value["waiting"]
            return cls(since=since, channel=channel)
        return cls.model_validate(value)


class AggregatorMetaRecord(_Record):
    """`meta`: each partition's progress and the last published boundary."""

    partitions: dict[str, AwareDatetime] = Field(default_factory=dict)
    published: AwareDatetime | None = None
