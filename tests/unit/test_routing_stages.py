"""The router's stages tested alone: inhibition, silencing, quiet hours, escalation."""

from datetime import UTC, datetime, timedelta

from alerts.routing.config import InhibitRule, Matcher, QuietHours, RoutingConfig
from alerts.routing.escalation import due_escalations
from alerts.routing.inhibition import inhibited
from alerts.routing.quiet import held
from alerts.routing.silencing import expired, silenced
from alerts.routing.state import Group, Silence
from alerts.routing.tree import match_routes
from earful.records import SEVERITY_RANK, Alert, Evidence

T0 = datetime(2026, 11, 17, 14, tzinfo=UTC)
RULE = InhibitRule.model_validate(
    {
        "source_matchers": ["severity=critical"],
        "target_matchers": ["severity=warning"],
        "equal": ["brand", "kind"],
    }
)


def test_a_critical_alert_mutes_the_same_brand_and_kinds_warnings_only():
    firing = {
        "crit": {"brand": "A", "kind": "volume_spike", "severity": "critical"},
        "warn": {"brand": "A", "kind": "volume_spike", "severity": "warning"},
        "other-kind": {"brand": "A", "kind": "sentiment_dip", "severity": "warning"},
        "other-brand": {"brand": "B", "kind": "volume_spike", "severity": "warning"},
    }
    assert inhibited([RULE], firing) == {"warn"}
    assert inhibited([], firing) == set()
    # an alert never inhibits itself, even if it matches source and target
    both = InhibitRule.model_validate(
        {"source_matchers": ["brand=A"], "target_matchers": ["brand=A"], "equal": ["brand"]}
    )
    assert inhibited([both], {"only": {"brand": "A"}}) == set()


def test_silences_mute_while_active_and_are_forgotten_a_week_after():
    s = Silence("s1", (Matcher.parse("brand=A"),), T0, T0 + timedelta(hours=1))
    assert silenced([s], {"brand": "A"}, T0 + timedelta(minutes=5))
    assert not silenced([s], {"brand": "B"}, T0 + timedelta(minutes=5))
    assert not silenced([s], {"brand": "A"}, T0 + timedelta(hours=1))  # ends_at is exclusive
    assert expired([s], T0 + timedelta(days=7, hours=2), timedelta(days=7)) == ["s1"]
    assert expired([s], T0 + timedelta(days=6), timedelta(days=7)) == []


def test_quiet_hours_hold_all_but_what_is_severe_enough():
    quiet = QuietHours.model_validate(
        {"timezone": "Europe/Ljubljana", "start": "22:00", "end": "07:00"}
    )
    night = datetime(2026, 11, 17, 23, tzinfo=UTC)  # midnight in Ljubljana
    assert held(quiet, SEVERITY_RANK["warning"], night)
    assert not held(quiet, SEVERITY_RANK["critical"], night)  # except: critical by default
    assert not held(quiet, SEVERITY_RANK["warning"], T0)
    assert not held(None, SEVERITY_RANK["warning"], night)


def test_escalation_after_the_delay_unless_acknowledged_or_done():
    config = RoutingConfig.from_text("""
receivers: [{name: pr, console: {}}, {name: pager, console: {}}]
route:
  receiver: pr
  routes: [{matchers: [team=pr], receiver: pr, escalate: {after: 15m, to: pager}}]
""")
    alert = Alert(
        kind="volume_spike",
        brand="A",
        rule="r",
        status="firing",
        severity="critical",
        fingerprint="fp",
        fired_at=T0,
        window_start=T0,
        window_end=T0,
        labels={"team": "pr"},
        evidence=Evidence(observed=1, expected=1),
    )
    [opts] = match_routes(config.route, alert.all_labels())
    group = Group("g", "pr", {"brand": "A"}, opts.path, T0, seen=T0, seen_at=T0)
    group.put(alert)
    group.first_told["fp"] = T0.isoformat()

    def due(now, acked=(), done=()):
        return due_escalations(
            [group], lambda g: opts, acknowledged=acked, escalated=done, muted=(), now=now
        )

    assert due(T0 + timedelta(minutes=14)) == []
    [e] = due(T0 + timedelta(minutes=15))
    assert e.receiver == "pager" and e.labels["escalated_from"] == "pr" and e.alert == alert
    assert due(T0 + timedelta(minutes=20), acked={"fp"}) == []
    assert due(T0 + timedelta(minutes=20), done={"fp"}) == []
