import base64
import json
from datetime import UTC, datetime

import pytest

from earful.codec import InvalidMessage, dead_letter, decode_record, encode
from earful.records import MAX_TEXT_CHARS, Mention

GOOD = {
    "id": "m1",
    "platform": "Twitter",
    "created_at": "2026-11-16T09:30:00+01:00",
    "author": {"id": "a1", "handle": "ann", "followers": 12},
    "text": "hello @brand",
    "brands": ["Skyway Air", " ", "Skyway Air"],
    "url": "https://x.example/1",
}


def raw(**changes: object) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def test_valid_mention_is_normalised():
    m = decode_record(raw(), Mention)
    assert m.created_at == datetime(2026, 11, 16, 8, 30, tzinfo=UTC)
    assert m.platform == "twitter"
    assert m.brands == ("Skyway Air",)
    assert m.engagement.likes == 0


@pytest.mark.parametrize(
    ("payload", "error_type", "reason"),
    [
        (b'{"id": "x", "text": "unterminated', "bad_json", "invalid JSON at line 1 column"),
        (b"\xff\xfe not utf8", "bad_encoding", "not valid UTF-8 at byte 0"),
        (b"[1, 2]", "bad_shape", "expected a JSON object, got list"),
        (raw(text=None), "invalid_record", "field 'text'"),
        (
            json.dumps({k: v for k, v in GOOD.items() if k != "id"}).encode(),
            "invalid_record",
            "missing field 'id'",
        ),
        (raw(created_at="2026-11-16 09:00:00"), "invalid_record", "timezone"),
        (raw(author={"id": "a", "followers": -3}), "invalid_record", "author.followers"),
        (raw(author={"id": "a", "followers": "many"}), "invalid_record", "author.followers"),
        (raw(text="x" * (MAX_TEXT_CHARS + 1)), "oversized", "field 'text'"),
        (raw(url="ftp://nope"), "invalid_record", "url must start with http"),
        (raw(text="a\x00b"), "invalid_record", "NUL"),
    ],
)
def test_malformed_messages_get_a_precise_reason(payload, error_type, reason):
    with pytest.raises(InvalidMessage) as info:
        decode_record(payload, Mention)
    assert info.value.error_type == error_type
    assert reason in info.value.reason


def test_oversized_message_is_rejected_before_parsing():
    with pytest.raises(InvalidMessage) as info:
        decode_record(b"x" * 2000, Mention, max_bytes=1000)
    assert info.value.error_type == "oversized"


def test_dead_letter_keeps_original_bytes_and_provenance():
    payload = b"\xff broken"
    with pytest.raises(InvalidMessage) as info:
        decode_record(payload, Mention)
    letter = dead_letter(
        payload,
        info.value,
        source_topic="mentions",
        partition=2,
        offset=41,
        key=b"k1",
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert base64.b64decode(letter.original_b64) == payload
    assert (letter.source_topic, letter.partition, letter.offset, letter.key) == (
        "mentions",
        2,
        41,
        "k1",
    )
    assert json.loads(encode(letter))["reason"].startswith("not valid UTF-8")


def test_records_round_trip_through_json():
    m = decode_record(raw(), Mention)
    assert decode_record(encode(m), Mention) == m
