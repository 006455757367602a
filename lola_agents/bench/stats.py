"""Summary statistics of per-seed values: mean, standard deviation, 95% interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (standard table);
# beyond 30 the normal quantile 1.96 is used.
_T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile_975(degrees_of_freedom: int) -> float:
    """The 0.975 quantile of Student's t (for a two-sided 95% interval)."""
    if degrees_of_freedom < 1:
        raise ValueError(f"degrees_of_freedom must be >= 1, got {degrees_of_freedom}")
    return _T_975[degrees_of_freedom - 1] if degrees_of_freedom <= 30 else 1.96


def describe(values: Sequence[float | None]) -> dict[str, object]:
    """Mean, sample std (ddof=1), 95% t-interval of the mean, over the finite values.

    Non-finite or missing values (diverged runs, undefined rates) are not
    averaged in: they are counted in ``n_missing``. Returns a JSON-ready dict
    ``{"per_seed", "n", "n_missing", "mean", "std", "ci95": [low, high]}``
    (None where undefined, e.g. the interval of a single value).
    """
    per_seed = [None if v is None or not math.isfinite(v) else float(v) for v in values]
    finite = [v for v in per_seed if v is not None]
    n = len(finite)
    out: dict[str, object] = {
        "per_seed": per_seed,
        "n": n,
        "n_missing": len(per_seed) - n,
        "mean": None,
        "std": None,
        "ci95": None,
    }
    if n == 0:
        return out
    mean = sum(finite) / n
    out["mean"] = mean
    if n >= 2:
        std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (n - 1))
        half = t_quantile_975(n - 1) * std / math.sqrt(n)
        out["std"] = std
        out["ci95"] = [mean - half, mean + half]
    return out
