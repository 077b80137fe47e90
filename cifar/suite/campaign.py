"""pytest-benchmark glue: run cases in isolated children, interleaved, and record the child's timings.

The durations recorded are the ones the child measured around each round; pytest's process only waits.
They go into pytest-benchmark's own stats object, so ``--benchmark-autosave/-json/-compare/-compare-fail/
-histogram/-group-by/-sort`` and ``pytest-benchmark compare`` see them exactly as if pytest-benchmark had
timed them. pytest-benchmark has no public "add measured durations" API; `record` uses
``fixture._make_stats(iterations)`` + ``stats.update(duration)``, unchanged from pytest-benchmark 3.1 to
5.3 (the version is pinned below 6 in pyproject.toml, and tests/test_bench.py checks the saved JSON).
"""

from __future__ import annotations

import logging
import os
import platform
import statistics

import pytest

from cifar.isolation.errors import ChildError
from cifar.isolation.runner import Runner
from cifar.suite.settings import Case, SuiteSettings
from cifar.training.threads import ThreadConfig, core_counts, is_oversubscribed

log = logging.getLogger(__name__)

#: Where conftest.py keeps the session's settings, TensorFlow facts and Campaign (``config.stash``).
SETTINGS = pytest.StashKey[SuiteSettings]()
ENVIRONMENT = pytest.StashKey[dict]()
CAMPAIGN = pytest.StashKey["Campaign"]()

#: pytest-benchmark's ``_mode`` names how a fixture was used; setting it also tells pytest-benchmark the
#: fixture was used (otherwise it warns "Benchmark fixture was not used at all in this test!").
RECORD_MODE = "cifar isolated child"


def merge_results(results: list[dict]) -> dict:
    """Combine the results of several children (passes) of one case under one configuration."""
    first = results[0]
    durations = [d for r in results for d in r["durations_seconds"]]
    contention = [r["contention"] for r in results]
    merged = dict(first)
    merged["durations_seconds"] = durations
    # Rounds of one process share its state (memory layout, thread placement, caches): a paired gate tests
    # per-process medians, so keep which rounds came from which process.
    merged["durations_per_process"] = [list(r["durations_seconds"]) for r in results]
    merged["rounds"] = len(durations)
    merged["passes"] = len(results)
    merged["items_per_s_median"] = first["items_per_round"] / statistics.median(durations)
    merged["cpu_seconds_per_1000_items"] = statistics.mean(r["cpu_seconds_per_1000_items"] for r in results)
    merged["contention"] = {
        "other_fraction": max(c["other_fraction"] for c in contention),
        "steal_fraction": max(c.get("steal_fraction", 0.0) for c in contention),
        "contended": any(c["contended"] for c in contention),
    }
    # Which process a neighbour's burst hit (one paired session lost a benchmark to one, README, check 6).
    merged["contention_per_process"] = [{"other_fraction": c["other_fraction"],
                                         "steal_fraction": c.get("steal_fraction", 0.0),
                                         "contended": c["contended"]} for c in contention]
    merged["process"] = {"peak_rss_bytes": max(r["process"]["peak_rss_bytes"] for r in results),
                         "cpu_seconds": sum(r["process"]["cpu_seconds"] for r in results)}
    merged["threads_applied"] = first.get("threads_applied", {})
    merged["os_threads_per_pass"] = [r.get("threads_applied", {}).get("os_threads") for r in results]
    merged["runner"] = {"mode": first["runner"]["mode"],
                        "isolation_overhead_seconds": statistics.median(
                            r["runner"]["isolation_overhead_seconds"] for r in results)}
    return merged


def extra_info(case: Case, config: ThreadConfig, result: dict) -> dict:
    """What goes into each benchmark's ``extra_info`` (and so into the saved JSON)."""
    workload = result.get("workload", {})
    _, logical = core_counts()
    pipeline = workload.get("pipeline")
    applied = result.get("threads_applied", {})
    return {
        "case": case.name,
        "workload": case.workload,
        "threads": config.id,
        "threads_requested": config.to_dict(),
        "threads_applied": {k: applied.get(k) for k in ("intra_op_parallelism_threads", "inter_op_parallelism_threads")},
        "os_threads": applied.get("os_threads"),
        "oversubscribed": is_oversubscribed(config, logical),
        "unit": result["unit"],
        "items_per_round": result["items_per_round"],
        "items_per_s_median": result["items_per_s_median"],
        "images_per_s_median": result["items_per_s_median"] if result["unit"] == "images" else None,
        "cpu_seconds_per_1000_items": result["cpu_seconds_per_1000_items"],
        "peak_rss_bytes": result["process"]["peak_rss_bytes"],
        "data_source": workload.get("data_source", "none"),
        "model": workload.get("model"),
        "batch_size": workload.get("batch_size"),
        "pipeline": pipeline.get("variant") if isinstance(pipeline, dict) else pipeline,
        "pipeline_id": workload.get("pipeline_id"),
        "runner": result["runner"]["mode"],
        "isolation_overhead_seconds": result["runner"]["isolation_overhead_seconds"],
        "passes": result.get("passes", 1),
        "warmup_rounds": result["warmup_rounds"],
        "contention_other_fraction": result["contention"]["other_fraction"],
        "contended": result["contention"]["contended"],
        "injected_slowdown": result.get("injected_slowdown", 0.0),
        "durations_per_process": result.get("durations_per_process", [result["durations_seconds"]]),
        "contention_per_process": result.get("contention_per_process", [result["contention"]]),
        # What exactly was measured; the gate compares a benchmark only with baselines of the same definition.
        "definition": workload,
    }


