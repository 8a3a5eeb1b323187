"""benchmark/formatting.py: the one set of number formats the leaderboard, the figures and
results/tables.py share, checked against values worked by hand."""

import math

import pytest

from benchmark.formatting import (
    count,
    fmt,
    interval_half_width,
    markdown_table,
    mean_std,
    missing,
    significant,
)


@pytest.mark.parametrize("value, args, expected", [
    (22_713_216, (), "22.7M"),  # the leaderboard's one decimal
    (2_414, (".3g",), "2.41k"),  # results/tables.py's three significant digits
    (674, (), "674"),
    (180_500_000, (), "180.5M"),
    (3.2e9, (), "3.2G"),
    (-4_000, (), "-4.0k"),
    (1_000_000, ("g", "g"), "1M"),  # the figures' axis ticks
    (0.5, ("g", "g"), "0.5"),
    (None, (), "-"),
    (float("nan"), (), "-"),
])
def test_counts_take_a_suffix(value, args, expected):
    assert count(value, *args) == expected


@pytest.mark.parametrize("value, expected", [
    (100.0, "100"),  # independent's copy of the backbone per task: "g" would print 1e+02
    (0.01066, "0.011"),
    (2.694, "2.7"),
    (12.34, "12"),
    (0.0000123, "0.000012"),
    (0.0, "0"),
    (None, "-"),
    (float("nan"), "-"),
])
def test_significant_digits_never_take_an_exponent(value, expected):
    assert significant(value) == expected


def test_mean_and_spread_are_scaled_and_a_missing_part_is_left_out():
    assert mean_std(0.7125, 0.0131) == "71.2 ± 1.3"
    assert mean_std(0.7125, float("nan")) == "71.2"
    assert mean_std(None, 0.1) == "-" and mean_std(float("nan")) == "-"
    assert mean_std(6.25, 1.0, scale=1) == "6.2 ± 1.0"  # the forgetting figure's column
    assert mean_std(-0.0004, 0.003) == "0.0 ± 0.3" and mean_std(-0.0006) == "-0.1"  # no negative zero


def test_fmt_is_mean_and_sample_std_and_ci_the_student_t_interval():
    # 0.70, 0.72, 0.74: mean 72.0, sample std 2.0; t(0.975, 2) = 4.3027: 4.3027 * 2 / sqrt(3) = 4.97
    assert fmt([0.70, 0.72, None, 0.74]) == "72.0 ± 2.0"
    assert fmt([0.70, 0.72, float("nan"), 0.74], ci=True) == "72.0 ± 5.0"
    assert fmt([120.0, 180.0], scale=1, digits=0) == "150 ± 42"
    assert fmt([0.81]) == "81.0" and fmt([0.81], ci=True) == "81.0 (1 seed)"
    assert fmt([]) == "-" and fmt([None]) == "-"


def test_interval_half_widths():
    # values 1, 2, 3: standard deviation 1, standard error 1/sqrt(3), t(0.975, 2 dof) = 4.3027
    assert interval_half_width([1, 2, 3], "se") == pytest.approx(1 / math.sqrt(3))
    assert interval_half_width([1, 2, 3], "ci95") == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert math.isnan(interval_half_width([5.0], "ci95"))
    assert interval_half_width([1, float("nan"), None, 3], "se") == pytest.approx(1.0)


def test_missing_is_none_or_nan_only():
    assert missing(None) and missing(float("nan"))
    assert not any(missing(v) for v in (0, 0.0, "", "-", False))


def test_markdown_tables_align_when_asked_and_escape_bars():
    rows = [["a|b", 1.5]]
    assert markdown_table(["name", "value"], rows) == "| name | value |\n|---|---|\n| a\\|b | 1.5 |"
    aligned = markdown_table(["name", "value"], rows, left=("name",)).splitlines()
    assert aligned[1] == "|:---|---:|"
