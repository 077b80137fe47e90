"""The one measurement model (`cifar.stats.estimate`): what it computes, and that nothing else computes its own."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from cifar.stats import estimate
from cifar.stats.estimate import (Ratio, best_of, compare, half_width, influential, process_rate, process_seconds,
                                  processes_needed, quiet_indices, throughput)

PACKAGE = Path(estimate.__file__).resolve().parents[1]

#: Calls that compute a process's value, a centre over processes, or an interval. Outside `cifar/stats/` only the
#: modules below may make them, each for the reason given.
ESTIMATING = {"ttest_rel", "ttest_ind", "bootstrap", "geometric_mean", "fmean", "ppf", "median_ratio_ci",
              "paired_ratio_ci", "ratio_ci", "trim_mean"}
EXEMPT: dict[str, set[str]] = {}
#: Medians of what a process measured: the old, second way to value a process or a run.
MEASURED = ("duration", "rounds", "images_per_s")
EXEMPT_MEDIANS = {
    "workloads/timing.py",  # `items_per_s_median`: the child's median round, recorded under that name
    "suite/campaign.py",  # the same field for merged passes
}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def estimating_calls() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("stats/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            if name in ESTIMATING and name not in EXEMPT.get(rel, ()):
                found.append(f"{rel}:{node.lineno} {name}")
            if name == "median" and rel not in EXEMPT_MEDIANS:
                text = " ".join(ast.unparse(a) for a in node.args)
                if any(word in text for word in MEASURED):
                    found.append(f"{rel}:{node.lineno} median({text})")
    return found


def test_no_module_computes_its_own_process_value_or_interval():
    """Issue 29: the same quantity was computed four ways and its intervals two ways. A module that values a
    process, centres processes or builds an interval itself fails here; it must call `cifar.stats.estimate`."""
    assert estimating_calls() == []


def test_the_scan_sees_a_module_that_computes_its_own(tmp_path, monkeypatch):
    """The check above could not pass by looking nowhere: a module with its own bootstrap is caught."""
    rogue = PACKAGE / "tuning" / "_rogue_for_test.py"
    rogue.write_text("import statistics\n\ndef f(durations):\n    return statistics.median(durations)\n\n"
                     "def g(a):\n    from scipy import stats\n    return stats.bootstrap((a,), sum)\n")
    try:
        assert estimating_calls() == ["tuning/_rogue_for_test.py:4 median(durations)",
                                      "tuning/_rogue_for_test.py:8 bootstrap"]
    finally:
        rogue.unlink()


def test_a_process_is_worth_its_items_over_its_time_not_its_median_round():
    """The arrays epoch runs some epochs at half speed: 1 s, 2 s, 1 s is 3 epochs in 4 s, not the median 1 s."""
    assert process_seconds([1.0, 2.0, 1.0]) == pytest.approx(4 / 3)
    assert process_rate([1.0, 2.0, 1.0], 1280) == pytest.approx(960.0)
    with pytest.raises(ValueError):
        process_seconds([])


def test_paired_comparison_cancels_drift_between_passes_and_says_its_n():
    drift = [1.0, 1.3, 0.9, 1.1]
    slow, fast = [2.0 * d for d in drift], [1.0 * d * (1 + 0.001 * i) for i, d in enumerate(drift)]
    paired = compare(slow, fast, paired=True)
    unpaired = compare(slow, fast, paired=False)
    assert paired.ratio.ratio == pytest.approx(2.0, rel=0.01) and paired.half_width < 0.01
    assert unpaired.half_width > 0.1 and paired.n == unpaired.n == 4 and paired.paired and not unpaired.paired


def test_contended_processes_are_left_out_by_one_rule_and_n_counts_what_is_left():
    a, b = [1.0, 1.0, 1.01, 0.99, 1.0], [0.5, 0.8, 0.5, 0.5, 0.505]
    e = compare(a, b, [False] * 5, [False, True, False, False, False], paired=True)
    assert e.left_out == (1,) and e.n == 4 and e.ratio.ratio == pytest.approx(2.0, rel=0.01)
    everything = compare(a, b, [True, True, True, False, False], [False] * 5, paired=True)
    assert everything.left_out == () and everything.n == 5  # over half contended: all kept
    assert quiet_indices([True, False, False]) == [1, 2] and quiet_indices([True, True, False]) == [0, 1, 2]
    # Not pairs (one side lost a process): each side leaves out its own contended processes.
    unpaired = compare([1.0, 1.02, 1.01, 0.99, 1.03], [0.5, 0.8, 0.51, 0.52], [False] * 5, [False, True, False, False],
                       paired=True)
    assert not unpaired.paired and unpaired.n == 3 and unpaired.left_out == (1,)


def test_half_width_is_relative_everywhere_and_processes_needed_scales_from_the_processes_used():
    assert half_width(Ratio(2.0, 1.9, 2.1)) == pytest.approx(0.05)
    e = compare([1.0, 1.1, 0.9, 1.05], [0.5, 0.6, 0.45, 0.5], paired=True)
    assert e.processes_needed() == processes_needed(e.ratio, 4) > 4
    assert compare([1.0], [1.0]).ratio is None and compare([1.0], [1.0]).processes_needed() is None
    assert processes_needed(Ratio(1.0, 0.94, 1.06), 3) == 7  # 5 on are trimmed: fewer degrees of freedom


def test_one_process_that_widened_an_interval_is_named():
    base = [1.0, 1.01, 0.99, 1.02]
    cur = [0.5, 0.505, 0.9, 0.51]  # pass 3 ran at another speed; 4 pairs are not trimmed
    e = compare(base, cur, paired=True)
    assert influential(e, base, cur) == 2
    assert influential(compare(base, [0.5, 0.505, 0.495, 0.51], paired=True), base, [0.5, 0.505, 0.495, 0.51]) is None
    # From 5 pairs on one such pass is trimmed and widens nothing; a second one does, and is named.
    base6 = [1.0, 1.01, 0.99, 1.0, 1.0, 1.02]
    assert influential(compare(base6, [0.5, 0.505, 0.495, 0.5, 0.9, 0.51], paired=True), base6,
                       [0.5, 0.505, 0.495, 0.5, 0.9, 0.51]) is None
    assert influential(compare(base6, [0.5, 0.505, 0.8, 0.5, 0.9, 0.51], paired=True), base6,
                       [0.5, 0.505, 0.8, 0.5, 0.9, 0.51]) in (2, 4)


def test_best_of_compares_the_fastest_with_default_or_default_with_the_runner_up():
    def result(threads, seconds):
        return {"threads": threads, "items_per_round": 100, "durations_per_process": [[s] for s in seconds]}

    default, two, one = result("default", [1.0, 1.1, 1.0]), result("two", [0.5, 0.55, 0.5]), result("one", [2, 2, 2])
    best, baseline, e = best_of([default, two, one])
    assert (best["threads"], baseline["threads"]) == ("two", "default") and e.ratio.ratio == pytest.approx(2.0)
    best, baseline, e = best_of([default, one])
    assert (best["threads"], baseline["threads"]) == ("default", "one") and e.ratio.ratio == pytest.approx(2.0 / 1.0324,
                                                                                                           rel=0.01)
    assert best_of([two, one])[1] is None  # default not measured: no comparison
    assert throughput(default) == pytest.approx(100 / math.exp(sum(map(math.log, [1.0, 1.1, 1.0])) / 3))


def test_the_docstring_examples_hold():
    import doctest

    result = doctest.testmod(estimate)
    assert result.attempted > 0 and result.failed == 0


def test_a_paired_comparison_that_lost_its_pairing_says_so():
    """Issue 38, item 8: a side that lost a process silently turned the paired comparison into an unpaired one."""
    from cifar.reports.summary import best_configurations

    paired = compare([1.0, 1.1, 1.05], [0.5, 0.55, 0.52], paired=True)
    assert paired.paired and paired.note is None
    lost = compare([1.0, 1.1, 1.05], [0.5, 0.55], paired=True)
    assert not lost.paired and lost.unpaired_sizes == (3, 2) and "not paired: 3 vs 2 processes" in lost.note

    def entry(threads, values):
        return {"case": "matmul", "threads": threads, "unit": "products", "items_per_round": 30,
                "durations_per_process": [[v] for v in values], "durations_seconds": values}

    (row,) = best_configurations([entry("default", [1.0, 1.1, 1.05]), entry("intra1-inter1", [0.5, 0.55])])
    assert row.note and "not paired" in row.note


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_a_zero_or_negative_value_is_one_error_from_every_ratio(bad):
    """Issue 38, item 8: ratio_point raised a math domain error on 0 where ratio_ci returned NaN."""
    from cifar.stats.estimate import ratio_ci, ratio_point

    for function in (ratio_point, ratio_ci):
        with pytest.raises(ValueError, match="process values must be positive numbers"):
            function([1.0, bad], [1.0, 1.1])


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7, 10, 13])
def test_the_unpaired_interval_is_scipys_yuen_welch_trimmed_t(n):
    """Issue 39, item 3: the estimator's unpaired interval is Yuen-Welch's trimmed t on the logs, as scipy computes
    it (``ttest_ind(..., trim=0.2, equal_var=False)``); below 5 a side, Welch's."""
    import numpy as np
    from scipy import stats

    from cifar.stats.estimate import ratio_ci

    rng = np.random.default_rng(n)
    a, b = np.exp(rng.normal(0.1, 0.05, n)), np.exp(rng.normal(0.0, 0.03, n + 1))
    ci = stats.ttest_ind(np.log(a), np.log(b), equal_var=False, trim=0.2).confidence_interval(0.95)
    ours = ratio_ci(list(a), list(b))
    assert (math.log(ours.low), math.log(ours.high)) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert math.log(ours.ratio) == pytest.approx(stats.trim_mean(np.log(a), 0.2) - stats.trim_mean(np.log(b), 0.2))


