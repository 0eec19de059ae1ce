"""Type checks for the config dataclasses, read from their annotations.

A value from TOML or ``--set KEY=VALUE`` can be anything JSON or TOML can spell; each field is
checked against its annotation before the section's own range checks run, so a wrong type is
reported as ``config bm25.k1: expected a number, got 'abc'`` instead of a Python TypeError later.
Floats must be finite (TOML and JSON both spell nan and inf); integers are accepted where a float
is expected; ``bool`` is never taken for a number.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any

from .errors import ConfigError


def check_fields(section: Any, name: str) -> None:
    """Raise ``ConfigError`` naming ``name.field``, the value and what was expected for the first
    field of the dataclass instance ``section`` whose value does not fit its annotation."""
    hints = _hints(type(section))
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        expected = mismatch(value, hints[f.name])
        if expected is not None:
            key = f"{name}.{f.name}" if name else f.name
            raise ConfigError(f"config {key}: expected {expected}, got {_show(value)}")


def mismatch(value: Any, hint: Any) -> str | None:
    """What ``hint`` expects, in words, when ``value`` does not fit it; None when it does."""
    arms = typing.get_args(hint) if _is_union(hint) else (hint,)
    wanted = []
    for arm in arms:
        problem = _mismatch_one(value, arm)
        if problem is None:
            return None
        wanted.append(problem)
    return " or ".join(wanted)


def _mismatch_one(value: Any, hint: Any) -> str | None:
    if hint is type(None):
        return None if value is None else "none"
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "a number"
        return None if math.isfinite(value) else "a finite number"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    if hint is dict or typing.get_origin(hint) is dict:
        return None if isinstance(value, dict) else "a table"
    if typing.get_origin(hint) is tuple:  # tuple[X, ...]: TOML and JSON give a list
        (item, _ellipsis) = typing.get_args(hint)
        ok = isinstance(value, (list, tuple)) and all(_mismatch_one(v, item) is None for v in value)
        return None if ok else f"a list of {_plural(item)}"
    if dataclasses.is_dataclass(hint):
        return None if isinstance(value, hint) else "a table"
    # A new annotation needs a rule here; failing loudly keeps a field from going unchecked.
    raise NotImplementedError(f"no config check for annotation {hint!r}")


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _plural(hint: Any) -> str:
    return {str: "strings", int: "integers", float: "numbers"}.get(hint, repr(hint))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)
