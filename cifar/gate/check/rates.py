"""The gate's error rates from real sessions: false alarms (A/A) and detection (A/B), real and resampled.

See the package docstring for what a session is; the history check (plain sessions against 3 pooled A
sessions) and the paired check (both arms in one session) each have a real and a resampled figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cifar.gate.baselines import POOLED_RUNS
from cifar.gate.decide import judge_benchmark
from cifar.gate.stored import prepared
from cifar.gate.paired import paired_samples, spent_policy
from cifar.gate.policy import Policies, Policy
from cifar.suite.runfile import Run
from cifar.stats.estimate import centre, ratio_point
from cifar.stats.ranktests import FALLBACK, TESTS
from cifar.gate.sequential import EXTEND, replay, stopped_at

#: The arms: injected slowdown of the current arm's measured rounds.
ARMS = {"A": 0.0, "B10": 0.10, "B5": 0.05}


@dataclass(frozen=True)
class Rate:
    hits: int
    trials: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "hits", int(self.hits))
        object.__setattr__(self, "trials", int(self.trials))

    @property
    def rate(self) -> float:
        return self.hits / self.trials if self.trials else float("nan")

    def wilson(self, confidence: float = 0.95) -> tuple[float, float]:
        from scipy.stats import binomtest

        if not self.trials:
            return (float("nan"), float("nan"))
        ci = binomtest(self.hits, self.trials).proportion_ci(confidence_level=confidence, method="wilson")
        return (float(ci.low), float(ci.high))

    def __str__(self) -> str:
        low, high = self.wilson()
        return f"{self.rate:.1%} [{low:.1%}, {high:.1%}] ({self.hits}/{self.trials})"


POOLED = POOLED_RUNS  # baseline sessions pooled, as `python -m cifar gate` pools the newest promoted runs
#: The history check's A/A comparisons need the pooled baseline, the session under test and another session for
#: its re-measurement, all different.
MIN_HISTORY_SESSIONS = POOLED + 2


def check_history_sessions(count: int, pooled: int = POOLED) -> None:
    """Refuse an A/A history check that cannot be computed, before any session runs (`ValueError`, one line)."""
    if count < pooled + 2:
        raise ValueError(f"the history check needs at least {pooled + 2} A sessions, got {count} ({pooled} pooled as "
                         "the baseline + the session under test + another for its re-measurement)")
FLOORS = (0.15, 0.10, 0.05, 0.03, 0.02)  # for the floor table: what each floor would have done


def _slower(base: list[float], cur: list[float], test: str = FALLBACK.name) -> tuple[float, float]:
    """(one-sided p that `cur` is slower, ratio cur/base) by `test` (see `judge_benchmark`): all a verdict needs."""
    c = judge_benchmark("", base, cur, Policy(test=test), ci=False, paired=TESTS[test].paired, detect=False)
    return c.p_slower, c.ratio.ratio


def _fails(p_and_ratio: tuple[float, float], alpha: float, floor: float) -> bool:
    p, ratio = p_and_ratio
    return bool(p < alpha and ratio > 1.0 + floor)


def _sessions(runs: list[dict], policies: Policies, calibrate: bool) -> list[dict[str, list[float]]]:
    """Each session's rounds as the gate sees them (calibrated where the policy says), minus the calibration
    kernel itself, which is not gated and never injected."""
    out = []
    for run in runs:
        run = Run.of(run)
        data = prepared(run, policies, calibrate)
        data.pop(run.calibration, None)
        out.append(data)
    return out


def real_rates(runs: dict[str, list[dict]], policies: Policies, pooled: int = POOLED,
               calibrate: bool = True) -> dict[str, dict[str, Rate]]:
    """The gate on real sessions only: {arm: {benchmark: Rate of final failures}}.

    Comparison i of an arm: baseline = `pooled` A sessions (cyclically after A_i for A/A, so never A_i
    itself), current = session i of the arm, re-measurement = another session of the arm.
    """
    check_history_sessions(len(runs["A"]), pooled)
    a = _sessions(runs["A"], policies, calibrate)
    out: dict[str, dict[str, Rate]] = {}
    for arm in ("A", "B10", "B5"):
        cur_sessions = _sessions(runs[arm], policies, calibrate)
        n = len(cur_sessions)
        per: dict[str, list[int]] = {}
        for i, cur in enumerate(cur_sessions):
            if arm == "A":
                base_idx = [(i + 1 + k) % len(a) for k in range(pooled)]
                again_idx = (i + 1 + pooled) % n
            else:
                base_idx = [(i + k) % len(a) for k in range(min(pooled, len(a)))]
                again_idx = (i + 1) % n
            for name in cur:
                policy = policies.for_benchmark(name)
                base = [d for j in base_idx for d in a[j][name]]
                failed = _fails(_slower(base, cur[name]), policy.alpha, policy.floor)
                if failed and again_idx != i:
                    failed = _fails(_slower(base, cur_sessions[again_idx][name]), policy.alpha, policy.floor)
                per.setdefault(name, []).append(int(failed))
        out[arm] = {name: Rate(sum(v), len(v)) for name, v in per.items()}
    return out


def resampled_rates(runs: dict[str, list[dict]], policies: Policies, resamples: int = 2000, seed: int = 0,
                    pooled: int = POOLED, floors: tuple[float, ...] = FLOORS, calibrate: bool = True) -> dict[str,
                                                                                                              dict]:
    """Many synthetic sessions resampled from the real ones (see the module docstring).

    Returns {floor label: {arm: {benchmark: Rate}}}; "default" uses each benchmark's own policy, the other
    labels replace its floor.
    """
    check_history_sessions(len(runs["A"]), pooled)
    rng = np.random.default_rng(seed)
    a = _sessions(runs["A"], policies, calibrate)
    labels = ["default"] + [f"floor {f:.0%}" for f in floors if f != policies.default.floor]
    out: dict[str, dict] = {label: {} for label in labels}
    for arm in ("A", "B10", "B5"):
        cur_sessions = _sessions(runs[arm], policies, calibrate)
        for label in labels:
            out[label][arm] = {}
        for name in a[0]:
            policy = policies.for_benchmark(name)
            thresholds = [policy.floor] + [f for f in floors if f != policies.default.floor]
            hits = [0] * len(labels)

            def draw(data):
                return list(rng.choice(data, size=len(data), replace=True))

            for _ in range(resamples):
                order = rng.permutation(len(a))
                base_idx = order[:pooled]
                if arm == "A":
                    rest = order[pooled:]
                    cur_i, again_i = rest[0], rest[1 % len(rest)]
                else:
                    cur_i, again_i = rng.choice(len(cur_sessions), size=2, replace=len(cur_sessions) < 2)
                base = [d for j in base_idx for d in draw(a[j][name])]
                first = _slower(base, draw(cur_sessions[cur_i][name]))
                again = None
                for k, floor in enumerate(thresholds):
                    if _fails(first, policy.alpha, floor):
                        if again is None:
                            again = _slower(base, draw(cur_sessions[again_i][name]))
                        hits[k] += _fails(again, policy.alpha, floor)
            for label, count in zip(labels, hits):
                out[label][arm][name] = Rate(count, resamples)
    return out


# -- paired sessions ----------------------------------------------------------------------------------------
def _paired(run: dict, policies: Policies) -> dict[str, tuple[list[float], list[float]]]:
    """{benchmark: (baseline arm, current arm)} per-process values as each benchmark's policy says, minus the
    calibration kernel."""
    calibration = Run.of(run).calibration
    return {name: pair for name, pair in paired_samples(run, policies).items()
            if name != calibration and pair[0] is not None}


def paired_real_rates(runs: dict[str, list[dict]], policies: Policies) -> dict[str, dict[str, Rate]]:
    """The paired gate on each real session: {arm: {benchmark: Rate of final failures}}; a failure is
    re-measured with the next session of the same arm (as the gate would re-measure in fresh processes)."""
    def fails(base, cur, name, policy):
        failed = _fails(_slower(base, cur, policy.test), policy.alpha, policy.floor)
        return failed, failed

    return _real_sessions(runs, policies, fails)


def _real_sessions(runs: dict[str, list[dict]], policies: Policies, verdict) -> dict[str, dict[str, Rate]]:
    """{arm: {benchmark: Rate}} of real sessions counted by ``verdict(base, cur, name, policy) -> (counted,
    remeasure)``; where it asks for a re-measurement, the next session of the same arm stands in for it (as the
    gate would re-measure in fresh processes) and its ``counted`` is the session's."""
    out: dict[str, dict[str, Rate]] = {}
    for arm, sessions in runs.items():
        pairs = [_paired(run, policies) for run in sessions]
        per: dict[str, list[int]] = {}
        for i, session in enumerate(pairs):
            for name, (base, cur) in session.items():
                # A budgeted session's test runs at the alpha its looks left it (`spent_policy`), as the gate's.
                policy = spent_policy(sessions[i], name, policies.for_benchmark(name))
                counted, remeasure = verdict(base, cur, name, policy)
                again = pairs[(i + 1) % len(pairs)].get(name)
                if remeasure and len(pairs) > 1 and again is not None:
                    counted = verdict(*again, name, policy)[0]  # the gate re-tests at the first look's alpha
                per.setdefault(name, []).append(int(counted))
        out[arm] = {name: Rate(sum(v), len(v)) for name, v in per.items()}
    return out


