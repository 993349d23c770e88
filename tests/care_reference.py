"""The offline reference for care SLA alerts: the same log through `CareTracker`, checked at
every event and at the end — what a correct stream must raise, once each.

Inbound messages get a neutral score of 0.0 here, where the stream has its model's: SLA clocks
and facts do not depend on it (urgency is off in POLICIES), and the satisfaction facts come out
the same in number, with values only the model knows."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from alerts.care.conversation import CareTracker
from alerts.care.policies import CarePolicies
from earful.codec import decode_record
from earful.records import InboxRecord, MessageReceived

#: Round-the-clock hours and one first-reply policy: every slow reply is a warning and a breach.
POLICIES = """
calendar:
  timezone: UTC
  hours: {mon: "00:00-24:00", tue: "00:00-24:00", wed: "00:00-24:00", thu: "00:00-24:00",
          fri: "00:00-24:00", sat: "00:00-24:00", sun: "00:00-24:00"}
metrics_every: 1h
metrics_window: 6h
urgent_below: -1.0
policies:
  - {name: first-reply, metric: first_response, within: 30m, warn_at: 0.8, labels: {team: care}}
"""


def expected_sla_alerts(
    events: list[dict[str, Any]], policies: CarePolicies
) -> tuple[Counter[tuple[str, str]], list[Any], Any]:
    """(firing alerts by (kind, conversation), care facts, last event time)."""
    tracker = CareTracker(policies)
    records = sorted(
        (decode_record(json.dumps(e), InboxRecord).root for e in events), key=lambda e: e.at
    )
    conversations: dict[str, Any] = {}
    facts: list[Any] = []
    expected: Counter[tuple[str, str]] = Counter()
    last = records[-1].at
    for event in records:
        for conv in conversations.values():
            expected.update(
                (a.kind, a.labels["conversation"])
                for a in tracker.check(conv, event.at)
                if a.status == "firing"
            )
        # every inbound message carries a score, as the stream's scorer gives one: the
        # reference then makes the same satisfaction facts (their values are the model's)
        score = 0.0 if isinstance(event, MessageReceived) else None
        conv, new_facts, _ = tracker.apply(
            conversations.get(event.conversation_id), event, negative_score=score
        )
        conversations[conv.id] = conv
        facts += new_facts
    for conv in conversations.values():
        expected.update(
            (a.kind, a.labels["conversation"])
            for a in tracker.check(conv, last)
            if a.status == "firing"
        )
    return expected, facts, last
