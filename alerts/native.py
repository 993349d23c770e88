"""Detection compiled with mypyc, used where it was built from exactly this source.

The detectors, the CUSUM statistics, the buckets and the engine are plain typed Python. mypyc
(the compiler mypy itself ships with) turns the same modules into C extensions, which replay
pre-scored mentions about twice as fast (`make bench` prints both); `tooling/native.py`
builds them, `make test`, `make demo` and `make bench` run it first. Nothing else changes:
same source, same arithmetic (IEEE doubles, the same libm calls), and a unit test replays the
same stream interpreted and compiled and compares the alerts byte for byte.

A build is kept under a key made of the compiled modules' source and the interpreter, and it
lists every project module it was typed against (the compiled ones and what they import, e.g.
the stored states of alerts/rule_state.py: compiled code checks their fields' types) with its
hash. It is used only while every one of them is as it was, so an edited module, a checkout
of another commit or another Python never picks up a stale build: detection runs interpreted
until `make native` builds for it. `EARFUL_PURE_PYTHON=1` runs interpreted
whatever is built. This module is imported by `alerts/__init__.py` before any compiled module,
and only puts the build's directory first on the package paths; it is itself never compiled.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import sysconfig
from pathlib import Path

#: The modules compiled, relative to the repository root: the hot path of a replay. What
#: pydantic reads stays interpreted: the detectors' stored states (alerts/rule_state.py, with
#: the EWMA they hold, alerts/stats.py), the rules, routing and notification.
COMPILED = (
    "alerts/sequential.py",
    "alerts/llr.py",
    "alerts/share_cusums.py",
    "alerts/history_threshold.py",
    "alerts/buckets.py",
    "alerts/windows.py",
    "alerts/calibration.py",
    "alerts/state.py",
    "alerts/engine.py",
    "alerts/driver.py",
    "alerts/observation.py",
    "alerts/replay.py",
    "alerts/detectors/base.py",
    "alerts/detectors/seasonal_volume.py",
    "alerts/detectors/volume_spike.py",
    "alerts/detectors/volume_sequential.py",
    "alerts/detectors/sentiment_dip.py",
    "alerts/detectors/dip_sequential.py",
    "alerts/detectors/crisis.py",
    "alerts/detectors/crisis_bank.py",
    "alerts/detectors/trending_topic.py",
    "alerts/detectors/emerging_term.py",
)
ROOT = Path(__file__).resolve().parent.parent
#: The build this process uses (None: interpreted), decided when `alerts` is first imported.
_DECIDED: list[Path | None] = []


def build_key(root: Path = ROOT) -> str:
    """What a build is valid for: the compiled modules' source and this interpreter's ABI."""
    digest = hashlib.sha256()
    digest.update(
        f"{sys.implementation.cache_tag}|{sysconfig.get_config_var('EXT_SUFFIX')}".encode()
    )
    for name in COMPILED:
        digest.update(name.encode())
        digest.update((root / name).read_bytes())
    return digest.hexdigest()[:24]


def builds_dir() -> Path:
    found = os.environ.get("EARFUL_NATIVE_DIR")
    return Path(found) if found else Path.home() / ".cache" / "earful" / "native"


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_for_this_source(root: Path = ROOT) -> Path | None:
    """The build of exactly this source, if one was made (None: run interpreted). Its `BUILT`
    file, written last, lists each module it was typed against with the module's hash."""
    if os.environ.get("EARFUL_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        place = builds_dir() / build_key(root)
        typed_against = json.loads((place / "BUILT").read_text())["sources"]
        if all(file_hash(root / name) == digest for name, digest in typed_against.items()):
            return place
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not built, cut short, or a source missing (an installed copy, not a checkout)
    return None


def active() -> bool:
    """Whether detection runs compiled in this process."""
    return getattr(sys.modules.get("alerts.sequential"), "__file__", "").endswith(
        str(sysconfig.get_config_var("EXT_SUFFIX"))
    )


def use(package_path: list[str], subpackage: str = "") -> None:
    """Put the build's copy of a package first on its `__path__` (and the build on `sys.path`,
    where mypyc's shared library is imported from by its top-level name)."""
    if not _DECIDED:  # once per process: the packages must agree
        _DECIDED.append(build_for_this_source())
    place = _DECIDED[0]
    if place is None:
        return
    if str(place) not in sys.path:
        sys.path.insert(0, str(place))
    inner = place / "alerts" / subpackage if subpackage else place / "alerts"
    package_path.insert(0, str(inner))
