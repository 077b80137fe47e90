"""Proof that the gate works: real A/A and A/B sessions, plus many-session rates resampled from them.

Two gates can be checked. ``paired`` (the default, what CI uses): a session is one ``pytest benchmarks/
--baseline-tree=ROOT`` run, both arms in it, processes interleaved; arm B of an A/B session injects the
slowdown into the current arm only. ``history``: a session is a plain run, compared with 3 other A sessions
pooled as stored baselines would be. What follows describes the history check; the paired one mirrors it
with per-process medians (see `paired_real_rates`, `paired_resampled_rates`).

A session is a real ``pytest benchmarks/`` run (by default the quick suite under TensorFlow's default
threads). Arm A runs unchanged; arm B runs with ``CIFAR_BENCH_INJECT_SLOWDOWN`` set (10 % and 5 %), a real
busy-wait inside every timed round in the child. Sessions of the arms are interleaved (A, B10, B5, A, B5,
B10, …) so machine drift hits all arms alike.

Two kinds of figures come out, and the report keeps them apart:
  * real: the gate applied to actual pairs of sessions (A/A: consecutive A sessions; A/B: each A session
    with the following B session), with the re-measurement taken from the next session of the same arm;
  * resampled: many synthetic sessions, each built by drawing rounds with replacement from one real
    session, baseline and current drawn from *different* real sessions (so session-to-session variation
    stays in), the re-measurement from a third. Rates come with Wilson 95 % intervals.

The paired check resamples pairs of processes pooled over an arm's sessions (a pair's ratio cancels the
drift between sessions), tests that the sessions centre alike, and also reports the older, conservative
figure drawn from one session at a time (`paired_resampled_rates`).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifar.isolation.schedule import alternating
from cifar.judging.baselines import POOLED_RUNS
from cifar.judging.decide import compare
from cifar.judging.gate import prepared
from cifar.judging.paired import paired_samples
from cifar.judging.policy import PER_PROCESS, Policies, Policy
from cifar.judging.runfile import Run
from cifar.suite.settings import HISTORY, PAIRED, pytest_args as suite_args
from cifar.workloads.timing import INJECT_ENV

ARMS = {"A": 0.0, "B10": 0.10, "B5": 0.05}
#: A history session: `make gate`'s run, under TensorFlow's default threads only.
DEFAULT_PYTEST_ARGS = ("benchmarks/", *suite_args(HISTORY), "--thread-grid", "default")
#: A paired session: the paired gate as shipped (`cifar.suite.settings.PAIRED`).
PAIRED_PYTEST_ARGS = ("benchmarks/", *suite_args(PAIRED))


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


def run_session(arm: str, out: Path, pytest_args: tuple[str, ...] = DEFAULT_PYTEST_ARGS, cwd: str = ".",
                paired: bool = False) -> Run:
    """One real benchmark session of `arm`; returns its run. ``paired``: the session
    measures this checkout twice, as the baseline arm (never injected) and as the current arm."""
    env = dict(os.environ)
    env.pop(INJECT_ENV, None)
    if ARMS[arm]:
        env[INJECT_ENV] = str(ARMS[arm])
    if paired:
        pytest_args = (*pytest_args, f"--baseline-tree={Path(cwd).resolve()}")
    proc = subprocess.run([sys.executable, "-m", "pytest", *pytest_args, "-q", "-p", "no:cacheprovider",
                           f"--benchmark-json={out}"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=1800)
    if proc.returncode != 0 or not out.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
        raise RuntimeError(f"session {arm} failed (pytest exit {proc.returncode}):\n{tail}")
    return Run.load(out)


def schedule(sessions: int) -> list[str]:
    """A B10 B5, B5 B10 A, … : every arm in every block, in the suite's one interleaving order."""
    return [arm for _, arm in alternating(list(ARMS), sessions)]


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


def _slower(base: list[float], cur: list[float], test: str = "mann-whitney") -> tuple[float, float]:
    """(one-sided p that `cur` is slower, ratio cur/base) by `test` (see `compare`): all a verdict needs."""
    c = compare("", base, cur, Policy(test=test), ci=False, paired=test == "signed-rank", detect=False)
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
                    pooled: int = POOLED, floors: tuple[float, ...] = FLOORS, calibrate: bool = True) -> dict[str, dict]:
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
    out: dict[str, dict[str, Rate]] = {}
    for arm, sessions in runs.items():
        pairs = [_paired(run, policies) for run in sessions]
        per: dict[str, list[int]] = {}
        for i, session in enumerate(pairs):
            for name, (base, cur) in session.items():
                policy = policies.for_benchmark(name)
                failed = _fails(_slower(base, cur, policy.test), policy.alpha, policy.floor)
                again = pairs[(i + 1) % len(pairs)].get(name)
                if failed and len(pairs) > 1 and again is not None:
                    failed = _fails(_slower(*again, policy.test), policy.alpha, policy.floor)
                per.setdefault(name, []).append(int(failed))
        out[arm] = {name: Rate(sum(v), len(v)) for name, v in per.items()}
    return out


