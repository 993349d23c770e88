"""One conversation's state, its SLA clocks, and the warnings and breaches they raise.

Events move the state (a customer message starts a wait, an agent reply ends it); `check(now)`
compares every open wait with each applicable policy's allowance and raises, once each, a
pre-breach warning at `warn_at` of the allowance and a breach at the allowance. A reply or the
conversation's closing resolves whatever fired. Pure code: the clock is whatever `now` the
caller passes (event time in the stream processor).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts.care.calendar import BusinessCalendar
from alerts.care.policies import CarePolicies, SlaPolicy
from alerts.care.records import ConversationRecord, FactRecord, SlaEpisodeRecord
from alerts.lifecycle import fingerprint
from earful.records import (
    Alert,
    ConversationAssigned,
    ConversationClosed,
    CsatReceived,
    Evidence,
    MessageReceived,
    ReplySent,
    TopPost,
)

#: Event ids a conversation remembers. The events read again after a crash are those since
#: the last offset commit (seconds of input): a conversation has few of them.
RECENT_EVENTS = 16


@dataclass
class Fact:
    """Something the metrics need to know, derived from an event."""

    kind: str  # opened | first_response | reply | waiting | closed
    conversation: str
    at: datetime
    channel: str
    team: str = ""
    agent: str = ""
    seconds: float | None = None  # business seconds waited (first_response / reply)
    since: datetime | None = None  # when the wait started (waiting)
    #: Inbox partition the fact came from (the aggregator's watermark is per partition).
    source: int = -1
    #: `shift`: the customer's sentiment now minus at their first message; `csat`: 1-5.
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return FactRecord(
            kind=self.kind,
            conversation=self.conversation,
            at=self.at,
            channel=self.channel,
            team=self.team,
            agent=self.agent,
            seconds=self.seconds,
            since=self.since,
            source=self.source,
            value=self.value,
        ).dump()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fact:
        r = FactRecord.model_validate(d)
        return cls(
            r.kind,
            r.conversation,
            r.at,
            r.channel,
            r.team,
            r.agent,
            r.seconds,
            r.since,
            r.source,
            r.value,
        )


@dataclass
class SlaEpisode:
    """One policy's clock for the current wait: when it started, and what was said."""

    since: datetime | None = None
    warned: bool = False
    breached: bool = False


@dataclass
class Conversation:
    id: str
    channel: str
    brand: str
    opened_at: datetime
    customer: str = ""
    team: str = ""
    agent: str = ""
    priority: str = "normal"
    waiting_since: datetime | None = None
    first_response_at: datetime | None = None
    messages: int = 0
    replies: int = 0
    closed_at: datetime | None = None
    last_message: str = ""
    #: policy name -> its SLA episode for the current wait
    sla: dict[str, SlaEpisode] = field(default_factory=dict)
    #: Inbox partition (the stream judges it by that partition's event time).
    partition: int = -1
    #: Sentiment score of the customer's first message (the satisfaction shift's baseline).
    first_score: float | None = None
    #: Event time of the latest event folded in (see ConversationRecord).
    last_event_at: datetime | None = None
    #: Ids of the latest events folded in, newest last (see ConversationRecord).
    recent_events: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return ConversationRecord(
            id=self.id,
            channel=self.channel,
            brand=self.brand,
            opened_at=self.opened_at,
            customer=self.customer,
            team=self.team,
            agent=self.agent,
            priority=self.priority,
            waiting_since=self.waiting_since,
            first_response_at=self.first_response_at,
            messages=self.messages,
            replies=self.replies,
            closed_at=self.closed_at,
            last_message=self.last_message,
            sla={
                name: SlaEpisodeRecord(since=e.since, warned=e.warned, breached=e.breached)
                for name, e in self.sla.items()
            },
            partition=self.partition,
            first_score=self.first_score,
            last_event_at=self.last_event_at,
            recent_events=self.recent_events,
        ).dump()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Conversation:
        r = ConversationRecord.model_validate(d)
        return cls(
            r.id,
            r.channel,
            r.brand,
            r.opened_at,
            r.customer,
            r.team,
            r.agent,
            r.priority,
            r.waiting_since,
            r.first_response_at,
            r.messages,
            r.replies,
            r.closed_at,
            r.last_message,
            {n: SlaEpisode(e.since, e.warned, e.breached) for n, e in r.sla.items()},
            r.partition,
            r.first_score,
            r.last_event_at,
            list(r.recent_events),
        )


