"""The summary's intervals hold what they claim with the few processes a suite affords (simulated, seeded)."""

import numpy as np
import pytest

from cifar.reports.summary import process_speedup, render_summary
from cifar.stats.estimate import Ratio, half_width, ratio_ci, processes_needed


def simulated_case(rng, processes: int, spread: float = 0.05) -> list[dict]:
    """Default and intra2-inter2, equally fast in truth; each process's rounds share a factor of its own and each
    pass a drift both configurations see."""
    entries = []
    drift = np.exp(rng.normal(0.0, spread, processes))
    for threads in ("default", "intra2-inter2"):
        per_process = [list(d * np.exp(rng.normal(0.0, spread)) * np.exp(rng.normal(0.0, 0.005, 4)))
                       for d in drift]
        durations = [x for rounds in per_process for x in rounds]
        entries.append({"case": "matmul", "workload": "matmul", "threads": threads, "unit": "products",
                        "items_per_round": 10, "items_per_s_median": 10 / float(np.median(durations)),
                        "durations_seconds": durations, "durations_per_process": per_process})
    return entries


@pytest.mark.parametrize("processes", [2, 3, 6])
def test_a_95_percent_interval_holds_the_true_speedup_about_95_percent_of_the_time(processes):
    """Issue 18, item 3. The summary's speedup over default (`process_speedup`, paired by pass, as the best row
    computes it), 400 simulated cases whose two configurations are equally fast: the percentile bootstrap it used
    held the true ratio (1.0) in about half of them at 2 processes a side and 73 % at 3; the t interval on the logs
    holds it ~95 % of the time."""
    rng = np.random.default_rng(processes)
    held = 0
    for _ in range(400):
        default, other = simulated_case(rng, processes)
        ratio = process_speedup(default, other, paired=True)
        held += ratio.low <= 1.0 <= ratio.high
    assert 0.90 <= held / 400 <= 0.99


def test_the_interval_is_over_processes_not_rounds():
    """Tight rounds, two processes 10 % apart: the interval spans what the processes did."""
    rounds = [1.0, 1.001, 0.999]
    ratio = ratio_ci([1.0, 1.1], [1.0, 1.0], paired=True)
    assert ratio.low < 0.8 and ratio.high > 1.3  # 2 pairs: t's 12.7 standard errors
    assert ratio_ci([1.0], [1.0]) is None
    assert half_width(Ratio(1.0, 0.97, 1.03)) == pytest.approx(0.03)
    with pytest.raises(ValueError, match="equal lengths"):
        ratio_ci(rounds, rounds[:2], paired=True)


def test_the_summary_says_how_far_each_interval_is_from_its_target():
    # ±6 % over 3 processes -> ±3 %: 7, not 12: t's quantile falls from 4.3 to 2.6 on the way (the trimmed t's
    # degrees of freedom, n - 2 floor(0.2 n) - 1, keep it from falling as fast as the plain t's)
    assert processes_needed(Ratio(1.0, 0.94, 1.06), 3) == 7
    assert processes_needed(Ratio(1.0, 0.95, 1.05), 6) == 11
    assert processes_needed(Ratio(1.0, 0.9, 1.1), 1) == 10_000
    assert processes_needed(Ratio(1.0, 0.99, 1.01), 3) == 3
    rng = np.random.default_rng(7)
    text = render_summary(simulated_case(rng, 3, spread=0.08))
    row = next(line for line in text.splitlines() if line.startswith("│ matmul"))
    assert "for ±5%)" in row  # ±8 % noise, 3 processes: far from ±5 %, and it says how many it would take
    narrow = render_summary(simulated_case(rng, 6, spread=0.002))
    row = next(line for line in narrow.splitlines() if line.startswith("│ matmul"))
    assert "%" in row and "for ±5%" not in row


def test_the_docstring_examples_hold():
    import doctest

    from cifar.stats import estimate, significance

    result = doctest.testmod(estimate)
    assert result.attempted > 0 and result.failed == 0
    result = doctest.testmod(significance)
    assert result.attempted > 0 and result.failed == 0


def test_every_gate_test_is_one_complete_entry_that_the_gate_reads():
    """Issue 41, item 1: changing the gate's test touched about seven modules. A test is one `GateTest` in
    `cifar.stats.ranktests.TESTS`; the policy, the verdicts, the looks and the check read it from there."""
    import doctest

    from cifar.gate.check.rates import PAIRED_VARIANTS
    from cifar.gate.decide import judge_benchmark
    from cifar.gate.policy import Policy
    from cifar.stats import ranktests
    from cifar.stats.ranktests import FALLBACK, TESTS, GateTest

    assert doctest.testmod(ranktests).failed == 0
    assert not FALLBACK.paired and FALLBACK.name in TESTS
    for test in TESTS.values():
        assert isinstance(test, GateTest) and test.description and 0 < test.efficiency <= 1
        assert test.smallest_p(test.needed(0.01), test.needed(0.01)) < 0.01  # it can reach alpha at `needed`
        assert any(v[2] == test.name for v in PAIRED_VARIANTS)
        Policy(test=test.name)  # the policy accepts every registered test
        rng = np.random.default_rng(3)
        base = list(np.exp(rng.normal(0.0, 0.02, 8)))
        cur = [1.5 * b * float(np.exp(rng.normal(0.0, 0.02))) for b in base]
        c = judge_benchmark("b", base, cur, Policy(test=test.name), paired=True)
        assert c.test == test.name and c.verdict == "regression"
    # A paired test that cannot pair (an arm lost a process) falls back, and says which test judged.
    c = judge_benchmark("b", base, cur + [1.5], Policy(test="signed-rank"), paired=True)
    assert c.test == FALLBACK.name