@pytest.mark.parametrize("n", [3, 4, 5, 8, 10])
def test_the_paired_interval_is_yuens_trimmed_t_on_the_pairs_log_ratios(n):
    """Trimmed mean of the log ratios, standard error from their winsorized variance, h - 1 degrees of freedom;
    with nothing trimmed (n < 5) it is scipy's ``ttest_rel`` interval."""
    import numpy as np
    from scipy import stats
    from scipy.stats import mstats

    from cifar.stats.estimate import ratio_ci, trimmed_count

    rng = np.random.default_rng(n)
    a, b = np.exp(rng.normal(0.1, 0.05, n)), np.exp(rng.normal(0.0, 0.03, n))
    d = np.log(a) - np.log(b)
    g = trimmed_count(n)
    assert g == int(0.2 * n)
    h = n - 2 * g
    w = np.asarray(mstats.winsorize(d, limits=(0.2, 0.2)))
    se = math.sqrt((n - 1) * w.var(ddof=1) / (h * (h - 1)))
    q = stats.t.ppf(0.975, h - 1)
    ours = ratio_ci(list(a), list(b), paired=True)
    m = stats.trim_mean(d, 0.2)
    assert (math.log(ours.low), math.log(ours.ratio), math.log(ours.high)) == pytest.approx((m - q * se, m, m + q * se))
    if g == 0:
        ci = stats.ttest_rel(np.log(a), np.log(b)).confidence_interval(0.95)
        assert (math.log(ours.low), math.log(ours.high)) == pytest.approx((ci.low, ci.high))


