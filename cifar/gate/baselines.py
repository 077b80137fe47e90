"""Baselines: runs promoted on purpose, one series per machine fingerprint, under ``baselines/``.

    baselines/<fingerprint>/0001.json, 0002.json, …   (pytest-benchmark JSON, with every round's data)

The comparison target is the newest file of the run's own fingerprint. Nothing becomes a baseline by
accident: pytest-benchmark's ``--benchmark-autosave`` writes every run, regressed or not, into
``.benchmarks/``; only ``python -m cifar baseline promote RUN`` writes here, and it refuses runs that
were contended, had a slowdown injected, or regress against the current baseline. Writes are atomic
(temporary file + fsync + rename) under an exclusive lock, so Ctrl-C, SIGKILL or two concurrent promotions
never leave a half-written or duplicated baseline.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
from pathlib import Path

from cifar.files import write_json_atomic
from cifar.errors import GateError
from cifar.gate.stored import gate
from cifar.gate.policy import BASELINES, Policies
from cifar.suite.runfile import Run

DEFAULT_ROOT = BASELINES
_NUMBERED = re.compile(r"^(\d{4})\.json$")


@contextlib.contextmanager
def locked(folder: Path):
    """An exclusive advisory lock on ``folder/.lock``, released even on exceptions (and by the kernel on kill)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def series(root: Path, fp: str) -> list[Path]:
    folder = root / fp
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NUMBERED.match(p.name))


def current_baseline(root: Path, fp: str) -> Path | None:
    """The newest promoted baseline for fingerprint `fp`, or None."""
    files = series(root, fp)
    return files[-1] if files else None


#: How many of the newest promoted runs the gate pools as its baseline.
POOLED_RUNS = 3


def baseline_runs(root: Path, fp: str, count: int = POOLED_RUNS) -> list[Path]:
    """The newest `count` promoted baselines for fingerprint `fp` (fewer if fewer exist)."""
    return series(root, fp)[-count:]


def refusal_reasons(run) -> list[str]:
    """Why a run must not become a baseline (empty list: it may)."""
    run = Run.of(run)
    reasons = []
    contended = [b.fullname for b in run.benchmarks if b.contended]
    if contended:
        reasons.append(f"{len(contended)} benchmark(s) were measured while the machine was contended "
                       f"(e.g. {contended[0]})")
    injected = {b.current.injected_slowdown for b in run.benchmarks} - {0.0}
    if injected:
        reasons.append(f"a slowdown was injected on purpose ({sorted(injected)})")
    return reasons


def promote(run_path: str | Path, root: Path = DEFAULT_ROOT, policies: Policies = Policies()) -> Path:
    """Make `run_path` the newest baseline of its machine fingerprint; returns the written path."""
    run = Run.load(run_path)
    reasons = refusal_reasons(run)
    fp = run.fingerprint
    with locked(root / fp):
        previous = current_baseline(root, fp)
        pooled = baseline_runs(root, fp)
        if pooled:
            report = gate([Run.load(p) for p in pooled], run, policies, baseline_label=str(previous))
            if not report.passed:
                names = ", ".join(c.name.split("::")[-1] for c in report.regressions[:3])
                reasons.append(f"it regressed against the baseline ({names}); a regressed run is never promoted")
        if reasons:
            raise GateError(f"not promoting {run_path}: " + "; ".join(reasons))
        number = int(previous.stem) + 1 if previous is not None else 1
        target = root / fp / f"{number:04d}.json"
        write_json_atomic(target, run.raw)
    return target
