"""`state-json`: the codec of the worker's state tables, JSON written by orjson.

A brand's detector state is one table value, written whole to the changelog about hourly
(between, only what changed: streams/detector_states.py); its emerging-term vocabulary makes
it up to ~200 kB for a large brand.
Profiled during `make bench` (6,419 mentions end to end), Faust's own `json` codec (the
standard library's encoder) took 4.5 s of the event loop's 39 s of CPU, on the cores the model
scores on. orjson writes the same JSON about 9 times faster (a 208 kB state of fresh set 9901:
0.69 ms against 6.0 ms).

Reads take what the standard library wrote (the records of earlier versions), including its
`NaN` and `Infinity`, which orjson refuses, so an upgrade keeps every state. orjson writes a
NaN as `null`; the states hold none. The detector's buckets sum validated scores (-1 to 1,
which a NaN fails) and follower weights, and the rule states and the other tables' pydantic
models are dumped in JSON mode, which already writes a non-finite float as `null`.

With orjson installed Faust's own `json` codec uses it too, but reads with it alone: a record
an earlier version wrote with `NaN` would stop the table's recovery. So every state table
names this codec.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from faust.serializers import codecs

NAME = "state-json"


def dumps(value: Any) -> bytes:
    # integer keys (bucket starts) as strings, as the standard library writes them
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # a record of an earlier version, written with NaN or Infinity
        return json.loads(data)


class StateJson(codecs.Codec):
    def _dumps(self, value: Any) -> bytes:
        return dumps(value)

    def _loads(self, data: bytes) -> Any:
        return loads(data)


def register() -> None:
    """Make `state-json` a serializer name Faust schemas can use (idempotent)."""
    codecs.register(NAME, StateJson())
