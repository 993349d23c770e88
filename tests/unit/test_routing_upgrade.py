"""Router state survives an upgrade: records written by the previous release (version 1, in
tests/fixtures/routing_state_v1.json, produced by that release's Dispatcher) load into this
one, behave the same, and are rewritten in the current version."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.routing.config import RoutingConfig
from alerts.routing.dispatcher import Dispatcher
from alerts.routing.records import VERSION, GroupRecord, MetaRecord, NoticeRecord

V1 = json.loads((Path(__file__).parents[1] / "fixtures" / "routing_state_v1.json").read_text())
CONFIG = RoutingConfig.from_text("""
receivers:
  - {name: pr, console: {}}
  - {name: pr-pager, console: {}}
route:
  receiver: pr
  group_by: [brand, kind]
  group_wait: 30s
  routes:
    - matchers: [team=pr]
      receiver: pr
      escalate: {after: 15m, to: pr-pager}
""")
T0 = datetime(2026, 11, 17, 14, tzinfo=UTC)


def test_version_1_records_load_and_keep_their_meaning():
    d = Dispatcher(CONFIG)
    d.load_records(V1.items())
    assert sorted(g.receiver for g in d.groups.values()) == ["pr", "pr"]
    assert d.acks["fp2"].by == "bob" and d.acks["fp2"].at == T0 + timedelta(minutes=5)
    assert set(d.escalated) == {"fp1"}  # escalated before the upgrade: not again
    [silence] = d.silences.values()
    assert silence.created_by == "ann" and silence.active(T0 + timedelta(hours=1))
    assert d.silenced({"brand": "Northwind Airlines"}, T0 + timedelta(hours=1))
    # told already: nothing is sent again after the upgrade, no escalation twice
    assert d.due(T0 + timedelta(minutes=30)) == []
    # and a repeat still comes when repeat_interval says so
    later = d.due(T0 + timedelta(hours=5))
    assert {n.group_key for n in later} == {
        "0.0:pr:{brand=Skyway Air,kind=volume_spike}",
        "0.0:pr:{brand=Skyway Air,kind=sentiment_dip}",
    }


def test_they_are_rewritten_in_the_current_version_with_the_same_content():
    d = Dispatcher(CONFIG)
    d.load_records(V1.items())
    now = d.records()
    assert all(value["v"] == VERSION for value in now.values())
    for key, old in V1.items():
        new = now[key]
        if key == "meta":
            assert MetaRecord.model_validate(new) == MetaRecord.model_validate(old)
        elif key.startswith("g|"):
            assert GroupRecord.model_validate(new) == GroupRecord.model_validate(old)
            assert "receiver" not in new and new["r"] == old["receiver"]  # compact names
        else:
            assert NoticeRecord.model_validate(new) == NoticeRecord.model_validate(old)
    # a round trip through the current version is exact
    e = Dispatcher(CONFIG)
    e.load_records(json.loads(json.dumps(now)).items())
    assert e.records() == now


def test_current_records_are_smaller():
    d = Dispatcher(CONFIG)
    d.load_records(V1.items())
    old = sum(len(json.dumps(v)) for k, v in V1.items() if k.startswith("g|"))
    new = sum(len(json.dumps(v)) for k, v in d.records().items() if k.startswith("g|"))
    assert new < old