class CareTracker:
    """Applies inbox events to conversations and judges their SLA clocks."""

    def __init__(self, policies: CarePolicies):
        self.policies = policies
        self.calendar: BusinessCalendar = policies.calendar.build()

    def _waited(self, policy: SlaPolicy, start: datetime, end: datetime) -> float:
        if policy.business_hours:
            return self.calendar.business_seconds(start, end)
        return (end - start).total_seconds()

    def _at(self, policy: SlaPolicy, start: datetime, fraction: float) -> datetime:
        allowance = policy.within.total_seconds() * fraction
        if policy.business_hours:
            return self.calendar.add_business(start, allowance)
        return start + timedelta(seconds=allowance)

    def apply(
        self, conv: Conversation | None, event: Any, *, negative_score: float | None = None
    ) -> tuple[Conversation, list[Fact], list[Alert]]:
        """Fold one event in. Returns the conversation, facts for metrics, and resolutions."""
        facts: list[Fact] = []
        if conv is None:
            conv = Conversation(event.conversation_id, event.channel, event.brand, event.at)
            facts.append(Fact("opened", conv.id, event.at, conv.channel))
        elif event.event_id in conv.recent_events:
            return conv, [], []  # read again after a crash: already counted
        conv.recent_events = [*conv.recent_events[-(RECENT_EVENTS - 1) :], event.event_id]
        alerts: list[Alert] = []
        if conv.last_event_at is None or event.at > conv.last_event_at:
            conv.last_event_at = event.at
        if isinstance(event, MessageReceived):
            conv.messages += 1
            conv.customer = event.customer.handle or event.customer.id
            conv.last_message = event.text[:280]
            if negative_score is not None and negative_score <= self.policies.urgent_below:
                conv.priority = "urgent"
            if negative_score is not None:
                if conv.first_score is None:
                    conv.first_score = negative_score
                elif conv.replies:
                    # the customer wrote again after a reply: how their mood moved since the
                    # first message (a satisfaction signal that needs no survey)
                    facts.append(
                        Fact(
                            "shift",
                            conv.id,
                            event.at,
                            conv.channel,
                            conv.team,
                            conv.agent,
                            value=negative_score - conv.first_score,
                        )
                    )
            if conv.waiting_since is None and conv.closed_at is None:
                conv.waiting_since = event.at
                facts.append(Fact("waiting", conv.id, event.at, conv.channel, since=event.at))
            if conv.closed_at is not None:  # a closed conversation reopens
                conv.closed_at = None
                conv.waiting_since = event.at
                facts.append(Fact("waiting", conv.id, event.at, conv.channel, since=event.at))
        elif isinstance(event, ReplySent):
            conv.replies += 1
            conv.agent, conv.team = event.agent, event.team or conv.team
            if conv.waiting_since is not None:
                waited = self.calendar.business_seconds(conv.waiting_since, event.at)
                kind = "first_response" if conv.first_response_at is None else "reply"
                facts.append(
                    Fact(
                        kind,
                        conv.id,
                        event.at,
                        conv.channel,
                        conv.team,
                        conv.agent,
                        seconds=waited,
                        since=conv.waiting_since,
                    )
                )
            if conv.first_response_at is None:
                conv.first_response_at = event.at
            conv.waiting_since = None
            alerts += self._resolve(conv, event.at)
        elif isinstance(event, CsatReceived):
            facts.append(
                Fact(
                    "csat",
                    conv.id,
                    event.at,
                    conv.channel,
                    conv.team,
                    conv.agent,
                    value=float(event.score),
                )
            )
        elif isinstance(event, ConversationAssigned):
            conv.agent, conv.team = event.agent or conv.agent, event.team or conv.team
        elif isinstance(event, ConversationClosed):
            conv.closed_at = event.at
            if conv.waiting_since is not None:
                facts.append(
                    Fact(
                        "closed",
                        conv.id,
                        event.at,
                        conv.channel,
                        conv.team,
                        conv.agent,
                        since=conv.waiting_since,
                    )
                )
            else:
                facts.append(Fact("closed", conv.id, event.at, conv.channel, conv.team, conv.agent))
            conv.waiting_since = None
            alerts += self._resolve(conv, event.at)
        return conv, facts, alerts

    def _applicable(self, conv: Conversation) -> list[SlaPolicy]:
        out = []
        for p in self.policies.policies:
            if not p.applies(conv.channel, conv.brand, conv.priority):
                continue
            if p.metric == "first_response" and conv.first_response_at is not None:
                continue
            out.append(p)
        return out

    def deadlines(self, conv: Conversation) -> list[tuple[SlaPolicy, datetime, datetime]]:
        """(policy, warn at, breach at) for every running SLA clock."""
        if conv.waiting_since is None or conv.closed_at is not None:
            return []
        start = conv.waiting_since
        return [
            (p, self._at(p, start, p.warn_at), self._at(p, start, 1.0))
            for p in self._applicable(conv)
        ]

    def check(self, conv: Conversation, now: datetime) -> list[Alert]:
        alerts = []
        for policy, warn_at, breach_at in self.deadlines(conv):
            episode = conv.sla.setdefault(policy.name, SlaEpisode(since=conv.waiting_since))
            if not episode.warned and now >= warn_at:
                episode.warned = True
                alerts.append(self._alert(conv, policy, "sla_warning", warn_at, breach_at))
            if not episode.breached and now >= breach_at:
                episode.breached = True
                alerts.append(self._alert(conv, policy, "sla_breach", breach_at, breach_at))
        return alerts

    def _resolve(self, conv: Conversation, at: datetime) -> list[Alert]:
        alerts = []
        for name, episode in list(conv.sla.items()):
            policy = next((p for p in self.policies.policies if p.name == name), None)
            if policy is None:
                continue
            start = episode.since or at
            breach_at = self._at(policy, start, 1.0)
            for kind, flag in (("sla_warning", episode.warned), ("sla_breach", episode.breached)):
                if flag:
                    alerts.append(
                        self._alert(
                            conv, policy, kind, at, breach_at, status="resolved", since=start
                        )
                    )
        conv.sla.clear()
        return alerts

    def _alert(
        self,
        conv: Conversation,
        policy: SlaPolicy,
        kind: str,
        at: datetime,
        breach_at: datetime,
        status: str = "firing",
        since: datetime | None = None,
    ) -> Alert:
        start = since or conv.waiting_since or at
        waited = self._waited(policy, start, at) / 60
        allowance = policy.within.total_seconds() / 60
        clock = "business " if policy.business_hours else ""
        what = "warning: will breach" if kind == "sla_warning" else "breached"
        within = "business time" if policy.business_hours else "clock time"
        summary = (
            f"{conv.brand} {conv.channel} conversation {conv.id} ({conv.priority}): "
            f"{policy.name} {what} — waited {_span(waited * 60)} of "
            f"{_span(allowance * 60)} ({within}), due {breach_at:%Y-%m-%d %H:%M:%S}Z"
        )
        if status == "resolved":
            summary = f"resolved: {conv.brand} conversation {conv.id} answered ({policy.name})"
        return Alert(
            kind=kind,
            brand=conv.brand,
            rule=policy.name,
            status=status,
            severity="critical" if kind == "sla_breach" or conv.priority == "urgent" else "warning",
            fingerprint=fingerprint(kind, conv.brand, policy.name, term=conv.id),
            fired_at=at,
            window_start=start,
            window_end=breach_at,
            term=None,
            summary=summary,
            labels={
                "team": "care",
                "channel": conv.channel,
                "policy": policy.name,
                "priority": conv.priority,
                "conversation": conv.id,
                **({"agent": conv.agent} if conv.agent else {}),
                **({"care_team": conv.team} if conv.team else {}),
                **policy.labels,
            },
            evidence=Evidence(
                observed=round(waited, 1),
                expected=allowance,
                expected_high=allowance,
                unit=f"{clock}minutes waiting for a reply",
                volume=conv.messages,
                top_posts=(TopPost(id=conv.id, text=conv.last_message, author=conv.customer),)
                if conv.last_message
                else (),
            ),
            started_at=at if status == "firing" else start,
        )


def _span(seconds: float) -> str:
    """A duration as people read it in a notification: "45 s", "48 min", "2 h 05 min"."""
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
