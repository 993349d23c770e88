"""Care: business calendars (weekends, holidays, DST), conversation clocks, metrics."""

import json
from datetime import UTC, date, datetime, time, timedelta

import pytest

from alerts.care.calendar import BusinessCalendar, parse_hours
from alerts.care.conversation import CareTracker, Conversation
from alerts.care.metrics import CareMetrics, percentile
from alerts.care.policies import CarePolicies
from earful.configfile import ConfigError
from earful.records import ConversationClosed, Customer, MessageReceived, ReplySent

LJ = BusinessCalendar(
    "Europe/Ljubljana",
    {d: ((time(8), time(18)),) for d in ("mon", "tue", "wed", "thu", "fri")}
    | {"sat": ((time(10), time(14)),)},
    frozenset({date(2026, 12, 25)}),
)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_business_seconds_skip_nights_weekends_and_holidays():
    # Fri 17:30 -> Mon 08:30 local (Ljubljana is UTC+1 in winter):
    # 30 min Friday + 4 h Saturday + 0 Sunday + 30 min Monday
    fri = utc(2026, 11, 20, 16, 30)
    mon = utc(2026, 11, 23, 7, 30)
    assert LJ.business_seconds(fri, mon) == (30 + 240 + 30) * 60
    # Christmas (Friday) is closed
    assert LJ.business_seconds(utc(2026, 12, 25, 8), utc(2026, 12, 25, 16)) == 0


def test_add_business_is_the_inverse_of_business_seconds():
    start = utc(2026, 11, 20, 16, 30)  # Fri 17:30 local
    due = LJ.add_business(start, 3600)  # 30 min Friday, then Saturday 10:00 + 30 min
    assert due == utc(2026, 11, 21, 9, 30)
    assert LJ.business_seconds(start, due) == 3600


def test_dst_changes_do_not_shift_opening_hours():
    # Sunday 29 March 2026 clocks go forward; Monday 30 March opens 08:00 CEST = 06:00 UTC
    assert not LJ.is_open(utc(2026, 3, 30, 5, 59))
    assert LJ.is_open(utc(2026, 3, 30, 6, 0))
    # a full Monday in summer time is still 10 business hours
    assert LJ.business_seconds(utc(2026, 3, 30, 0), utc(2026, 3, 31, 0)) == 10 * 3600
    # the autumn change (25 Oct 2026, a Sunday): Monday opens 08:00 CET = 07:00 UTC
    assert LJ.is_open(utc(2026, 10, 26, 7, 0)) and not LJ.is_open(utc(2026, 10, 26, 6, 59))


def test_opening_hours_are_validated():
    with pytest.raises(ValueError, match="end before"):
        parse_hours("18:00-08:00")
    with pytest.raises(ConfigError) as info:
        CarePolicies.from_text(
            "calendar: {timezone: Mars/Olympus}\npolicies: [{name: a, within: 1h}]", "care.yaml"
        )
    assert "care.yaml:1: calendar.timezone" in str(info.value)


POLICIES = CarePolicies.from_text("""
calendar:
  timezone: Europe/Ljubljana
  hours: {mon: "08:00-18:00", tue: "08:00-18:00", wed: "08:00-18:00", thu: "08:00-18:00",
          fri: "08:00-18:00"}
policies:
  - {name: first-reply, metric: first_response, within: 60m, business_hours: true, warn_at: 0.8}
  - {name: urgent, metric: first_response, within: 15m, business_hours: false, priority: urgent}
""")


def msg(conv, at, text="my bag is lost"):
    return MessageReceived(
        type="message_received",
        event_id=f"{conv}-{at}",
        conversation_id=conv,
        at=at,
        channel="twitter",
        brand="Acme",
        customer=Customer(id="c1", handle="cust"),
        text=text,
    )


def reply(conv, at):
    return ReplySent(
        type="reply_sent",
        event_id=f"{conv}-r-{at}",
        conversation_id=conv,
        at=at,
        channel="twitter",
        brand="Acme",
        agent="ann",
        team="tier1",
    )


def test_warning_before_breach_each_once_then_resolved_by_the_reply():
    tracker = CareTracker(POLICIES)
    t0 = utc(2026, 11, 16, 9)  # Monday 10:00 local
    conv, facts, _ = tracker.apply(None, msg("c1", t0))
    assert [f.kind for f in facts] == ["opened", "waiting"]
    assert tracker.check(conv, t0 + timedelta(minutes=47)) == []
    [warn] = tracker.check(conv, t0 + timedelta(minutes=48))  # 80% of 60 business minutes
    assert warn.kind == "sla_warning" and warn.status == "firing"
    assert tracker.check(conv, t0 + timedelta(minutes=50)) == []  # once
    [breach] = tracker.check(conv, t0 + timedelta(minutes=60))
    assert breach.kind == "sla_breach" and breach.severity == "critical"
    assert breach.labels["team"] == "care" and breach.evidence.observed == 60.0
    conv, facts, resolved = tracker.apply(conv, reply("c1", t0 + timedelta(minutes=75)))
    assert sorted((a.kind, a.status) for a in resolved) == [
        ("sla_breach", "resolved"),
        ("sla_warning", "resolved"),
    ]
    assert [(f.kind, f.seconds) for f in facts] == [("first_response", 75 * 60)]
    assert tracker.check(conv, t0 + timedelta(hours=5)) == []


