"""Parametrization (thread grid x cases), the session's Campaign, and the end-of-session summary."""

from __future__ import annotations

import os

import pytest

from cifar.suite.campaign import Campaign
from cifar.suite.progress import Progress
from cifar.suite.record import CAMPAIGN, ENVIRONMENT, SETTINGS
from cifar.suite.settings import build_cases
from cifar.workloads import WORKLOADS


PROCESSES = pytest.StashKey[int]()
CASES = pytest.StashKey[list]()


def pytest_generate_tests(metafunc):
    settings = metafunc.config.stash[SETTINGS]
    # A benchmark test is named after its workload (test_matmul measures cifar.workloads' matmul).
    workload = metafunc.function.__name__.removeprefix("test_")
    if workload not in WORKLOADS:
        raise pytest.UsageError(f"{metafunc.function.__name__}: no workload {workload!r} in cifar.workloads.WORKLOADS "
                                f"({', '.join(WORKLOADS)})")
    cases = [c for c in build_cases(settings) if c.workload == workload]
    # Each case under its own configurations: its fixed ones (pipelines, the calibration, --quick's tf.data
    # epochs) or the grid. Ids stay "<case>-<configuration>".
    if {"case", "threads"} <= set(metafunc.fixturenames):
        pairs = [(c, t) for c in cases for t in (c.threads or settings.thread_configs())]
        metafunc.parametrize(("case", "threads"), pairs, ids=[f"{c.id}-{t.id}" for c, t in pairs])
    elif "case" in metafunc.fixturenames:
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


def _timing(config) -> bool:
    """Interleaved full measurement, unless pytest-benchmark will not time (disabled, or under xdist)."""
    return not (config.getoption("benchmark_disable") or os.environ.get("PYTEST_XDIST_WORKER"))


def pytest_collection_finish(session):
    """Count the processes the selected tests (after -k and the like) will start: the progress line's total."""
    config = session.config
    settings = config.stash[SETTINGS]
    cases = {}
    for item in session.items:
        params = getattr(item, "callspec", None) and item.callspec.params
        if params and "case" in params:
            cases.setdefault(params["case"].name, (params["case"], []))[1].append(params["threads"])
    arms = 2 if settings.baseline_tree else 1
    if _timing(config):
        total = sum(len(case.threads or settings.thread_configs()) * case.passes * arms for case, _ in cases.values())
    else:
        total = sum(len(threads) for _, threads in cases.values())
    config.stash[PROCESSES] = total
    config.stash[CASES] = [case for case, _ in cases.values()]  # in the order the tests will ask for them


@pytest.fixture(scope="session")
def campaign(request):
    config = request.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    progress = None
    if reporter is not None and _timing(config):
        capture = config.pluginmanager.get_plugin("capturemanager")

        def write(text):
            # Tests run with stdout captured: the progress line must get past it to reach the terminal.
            with capture.global_and_fixture_disabled():
                if text.endswith("\n"):
                    reporter.ensure_newline()  # not after pytest's "benchmarks/test_micro.py ." on the same line
                reporter.write(text, flush=True)

        progress = Progress(config.stash.get(PROCESSES, 0), write, bool(reporter.isatty()),
                            config.get_verbosity())
    settings = config.stash[SETTINGS]
    looks = None
    if settings.sequential:
        from cifar.gate.sequential import Looks

        looks = Looks.from_tree()  # the paired gate's policy decides where a case may stop
    campaign = Campaign(settings, interleave=_timing(config), progress=progress, looks=looks)
    campaign.planned = config.stash.get(CASES, None)  # a budget measures them all before spending it
    config.stash[CAMPAIGN] = campaign
    campaign.start()
    config.stash[ENVIRONMENT] = campaign.environment()
    yield campaign
    campaign.close()


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    campaign = config.stash.get(CAMPAIGN, None)
    if campaign is None or not campaign.recorded:
        return
    from cifar.reports.summary import render_summary
    from cifar.suite.record import phase_line, session_phases

    terminalreporter.write(render_summary(campaign.recorded))
    terminalreporter.write_line(phase_line(session_phases(config, campaign)))