#: Other (alpha, floor, test) policies the paired check also judges each resampled trial by.
PAIRED_VARIANTS = tuple((alpha, floor, test.name) for test in sorted(TESTS.values(), key=lambda t: not t.paired)
                        for alpha, floor in ((0.01, 0.02), (0.01, 0.03), (0.05, 0.02), (0.05, 0.03), (0.05, 0.05)))


def paired_resampled_rates(runs: dict[str, list[dict]], policies: Policies, resamples: int = 2000, seed: int = 0,
                           variants: tuple[tuple[float, float, str], ...] = PAIRED_VARIANTS,
                           pooled: bool = True) -> dict[str, dict]:
    """Many synthetic paired sessions, each the size of a real session of the arm, drawn with replacement from
    pairs of processes (process i of each arm, which ran side by side); a failure is re-measured with a second,
    independent draw.

    ``pooled`` (the default): the pairs come from all the arm's sessions pooled. Otherwise from one real
    session, and the re-measurement from another: that counts each session's own noise twice (once in where
    its pairs happen to centre, once in the draw), which pulls detection rates near the floor towards 50 % and
    inflates false alarms (simulated with seed-npc1's pair spread, 64 pairs, 3 sessions: at a true +4.25 % effect
    the gate catches 98 % of fresh sessions, pooled pairs estimate 96 %, one session at a time 88 %; tested in
    tests/test_gatecheck.py). Pooling assumes the arm's sessions differ only by their pairs' noise;
    `session_heterogeneity` tests that, and the report shows both figures.

    Each session's pairs are divided by its baseline arm's centre first: that leaves every pair's ratio (all
    the signed-rank test sees) unchanged and keeps the Mann-Whitney variants from seeing drift between sessions.

    Returns {label: {arm: {benchmark: Rate}}} like `resampled_rates`: "default" is each benchmark's own
    policy, "alpha A, floor F, TEST" labels the same trials judged by that policy instead.
    """
    rng = np.random.default_rng(seed)
    default = (policies.default.alpha, policies.default.floor, policies.default.test)
    variants = tuple(v for v in variants if v != default)
    labels = ["default"] + [f"alpha {a}, floor {f:.0%}, {t}" for a, f, t in variants]
    out: dict[str, dict] = {label: {arm: {} for arm in runs} for label in labels}

    def draw(pair, size, pool=None):
        base, cur = pair
        if len(base) != len(cur):  # not pairs: draw each arm on its own
            return list(rng.choice(base, size=len(base))), list(rng.choice(cur, size=len(cur)))
        source = pool if pool is not None else np.column_stack([base, cur])
        index = rng.integers(0, len(source), size=size)
        return list(source[index, 0]), list(source[index, 1])

    for arm, sessions in runs.items():
        pairs = [_paired(run, policies) for run in sessions]
        for name in pairs[0]:
            policy = policies.for_benchmark(name)
            rules = [(policy.alpha, policy.floor, policy.test), *variants]
            # A session made with looks may have stopped early: a synthetic one is as long as the session would
            # have run without stopping, and stops at the same looks (the shipped rule decides the stop).
            planned = [planned_pairs(run, name) for run in sessions]
            looks = any(n is not None for n in planned)
            pool = None
            if pooled and all(len(p[name][0]) == len(p[name][1]) for p in pairs):
                pool = np.concatenate([np.column_stack(p[name]) / centre(p[name][0]) for p in pairs])
            hits = [0] * len(labels)
            for _ in range(resamples):
                i, j = (rng.choice(len(pairs), size=2, replace=False) if len(pairs) > 1 else (0, 0))
                first_draw, again_draw = draw(pairs[i][name], planned[i] or len(pairs[i][name][1]), pool), None
                first: dict[str, tuple[float, float]] = {}
                again: dict[str, tuple[float, float]] = {}
                stops: dict[str, bool] = {}

                def stops_early(which: str, values) -> bool:
                    if which not in stops:
                        stops[which] = looks and stopped_at(*values, policy) is not None
                    return stops[which]

                for k, (alpha, floor, test) in enumerate(rules):
                    if test not in first:
                        first[test] = _slower(*first_draw, test)
                    if _fails(first[test], alpha, floor) and not stops_early("first", first_draw):
                        if again_draw is None:
                            again_draw = draw(pairs[j][name], planned[j] or len(pairs[j][name][1]), pool)
                        if test not in again:
                            again[test] = _slower(*again_draw, test)
                        hits[k] += _fails(again[test], alpha, floor) and not stops_early("again", again_draw)
            for label, count in zip(labels, hits):
                out[label][arm][name] = Rate(count, resamples)
            plan = [budget_plan(run, name) for run in sessions]
            if all(n is not None for n in plan):  # the shipped budgeted looks replace the default's figure
                out["default"][arm][name] = _replayed(lambda i, size: draw(pairs[i][name], size, pool), plan,
                                                      policy, resamples, rng,
                                                      lambda first, again: first == again == "regression")
    return out


