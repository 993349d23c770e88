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


def _earful(*args: str, pure: bool) -> str:
    env = {**os.environ, "EARFUL_PURE_PYTHON": "1" if pure else "0"}
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return done.stdout


def _detect(stream: Path, out: Path, *, pure: bool) -> tuple[bool, list[str]]:
    """`earful eval detect` on a stream, as a user runs it: whether detection ran compiled in
    such a process, and the alerts it wrote."""
    probe = "import alerts.sequential, alerts.native as n; print(n.active())"
    compiled = _earful("-c", probe, pure=pure).strip() == "True"
    _earful(
        "-m", "earful", "eval", "detect", "--input", str(stream), "--output", str(out), pure=pure
    )
    return compiled, out.read_text().splitlines()


def test_a_build_belongs_to_one_source(tmp_path, monkeypatch):
    from tooling.native import typed_against

    source = tmp_path / "src"
    for name in typed_against():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, source / name)
    key = native.build_key(source)
    assert key == native.build_key(ROOT)  # a copy of the same source: the same build
    assert "alerts/rule_state.py" in typed_against(source)  # read, not compiled: still its own

    monkeypatch.setenv("EARFUL_NATIVE_DIR", str(tmp_path / "builds"))
    monkeypatch.delenv("EARFUL_PURE_PYTHON", raising=False)
    assert native.build_for_this_source(source) is None  # nothing built: interpreted
    place = tmp_path / "builds" / key
    place.mkdir(parents=True)
    assert native.build_for_this_source(source) is None  # a build cut short is not used
    hashes = {name: native.file_hash(source / name) for name in typed_against(source)}
    (place / "BUILT").write_text(json.dumps({"seconds": 1, "sources": hashes}))
    assert native.build_for_this_source(source) == place

    # a module the build was only typed against, edited (a stored state's field, say): not used
    states = source / "alerts/rule_state.py"
    kept = states.read_text()
    states.write_text(kept + "\n# an edit\n")
    assert native.build_key(source) == key and native.build_for_this_source(source) is None
    states.write_text(kept)
    assert native.build_for_this_source(source) == place

    edited = source / native.COMPILED[0]
    edited.write_text(edited.read_text() + "\n# an edit\n")
    assert native.build_key(source) != key  # any edit: another build, never a stale one
    assert native.build_for_this_source(source) is None
    monkeypatch.setenv("EARFUL_PURE_PYTHON", "1")
    assert native.build_for_this_source(ROOT) is None


@pytest.mark.skipif(
    native.build_for_this_source() is None,
    reason="detection is not compiled for this source (`make native`; `make test` builds it)",
)
def test_compiled_detection_raises_exactly_the_interpreted_alerts(tmp_path):
    _earful("-m", "earful", "eval", "scenarios", "--seeds", "907", "--days", "12", "--out",
            str(tmp_path), pure=True)  # fmt: skip
    stream = tmp_path / "set907.jsonl"
    compiled, fast = _detect(stream, tmp_path / "compiled.jsonl", pure=False)
    interpreted, slow = _detect(stream, tmp_path / "interpreted.jsonl", pure=True)
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
