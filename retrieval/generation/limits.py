"""Generation limits and sampling settings, fixed per generator and overridable per call."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence, Union

from ..errors import ConfigError

StopLike = Union[str, Sequence[str], None]


@dataclass(frozen=True)
class GenerationLimits:
    """When to stop and how to pick tokens.

    ``max_tokens``: answer tokens at most (the context window may cut earlier).
    ``stop``: strings that end the answer; the first one found and everything after it is dropped.
    ``temperature``: 0 is greedy decoding (the default: reproducible answers); above 0, sampled
    with ``top_p`` nucleus filtering and ``seed`` (``None``: the backend's own default seed).
    """

    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    top_p: float = 0.95
    seed: int | None = None

    def __post_init__(self) -> None:
        if not _is_int(self.max_tokens) or self.max_tokens < 1:
            raise ConfigError(f"generation.max_tokens must be a positive integer, got {self.max_tokens!r}")
        object.__setattr__(self, "stop", _stop_tuple(self.stop))
        if not _is_number(self.temperature) or not 0.0 <= self.temperature <= 2.0:
            raise ConfigError(f"generation.temperature must be a number in [0, 2], got {self.temperature!r}")
        if not _is_number(self.top_p) or not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"generation.top_p must be a number in (0, 1], got {self.top_p!r}")
        if self.seed is not None and (not _is_int(self.seed) or self.seed < 0):
            raise ConfigError(f"generation.seed must be a non-negative integer or None, got {self.seed!r}")

    def with_overrides(self, **overrides: Any) -> GenerationLimits:
        """A copy with the given fields replaced; ``None`` values keep the current setting."""
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown generation option(s): {', '.join(unknown)}; known: max_tokens, stop, temperature, top_p, seed")
        changes = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **changes) if changes else self


def _stop_tuple(stop: StopLike) -> tuple[str, ...]:
    if stop is None:
        return ()
    items = (stop,) if isinstance(stop, str) else tuple(stop)
    for item in items:
        if not isinstance(item, str) or not item:
            raise ConfigError(f"generation.stop must hold non-empty strings, got {item!r}")
    return items


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
