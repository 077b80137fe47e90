"""Proof that the gate works: real A/A and A/B sessions, plus many-session rates resampled from them.

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
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifar.gate import Policies, compare, load_run, samples
from cifar.workloads import INJECT_ENV

ARMS = {"A": 0.0, "B10": 0.10, "B5": 0.05}
DEFAULT_PYTEST_ARGS = ("benchmarks/", "--quick", "--thread-grid", "default")


@dataclass(frozen=True)
class Rate:
    hits: int
    trials: int

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


def run_session(arm: str, out: Path, pytest_args: tuple[str, ...] = DEFAULT_PYTEST_ARGS, cwd: str = ".") -> dict:
    """One real benchmark session of `arm`; returns its pytest-benchmark JSON."""
    env = dict(os.environ)
    env.pop(INJECT_ENV, None)
    if ARMS[arm]:
        env[INJECT_ENV] = str(ARMS[arm])
    proc = subprocess.run([sys.executable, "-m", "pytest", *pytest_args, "-q", "-p", "no:cacheprovider",
                           f"--benchmark-json={out}"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=1800)
    if proc.returncode != 0 or not out.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
        raise RuntimeError(f"session {arm} failed (pytest exit {proc.returncode}):\n{tail}")
    return load_run(out)


def schedule(sessions: int) -> list[str]:
    """A B10 B5, A B5 B10, … : every arm in every block, B orders alternating."""
    order = []
    for i in range(sessions):
        order += ["A", "B10", "B5"] if i % 2 == 0 else ["A", "B5", "B10"]
    return order


def _decide(base, cur, again, policy) -> tuple[bool, bool]:
    """(first comparison failed, failed again on re-measurement)."""
    first = compare("", base, cur, policy, ci=False).verdict == "regression"
    if not first or again is None:
        return first, first
    return True, compare("", base, again, policy, ci=False).verdict == "regression"


def real_rates(runs: dict[str, list[dict]], policies: Policies) -> dict[str, dict[str, Rate]]:
    """Gate verdicts on real session pairs, per benchmark and arm: {arm: {benchmark: Rate of failures}}."""
    out: dict[str, dict[str, Rate]] = {}
    a_runs = [samples(r) for r in runs["A"]]
    for arm in ("A", "B10", "B5"):
        currents = [samples(r) for r in runs[arm]]
        per: dict[str, list[int]] = {}
        for i, base in enumerate(a_runs):
            # A/A: A_i vs A_{i+1} (re-measure with A_{i+2}); A/B: A_i vs B_i (re-measure with B_{i+1}).
            j = i + 1 if arm == "A" else i
            if j >= len(currents):
                continue
            cur = currents[j]
            again = currents[j + 1] if j + 1 < len(currents) else None
            for name in base:
                policy = policies.for_benchmark(name)
                _, final = _decide(base[name], cur[name], again[name] if again else None, policy)
                per.setdefault(name, []).append(int(final))
        out[arm] = {name: Rate(sum(v), len(v)) for name, v in per.items()}
    return out


def resampled_rates(runs: dict[str, list[dict]], policies: Policies, resamples: int = 2000,
                    seed: int = 0) -> dict[str, dict[str, Rate]]:
    """Many synthetic sessions resampled from the real ones (see the module docstring)."""
    rng = np.random.default_rng(seed)
    a_sessions = [samples(r) for r in runs["A"]]
    out: dict[str, dict[str, Rate]] = {}
    for arm in ("A", "B10", "B5"):
        cur_sessions = [samples(r) for r in runs[arm]]
        out[arm] = {}
        for name in a_sessions[0]:
            policy = policies.for_benchmark(name)
            hits = 0
            for _ in range(resamples):
                i = rng.integers(len(a_sessions))
                choices = [j for j in range(len(cur_sessions)) if not (arm == "A" and j == i)]
                j = choices[rng.integers(len(choices))]
                again_choices = [k for k in choices if k != j] or choices
                k = again_choices[rng.integers(len(again_choices))]

                def draw(data):
                    return list(rng.choice(data, size=len(data), replace=True))

                base = draw(a_sessions[i][name])
                cur = draw(cur_sessions[j][name])
                first = compare("", base, cur, policy, ci=False).verdict == "regression"
                if first:
                    again = draw(cur_sessions[k][name])
                    hits += compare("", base, again, policy, ci=False).verdict == "regression"
            out[arm][name] = Rate(hits, resamples)
    return out


def gate_check(sessions: int = 4, resamples: int = 2000, pytest_args: tuple[str, ...] = DEFAULT_PYTEST_ARGS,
               policies: Policies = Policies(), keep: Path | None = None, log=print) -> dict:
    """Run `sessions` blocks of real sessions, then compute real and resampled rates."""
    runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory(prefix="cifar-gate-check-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for n, arm in enumerate(schedule(sessions)):
            log(f"session {n + 1}/{3 * sessions}: {arm} (injected slowdown {ARMS[arm]:.0%})")
            runs[arm].append(run_session(arm, folder / f"{n + 1:02d}-{arm}.json", pytest_args))
    return {"sessions_per_arm": sessions, "resamples": resamples, "pytest_args": list(pytest_args),
            "policy": {"alpha": policies.default.alpha, "floor": policies.default.floor},
            "real": real_rates(runs, policies), "resampled": resampled_rates(runs, policies, resamples),
            "runs": runs}


def render(report: dict) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, width=160, color_system=None)
    policy = report["policy"]
    for kind in ("real", "resampled"):
        rates = report[kind]
        title = (f"Gate check, {kind}: failure rate per benchmark with Wilson 95 % CI "
                 f"(alpha {policy['alpha']}, floor {policy['floor']:.0%}, re-measure on failure)")
        table = Table(title=title)
        for column in ("benchmark", "A/A false alarms", "A/B 10 % detected", "A/B 5 % detected"):
            table.add_column(column)
        for name in rates["A"]:
            table.add_row(name.split("::")[-1], *(str(rates[arm].get(name, Rate(0, 0))) for arm in ("A", "B10", "B5")))
        pooled = {arm: Rate(sum(r.hits for r in rates[arm].values()), sum(r.trials for r in rates[arm].values()))
                  for arm in ("A", "B10", "B5")}
        table.add_row("all benchmarks", *(str(pooled[arm]) for arm in ("A", "B10", "B5")))
        console.print(table)
    return buffer.getvalue()


def to_json(report: dict) -> str:
    def encode(value):
        if isinstance(value, Rate):
            low, high = value.wilson()
            return {"hits": value.hits, "trials": value.trials, "rate": value.rate, "wilson95": [low, high]}
        raise TypeError(type(value))

    return json.dumps(report, default=encode, indent=2)
