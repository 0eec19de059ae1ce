"""Parameter specifications: which build and per-call search parameters a kind accepts.

Each index kind declares its parameters as :class:`ParamSpec` objects. The same checker serves
build parameters (errors are ``ConfigError``) and per-call search parameters (errors are
``QueryError``): unknown names are rejected with the list of valid ones, values are type- and
range-checked, and the result is a plain dict of Python scalars (JSON-ready for the manifest).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..errors import RetrievalError


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: its type (int, float or bool), inclusive bounds and a one-line meaning."""

    name: str
    type: type
    doc: str
    minimum: float | None = None
    maximum: float | None = None

    def with_maximum(self, maximum: float) -> "ParamSpec":
        return ParamSpec(self.name, self.type, self.doc, self.minimum, maximum)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type.__name__, "doc": self.doc}
        if self.minimum is not None:
            out["min"] = self.minimum
        if self.maximum is not None:
            out["max"] = self.maximum
        return out

    def check(self, value: Any, error: type[RetrievalError], what: str) -> Any:
        """``value`` converted to this spec's Python type, or ``error`` saying what is wrong."""
        if self.type is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise error(f"{what} {self.name!r} must be true or false, got {value!r}")
            return bool(value)
        if isinstance(value, (bool, np.bool_)):
            raise error(f"{what} {self.name!r} must be a number, got {value!r}")
        if self.type is int:
            if not isinstance(value, (int, np.integer)):
                raise error(f"{what} {self.name!r} must be an integer, got {value!r}")
            value = int(value)
        else:
            if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
                raise error(f"{what} {self.name!r} must be a finite number, got {value!r}")
            value = float(value)
        if self.minimum is not None and value < self.minimum:
            raise error(f"{what} {self.name!r} must be >= {self.minimum:g}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise error(f"{what} {self.name!r} must be <= {self.maximum:g}, got {value!r}")
        return value


def check_params(
    schema: Mapping[str, ParamSpec],
    given: Mapping[str, Any] | None,
    error: type[RetrievalError],
    what: str,
    kind: str,
) -> dict[str, Any]:
    """Validate ``given`` against ``schema``; returns only the given names, converted."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise error(f"{what}s must be a mapping of name to value, got {type(given).__name__}")
    unknown = sorted(set(given) - set(schema))
    if unknown:
        valid = ", ".join(sorted(schema)) if schema else f"none ({kind!r} takes no {what}s)"
        raise error(f"unknown {what} {', '.join(map(repr, unknown))} for index kind {kind!r}; valid: {valid}")
    return {name: schema[name].check(value, error, what) for name, value in given.items()}
