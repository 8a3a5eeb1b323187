"""Numbers of results as text, and the intervals behind "mean ± ...": one set of helpers for the
leaderboard, the figures and results/tables.py, so a count or a score reads the same everywhere.

    count(22_600_000) -> "22.6M"    count(2414, ".3g") -> "2.41k"    count(674) -> "674"
    significant(100.0) -> "100"     significant(0.0107) -> "0.011"
    mean_std(0.712, 0.013) -> "71.2 ± 1.3"        (scores x100)
    fmt([0.70, 0.72, 0.74]) -> "72.0 ± 2.0"       (mean ± std over the runs)
    ci95([0.70, 0.72, 0.74]) -> "72.0 ± 5.0"      (mean ± 95% confidence interval)

Model names are shortened by `benchmark.config.model_name`.
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Iterable, Sequence

import numpy as np


def missing(v: object) -> bool:
    """None, or a NaN (what pandas makes of a None in a numeric column)."""
    return v is None or (isinstance(v, numbers.Real) and math.isnan(v))


def count(v: float | None, digits: str = ".1f", small: str = ".0f") -> str:
    """A count with a G/M/k suffix (22.6M, 2.7k; `digits` formats the scaled value, `small` one
    under a thousand); '-' for a missing one."""
    if missing(v):
        return "-"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= limit:
            return f"{v / limit:{digits}}{suffix}"
    return f"{v:{small}}"


def number(v: float | None, spec: str = ".0f") -> str:
    """`v` in the format `spec`; '-' for a missing value."""
    return "-" if missing(v) else f"{v:{spec}}"


def significant(v: float | None, digits: int = 2) -> str:
    """`v` to `digits` significant digits, never in exponent form (100, 2.7, 0.011, 0.000012:
    format's "g" would print 100 as 1e+02); '-' for a missing value."""
    if missing(v):
        return "-"
    return np.format_float_positional(v, precision=digits, unique=False, fractional=False, trim="-")


def mean_std(mean: float | None, spread: float | None = None, scale: float = 100.0, digits: int = 1) -> str:
    """`mean ± spread`, both times `scale`; the mean alone without a spread; '-' without a mean."""
    if missing(mean):
        return "-"
    text = f"{mean * scale:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]  # -0.0004 rounds to 0.0, not a negative zero
    return text if missing(spread) else f"{text} ± {spread * scale:.{digits}f}"


def half_width(sd: np.ndarray, n: np.ndarray, interval: str) -> np.ndarray:
    """Elementwise half-width of the Student-t 95% confidence interval of a mean ("ci95": t with
    n-1 degrees of freedom times the standard error) or the standard error ("se"), from standard
    deviations `sd` over `n` values; NaN below two values."""
    from scipy import stats

    se = sd / np.sqrt(np.maximum(n, 1))
    factor = stats.t.ppf(0.975, np.maximum(n - 1, 1)) if interval == "ci95" else 1.0
    return np.where(n >= 2, factor * se, np.nan)


def interval_half_width(values: Iterable[float | None], interval: str = "ci95") -> float:
    """`half_width` over the finite values; NaN below two values."""
    v = np.asarray([x for x in values if not missing(x) and np.isfinite(x)], dtype=float)
    if len(v) < 2:
        return float("nan")
    return float(half_width(np.array(v.std(ddof=1)), np.array(len(v)), interval))


def fmt(values: Iterable[float | None], scale: float = 100.0, digits: int = 1, ci: bool = False,
        unit: str = "seed") -> str:
    """Mean ± the standard deviation over the runs, or with `ci` ± the half-width of the mean's 95%
    confidence interval (Student's t with n-1 degrees of freedom: five seeds give ± 2.78 standard
    errors); a single value has no spread (with `ci` it says so: "(1 seed)", or whatever `unit`
    the values are over), missing values are left out."""
    values = [float(v) for v in values if not missing(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return mean_std(values[0], None, scale, digits) + (f" (1 {unit})" if ci else "")
    spread = interval_half_width(values, "ci95") if ci else statistics.stdev(values)
    return mean_std(statistics.fmean(values), spread, scale, digits)


def ci95(values: Iterable[float | None], unit: str = "seed") -> str:
    """Scores x100: mean ± the half-width of its 95% confidence interval over the runs."""
    return fmt(values, ci=True, unit=unit)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]],
                   left: Sequence[str] | None = None) -> str:
    """A GitHub markdown table; with `left`, those columns left-aligned and the others right-aligned
    (else no alignment). A '|' in a cell is escaped."""
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|")

    rule = ["---" if left is None else (":---" if col in left else "---:") for col in header]
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)
