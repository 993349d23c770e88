"""Bytes on a topic -> validated record, or a precise reason why not.

The worker never crashes on input: every failure becomes an `InvalidMessage` whose reason a
person can act on, and the caller sends it to the dead-letter topic with the original bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from earful.records import DeadLetter

#: Largest raw message accepted (bytes). Kafka's own default limit is 1 MiB.
MAX_MESSAGE_BYTES = 1_048_576
#: A dead letter keeps at most this much of the original, so that it fits a broker's default
#: 1 MiB message limit even when the original barely did (base64 adds a third). The size and
#: SHA-256 of the whole original are kept, and the reason says it was truncated.
MAX_ORIGINAL_BYTES = 512 * 1024

T = TypeVar("T", bound=BaseModel)


class InvalidMessage(ValueError):
    def __init__(self, reason: str, error_type: str, details: dict[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type
        self.details = details or {}


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the field path: `author.followers: must be >= 0`."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        if err["type"] == "missing":
            parts.append(f"missing field '{loc}'")
        else:
            parts.append(f"field '{loc}': {err['msg']}")
    return "; ".join(parts)


def decode_json(raw: bytes | str, *, max_bytes: int = MAX_MESSAGE_BYTES) -> Any:
    if isinstance(raw, str):
        raw = raw.encode("utf-8", errors="surrogateescape")
    if len(raw) > max_bytes:
        raise InvalidMessage(
            f"message is {len(raw)} bytes, over the {max_bytes}-byte limit",
            "oversized",
            {"size": len(raw)},
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessage(
            f"not valid UTF-8 at byte {exc.start}: {exc.reason}",
            "bad_encoding",
            {"byte": exc.start},
        ) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidMessage(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            "bad_json",
        ) from None
    except RecursionError:
        raise InvalidMessage("invalid JSON: nested too deeply", "bad_json") from None
    except ValueError as exc:  # NaN/Infinity, integers past Python's digit limit
        raise InvalidMessage(f"invalid JSON: {exc}", "bad_json") from None
    if ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(value):
        raise InvalidMessage(
            "invalid JSON: a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which "
            "no UTF-8 text can carry",
            "bad_encoding",
        )
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _has_lone_surrogate(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if depth > 64:
        return False
    if isinstance(value, dict):
        return any(
            _has_lone_surrogate(k, depth + 1) or _has_lone_surrogate(v, depth + 1)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return any(_has_lone_surrogate(v, depth + 1) for v in value)
    return False


def decode_record(raw: bytes | str, model: type[T], *, max_bytes: int = MAX_MESSAGE_BYTES) -> T:
    payload = decode_json(raw, max_bytes=max_bytes)
    if not isinstance(payload, dict):
        raise InvalidMessage(
            f"expected a JSON object, got {type(payload).__name__}",
            "bad_shape",
        )
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        oversized = any(e["type"] == "string_too_long" for e in exc.errors())
        error_type = "oversized" if oversized else "invalid_record"
        raise InvalidMessage(
            describe_validation_error(exc),
            error_type,
            {"fields": fields},
        ) from None


def dead_letter(
    raw: bytes | None,
    error: InvalidMessage,
    *,
    source_topic: str,
    received_at: datetime,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | str | None = None,
) -> DeadLetter:
    if isinstance(key, bytes):
        key = key.decode("utf-8", errors="replace")
    raw = raw or b""
    reason, details = error.reason, dict(error.details)
    if len(raw) > MAX_ORIGINAL_BYTES:
        digest = hashlib.sha256(raw).hexdigest()
        where = f"{source_topic}[{partition}]@{offset}" if offset is not None else source_topic
        reason += (
            f" (original of {len(raw):,} bytes truncated to its first {MAX_ORIGINAL_BYTES:,} "
            f"here; sha256 {digest}; the whole message stays on {where} until retention)"
        )
        details.update(original_size=len(raw), original_sha256=digest, original_truncated=True)
        raw = raw[:MAX_ORIGINAL_BYTES]
    return DeadLetter(
        reason=reason,
        error_type=error.error_type,
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        key=key[:1000] if key else key,
        original_b64=base64.b64encode(raw).decode("ascii"),
        received_at=received_at,
        details=details,
    )


def encode(record: BaseModel) -> bytes:
    return record.model_dump_json(exclude_none=False).encode("utf-8")
