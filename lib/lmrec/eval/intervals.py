"""Numbers over seeds: a mean with its 95 % Student-t interval, and the paired difference of two rows over the
seeds both ran, with whether its interval excludes 0 ("beyond noise"). The report's ▲/▼ marks,
``bench/llm_ablations.py`` and ``bench/scientific.py`` all take them from here.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from typing import Any


def t_quantile(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom."""
    from scipy import stats

    return float(stats.t.ppf(0.975, df))


def _present(v: float | None) -> bool:
    return v is not None and not math.isnan(v)


def mean_ci(values: Iterable[float | None]) -> tuple[float, float]:
    """Mean and half-width of its 95 % t-interval (n-1 df) over the values that are not None or NaN.

    One value: NaN half-width (no interval, which a width of 0 would hide). No value: ``(nan, nan)``."""
    vals = [float(v) for v in values if _present(v)]
    if not vals:
        return math.nan, math.nan
    n = len(vals)
    mean = sum(vals) / n
    if n < 2:
        return mean, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    return mean, t_quantile(n - 1) * sd / math.sqrt(n)


def paired(a: Mapping[Hashable, float | None], b: Mapping[Hashable, float | None]) -> dict[str, Any] | None:
    """``a - b`` per seed both hold a value for (None/NaN values left out), in seed order.

    Returns ``per_seed``, their ``mean``, ``ci95`` (half-width, NaN for one seed), ``n`` and ``excludes_zero``
    (the interval lies wholly above or below 0; never with fewer than two seeds); None without common seeds."""
    common = sorted(s for s in a.keys() & b.keys() if _present(a[s]) and _present(b[s]))
    if not common:
        return None
    per_seed = {s: float(a[s]) - float(b[s]) for s in common}
    mean, half = mean_ci(per_seed.values())
    return {"per_seed": per_seed, "mean": mean, "ci95": half, "n": len(common),
            "excludes_zero": len(common) > 1 and abs(mean) > half}


def direction(d: Mapping[str, Any] | None) -> int | None:
    """Verdict of a :func:`paired` result: ``1`` / ``-1`` when its interval lies above / below 0, ``0`` when it
    holds 0, None without an interval (fewer than two common seeds). Callers map it to their own words."""
    if not d or d["n"] < 2:
        return None
    if not d["excludes_zero"]:
        return 0
    return 1 if d["mean"] > 0 else -1