def test_events_read_again_after_a_crash_are_not_counted_twice():
    """Events after the last committed offset are read again on restart, into a conversation
    whose stored state may already hold them."""
    tracker = CareTracker(POLICIES)
    t0 = utc(2026, 11, 16, 9)
    events = [msg("c1", t0), reply("c1", t0 + timedelta(minutes=5))]
    events += [msg("c1", t0 + timedelta(minutes=m), text=f"and {m}") for m in (10, 12)]
    once, twice, facts_once, facts_twice = None, None, [], []
    for event in events:
        once, facts, _ = tracker.apply(once, event)
        facts_once += facts
    for event in [*events[:3], *events[1:]]:  # the crash came after the third event
        twice, facts, _ = tracker.apply(twice, event)
        facts_twice += facts
    assert twice is not None and once is not None
    assert twice.to_dict() == once.to_dict() and twice.messages == 3 and twice.replies == 1
    assert [f.to_dict() for f in facts_twice] == [f.to_dict() for f in facts_once]
    # a conversation remembers only its latest ids: its record stays small
    for m in range(40):
        once, _, _ = tracker.apply(once, msg("c1", t0 + timedelta(minutes=20 + m), text=str(m)))
    assert len(once.to_dict()["recent_events"]) == 16


def test_business_hours_clock_stops_overnight():
    tracker = CareTracker(POLICIES)
    evening = utc(2026, 11, 16, 16, 50)  # Monday 17:50 local: 10 business minutes left today
    conv, _, _ = tracker.apply(None, msg("c2", evening))
    assert tracker.check(conv, utc(2026, 11, 17, 5)) == []  # 06:00 local next day: still 10 min
    [warning] = tracker.check(conv, utc(2026, 11, 17, 7, 38))  # 38 more minutes into Tuesday
    assert warning.kind == "sla_warning"


def test_negative_inbound_message_makes_it_urgent_with_a_tighter_clock():
    tracker = CareTracker(POLICIES)
    t0 = utc(2026, 11, 16, 9)
    conv, _, _ = tracker.apply(None, msg("c3", t0, "worst airline ever"), negative_score=-0.9)
    assert conv.priority == "urgent"
    found = tracker.check(conv, t0 + timedelta(minutes=15))
    assert ("sla_breach", "urgent") in {(a.kind, a.rule) for a in found}
    assert all(a.severity == "critical" for a in found)


def test_closing_stops_the_clock_and_conversation_state_round_trips():
    tracker = CareTracker(POLICIES)
    t0 = utc(2026, 11, 16, 9)
    conv, _, _ = tracker.apply(None, msg("c4", t0))
    conv = Conversation.from_dict(json.loads(json.dumps(conv.to_dict())))
    closed = ConversationClosed(
        type="conversation_closed",
        event_id="x",
        conversation_id="c4",
        at=t0 + timedelta(minutes=5),
        channel="twitter",
        brand="Acme",
    )
    conv, _, _ = tracker.apply(conv, closed)
    assert tracker.check(conv, t0 + timedelta(hours=3)) == []


def test_metrics_against_a_hand_computed_timeline():
    """Three conversations in a 24h window (business-time waits):
    a: opened 09:00, first reply after 10 min, then a reply wait of 30 min
    b: opened 09:05, first reply after 50 min
    c: opened 11:00, still waiting at 12:00 (backlog 1, oldest 60 min)"""
    tracker = CareTracker(POLICIES)
    metrics = CareMetrics(timedelta(hours=24))
    t = utc(2026, 11, 16, 9)  # Monday 10:00 local
    events = [
        msg("a", t),
        msg("b", t + timedelta(minutes=5)),
        reply("a", t + timedelta(minutes=10)),
        msg("a", t + timedelta(minutes=20)),
        reply("a", t + timedelta(minutes=50)),
        reply("b", t + timedelta(minutes=55)),
        msg("c", t + timedelta(hours=2)),
    ]
    convs: dict = {}
    for e in events:
        conv, facts, _ = tracker.apply(convs.get(e.conversation_id), e)
        convs[conv.id] = conv
        for f in facts:
            metrics.add(f)
    [overall] = [r for r in metrics.snapshot(t + timedelta(hours=3)) if r["scope"] == "all"]
    assert overall["received"] == 3 and overall["first_responses"] == 2
    assert overall["first_response_median_s"] == 30 * 60  # median of 10 and 50 minutes
    assert overall["first_response_p90_s"] == 50 * 60
    assert overall["reply_wait_median_s"] == 30 * 60  # 10, 30, 50
    assert overall["response_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert overall["backlog"] == 1 and overall["backlog_oldest_s"] == 3600
    restored = CareMetrics.from_dict(json.loads(json.dumps(metrics.to_dict())), timedelta(hours=24))
    assert restored.snapshot(t + timedelta(hours=3)) == metrics.snapshot(t + timedelta(hours=3))


def test_percentile_is_nearest_rank():
    assert percentile([5, 1, 3, 2, 4], 0.9) == 5 and percentile([], 0.9) is None