def paired_info(tree: str, outcome: dict | ChildError | None) -> dict:
    """``extra_info["paired_baseline"]``: the baseline arm of a paired run, measured in the same session."""
    info: dict = {"tree": tree}
    if isinstance(outcome, ChildError):
        # E.g. a benchmark the baseline code does not have yet: the gate reports it as new.
        info["error"] = str(outcome).splitlines()[0]
    elif outcome is not None:
        info.update(durations_per_process=outcome["durations_per_process"], passes=outcome["passes"],
                    contended=outcome["contention"]["contended"],
                    contention_per_process=outcome.get("contention_per_process", [outcome["contention"]]),
                    injected_slowdown=outcome.get("injected_slowdown", 0.0), definition=outcome.get("workload"))
    return info


def record(benchmark, durations: list[float], info: dict) -> None:
    """Put the child's per-round `durations` (seconds) into pytest-benchmark's stats for this test."""
    if not durations:
        raise ValueError("no durations to record")
    if any(d <= 0 for d in durations):
        raise ValueError(f"durations must be positive seconds, got {durations!r}")
    benchmark._mode = RECORD_MODE
    stats = benchmark._make_stats(1)
    for duration in durations:
        stats.update(duration)
    benchmark.extra_info.update(info)


class Campaign:
    """Runs cases for the session and caches results, so each test just picks up its configuration.

    With ``interleave=True`` the first request for a case runs every configuration, pass by pass, in
    alternating order (A B C, C B A, …), so drift of a noisy machine spreads over all of them. With
    ``interleave=False`` (smoke runs, xdist workers) only the requested configuration runs, once, small.
    """

    def __init__(self, settings: SuiteSettings, interleave: bool = True, runner: Runner | None = None,
                 baseline: Runner | None = None):
        self.settings = settings
        self.interleave = interleave
        self.configs = settings.thread_configs()
        # The zygote loads the data set once; every child inherits it (copy-on-write) instead of
        # generating or reading 150 MB itself.
        warm = (("cifar.training.data:warm_cache", {"data": settings.data}),)
        self.runner = runner or Runner(mode=settings.runner, warm=warm)
        # A paired run: the baseline code runs in its own zygote, from its own checkout. An injected slowdown
        # stands for a change in the code under test, so the baseline arm never gets one.
        if baseline is None and settings.baseline_tree is not None and interleave:
            from cifar.workloads.timing import INJECT_ENV

            baseline = Runner(mode=settings.runner, warm=warm, tree=settings.baseline_tree, unset=(INJECT_ENV,))
        self.baseline = baseline
        self.results: dict[tuple[str, str], dict | ChildError] = {}
        self.baseline_results: dict[tuple[str, str], dict | ChildError] = {}
        self.recorded: list[dict] = []  # what tests recorded, for the summary
        self._environment: dict | None = None

    def result(self, case: Case, config: ThreadConfig) -> dict:
        key = (case.name, config.id)
        if key not in self.results:
            if self.interleave:
                self._run_interleaved(case)
            else:
                self.results[key] = self._run(case, config, case.smoke_params())
        outcome = self.results[key]
        if isinstance(outcome, ChildError):
            raise outcome
        return outcome

    def _run(self, case: Case, config: ThreadConfig, params: dict) -> dict | ChildError:
        try:
            return merge_results([self.runner.run(case.target, params, config)])
        except ChildError as err:
            return err

    def _run_interleaved(self, case: Case) -> None:
        """Pass i runs every configuration (order reversed on odd passes); in a paired run each configuration
        runs in both arms, this tree first on even passes and the baseline first on odd ones (A B, B A, …)."""
        configs = list(case.threads or self.configs)
        arms = {"current": self.runner, **({"baseline": self.baseline} if self.baseline else {})}
        per_arm: dict[str, dict[str, list[dict]]] = {arm: {c.id: [] for c in configs} for arm in arms}
        failed: dict[str, dict[str, ChildError]] = {arm: {} for arm in arms}
        for index in range(case.passes):
            order = configs if index % 2 == 0 else configs[::-1]
            for config in order:
                for arm in (list(arms) if index % 2 == 0 else list(arms)[::-1]):
                    if config.id in failed[arm]:
                        continue
                    try:
                        per_arm[arm][config.id].append(arms[arm].run(case.target, case.params, config))
                    except ChildError as err:
                        failed[arm][config.id] = err
        for arm, results in (("current", self.results), ("baseline", self.baseline_results)):
            if arm in arms:
                for config in configs:
                    results[(case.name, config.id)] = failed[arm].get(config.id) or merge_results(per_arm[arm][config.id])

    def baseline_result(self, case: Case, config: ThreadConfig) -> dict | ChildError | None:
        """The baseline arm's result for a case measured by `result` (None when this is not a paired run)."""
        return self.baseline_results.get((case.name, config.id))

    def environment(self) -> dict:
        """TensorFlow facts from a child (pytest's process must not import TensorFlow)."""
        if self._environment is None:
            try:
                self._environment = self.runner.run("cifar.workloads:environment", {}, None)
            except ChildError as err:
                log.warning("could not read TensorFlow facts: %s", err)
                self._environment = {}
        return self._environment

    def close(self) -> None:
        self.runner.close()
        if self.baseline is not None:
            self.baseline.close()


def machine_info(environment: dict) -> dict:
    """Machine facts for pytest-benchmark's ``machine_info`` (and the baseline fingerprint)."""
    import psutil

    physical, logical = core_counts()
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "cpu_model": cpu_model(),
        "physical_cores": physical,
        "logical_cores": logical,
        "cpu_affinity": affinity,
        "memory_bytes": psutil.virtual_memory().total,
        "python": platform.python_version(),
        "tensorflow_version": environment.get("tensorflow_version"),
        "keras_version": environment.get("keras_version"),
        "onednn_enabled": environment.get("onednn_enabled"),
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
