"""Customer satisfaction from the inbox: the sentiment shift from a customer's first message to
their latest after a reply, and explicit survey scores (csat_received events)."""

from datetime import UTC, datetime, timedelta

from alerts.care.conversation import CareTracker
from alerts.care.metrics import CareMetrics
from alerts.care.policies import load_policies
from earful.codec import decode_record
from earful.records import InboxRecord

T0 = datetime(2026, 11, 17, 9, tzinfo=UTC)


def event(kind: str, minutes: int, conv: str = "c1", **extra):
    body = {
        "type": kind,
        "event_id": f"{conv}-{kind}-{minutes}",
        "conversation_id": conv,
        "at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "channel": "chat",
        "brand": "Skyway Air",
        **extra,
    }
    return InboxRecord.model_validate(body).root


def message(minutes: int, conv: str = "c1"):
    return event("message_received", minutes, conv, customer={"id": "ann"}, text="hello")


def test_shift_and_survey_facts():
    tracker = CareTracker(load_policies(None))
    conv, facts, _ = tracker.apply(None, message(0), negative_score=-0.8)
    assert conv.first_score == -0.8 and not [f for f in facts if f.kind == "shift"]
    conv, facts, _ = tracker.apply(conv, message(5), negative_score=-0.6)  # no reply yet
    assert not [f for f in facts if f.kind == "shift"]
    conv, _, _ = tracker.apply(conv, event("reply_sent", 20, agent="bo"))
    conv, facts, _ = tracker.apply(conv, message(30), negative_score=0.4)
    [shift] = [f for f in facts if f.kind == "shift"]
    assert abs(shift.value - 1.2) < 1e-9  # from -0.8 at the first message to +0.4
    conv, facts, _ = tracker.apply(conv, event("csat_received", 90, score=4))
    [csat] = facts
    assert csat.kind == "csat" and csat.value == 4.0
    assert decode_record(
        b'{"type": "csat_received", "event_id": "e", "conversation_id": "c", '
        b'"at": "2026-11-17T09:00:00Z", "channel": "chat", "score": 4}',
        InboxRecord,
    )


def test_snapshots_carry_the_means():
    tracker = CareTracker(load_policies(None))
    metrics = CareMetrics(timedelta(hours=24))
    for conv_id, first, later, score in (("a", -0.8, 0.2, 5), ("b", 0.0, -0.4, 2)):
        conv, facts, _ = tracker.apply(None, message(0, conv_id), negative_score=first)
        for f in facts:
            metrics.add(f)
        conv, facts, _ = tracker.apply(conv, event("reply_sent", 10, conv_id, agent="bo"))
        conv, more, _ = tracker.apply(conv, message(20, conv_id), negative_score=later)
        conv, survey, _ = tracker.apply(conv, event("csat_received", 60, conv_id, score=score))
        for f in facts + more + survey:
            metrics.add(f)
    [everything] = [r for r in metrics.snapshot(T0 + timedelta(hours=2)) if r["scope"] == "all"]
    assert everything["csat_mean"] == 3.5 and everything["csat_responses"] == 2
    assert (
        everything["sentiment_shift_mean"] == 0.3 and everything["sentiment_shifts"] == 2
    )  # (1.0 - 0.4) / 2