def test_one_much_slower_process_does_not_stretch_the_interval():
    """The heavy right tail: ten pairs that agree within 2 %, one process 35 % slower. The plain t interval
    (scipy's ``ttest_rel``) spans ±7 %; the estimator's trims that pair and stays within ±2 %, and its one-sided
    bound rules out a 5 % slowdown, which the plain t's could not."""
    import numpy as np
    from scipy import stats

    from cifar.stats.estimate import slowdown_bound

    base = [1.0] * 10
    cur = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99, 1.0, 1.35]
    plain = stats.ttest_rel(np.log(cur), np.log(base)).confidence_interval(0.95)
    assert (plain.high - plain.low) / 2 > 0.06
    e = compare(base, cur, paired=True)
    assert e.half_width < 0.02 and e.ratio.low <= 1.0 <= e.ratio.high
    assert slowdown_bound(base, cur, paired=True) < 1.05
    plain_bound = stats.ttest_rel(np.log(cur), np.log(base), alternative="less").confidence_interval(0.95).high
    assert math.exp(plain_bound) > 1.05


@pytest.mark.parametrize("pairs", [6, 12])
def test_the_trimmed_interval_holds_95_percent_under_the_heavy_tail(pairs):
    """Simulated A/A pairs: 3 % noise a process, and one process in ten 30-40 % slower (either side). The
    interval holds 1.00 about 95 % of the time, and its median half-width is under that of the plain t."""
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(pairs)
    held, ours, plain = 0, [], []
    for _ in range(600):
        tail = lambda: np.where(rng.random(pairs) < 0.1, np.log(rng.uniform(1.3, 1.4, pairs)), 0.0)  # noqa: E731
        a = np.exp(rng.normal(0, 0.03, pairs) + tail())
        b = np.exp(rng.normal(0, 0.03, pairs) + tail())
        e = compare(list(a), list(b), paired=True)
        held += e.ratio.low <= 1.0 <= e.ratio.high
        ours.append(e.half_width)
        ci = stats.ttest_rel(np.log(b), np.log(a)).confidence_interval(0.95)
        plain.append((ci.high - ci.low) / 2)
    assert 0.92 <= held / 600 <= 0.99
    assert np.median(ours) < 0.8 * np.median(plain)


