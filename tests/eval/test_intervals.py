"""Mean and 95 % t-interval over seeds, and paired differences over common seeds, against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from lmrec.eval import intervals
from lmrec.eval.intervals import direction, mean_ci, paired, t_quantile

T_975_DF2 = 4.302652729911275   # Student's t, 97.5 % quantile, 2 degrees of freedom
T_975_DF1 = 12.706204736174698  # 1 degree of freedom


def test_t_quantile_matches_the_tables():
    assert t_quantile(1) == pytest.approx(T_975_DF1) and t_quantile(2) == pytest.approx(T_975_DF2)


def test_mean_and_half_width_hand_computed():
    # mean 0.023333, sd 0.0057735, half-width t(0.975, 2) * sd / sqrt(3) = 4.3027 * 0.0057735 / 1.7321 = 0.014343
    mean, half = mean_ci([0.02, 0.02, 0.03])
    assert mean == pytest.approx(0.0233333, abs=1e-7) and half == pytest.approx(0.014343, abs=1e-6)
    # two values: sd sqrt(0.02), t with 1 df: 12.7062 * 0.141421 / 1.414214 = 1.270620
    assert mean_ci([0.1, 0.3]) == (pytest.approx(0.2), pytest.approx(1.270620, abs=1e-6))


def test_missing_values_are_left_out_and_one_value_has_no_interval():
    assert mean_ci([0.02, None, 0.02, math.nan, 0.03]) == mean_ci([0.02, 0.02, 0.03])
    mean, half = mean_ci([0.5])
    assert mean == 0.5 and math.isnan(half)
    assert all(math.isnan(x) for x in mean_ci([])) and all(math.isnan(x) for x in mean_ci([None, math.nan]))


def test_paired_over_common_seeds_in_seed_order():
    row = {3: 0.43, 1: 0.32, 2: 0.37, 9: 0.50}           # seed 9: base never ran it
    base = {1: 0.30, 2: 0.35, 3: 0.40, 7: 0.10}          # seed 7: row never ran it
    d = paired(row, base)
    assert list(d["per_seed"]) == [1, 2, 3] and d["per_seed"] == pytest.approx({1: 0.02, 2: 0.02, 3: 0.03})
    assert d["n"] == 3 and d["mean"] == pytest.approx(0.0233333, abs=1e-7)
    assert d["ci95"] == pytest.approx(0.014343, abs=1e-6) and d["excludes_zero"] is True and direction(d) == 1
    assert direction(paired(base, row)) == -1            # the same gap the other way round
    noise = paired({1: 0.33, 2: 0.34, 3: 0.41}, base)    # +0.03, -0.01, +0.01: half-width 0.0497 > mean 0.01
    assert noise["ci95"] == pytest.approx(T_975_DF2 * 0.02 / math.sqrt(3))
    assert noise["excludes_zero"] is False and direction(noise) == 0


def test_one_common_seed_has_no_verdict_and_none_in_common_gives_none():
    one = paired({1: 0.50, 9: 0.60}, {1: 0.30, 2: 0.35})
    assert one["n"] == 1 and one["mean"] == pytest.approx(0.2) and math.isnan(one["ci95"])
    assert one["excludes_zero"] is False and direction(one) is None
    assert paired({1: 0.5}, {2: 0.5}) is None and direction(None) is None
    assert paired({1: 0.5, 2: math.nan}, {1: 0.4, 2: 0.3})["n"] == 1  # a NaN on either side drops the seed


def test_excludes_zero_only_when_the_interval_does_not_touch_zero(monkeypatch):
    same = {1: 1.0, 2: 1.0}
    assert paired(same, {1: 0.0, 2: 0.0})["excludes_zero"] is True  # zero spread, mean 1: [1, 1]
    assert paired(same, same)["excludes_zero"] is False               # [0, 0] holds 0
    # differences 1 and 3: mean 2, sd sqrt(2), half-width t * sqrt(2) / sqrt(2) = t exactly
    monkeypatch.setattr(intervals, "t_quantile", lambda df: 2.0)
    edge = paired({1: 1.0, 2: 3.0}, {1: 0.0, 2: 0.0})
    assert edge["ci95"] == edge["mean"] == 2.0 and edge["excludes_zero"] is False and direction(edge) == 0
    monkeypatch.setattr(intervals, "t_quantile", lambda df: 1.999)
    assert direction(paired({1: -1.0, 2: -3.0}, {1: 0.0, 2: 0.0})) == -1
