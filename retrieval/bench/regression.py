"""Compare a sweep result with a stored baseline: which configurations got slower or worse.

Rows are matched by (index kind, build+search params). With budget ``p`` = ``max_regression_pct``:

- speed: a configuration regresses when ``qps < baseline_qps * (1 - p/100)`` (relative drop);
- quality: when ``baseline_recall - recall > p/100 * baseline_recall`` (also a *relative* drop, so
  10% on a 0.95 baseline allows down to 0.855; a near-zero baseline recall tolerates little);
- a configuration in the baseline but absent from ``current`` is reported as missing.

New configurations in ``current`` are ignored. An empty list means the run passes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ConfigError
from .sweep import row_key


def check(current: Mapping[str, Any] | Sequence[Mapping[str, Any]], baseline: Mapping[str, Any] | Sequence[Mapping[str, Any]],
          max_regression_pct: float = 10) -> list[str]:
    """One message per regressed or missing configuration (``[]`` = pass). Accepts sweep result
    dicts (their ``rows`` are compared) or lists of rows."""
    if isinstance(max_regression_pct, bool) or not isinstance(max_regression_pct, (int, float)) or not 0 <= max_regression_pct < 100:
        raise ConfigError(f"max_regression_pct must be a number in [0, 100), got {max_regression_pct!r}")
    budget = float(max_regression_pct) / 100
    now = {row_key(r): r for r in _rows(current, "current")}
    messages: list[str] = []
    for key, base in ((row_key(r), r) for r in _rows(baseline, "baseline")):
        name = f"{key[0]} {key[1]}"
        cur = now.get(key)
        if cur is None:
            messages.append(f"{name}: missing from the current result")
            continue
        if base.get("qps") and cur["qps"] < base["qps"] * (1 - budget):
            drop = 100 * (1 - cur["qps"] / base["qps"])
            messages.append(f"{name}: qps fell {drop:.1f}% ({base['qps']:.1f} -> {cur['qps']:.1f}), budget {max_regression_pct:g}%")
        b_rec, c_rec = base.get("recall@10"), cur.get("recall@10")
        if b_rec is not None and c_rec is not None and b_rec - c_rec > budget * b_rec:
            messages.append(
                f"{name}: recall@10 dropped {b_rec - c_rec:.4f} ({b_rec:.4f} -> {c_rec:.4f}), "
                f"more than {max_regression_pct:g}% of the baseline"
            )
    return messages


def load_baseline(path: str | os.PathLike[str]) -> Any:
    """An earlier sweep result (``--json`` output) from ``path``, checked to have comparable rows."""
    try:
        baseline = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read baseline {path}: {exc}") from None
    _rows(baseline, f"baseline {path}")
    return baseline


def _rows(result: Any, what: str) -> list[Mapping[str, Any]]:
    rows = result.get("rows") if isinstance(result, Mapping) else result
    if not isinstance(rows, Sequence) or any(not isinstance(r, Mapping) or "index" not in r for r in rows):
        raise ConfigError(f"{what}: expected a sweep result with 'rows' (each with 'index', 'params', 'qps', 'recall@10')")
    for i, row in enumerate(rows):
        for key in ("qps", "recall@10"):
            value = row.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ConfigError(f"{what}: rows[{i}].{key} must be a number, got {value!r}")
    return list(rows)
