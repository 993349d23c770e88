"""A rule's detector state, declared once as a dataclass per detector.

What a detector remembers between buckets (its baselines, CUSUM statistics, the guard band) is
a plain dataclass that subclasses `RuleState`; the JSON it is stored as in the changelog comes
from the declaration (pydantic), so there is no hand-written codec to keep in step with it.

The stored shape is the one wave 1 wrote by hand (field names are the old keys, aliases where
a name would read badly), so state written before the declarations loads unchanged. Loading
validates: a record that does not fit the declaration (a rule whose kind was edited under the
same name, a truncated record) raises `RuleStateError` naming the rule and the field, and the
engine starts that rule afresh rather than run on a half-read baseline.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import TypeAdapter, ValidationError


class RuleStateError(ValueError):
    """A stored rule state that does not fit its detector's declaration."""


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(cls: type) -> TypeAdapter[Any]:
    found = _ADAPTERS.get(cls)
    if found is None:
        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found


class RuleState:
    """Base of every detector state dataclass: `dump` to JSON-safe data, `load` it back.

    None fields are left out of the record (the hand-written records had no key where there
    was nothing to say); `KEEP_NONE` keeps them, where nested models have non-None defaults."""

    KEEP_NONE: ClassVar[bool] = False

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = _adapter(type(self)).dump_python(
            self, mode="json", by_alias=True, exclude_none=not self.KEEP_NONE
        )
        return out

    @classmethod
    def load(cls, raw: Any, rule: str = "?") -> Self:
        try:
            found: Self = _adapter(cls).validate_python(raw)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(record)"
            raise RuleStateError(
                f"stored state of rule {rule!r} does not fit {cls.__name__}: {where}: "
                f"{first['msg']} ({e.error_count()} problem(s))"
            ) from e
        return found
