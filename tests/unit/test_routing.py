"""Routing: route-tree table tests, dispatcher timelines with an injected clock, config fuzzing."""

import contextlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.routing.config import Matcher, RoutingConfig
from alerts.routing.dispatcher import Dispatcher, in_quiet_hours
from alerts.routing.tree import match_routes
from earful.configfile import ConfigError
from earful.records import Alert, Evidence

TREE = RoutingConfig.from_text("""
receivers:
  - {name: default, console: {}}
  - {name: pr, console: {}}
  - {name: pr-pager, console: {}}
  - {name: product, console: {}}
  - {name: sv-care, console: {}}
route:
  receiver: default
  group_by: [brand, kind]
  routes:
    - matchers: [team=pr]
      receiver: pr
      continue: true
      routes:
        - matchers: [severity=critical]
          receiver: pr-pager
    - matchers: [team=~pr|product]
      receiver: product
      group_by: [brand]
    - matchers: [lang=sv, kind!=volume_spike]
      receiver: sv-care
""")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"team": "pr", "severity": "warning"}, ["pr", "product"]),
        ({"team": "pr", "severity": "critical"}, ["pr-pager", "product"]),
        ({"team": "product"}, ["product"]),
        ({"lang": "sv", "kind": "sentiment_dip"}, ["sv-care"]),
        ({"lang": "sv", "kind": "volume_spike"}, ["default"]),
        ({}, ["default"]),
    ],
)
def test_route_tree(labels, expected):
    assert [o.receiver for o in match_routes(TREE.route, labels)] == expected


def test_group_keys_follow_group_by_and_route_position():
    [pr, product] = match_routes(TREE.route, {"team": "pr", "brand": "A", "kind": "x"})
    assert pr.group_key({"brand": "A", "kind": "x"}) == "0.0:pr:{brand=A,kind=x}"
    assert product.group_labels({"brand": "A", "kind": "x", "team": "pr"}) == {"brand": "A"}


def test_matchers_parse_and_match():
    assert Matcher.parse("kind=~sentiment_.*").matches({"kind": "sentiment_dip"})
    assert not Matcher.parse('brand!="Acme"').matches({"brand": "Acme"})
    with pytest.raises(ValueError, match="invalid regex"):
        Matcher.parse("kind=~(")


def test_routing_errors_name_file_line_and_field():
    with pytest.raises(ConfigError) as info:
        RoutingConfig.from_text(
            """receivers:
  - {name: a, console: {}}
  - {name: a}
route:
  receiver: a
  routes:
    - matchers: [team=pr]
      receiver: nobody
""",
            "routes.yaml",
        )
    found = [str(p) for p in info.value.problems]
    assert "routes.yaml:3: receivers[1].name: receiver 'a' is defined twice" in found
    assert "routes.yaml:3: receivers[1]: receiver 'a' has no channel" in found
    assert "routes.yaml:8: route.routes[0].receiver: unknown receiver 'nobody'" in found


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_loading_arbitrary_routing_text_never_crashes(text):
    with contextlib.suppress(ConfigError):
        RoutingConfig.from_text(text, "fuzz.yaml")


T0 = datetime(2026, 11, 16, 12, tzinfo=UTC)  # a Monday, noon


def alert(
    kind="sentiment_dip",
    brand="Acme",
    status="firing",
    severity="warning",
    team="pr",
    at=T0,
    fp=None,
):
    return Alert(
        kind=kind,
        brand=brand,
        rule=kind,
        status=status,
        severity=severity,
        fingerprint=fp or f"{kind}-{brand}",
        fired_at=at,
        started_at=at,
        window_start=at - timedelta(minutes=30),
        window_end=at,
        labels={"team": team},
        evidence=Evidence(observed=0.7, expected=0.2),
        summary=f"{kind} {brand}",
    )


def dispatcher(extra: str = "", receiver_extra: str = "") -> Dispatcher:
    return Dispatcher(
        RoutingConfig.from_text(f"""
receivers:
  - {{name: pr, console: {{}}{receiver_extra}}}
  - {{name: pager, console: {{}}}}
route:
  receiver: pr
  group_by: [brand]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
{extra}
""")
    )


def deliver_all(d: Dispatcher, now: datetime) -> list:
    out = d.due(now)
    for n in out:
        d.delivered(n, now)
    return out


