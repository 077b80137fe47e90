"""Parametrization (thread grid x cases), the session's Campaign, and the end-of-session summary."""

from __future__ import annotations

import os

import pytest

from cifar.suite.campaign import Campaign
from cifar.suite.record import CAMPAIGN, ENVIRONMENT, SETTINGS
from cifar.suite.settings import build_cases
from cifar.workloads import WORKLOADS


def pytest_generate_tests(metafunc):
    settings = metafunc.config.stash[SETTINGS]
    # A benchmark test is named after its workload (test_matmul measures cifar.workloads' matmul).
    workload = metafunc.function.__name__.removeprefix("test_")
    if workload not in WORKLOADS:
        raise pytest.UsageError(f"{metafunc.function.__name__}: no workload {workload!r} in cifar.workloads.WORKLOADS "
                                f"({', '.join(WORKLOADS)})")
    cases = [c for c in build_cases(settings) if c.workload == workload]
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])
    if "threads" in metafunc.fixturenames:
        fixed = [t for c in cases for t in (c.threads or ())]
        configs = list(dict.fromkeys(fixed)) if fixed else settings.thread_configs()
        metafunc.parametrize("threads", configs, ids=[c.id for c in configs])


def _timing(config) -> bool:
    """Interleaved full measurement, unless pytest-benchmark will not time (disabled, or under xdist)."""
    return not (config.getoption("benchmark_disable") or os.environ.get("PYTEST_XDIST_WORKER"))


@pytest.fixture(scope="session")
def campaign(request):
    config = request.config
    campaign = Campaign(config.stash[SETTINGS], interleave=_timing(config))
    config.stash[CAMPAIGN] = campaign
    config.stash[ENVIRONMENT] = campaign.environment()
    yield campaign
    campaign.close()


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    campaign = config.stash.get(CAMPAIGN, None)
    if campaign is None or not campaign.recorded:
        return
    from cifar.judging.summary import render_summary

    terminalreporter.write(render_summary(campaign.recorded))