def _replayed(draw, planned: list[int], policy: Policy, resamples: int, rng, counted) -> Rate:
    """Synthetic sessions of budgeted sessions (``--budget``): each draws `EXTEND` times a real session's planned
    pairs (``draw(session index, pairs)``) and replays the shipped looks, extension and alpha spending on them
    (`cifar.gate.sequential.replay`, with a budget that never runs out: the most looks a session can take); a
    regression is re-measured with a draw of another session's size. Counted by ``counted(first verdict, the
    re-measurement's verdict or None)``. Variant policies stay at the planned length (`paired_resampled_rates`)."""
    hits = 0
    for _ in range(resamples):
        i, j = rng.choice(len(planned), size=2, replace=False) if len(planned) > 1 else (0, 0)
        first = replay(*draw(i, EXTEND * planned[i]), policy, planned[i])[1]
        again = replay(*draw(j, EXTEND * planned[j]), policy, planned[j])[1] if first == "regression" else None
        hits += bool(counted(first, again))
    return Rate(hits, resamples)


#: A benchmark passes when its final verdict is one of these (a regression is re-measured first, as the gate does).
PASSING = ("unchanged", "improvement")


def _passes(base: list[float], cur: list[float], name: str, policy: Policy) -> tuple[bool, bool]:
    """(passed, regressed) by the paired gate's verdict on one session's pairs."""
    verdict = judge_benchmark(name, base, cur, policy, ci=False, paired=True, detect=False).verdict
    return verdict in PASSING, verdict == "regression"