def test_grouping_timeline():
    """t=0 A fires | +10s B fires (same brand) | +30s one notice with A and B
    | +2m C changes nothing yet (group_interval) | +5m30s one notice | +4h05m repeat."""
    d = dispatcher()
    d.ingest(alert(kind="sentiment_dip"), T0)
    d.ingest(alert(kind="volume_spike", at=T0 + timedelta(seconds=10)), T0 + timedelta(seconds=10))
    assert deliver_all(d, T0 + timedelta(seconds=20)) == []
    [first] = deliver_all(d, T0 + timedelta(seconds=30))
    assert sorted(a.kind for a in first.alerts) == ["sentiment_dip", "volume_spike"]
    assert deliver_all(d, T0 + timedelta(minutes=1)) == []  # nothing changed: nothing sent
    d.ingest(alert(kind="trending_topic"), T0 + timedelta(minutes=2))
    assert deliver_all(d, T0 + timedelta(minutes=3)) == []  # changed, but group_interval
    [second] = deliver_all(d, T0 + timedelta(minutes=5, seconds=30))
    assert len(second.alerts) == 3
    assert deliver_all(d, T0 + timedelta(hours=2)) == []
    [repeat] = deliver_all(d, T0 + timedelta(hours=4, minutes=6))
    assert len(repeat.alerts) == 3
    # a reminder of the same alerts is a new notice: a receiver that drops retries by their
    # idempotency key must not drop it (the same notice retried keeps its key)
    assert repeat.alerts == second.alerts and repeat.idempotency_key != second.idempotency_key
    [again] = deliver_all(d, T0 + timedelta(hours=8, minutes=7))
    assert again.idempotency_key not in {second.idempotency_key, repeat.idempotency_key}


def test_resolved_notice_once_then_forgotten():
    d = dispatcher()
    d.ingest(alert(), T0)
    deliver_all(d, T0 + timedelta(minutes=1))
    d.ingest(alert(status="resolved"), T0 + timedelta(minutes=20))
    [n] = deliver_all(d, T0 + timedelta(minutes=20))
    assert n.status == "resolved"
    assert d.groups == {} and deliver_all(d, T0 + timedelta(hours=5)) == []


def test_an_alert_resolved_before_anyone_was_told_is_never_announced():
    d = dispatcher()
    d.ingest(alert(), T0)
    d.ingest(alert(status="resolved"), T0 + timedelta(seconds=5))
    assert deliver_all(d, T0 + timedelta(minutes=1)) == []


def test_duplicate_notices_change_nothing():
    d = dispatcher()
    d.ingest(alert(), T0)
    deliver_all(d, T0 + timedelta(minutes=1))
    d.ingest(alert(), T0 + timedelta(minutes=6))  # the same notice consumed again after restart
    assert deliver_all(d, T0 + timedelta(minutes=7)) == []


def test_silence_mutes_until_it_expires():
    d = dispatcher()
    s = d.add_silence((Matcher.parse("brand=Acme"),), T0, T0 + timedelta(hours=1), "ann")
    d.ingest(alert(), T0)
    assert deliver_all(d, T0 + timedelta(minutes=5)) == []
    d.expire_silence(s.id, T0 + timedelta(minutes=10))
    assert len(deliver_all(d, T0 + timedelta(minutes=11))) == 1


def test_inhibition_mutes_lesser_alerts_of_the_same_brand_only():
    d = Dispatcher(
        RoutingConfig.from_text("""
receivers: [{name: pr, console: {}}]
route: {receiver: pr, group_by: [brand, kind], group_wait: 0s}
inhibit_rules:
  - source_matchers: [kind=volume_spike, severity=critical]
    target_matchers: [kind=sentiment_dip]
    equal: [brand]
""")
    )
    d.ingest(alert(kind="volume_spike", severity="critical"), T0)
    d.ingest(alert(kind="sentiment_dip"), T0)
    d.ingest(alert(kind="sentiment_dip", brand="Other"), T0)
    sent = deliver_all(d, T0 + timedelta(seconds=1))
    assert sorted((n.alerts[0].kind, n.alerts[0].brand) for n in sent) == [
        ("sentiment_dip", "Other"),
        ("volume_spike", "Acme"),
    ]


def test_quiet_hours_hold_warnings_but_not_critical_alerts():
    quiet = ', quiet_hours: {timezone: Europe/Ljubljana, start: "22:00", end: "07:00"}'
    d = dispatcher(receiver_extra=quiet)
    night = datetime(2026, 11, 16, 23, 30, tzinfo=UTC)  # 00:30 in Ljubljana
    d.ingest(alert(at=night), night)
    d.ingest(alert(brand="Big", severity="critical", at=night), night)
    sent = deliver_all(d, night + timedelta(minutes=1))
    assert [n.alerts[0].brand for n in sent] == ["Big"]
    morning = datetime(2026, 11, 17, 6, 5, tzinfo=UTC)  # 07:05 in Ljubljana
    # the held warning arrives when quiet hours end (Big repeats: 4h repeat_interval passed)
    assert "Acme" in [n.alerts[0].brand for n in deliver_all(d, morning)]


