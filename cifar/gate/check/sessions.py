"""Running the real sessions of the gate's check, keeping each as it finishes, and resuming from kept ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cifar.isolation.schedule import alternating
from cifar.gate.check.rates import (ARMS, contended_pair_counts, detectable_check, effective_slowdowns,
                                           paired_effects, paired_passed_rates, paired_real_rates,
                                           paired_resampled_rates, real_rates, resampled_rates, session_heterogeneity,
                                           session_minutes, stopped_counts, POOLED)
from cifar.files import write_json_atomic
from cifar.errors import GateError
from cifar.gate.policy import Policies
from cifar.suite.runfile import Run
from cifar.suite.settings import HISTORY, PAIRED, SESSION_TIMEOUT_SECONDS, pytest_args as suite_args
from cifar.workloads.timing import INJECT_ENV

#: A history session: `make gate`'s run, under TensorFlow's default threads only.
DEFAULT_PYTEST_ARGS = ("benchmarks/", *suite_args(HISTORY), "--thread-grid", "default")
#: A paired session: the paired gate as shipped (`cifar.suite.settings.PAIRED`).
PAIRED_PYTEST_ARGS = ("benchmarks/", *suite_args(PAIRED))
#: Where finished sessions are kept when no --keep is given (hours of sessions are never in a temporary folder).
DEFAULT_KEEP = {True: Path("reports/gate-check-paired"), False: Path("reports/gate-check-history")}
#: The file in a keep folder that says which check its sessions belong to.
MANIFEST = "check.json"


class SessionFailed(Exception):
    """A real session crashed or timed out; the sessions finished before it are kept. The message's first line
    says which session and where the kept ones are."""

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
    # Written under another name and renamed once pytest succeeded: a kept NN-ARM.json is always a whole session.
    partial = out.with_name(out.name + ".partial")
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", *pytest_args, "-q", "-p", "no:cacheprovider",
                               f"--benchmark-json={partial}"], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=SESSION_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise SessionFailed(f"session {arm} ran past {SESSION_TIMEOUT_SECONDS} s and was stopped") from None
    if proc.returncode != 0 or not partial.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
        raise SessionFailed(f"session {arm} failed (pytest exit {proc.returncode}):\n{tail}")
    partial.replace(out)
    return Run.load(out)


def schedule(sessions: int) -> list[str]:
    """A B10 B5, B5 B10 A, … : every arm in every block, in the suite's one interleaving order."""
    return [arm for _, arm in alternating(list(ARMS), sessions)]


def _claim(folder: Path, pytest_args: tuple[str, ...], paired: bool) -> None:
    """Mark `folder` as this check's, or refuse one holding another check's sessions (they would be mixed in)."""
    manifest = {"paired": paired, "pytest_args": list(pytest_args)}
    path = folder / MANIFEST
    if path.is_file():
        try:
            kept = json.loads(path.read_text())
        except ValueError:
            kept = None
        if kept != manifest:
            raise GateError(f"{folder}/ holds sessions of another gate-check (its {MANIFEST} differs: other options "
                            "or gate); pass --keep ANOTHER_FOLDER, or remove it to start over")
    elif any(folder.glob("*.json")):
        raise GateError(f"{folder}/ holds sessions from no known gate-check (no {MANIFEST}); pass --keep "
                        "ANOTHER_FOLDER, or use --from-sessions to recompute from them")
    else:
        write_json_atomic(path, manifest)


def gate_check(sessions: int = 4, resamples: int = 2000, pytest_args: tuple[str, ...] | None = None,
               policies: Policies = Policies(), keep: Path | None = None, log=print, paired: bool = True) -> dict:
    """Run `sessions` blocks of real sessions (paired or plain), then compute real and resampled rates.

    Every finished session is kept in `keep` (`DEFAULT_KEEP` when None) as ``NN-ARM.json``; sessions already
    there from an earlier, interrupted run of the same check are loaded instead of run again. A session that
    crashes or times out raises `SessionFailed`, and the finished ones stay for the next run to resume from."""
    pytest_args = pytest_args or (PAIRED_PYTEST_ARGS if paired else DEFAULT_PYTEST_ARGS)
    folder = Path(keep) if keep is not None else DEFAULT_KEEP[paired]
    folder.mkdir(parents=True, exist_ok=True)
    _claim(folder, tuple(pytest_args), paired)
    runs: dict[str, list[Run]] = {arm: [] for arm in ARMS}
    total = 3 * sessions
    for n, arm in enumerate(schedule(sessions)):
        out = folder / f"{n + 1:02d}-{arm}.json"
        if out.is_file():
            log(f"session {n + 1}/{total}: {arm} kept from an earlier run ({out})")
            runs[arm].append(Run.load(out))
            continue
        log(f"session {n + 1}/{total}: {'A/' if paired else ''}{arm} (injected slowdown {ARMS[arm]:.0%})")
        try:
            runs[arm].append(run_session(arm, out, pytest_args, paired=paired))
        except SessionFailed as err:
            raise SessionFailed(f"gate-check stopped at session {n + 1}/{total}: {err}\n"
                                f"{n} finished session(s) are kept in {folder}/: the same command resumes from them"
                                ) from None
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
                           "test": policies.default.test,
                           # What a process contributed (checks before the estimator: "median" or "geomean").
                           "per_process": "mean", "ratio": "trimmed mean of logs, trimmed t interval"},
                "effective_slowdown": paired_effects(runs, policies), "real": paired_real_rates(runs, policies),
                "detectable_check": detectable_check(runs, policies),
                "contended_pairs_left_out": contended_pair_counts(runs, policies),
                "resampled": paired_resampled_rates(runs, policies, resamples),
                "passed": paired_passed_rates(runs, policies, resamples),
                "resampled_within_session": paired_resampled_rates(runs, policies, resamples, variants=(),
                                                                   pooled=False),
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
    for path in sorted(folder.glob("[0-9]*-*.json")):
        arm = path.stem.split("-", 1)[1]
        runs[arm].append(Run.load(path))
    return runs


