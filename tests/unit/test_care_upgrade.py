"""Care state survives an upgrade: a conversation and its facts as the previous release wrote
them (tests/fixtures/care_state_v1.json, produced by that release's CareTracker) load into
this one and keep their SLA episodes: no warning or breach is raised twice after the upgrade,
and the episode resolves when the reply comes."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.care.conversation import CareTracker, Conversation, Fact
from alerts.care.policies import load_policies
from alerts.care.records import VERSION, ConversationRecord
from earful.records import InboxRecord

V1 = json.loads((Path(__file__).parents[1] / "fixtures" / "care_state_v1.json").read_text())
T0 = datetime(2026, 11, 17, 9, tzinfo=UTC)


def test_a_version_1_conversation_keeps_its_sla_episodes():
    conv = Conversation.from_dict(V1["conversation"])
    assert conv.sla["first-reply"].warned and conv.sla["first-reply"].breached
    assert conv.sla["first-reply"].since == T0
    tracker = CareTracker(load_policies(None))
    assert tracker.check(conv, T0 + timedelta(hours=3)) == []  # said before the upgrade
    reply = InboxRecord.model_validate(
        {
            "type": "reply_sent",
            "event_id": "e2",
            "conversation_id": "c1",
            "at": (T0 + timedelta(hours=3)).isoformat(),
            "agent": "bo",
            "channel": "chat",
            "brand": "Skyway Air",
        }
    ).root
    _, _, resolved = tracker.apply(conv, reply)
    assert sorted((a.kind, a.status) for a in resolved) == [
        ("sla_breach", "resolved"),
        ("sla_warning", "resolved"),
    ]


def test_rewritten_in_the_current_version_with_the_same_content():
    conv = Conversation.from_dict(V1["conversation"])
    now = conv.to_dict()
    assert now["v"] == VERSION
    assert Conversation.from_dict(now) == conv
    assert ConversationRecord.model_validate(now) == ConversationRecord.model_validate(
        V1["conversation"]
    )
    facts = [Fact.from_dict(f) for f in V1["facts"]]
    assert [Fact.from_dict(f.to_dict()) for f in facts] == facts


def test_version_1_aggregator_records_load():
    from alerts.care.aggregator import CareMetricsAggregator

    fact = V1["facts"][0]
    old = [  # as the previous release's CareMetricsStep wrote them
        (
            "meta",
            {
                "partitions": {"0": "2026-11-17T09:00:00+00:00"},
                "published": "2026-11-17T09:00:00+00:00",
            },
        ),
        ("f|2026-11-17T09:00:00+00:00", {"facts": [fact]}),
        ("w|c1", {"waiting": ["2026-11-17T09:00:00+00:00", "chat"]}),
    ]
    aggregator = CareMetricsAggregator(timedelta(hours=24), timedelta(minutes=15))
    aggregator.load_records(old)
    assert aggregator.published == T0
    assert aggregator.metrics.waiting == {"c1": (T0, "chat")}
    assert len(aggregator.buffer) == 1  # not yet published: waits for the next boundary
    aggregator.accept(Fact.from_dict({**fact, "at": "2026-11-17T09:20:00+00:00", "source": 0}))
    rows = aggregator.publish_due()
    assert rows and rows[0]["at"] == "2026-11-17T09:15:00+00:00"
    written = aggregator.changes()
    assert all(v is None or v["v"] == VERSION for v in written.values())