def paired_passed_rates(runs: dict[str, list[dict]], policies: Policies, resamples: int = 2000,
                        seed: int = 0) -> dict[str, dict[str, dict[str, Rate]]]:
    """How often the paired gate says a benchmark passed (``unchanged``: a slowdown above its tolerance ruled out,
    or ``improvement``), per arm: {"real": {arm: {benchmark: Rate}}, "resampled": {...}}. A/A should pass (it
    resolved instead of ending INCONCLUSIVE); B5 and B10 should not (their slowdown is at or above the 5 %
    tolerance, so "passed" would be the wrong guarantee). A first verdict of ``regression`` is re-measured with
    the next real session of the arm, or a second draw, and the re-measurement's verdict stands, as in the gate.
    Resampled sessions are drawn as `paired_resampled_rates` draws them (pairs pooled over the arm's sessions,
    each divided by its baseline arm's centre; a session made with looks stops, and passes, where the shipped
    rule stops)."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, dict[str, Rate]]] = {"real": _real_sessions(runs, policies, _passes), "resampled": {}}
    for arm, sessions in runs.items():
        pairs = [_paired(run, policies) for run in sessions]
        out["resampled"][arm] = {}
        for name in pairs[0]:
            policy = policies.for_benchmark(name)
            if not all(len(p[name][0]) == len(p[name][1]) for p in pairs):
                continue  # not pairs: the paired gate's bound needs them
            pool = np.concatenate([np.column_stack(p[name]) / centre(p[name][0]) for p in pairs])

            def draw(size):
                index = rng.integers(0, len(pool), size=size)
                return list(pool[index, 0]), list(pool[index, 1])

            plan = [budget_plan(run, name) for run in sessions]
            if all(n is not None for n in plan):  # budgeted sessions: the shipped looks and extension, replayed
                out["resampled"][arm][name] = _replayed(
                    lambda _, size: draw(size), plan, policy, resamples, rng,
                    lambda first, again: (again in PASSING) if first == "regression" else first in PASSING)
                continue
            planned = [planned_pairs(run, name) or len(p[name][1]) for run, p in zip(sessions, pairs)]
            looks = any(planned_pairs(run, name) is not None for run in sessions)
            hits = 0
            for _ in range(resamples):
                size = planned[int(rng.integers(len(planned)))]
                first = draw(size)
                if looks and stopped_at(*first, policy) is not None:
                    hits += 1
                    continue
                passed, regressed = _passes(*first, name, policy)
                if regressed:
                    again = draw(size)
                    passed = (looks and stopped_at(*again, policy) is not None) or _passes(*again, name, policy)[0]
                hits += passed
            out["resampled"][arm][name] = Rate(hits, resamples)
    return out


def _effort(run, name: str) -> dict:
    bench = Run.of(run).get(name)
    return (bench.extra.get("effort") or {}) if bench is not None else {}


def planned_pairs(run, name: str) -> int | None:
    """The pairs a benchmark of a session made with looks (``--sequential``) would have run without stopping (a
    budgeted session's planned pairs: `budget_plan`); None for a session without looks."""
    effort = _effort(run, name)
    if effort.get("planned") is not None:
        return effort["planned"]
    return effort.get("max_passes") if effort.get("stopped") in ("unchanged", "all") else None


def budget_plan(run, name: str) -> int | None:
    """A budgeted session's (``--budget``) planned pairs for benchmark `name`, which its extension may have doubled;
    None for a session without a budget."""
    return _effort(run, name).get("planned")


def stopped_counts(runs: dict[str, list[dict]], policies: Policies) -> dict[str, dict[str, list[int | None]]]:
    """Per benchmark and arm, session by session: the pairs it stopped at (a look said unchanged), or None where
    it ran every pair. Only for sessions made with looks."""
    out: dict[str, dict[str, list[int | None]]] = {}
    for arm, sessions in runs.items():
        for run in sessions:
            run = Run.of(run)
            for name in _paired(run.raw, policies):
                effort = run.get(name).extra.get("effort") or {}
                if effort.get("stopped") in ("unchanged", "all", "regression", "budget"):
                    # A budgeted session's pairs may exceed its planned ones; None: it ran as many as it could.
                    out.setdefault(name, {a: [] for a in runs})[arm].append(
                        None if effort["passes"] == effort["max_passes"] else effort["passes"])
    return out


def session_minutes(runs: dict[str, list[dict]]) -> dict[str, list[float]]:
    """Each session's wall time in minutes (the run's recorded phases; nan for runs from before they were)."""
    return {arm: [(Run.of(r).phases or {}).get("wall_seconds", float("nan")) / 60.0 for r in sessions]
            for arm, sessions in runs.items()}


#: Below this p, an arm's sessions differ by more than their pairs' noise and pooled resampling flatters.
HETEROGENEITY_ALPHA = 0.01


def session_heterogeneity(runs: dict[str, list[dict]], policies: Policies) -> dict[str, dict[str, float]]:
    """Do the sessions of an arm centre on the same effect? Per benchmark and arm (2 sessions or more), the
    Kruskal-Wallis p-value of the pairs' log ratios grouped by session: {benchmark: {arm: p}}."""
    from scipy.stats import kruskal

    out: dict[str, dict[str, float]] = {}
    for arm, sessions in runs.items():
        pairs = [_paired(run, policies) for run in sessions]
        if len(pairs) < 2:
            continue
        for name in pairs[0]:
            groups = [np.log(np.asarray(p[name][1]) / np.asarray(p[name][0])) for p in pairs
                      if len(p[name][0]) == len(p[name][1])]
            if len(groups) == len(pairs):
                out.setdefault(name, {})[arm] = float(kruskal(*groups).pvalue)
    return out


def paired_effects(runs: dict[str, list[dict]], policies: Policies = Policies()) -> dict[str, dict[str, float]]:
    """Per benchmark: the median over sessions of the estimator's ratio current / baseline - 1 for B10 and B5 (what
    the injection really did), the same for A (should be ~0), and the within-session coefficient of
    variation of per-process values and the spread of pairs' log ratios (the noise Mann-Whitney U and the
    signed-rank test have to see through; it sizes --passes), and the median over A/A sessions of the
    slowdown the gate says each session could have caught (`Comparison.detectable`)."""
    import statistics

    pairs = {arm: [_paired(run, policies) for run in sessions] for arm, sessions in runs.items()}
    out = {}
    for name in pairs["A"][0]:
        row = {arm: statistics.median(ratio_point(p[name][1], p[name][0], paired=True) - 1.0 for p in ps)
               for arm, ps in pairs.items()}
        row["process_cv"] = statistics.median(statistics.stdev(side) / statistics.mean(side)
                                              for p in pairs["A"] for side in p[name])
        # What the signed-rank test sees instead: the spread of log(current / baseline) over side-by-side pairs.
        spreads = [statistics.stdev(math.log(c / b) for b, c in zip(*p[name]))
                   for p in pairs["A"] if len(p[name][0]) == len(p[name][1])]
        row["pair_sd"] = statistics.median(spreads) if spreads else float("nan")
        row["detectable"] = statistics.median(
            judge_benchmark(name, *p[name], policies.for_benchmark(name), ci=False, paired=True).detectable
            for p in pairs["A"])
        out[name] = row
    return out


def detectable_check(runs: dict[str, list[dict]], policies: Policies) -> dict[str, dict[str, Rate]]:
    """Does the gate's ``detects >=`` figure tell the truth? Over every A/B session and gated benchmark, the
    first verdict (before any re-measurement) split by whether the figure that session printed was at or
    below the injected slowdown: {arm: {"at or below": Rate caught, "above": Rate caught}}."""
    out: dict[str, dict[str, Rate]] = {}
    for arm in ("B10", "B5"):
        counts = {"at or below": [0, 0], "above": [0, 0]}
        for run in runs.get(arm, []):
            for name, (base, cur) in _paired(run, policies).items():
                c = judge_benchmark(name, base, cur, policies.for_benchmark(name), ci=False, paired=True)
                cell = counts["at or below" if c.detectable <= ARMS[arm] else "above"]
                cell[0] += c.verdict == "regression"
                cell[1] += 1
        out[arm] = {key: Rate(*value) for key, value in counts.items()}
    return out


def contended_pair_counts(runs: dict[str, list[dict]], policies: Policies) -> dict[str, dict[str, list[int]]]:
    """Pairs the paired gate left out as contended, per benchmark and arm, session by session:
    {benchmark: {arm: [pairs left out in session 1, 2, …]}} (only benchmarks that lost any)."""
    out: dict[str, dict[str, list[int]]] = {}
    for arm, sessions in runs.items():
        for i, run in enumerate(sessions):
            dropped: dict[str, tuple[int, int]] = {}
            paired_samples(run, policies, dropped)
            for name, (k, _) in dropped.items():
                if k and name != Run.of(run).calibration:
                    out.setdefault(name, {a: [0] * len(s) for a, s in runs.items()})[arm][i] = k
    return out


def effective_slowdowns(runs: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """Median over sessions of each arm's session medians, relative to A: what the injection really did."""
    import statistics

    def level(arm, name):
        return statistics.median(statistics.median(Run.of(r).samples()[name]) for r in runs[arm])

    first = Run.of(runs["A"][0])
    names = [n for n in first.samples() if n != first.calibration]
    return {name: {arm: level(arm, name) / level("A", name) - 1.0 for arm in ("B10", "B5")} for name in names}


