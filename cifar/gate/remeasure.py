"""Measuring the failing benchmarks of a run once more, in fresh processes, the way the run was made.

The run file keeps the suite's settings (``cifar_settings``); `cifar.suite.settings.pytest_args` turns them back
into options, with the thread grid narrowed to the failing benchmarks' configurations.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from cifar.errors import RemeasureError
from cifar.suite.runfile import Run
from cifar.suite.settings import SESSION_TIMEOUT_SECONDS


def pytest_remeasure(run, cwd: str | Path = ".", timeout: float = SESSION_TIMEOUT_SECONDS):
    """A ``remeasure(names) -> Run`` for `cifar.gate.stored.gate` and `cifar.gate.paired.gate_paired`: runs
    the failing benchmarks (plus the calibration kernel, for calibrated comparison) again with pytest, at most
    `timeout` seconds. Raises `RemeasureError` when pytest times out or writes no result."""
    from cifar.suite.settings import SuiteSettings, grid_item, parse_grid, pytest_args

    run = Run.of(run)
    settings = SuiteSettings.from_dict(run.settings) if run.settings else SuiteSettings(quick=True)

    def remeasure(names: list[str]) -> Run:
        calibration = run.calibration
        # The grid comes from the failing benchmarks only: the calibration kernel always runs on its own fixed
        # configuration, and adding that to the grid would run every failing case under it too.
        configs = sorted({run.get(n).threads for n in names if n != calibration})
        if calibration and calibration not in names:
            names = [*names, calibration]
        grid = tuple(parse_grid(",".join(grid_item(c) for c in configs))) if configs else settings.grid
        args = [sys.executable, "-m", "pytest", *names, "-q", "-p", "no:cacheprovider",
                *pytest_args(replace(settings, grid=grid))]
        with tempfile.TemporaryDirectory(prefix="cifar-remeasure-") as tmp:
            out = Path(tmp) / "remeasure.json"
            try:
                proc = subprocess.run([*args, f"--benchmark-json={out}"], cwd=cwd, timeout=timeout,
                                      capture_output=True, text=True)
            except subprocess.TimeoutExpired:
                raise RemeasureError(f"the re-measurement ran past its {timeout:g} s limit and was stopped") from None
            if not out.exists():
                tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
                raise RemeasureError(f"the re-measurement wrote no result (pytest exit {proc.returncode}): {tail}")
            return Run.load(out)

    return remeasure