def test_configurations_that_ran_in_different_passes_are_paired_on_the_passes_both_ran():
    """Adaptive effort's extra passes run only the two configurations the interval compares; when the fastest
    changes on the way, the new pair has run different passes. The comparison pairs the passes both ran in
    (pass 4 ran 30 % slow for everyone: paired, it cancels) instead of falling back to an unpaired one."""
    from cifar.stats.estimate import kept_values, speedup

    def result(values, passes):
        return {"durations_per_process": [[v] for v in values], "durations_seconds": values,
                "items_per_round": 1, "pass_per_process": passes}

    default = result([1.0, 1.01, 0.99, 1.3, 1.0, 1.02], [0, 1, 2, 3, 4, 5])
    best = result([0.5, 0.505, 0.495, 0.65], [0, 1, 2, 3])
    e = speedup(default, best, paired=True)
    assert e.paired and e.n == 4 and e.note is None and e.half_width < 0.02
    assert kept_values(default, best, e) == ([1.0, 1.01, 0.99, 1.3], [0.5, 0.505, 0.495, 0.65])
    unpaired = speedup({**default, "pass_per_process": None}, {**best, "pass_per_process": None}, paired=True)
    assert not unpaired.paired and unpaired.note  # without the passes recorded: unpaired, and said so


def test_processes_needed_asks_scipy_for_each_t_quantile_once(monkeypatch):
    """"Processes needed" walks n upwards from 2 (up to 10,000) asking t's quantile at each: the gate's check asks it
    at every look of thousands of resampled sessions, and at scipy's ~0.1 ms a quantile it spent tens of minutes
    there (2026-12-05). Asked again, the same walk reads remembered quantiles."""
    import scipy.stats

    from cifar.stats import estimate

    calls = []
    ppf = scipy.stats.t.ppf
    monkeypatch.setattr(scipy.stats.t, "ppf", lambda q, df: calls.append((q, df)) or ppf(q, df))
    getattr(estimate._quantile, "cache_clear", lambda: None)()
    args = ([1.0] * 6, [1.0, 1.05, 0.96, 1.03, 0.99, 1.01], 1.02)  # about 18 pairs
    first = estimate.processes_to_bound(*args, paired=True)
    asked = len(calls)
    assert first is not None and asked > 10
    assert estimate.processes_to_bound(*args, paired=True) == first and len(calls) == asked
