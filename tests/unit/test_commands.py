"""Control commands: typed, versioned, readable from older releases, with their meaning."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from alerts.routing.commands import (
    AckCommand,
    ExpireSilenceCommand,
    SilenceCommand,
    apply_command,
    encode_command,
    parse_command,
    silence_command,
    silences_from,
    too_broad,
)
from alerts.routing.config import Matcher, RoutingConfig
from alerts.routing.dispatcher import Dispatcher

T0 = datetime(2026, 11, 17, 14, tzinfo=UTC)


def test_commands_round_trip_through_their_json():
    for command in (
        silence_command(["brand=Acme"], timedelta(hours=2), T0, "ann", "statement out"),
        ExpireSilenceCommand(id="s1", by="ann"),
        AckCommand(fingerprint="fp1", by="bob", comment="on it"),
    ):
        assert parse_command(encode_command(command)) == command
        assert json.loads(encode_command(command))["v"] == 1


def test_records_written_by_the_previous_release_still_parse():
    # wave 1 wrote untyped dicts without a version: they must keep working after the upgrade
    old = [
        b'{"type": "silence", "id": "ab12", "matchers": ["brand=Acme"], '
        b'"starts_at": "2026-11-17T14:00:00+00:00", "duration_s": 3600.0, '
        b'"created_by": "ann", "comment": ""}',
        b'{"type": "expire", "id": "ab12"}',
        b'{"type": "ack", "fingerprint": "fp", "by": "bob"}',
    ]
    parsed = [parse_command(raw) for raw in old]
    assert isinstance(parsed[0], SilenceCommand) and parsed[0].window(T0) == (
        T0,
        T0 + timedelta(hours=1),
    )
    assert isinstance(parsed[1], ExpireSilenceCommand) and isinstance(parsed[2], AckCommand)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"type": "nope"}', "unknown control message type 'nope'"),
        (b'{"type": "ack", "v": 9, "fingerprint": "x"}', "newer than this worker"),
        (b'{"type": "silence", "matchers": [], "duration_s": 60}', "at least 1"),
        (b'{"type": "silence", "matchers": ["brand=~("], "duration_s": 60}', "invalid regex"),
        (
            b'{"type": "silence", "matchers": ["brand=A"], "starts_at": "2026-11-17T14:00:00"}',
            "timezone",
        ),
        (b"[1]", "JSON object"),
    ],
)
def test_bad_commands_say_what_is_wrong(raw, says):
    with pytest.raises(ValueError, match=says):
        parse_command(raw)


def test_apply_command_drives_the_dispatcher():
    d = Dispatcher(
        RoutingConfig.model_validate({"receivers": [{"name": "x"}], "route": {"receiver": "x"}})
    )
    apply_command(d, silence_command(["brand=Acme"], timedelta(hours=1), T0), T0)
    [silence] = d.silences.values()
    assert silence.active(T0 + timedelta(minutes=59)) and not silence.active(
        T0 + timedelta(hours=1)
    )
    apply_command(d, ExpireSilenceCommand(id=silence.id), T0 + timedelta(minutes=5))
    assert not silence.active(T0 + timedelta(minutes=6))
    apply_command(d, AckCommand(fingerprint="fp", by="bob"), T0)
    assert d.acks["fp"].by == "bob"


def test_silences_from_the_control_log():
    a = silence_command(["brand=Acme"], timedelta(hours=1), T0)
    b = silence_command(["brand=Other"], timedelta(hours=3), T0)
    log = [(T0, a), (T0, b), (T0 + timedelta(minutes=10), ExpireSilenceCommand(id=a.id))]
    silences = silences_from(log)
    assert silences[a.id].ends_at == T0 + timedelta(minutes=10)
    assert silences[b.id].ends_at == T0 + timedelta(hours=3)


@pytest.mark.parametrize(
    ("matchers", "broad"),
    [
        (["brand=~.*"], True),
        (["brand=~.+"], True),
        (["kind!=volume_spike"], True),
        (["brand!~Acme"], True),
        (["brand="], True),
        (["brand=Acme"], False),
        (["brand=~Acme|Skyway.*"], False),
        (["brand=~.*", "kind=volume_spike"], False),
    ],
)
def test_a_silence_must_pick_out_some_alerts(matchers, broad):
    assert (too_broad([Matcher.parse(m) for m in matchers]) is not None) is broad
