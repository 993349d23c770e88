"""YAML configuration files validated by pydantic, with errors that name file, line and field.

`load_yaml(path, Model)` keeps the line of every YAML node, so a validation error such as a
wrong type three levels deep reads `rules.yaml:14: rules[2].min_volume: Input should be ...`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar, cast

import yaml
from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)
PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigError(ValueError):
    """A configuration file is invalid; `problems` lists each with file, line and field."""

    def __init__(self, problems: Sequence[ConfigProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def _collect_lines(
    node: yaml.Node, path: PathKey, lines: dict[PathKey, int], seen: set[int]
) -> None:
    if id(node) in seen:  # an alias back into its own ancestor
        return
    seen.add(id(node))
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            lines[(*path, key)] = key_node.start_mark.line + 1
            _collect_lines(value_node, (*path, key), lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _collect_lines(item, (*path, i), lines, seen)


def parse_yaml(text: str, file: str) -> tuple[Any, dict[PathKey, int]]:
    """Parse YAML keeping the line of every key and item."""
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([ConfigProblem(file, line, "", f"invalid YAML: {problem}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[PathKey, int] = {}
    if node is not None:
        _collect_lines(node, (), lines, set())
    return data, lines


def format_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_for(loc: Sequence[str | int], lines: dict[PathKey, int]) -> int | None:
    # pydantic's loc may include union branch names that are not in the YAML; walk back to the
    # deepest prefix that is.
    key: PathKey = tuple(loc)
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return lines.get(())


def validation_problems(
    exc: ValidationError,
    file: str,
    lines: dict[PathKey, int],
    data: Any = None,
) -> list[ConfigProblem]:
    problems = []
    errors = exc.errors(include_url=False)
    item_error_locs = [tuple(e["loc"]) for e in errors]
    for err in errors:
        here = tuple(err["loc"])
        if err["type"] == "too_short" and any(
            len(other) > len(here) and other[: len(here)] == here for other in item_error_locs
        ):
            continue  # the list is short only because some of its items were invalid
        loc = _yaml_loc([p for p in err["loc"] if isinstance(p, int | str)], data)
        msg = "field required" if err["type"] == "missing" else err["msg"]
        problems.append(ConfigProblem(file, _line_for(loc, lines), format_loc(loc), msg))
    return problems


def _yaml_loc(loc: list[str | int], data: Any) -> list[str | int]:
    """Drop segments pydantic adds for tagged unions (`rules.0.volume_spike.x` -> `rules.0.x`)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if (
            isinstance(node, dict)
            and part not in node
            and part in {str(v) for v in node.values() if isinstance(v, str | int)}
        ):
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return out


class SemanticChecks:
    """Mixin for YAML config models: `load(path)` / `from_text(text)` with errors located at
    file, line and field, and checks across fields reported the same way.

    `semantic_problems` runs after field validation and returns (path, message) pairs such as
    (("rules", 2, "window"), "must be a multiple of the bucket").
    """

    def semantic_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        return []

    @classmethod
    def load(cls, path: str | Path) -> Self:
        return cast(Self, load_yaml(path, cast(type[BaseModel], cls)))

    @classmethod
    def from_text(cls, text: str, file: str = "<string>") -> Self:
        return cast(Self, load_yaml_text(text, cast(type[BaseModel], cls), file))


def load_yaml_text(text: str, model: type[T], file: str = "<string>") -> T:
    data, lines = parse_yaml(text, file)
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc, file, lines, data)) from None
    except RecursionError:
        raise ConfigError(
            [ConfigProblem(file, None, "", "self-referencing YAML aliases")]
        ) from None
    if isinstance(result, SemanticChecks):
        problems = [
            ConfigProblem(file, _line_for(loc, lines), format_loc(loc), msg)
            for loc, msg in result.semantic_problems()
        ]
        if problems:
            raise ConfigError(problems)
    return result


def load_yaml(path: str | Path, model: type[T]) -> T:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(str(path), None, "", f"cannot read: {exc.strerror}")]
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigProblem(str(path), None, "", f"not UTF-8: {exc.reason}")]
        ) from None
    return load_yaml_text(text, model, str(path))
