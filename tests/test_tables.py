"""results/tables.py: the reference table's 95% confidence intervals, worked by hand."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("tables", Path(__file__).parents[1] / "results" / "tables.py")
tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tables)


@pytest.mark.parametrize("values, expected", [
    # mean 72.0, sd 2.0, t(0.975, 2) = 4.3027: 4.3027 * 2 / sqrt(3) = 4.97
    ([0.70, 0.72, 0.74], "72.0 ± 5.0"),
    # mean 50.0, sd sqrt(62.5) = 7.906, t(0.975, 4) = 2.7764: 2.7764 * 7.906 / sqrt(5) = 9.82
    ([0.40, 0.45, 0.50, 0.55, 0.60], "50.0 ± 9.8"),
    ([0.81], "81.0 (1 seed)"),
    ([None, None], "-"),
])
def test_ci95_is_student_t_over_the_seeds(values, expected):
    assert tables.ci95(values) == expected