def test_quiet_hours_span_midnight_and_days():
    d = dispatcher(receiver_extra=', quiet_hours: {start: "22:00", end: "07:00", days: [sat]}')
    quiet = d.config.receiver("pr").quiet_hours
    assert in_quiet_hours(quiet, datetime(2026, 11, 21, 23, tzinfo=UTC))  # Saturday night
    assert in_quiet_hours(quiet, datetime(2026, 11, 22, 6, tzinfo=UTC))  # Sunday early: still
    assert not in_quiet_hours(quiet, datetime(2026, 11, 20, 23, tzinfo=UTC))  # Friday night


def test_unacknowledged_critical_alert_escalates_once():
    d = dispatcher(extra="  escalate: {after: 15m, to: pager}")
    d.ingest(alert(severity="critical"), T0)
    deliver_all(d, T0 + timedelta(minutes=1))
    assert deliver_all(d, T0 + timedelta(minutes=10)) == []
    [esc] = deliver_all(d, T0 + timedelta(minutes=17))
    assert esc.receiver == "pager" and esc.group_labels["escalated_from"] == "pr"
    assert deliver_all(d, T0 + timedelta(minutes=30)) == []  # once


def test_acknowledged_alert_does_not_escalate():
    d = dispatcher(extra="  escalate: {after: 15m, to: pager}")
    d.ingest(alert(severity="critical"), T0)
    deliver_all(d, T0 + timedelta(minutes=1))
    d.ack("sentiment_dip-Acme", "ann", T0 + timedelta(minutes=5))
    assert deliver_all(d, T0 + timedelta(minutes=20)) == []


def test_dispatcher_state_round_trips():
    d = dispatcher(extra="  escalate: {after: 15m, to: pager}")
    d.add_silence((Matcher.parse("brand=Other"),), T0, T0 + timedelta(hours=1))
    d.ingest(alert(severity="critical"), T0)
    deliver_all(d, T0 + timedelta(minutes=1))
    d.ack("x", "ann", T0)
    e = dispatcher(extra="  escalate: {after: 15m, to: pager}")
    e.load_records(json.loads(json.dumps(d.records())).items())
    assert e.records() == d.records()
    assert deliver_all(e, T0 + timedelta(minutes=17))[0].receiver == "pager"


def test_an_alert_over_before_anyone_was_told_leaves_nothing_behind():
    d = dispatcher()
    d.ingest(alert(), T0)
    d.ingest(alert(status="resolved"), T0 + timedelta(seconds=5))  # inside group_wait
    assert d.groups == {}
    assert deliver_all(d, T0 + timedelta(hours=1)) == []
    changes = d.changes()
    assert changes and all(v is None for v in changes.values())  # removed from the table too


def test_each_group_keeps_its_own_event_time():
    """A fast inbox replay hours ahead must not run out another group's timers, and a replayed
    episode is told as it would have been live: firing once its group_wait has passed in its
    own event time, even though its resolution arrives a moment of wall time later."""
    d = dispatcher()
    wall = T0 + timedelta(days=30)  # replaying old data
    d.ingest(alert(brand="Care", at=T0 + timedelta(hours=20)), wall)  # another stream, ahead
    d.ingest(alert(brand="Acme", at=T0), wall)
    assert {n.group_labels["brand"] for n in deliver_all(d, wall + timedelta(seconds=5))} == set()
    # the Acme episode ends 95 minutes later in event time, 5 s later on the wall
    end = alert(brand="Acme", status="resolved", at=T0 + timedelta(minutes=95))
    d.observe(end, wall + timedelta(seconds=6))
    assert d.timers_due(wall + timedelta(seconds=6))
    [told] = [
        n for n in deliver_all(d, wall + timedelta(seconds=6)) if n.group_labels["brand"] == "Acme"
    ]
    assert told.status == "firing"
    d.ingest(end, wall + timedelta(seconds=6))
    later = deliver_all(d, wall + timedelta(minutes=6))
    assert [
        (n.group_labels["brand"], n.status) for n in later if n.group_labels["brand"] == "Acme"
    ] == [("Acme", "resolved")]


def test_silence_link_is_a_valid_url_for_any_label_value():
    d = Dispatcher(dispatcher().config, public_url="http://earful.local")
    d.ingest(alert(brand="Skyway Air & Co"), T0)
    [n] = deliver_all(d, T0 + timedelta(minutes=1))
    assert n.silence_url == ("http://earful.local/silences/new?matcher=brand%3DSkyway+Air+%26+Co")
