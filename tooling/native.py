"""`make native`: compile detection with mypyc for the source as it is (alerts/native.py).

    python -m tooling.native          # build unless a build of this source exists
    python -m tooling.native --force  # build again

The build lands in ~/.cache/earful/native/KEY (`EARFUL_NATIVE_DIR` elsewhere), KEY being the
compiled modules' source and the interpreter, so CI's clean clones reuse it between runs and an
edit is never shadowed by an old build. Needs a C compiler, the Python headers and mypy's
mypyc (a dev dependency); without them it says so and exits 0 (detection runs interpreted,
only slower).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from alerts.native import (
    COMPILED,
    ROOT,
    build_for_this_source,
    build_key,
    builds_dir,
    file_hash,
)


def typed_against(root: Path = ROOT) -> list[str]:
    """`COMPILED` and every project module they import, directly or not, with the packages
    holding them: what mypyc reads the types of (paths relative to `root`)."""
    found: set[str] = set()
    todo = list(COMPILED)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for node in ast.walk(ast.parse((root / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from package import module` names a module too
                modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                for depth in range(1, len(parts) + 1):  # the packages on the way, and the module
                    path = Path(*parts[:depth])
                    for candidate in (path / "__init__.py", path.with_suffix(".py")):
                        if (root / candidate).is_file():
                            todo.append(candidate.as_posix())
    return sorted(found)


def build(force: bool = False) -> Path | None:
    """Compile `COMPILED` into the build directory for this source; its path, or None where
    no compiler could."""
    place = builds_dir() / build_key()
    if build_for_this_source() == place and not force:
        print(f"native: up to date ({place})")
        return place
    if shutil.which(os.environ.get("CC", "cc")) is None:
        print("native: no C compiler; detection runs interpreted", file=sys.stderr)
        return None
    try:
        from mypyc.build import mypycify
        from setuptools import setup
    except ImportError as e:  # installed without the dev tools (`uv sync --no-dev`)
        print(f"native: {e.name} is not installed; detection runs interpreted", file=sys.stderr)
        return None

    started = time.monotonic()
    place.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{place.name}-", dir=place.parent))
    here = Path.cwd()
    os.chdir(ROOT)  # mypyc names modules by their path, and reads mypy's settings from here
    try:
        extensions = mypycify(list(COMPILED), opt_level="3", target_dir=str(work / "c"))
        setup(
            name="earful-native",
            packages=[],
            py_modules=[],
            ext_modules=extensions,
            script_args=[
                "--quiet",
                "build_ext",
                "--build-lib",
                str(work / "out"),
                "--build-temp",
                str(work / "tmp"),
            ],
        )
    except (SystemExit, Exception) as e:  # setuptools reports a failed compile by exiting
        print(f"native: build failed ({e}); detection runs interpreted", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
        return None
    finally:
        os.chdir(here)
    out = work / "out"
    for name in COMPILED:  # the source beside each extension (calibration names its cache by it)
        shutil.copyfile(ROOT / name, out / name)
    sources = {name: file_hash(ROOT / name) for name in typed_against()}
    (out / "BUILT").write_text(
        json.dumps({"seconds": round(time.monotonic() - started), "sources": sources}, indent=1)
    )
    if place.exists():
        shutil.rmtree(place)
    out.rename(place)
    shutil.rmtree(work, ignore_errors=True)
    print(f"native: built {len(COMPILED)} modules in {time.monotonic() - started:.0f} s ({place})")
    return place


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="build even if a build exists")
    build(parser.parse_args().force)


if __name__ == "__main__":
    main()