#: Other (alpha, floor, test) policies the paired check also judges each resampled trial by.
PAIRED_VARIANTS = tuple((alpha, floor, test) for test in ("signed-rank", "mann-whitney")
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

    Each session's pairs are divided by its baseline arm's median first: that leaves every pair's ratio (all
    the signed-rank test sees) unchanged and keeps the Mann-Whitney variants from seeing drift between sessions.

    Returns {label: {arm: {benchmark: Rate}}} like `resampled_rates`: "default" is each benchmark's own
    policy, "alpha A, floor F, TEST" labels the same trials judged by that policy instead.
    """
    rng = np.random.default_rng(seed)
    default = (policies.default.alpha, policies.default.floor, policies.default.test)
    variants = tuple(v for v in variants if v != default)
    labels = ["default"] + [f"alpha {a}, floor {f:.0%}, {t}" for a, f, t in variants]
    out: dict[str, dict] = {label: {arm: {} for arm in runs} for label in labels}

    def draw(pair, pool=None):
        base, cur = pair
        if len(base) != len(cur):  # not pairs: draw each arm on its own
            return list(rng.choice(base, size=len(base))), list(rng.choice(cur, size=len(cur)))
        source = pool if pool is not None else np.column_stack([base, cur])
        index = rng.integers(0, len(source), size=len(cur))
        return list(source[index, 0]), list(source[index, 1])

    for arm, sessions in runs.items():
        pairs = [_paired(run, policies) for run in sessions]
        for name in pairs[0]:
            policy = policies.for_benchmark(name)
            rules = [(policy.alpha, policy.floor, policy.test), *variants]
            pool = None
            if pooled and all(len(p[name][0]) == len(p[name][1]) for p in pairs):
                pool = np.concatenate([np.column_stack(p[name]) / np.median(p[name][0]) for p in pairs])
            hits = [0] * len(labels)
            for _ in range(resamples):
                i, j = (rng.choice(len(pairs), size=2, replace=False) if len(pairs) > 1 else (0, 0))
                first_draw, again_draw = draw(pairs[i][name], pool), None
                first: dict[str, tuple[float, float]] = {}
                again: dict[str, tuple[float, float]] = {}
                for k, (alpha, floor, test) in enumerate(rules):
                    if test not in first:
                        first[test] = _slower(*first_draw, test)
                    if _fails(first[test], alpha, floor):
                        if again_draw is None:
                            again_draw = draw(pairs[j][name], pool)
                        if test not in again:
                            again[test] = _slower(*again_draw, test)
                        hits[k] += _fails(again[test], alpha, floor)
            for label, count in zip(labels, hits):
                out[label][arm][name] = Rate(count, resamples)
    return out


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
    """Per benchmark: the median over sessions of median(current) / median(baseline) - 1 for B10 and B5 (what
    the injection really did), the same for A (should be ~0), and the within-session coefficient of
    variation of per-process medians and the spread of pairs' log ratios (the noise Mann-Whitney U and the
    signed-rank test have to see through; it sizes --passes), and the median over A/A sessions of the
    slowdown the gate says each session could have caught (`Comparison.detectable`)."""
    import statistics

    pairs = {arm: [_paired(run, policies) for run in sessions] for arm, sessions in runs.items()}
    out = {}
    for name in pairs["A"][0]:
        row = {arm: statistics.median(statistics.median(p[name][1]) / statistics.median(p[name][0]) - 1.0 for p in ps)
               for arm, ps in pairs.items()}
        row["process_cv"] = statistics.median(statistics.stdev(side) / statistics.mean(side)
                                              for p in pairs["A"] for side in p[name])
        # What the signed-rank test sees instead: the spread of log(current / baseline) over side-by-side pairs.
        spreads = [statistics.stdev(math.log(c / b) for b, c in zip(*p[name]))
                   for p in pairs["A"] if len(p[name][0]) == len(p[name][1])]
        row["pair_sd"] = statistics.median(spreads) if spreads else float("nan")
        row["detectable"] = statistics.median(
            compare(name, *p[name], policies.for_benchmark(name), ci=False, paired=True).detectable for p in pairs["A"])
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
                c = compare(name, base, cur, policies.for_benchmark(name), ci=False, paired=True)
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


def gate_check(sessions: int = 4, resamples: int = 2000, pytest_args: tuple[str, ...] | None = None,
               policies: Policies = Policies(), keep: Path | None = None, log=print, paired: bool = True) -> dict:
    """Run `sessions` blocks of real sessions (paired or plain), then compute real and resampled rates."""
    pytest_args = pytest_args or (PAIRED_PYTEST_ARGS if paired else DEFAULT_PYTEST_ARGS)
    runs: dict[str, list[Run]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory(prefix="cifar-gate-check-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for n, arm in enumerate(schedule(sessions)):
            log(f"session {n + 1}/{3 * sessions}: {'A/' if paired else ''}{arm} (injected slowdown {ARMS[arm]:.0%})")
            runs[arm].append(run_session(arm, folder / f"{n + 1:02d}-{arm}.json", pytest_args, paired=paired))
    return report_from_runs(runs, policies, resamples, pytest_args)


def report_from_runs(runs: dict[str, list], policies: Policies = Policies(), resamples: int = 2000,
                     pytest_args: tuple[str, ...] = DEFAULT_PYTEST_ARGS, calibrate: bool = True) -> dict:
    runs = {arm: [Run.of(r) for r in sessions] for arm, sessions in runs.items()}
    raw = {arm: [r.raw for r in sessions] for arm, sessions in runs.items()}
    first = runs["A"][0]
    if first.paired:
        return {"paired": True, "sessions_per_arm": len(runs["A"]), "resamples": resamples,
                "pytest_args": list(pytest_args),
                "policy": {"alpha": policies.default.alpha, "floor": policies.default.floor,
                           "test": policies.default.test, "per_process": policies.default.per_process,
                           "per_process_overrides": {
                               b.fullname: policies.for_benchmark(b.fullname).per_process
                               for b in first.benchmarks
                               if policies.for_benchmark(b.fullname).per_process != policies.default.per_process}},
                "effective_slowdown": paired_effects(runs, policies), "real": paired_real_rates(runs, policies),
                "detectable_check": detectable_check(runs, policies),
                "contended_pairs_left_out": contended_pair_counts(runs, policies),
                "resampled": paired_resampled_rates(runs, policies, resamples),
                "resampled_within_session": paired_resampled_rates(runs, policies, resamples, variants=(), pooled=False),
                "session_heterogeneity": session_heterogeneity(runs, policies), "runs": raw}
    names = [n for n in first.samples() if n != first.calibration]
    calibrate = (calibrate and all(r.calibration for arm in runs.values() for r in arm)
                 and any(policies.for_benchmark(n).calibrate for n in names))
    return {"sessions_per_arm": len(runs["A"]), "resamples": resamples, "pytest_args": list(pytest_args),
            "pooled_baseline_sessions": POOLED, "calibrated": calibrate,
            "policy": {"alpha": policies.default.alpha, "floor": policies.default.floor},
            "effective_slowdown": effective_slowdowns(runs),
            "real": real_rates(runs, policies, calibrate=calibrate),
            "resampled": resampled_rates(runs, policies, resamples, calibrate=calibrate),
            "runs": raw}


def load_sessions(folder: Path) -> dict[str, list[Run]]:
    """Sessions kept by ``--keep`` (files NN-ARM.json), to recompute the report without re-running them."""
    runs: dict[str, list[Run]] = {arm: [] for arm in ARMS}
    for path in sorted(folder.glob("*.json")):
        arm = path.stem.split("-", 1)[1]
        runs[arm].append(Run.load(path))
    return runs


def _rates_table(title: str, rates: dict, effective: dict | None = None):
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title))
    table.add_column("benchmark", overflow="fold")
    for column in ("A/A false alarms", "A/B 10 % detected", "A/B 5 % detected"):
        table.add_column(column)
    paired = effective is not None and "process_cv" in next(iter(effective.values()), {})
    if effective is not None:
        table.add_column("measured effect (A/A, B10, B5)" if paired else "measured effect of the injection (B10, B5)")
    if paired:
        table.add_column("per-process CV, pair spread, A/A detects >=")
    for name in rates["A"]:
        # Text, not a str: rich would read "[seed-npc1-default]" in a test id as markup and drop it.
        row = [Text(name.split("::")[-1]), *(str(rates[arm].get(name, Rate(0, 0))) for arm in ("A", "B10", "B5"))]
        if paired:
            row += [f"{effective[name]['A']:+.1%}, {effective[name]['B10']:+.1%}, {effective[name]['B5']:+.1%}",
                    f"{effective[name]['process_cv']:.1%}, {effective[name]['pair_sd']:.1%}, "
                    f"{effective[name].get('detectable', float('nan')):.1%}"]
        elif effective is not None:
            row.append(f"{effective[name]['B10']:+.1%}, {effective[name]['B5']:+.1%}")
        table.add_row(*row)
    pooled = {arm: Rate(sum(r.hits for r in rates[arm].values()), sum(r.trials for r in rates[arm].values()))
              for arm in ("A", "B10", "B5")}
    table.add_row("all benchmarks", *(str(pooled[arm]) for arm in ("A", "B10", "B5")),
                  *([""] * ((effective is not None) + paired)))
    return table


def _pool(rates: dict[str, Rate], names: list[str]) -> Rate:
    return Rate(sum(rates[n].hits for n in names), sum(rates[n].trials for n in names))


def render(report: dict) -> str:
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, width=170, color_system=None)
    policy = report["policy"]
    if report.get("paired"):
        others = [f"{PER_PROCESS[v]} for {name.split('[')[-1].rstrip(']')}"
                  for name, v in policy.get("per_process_overrides", {}).items()]
        values = f"per-process {PER_PROCESS[policy.get('per_process', 'median')]}" + (
            f" ({', '.join(others)})" if others else "")
        rule = (f"paired: both arms in one session, {values}, {policy.get('test', 'mann-whitney')}; "
                f"alpha {policy['alpha']}, floor {policy['floor']:.0%}, re-measure on failure")
    else:
        rule = (f"alpha {policy['alpha']}, floor {policy['floor']:.0%}, baseline = {report['pooled_baseline_sessions']} "
                "pooled sessions, re-measure on failure" + (", calibrated" if report.get("calibrated") else ""))
    console.print(_rates_table(f"Gate check on real sessions ({report['sessions_per_arm']} per arm; {rule})",
                               report["real"], report["effective_slowdown"]))
    how = "pairs pooled over each arm's sessions; " if report.get("paired") else ""
    console.print(_rates_table(f"Gate check, resampled from the real sessions ({report['resamples']} per figure; "
                               f"{how}{rule})", report["resampled"]["default"]))
    if "resampled_within_session" in report:
        console.print(_rates_table(f"The same, each synthetic session drawn from one real session (counts a session's "
                                   f"noise twice: lower bound near the floor; {rule})",
                                   report["resampled_within_session"]["default"]))
    # The same resampled trials judged with other floors, pooled by kind of benchmark: pipelines run
    # asynchronously (prefetch overlaps the consumer), so they vary more and absorb part of an injection.
    names = list(report["resampled"]["default"]["A"])
    groups = {"matmul, conv2d, train_step, epoch": [n for n in names if "test_pipeline" not in n],
              "pipeline": [n for n in names if "test_pipeline" in n]}
    table = Table(title=Text("Resampled, by policy (pooled per kind of benchmark)"))
    for column in ("policy", "benchmarks", "A/A false alarms", "A/B 10 % detected", "A/B 5 % detected"):
        table.add_column(column)
    for label, rates in report["resampled"].items():
        if label == "default":
            test = f", {policy['test']}" if "test" in policy else ""
            label = f"alpha {policy['alpha']}, floor {policy['floor']:.0%}{test} (default, with overrides)"
        for group, members in groups.items():
            if members:
                table.add_row(label, group, *(str(_pool(rates[arm], members)) for arm in ("A", "B10", "B5")))
    console.print(table)
    if "detectable_check" in report:
        check = Table(title=Text("The gate's 'detects >=' figure against its first verdict, A/B sessions x benchmarks"))
        for column in ("injected", "caught where the figure was <= the injection", "caught where it was above"):
            check.add_column(column)
        for arm, rates in report["detectable_check"].items():
            check.add_row(f"{ARMS[arm]:.0%}", *(str(rates[key]) if rates[key].trials else "-"
                                                for key in ("at or below", "above")))
        console.print(check)
    if report.get("paired"):
        uneven = [f"{name.split('::')[-1]} {arm} p {p:.2g}" for name, arms in report.get("session_heterogeneity", {}).items()
                  for arm, p in arms.items() if p < HETEROGENEITY_ALPHA]
        if "session_heterogeneity" in report:
            console.print("Sessions of an arm centred apart (Kruskal-Wallis of the pairs' log ratios, p < "
                          f"{HETEROGENEITY_ALPHA}; pooled resampling flatters these): " + ("; ".join(uneven) or "none"),
                          markup=False, highlight=False)
        left_out = report.get("contended_pairs_left_out", {})
        console.print("Pairs left out as contended, per session (A/A; B10; B5): " + ("; ".join(
            f"{name.split('::')[-1]} " + "; ".join(",".join(map(str, counts.get(arm, []))) for arm in ("A", "B10", "B5"))
            for name, counts in left_out.items()) or "none"), markup=False, highlight=False)
    return buffer.getvalue()


def to_json(report: dict) -> str:
    def encode(value):
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, Rate):
            low, high = value.wilson()
            return {"hits": value.hits, "trials": value.trials, "rate": value.rate, "wilson95": [low, high]}
        raise TypeError(type(value))

    return json.dumps(report, default=encode, indent=2)
