"""Running the real sessions of the gate's check, and reading kept ones back."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from cifar.isolation.schedule import alternating
from cifar.judging.gatecheck.rates import (ARMS, contended_pair_counts, detectable_check, effective_slowdowns,
                                           paired_effects, paired_real_rates, paired_resampled_rates, real_rates,
                                           resampled_rates, session_heterogeneity, session_minutes, stopped_counts,
                                           POOLED)
from cifar.judging.policy import Policies
from cifar.judging.runfile import Run
from cifar.suite.settings import HISTORY, PAIRED, pytest_args as suite_args
from cifar.workloads.timing import INJECT_ENV

#: A history session: `make gate`'s run, under TensorFlow's default threads only.
DEFAULT_PYTEST_ARGS = ("benchmarks/", *suite_args(HISTORY), "--thread-grid", "default")
#: A paired session: the paired gate as shipped (`cifar.suite.settings.PAIRED`).
PAIRED_PYTEST_ARGS = ("benchmarks/", *suite_args(PAIRED))



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
                "session_heterogeneity": session_heterogeneity(runs, policies),
                # Kinds with one session: nothing to compare, and each resampled figure redraws that session's pairs.
                "session_heterogeneity_untested": [arm for arm, sessions in runs.items() if len(sessions) < 2],
                "stopped_at_look": stopped_counts(runs, policies), "session_minutes": session_minutes(runs),
                "runs": raw}
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


