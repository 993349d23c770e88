"""The state tables' codec writes what the standard library's JSON would mean, and reads what
earlier versions wrote with it (Faust's `json` codec), NaN included."""

import json
import math
from pathlib import Path

from faust.serializers import codecs

from alerts.state import KeyState
from streams import state_codec

FIXTURE = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "detector_state_v1.json").read_text()
)


def test_a_detector_state_round_trips_and_reads_as_the_standard_library_wrote_it():
    state = KeyState.from_dict(next(iter(FIXTURE["states"].values())))
    record = state.to_dict()
    written = state_codec.dumps(record)
    assert json.loads(written) == json.loads(json.dumps(record))
    back = state_codec.loads(written)
    assert back == json.loads(json.dumps(record))
    assert KeyState.from_dict(back).to_dict() == record


def test_integer_keys_are_written_as_strings_like_the_standard_library():
    value = {"buckets": {300: 1, 600: 2}}
    assert state_codec.loads(state_codec.dumps(value)) == json.loads(json.dumps(value))


def test_records_an_earlier_version_wrote_are_read_nan_and_infinity_included():
    earlier = json.dumps({"mean": float("nan"), "ratio": float("inf"), "n": 3}).encode()
    read = state_codec.loads(earlier)
    assert math.isnan(read["mean"]) and read["ratio"] == math.inf and read["n"] == 3
    assert state_codec.loads(codecs.dumps("json", {"n": 1})) == {"n": 1}


def test_faust_finds_the_codec_by_name_once_registered():
    state_codec.register()
    state_codec.register()  # the worker may be created twice in one process (tests)
    value = {"brand": "acme", "n": [1, 2.5, None]}
    assert codecs.loads(state_codec.NAME, codecs.dumps(state_codec.NAME, value)) == value
