"""Detection compiled with mypyc (alerts/native.py): used only for its own source, and it raises
exactly the alerts the interpreted source raises."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alerts import native

ROOT = Path(__file__).resolve().parents[2]

#: Replays a generated stream and prints whether detection ran compiled, then every alert.
REPLAY = """
import json, sys
from alerts import native
from alerts.engine import DetectionEngine
from alerts.replay import Replayer, ReplayStats, parse_lines
from alerts.rules import load_rules
from models.training.data import airline_pools, airline_topic_pools
from tooling.scenarios import TextPools, scenario_stream

pools = TextPools(by_label=airline_pools(), by_topic=airline_topic_pools())
_, _, mentions = scenario_stream(int(sys.argv[1]), int(sys.argv[2]), pools)
replayer = Replayer(DetectionEngine(load_rules(None)))
stats = ReplayStats()
alerts = []
for observations in parse_lines([json.dumps(m).encode() for m in mentions], stats):
    alerts += replayer.feed(observations)
alerts += replayer.finish()
print(json.dumps(native.active()))
for alert in alerts:
    print(alert.model_dump_json())
"""


def _replay(seed: int, days: int, *, pure: bool) -> tuple[bool, list[str]]:
    env = {**os.environ, "EARFUL_PURE_PYTHON": "1" if pure else "0"}
    done = subprocess.run(
        [sys.executable, "-c", REPLAY, str(seed), str(days)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    first, *alerts = done.stdout.splitlines()
    return json.loads(first), alerts


def test_a_build_belongs_to_one_source(tmp_path, monkeypatch):
    for name in native.COMPILED:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, tmp_path / name)
    key = native.build_key(tmp_path)
    assert key == native.build_key(ROOT)  # a copy of the same source: the same build
    edited = tmp_path / native.COMPILED[0]
    edited.write_text(edited.read_text() + "\n# an edit\n")
    assert native.build_key(tmp_path) != key  # any edit: another build, never a stale one

    monkeypatch.setenv("EARFUL_NATIVE_DIR", str(tmp_path / "builds"))
    monkeypatch.delenv("EARFUL_PURE_PYTHON", raising=False)
    assert native.build_for_this_source() is None  # nothing built: interpreted
    place = tmp_path / "builds" / native.build_key()
    place.mkdir(parents=True)
    assert native.build_for_this_source() is None  # a build cut short is not used
    (place / "BUILT").write_text("done")
    assert native.build_for_this_source() == place
    monkeypatch.setenv("EARFUL_PURE_PYTHON", "1")
    assert native.build_for_this_source() is None


@pytest.mark.skipif(
    native.build_for_this_source() is None,
    reason="detection is not compiled for this source (`make native`; `make test` builds it)",
)
def test_compiled_detection_raises_exactly_the_interpreted_alerts():
    compiled, fast = _replay(907, 12, pure=False)
    interpreted, slow = _replay(907, 12, pure=True)
    assert compiled and not interpreted
    assert len(slow) > 20  # the stream's incidents were found at all
    assert fast == slow  # byte for byte: same order, same evidence, same figures


def test_without_a_compiler_the_build_says_so_and_detection_runs_interpreted(
    tmp_path, monkeypatch, capsys
):
    from tooling import native as build

    monkeypatch.setenv("EARFUL_NATIVE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler-here")
    assert build.build() is None
    assert "no C compiler; detection runs interpreted" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing half-built is left to be picked up
