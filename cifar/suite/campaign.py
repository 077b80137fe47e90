"""Running a suite's cases: every configuration of a case in fresh child processes, interleaved, and cached so
each test just picks up its configuration's result.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from dataclasses import dataclass, field

from cifar.isolation.errors import ChildError
from cifar.isolation.runner import Runner, start_together
from cifar.isolation.schedule import in_pass_order
from cifar.suite.settings import Case, SuiteSettings, Variant
from cifar.training.data import warm as warm_data
from cifar.training.threads import ThreadConfig

log = logging.getLogger(__name__)


class Phases:
    """Where the children's wall time went, summed over every child of the session (both arms of a paired run):
    ``isolation`` (the parent's wait beyond the child's own time: fork or interpreter start, result I/O),
    ``setup`` (in the child before the first round: applying threads, data, building the model, tracing the
    first step), ``warmup`` (untimed rounds), ``between_rounds`` (untimed set-up between recorded rounds, e.g. a
    pipeline's fresh iterator) and ``timed`` (the recorded rounds)."""

    NAMES = ("isolation", "setup", "warmup", "between_rounds", "timed")

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(self.NAMES, 0.0)
        #: The same, per workload (``{"epoch": {"setup": …, …}, …}``), and how many children each ran.
        self.by_workload: dict[str, dict[str, float]] = {}
        self.children: dict[str, int] = {}

    def add(self, result: dict, workload: str | None = None) -> None:
        timed = sum(result.get("durations_seconds", ()))
        phases = result.get("phases", {})
        warmup, between = phases.get("warmup_seconds", 0.0), phases.get("between_rounds_seconds", 0.0)
        child = result.get("process", {}).get("child_wall_seconds", timed + warmup + between)
        parent = result.get("runner", {}).get("parent_wall_seconds", child)
        mine = self.by_workload.setdefault(workload, dict.fromkeys(self.NAMES, 0.0)) if workload else None
        if workload:
            self.children[workload] = self.children.get(workload, 0) + 1
        for name, value in (("isolation", parent - child), ("setup", child - timed - warmup - between),
                            ("warmup", warmup), ("between_rounds", between), ("timed", timed)):
            self.seconds[name] += max(0.0, value)
            if mine is not None:
                mine[name] += max(0.0, value)


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
    # The pass each process ran in: adaptive effort's extra passes run only two configurations, so comparisons
    # pair the passes both ran in (`cifar.stats.estimate.speedup`).
    merged["pass_per_process"] = [r.get("pass_index") for r in results]
    merged["items_per_s_median"] = first["items_per_round"] / statistics.median(durations)
    merged["cpu_seconds_per_1000_items"] = statistics.mean(r["cpu_seconds_per_1000_items"] for r in results)
    merged["contention"] = {
        "other_fraction": max(c["other_fraction"] for c in contention),
        "steal_fraction": max(c.get("steal_fraction", 0.0) for c in contention),
        "contended": any(c["contended"] for c in contention),
    }
    # Which process a neighbour's burst hit (one paired session lost a benchmark to one: docs/gate.md).
    merged["contention_per_process"] = [{"other_fraction": c["other_fraction"],
                                         "steal_fraction": c.get("steal_fraction", 0.0),
                                         "contended": c["contended"]} for c in contention]
    # How each process warmed up (`cifar.workloads.timing.warm_up`): the rule, the units it took, whether they settled.
    merged["warmup_per_process"] = [{k: r["warmup"].get(k) for k in ("rule", "units", "cap_units", "stable", "seconds")}
                                    for r in results if r.get("warmup")]
    merged["process"] = {"peak_rss_bytes": max(r["process"]["peak_rss_bytes"] for r in results),
                         "cpu_seconds": sum(r["process"]["cpu_seconds"] for r in results)}
    merged["threads_applied"] = first.get("threads_applied", {})
    merged["os_threads_per_pass"] = [r.get("threads_applied", {}).get("os_threads") for r in results]
    merged["runner"] = {"mode": first["runner"]["mode"],
                        "isolation_overhead_seconds": statistics.median(
                            r["runner"]["isolation_overhead_seconds"] for r in results)}
    return merged


def _entries(case: Case, results: dict[str, list[dict]]) -> list[dict]:
    """A case's configurations as the summary's `best_of` reads them (items per round, processes, contention)."""
    return [{"case": case.name, "threads": config, "unit": runs[0]["unit"],
             "items_per_round": runs[0]["items_per_round"],  # the summary's `throughput` needs no more
             "durations_per_process": [r["durations_seconds"] for r in runs],
             "contention_per_process": [r["contention"] for r in runs],
             "pass_per_process": [r.get("pass_index") for r in runs]}
            for config, runs in results.items() if runs]


def effort(case: Case, results: dict[str, list[dict]]) -> tuple[str, int | None]:
    """Whether another pass of `case` is worth its time, from its best-vs-default interval as the summary will
    compute it: ``("settled", None)`` within ±`BENCH_HALF_WIDTH`; ``("futile", n)`` when about n processes a side
    would be needed, more than ``max_passes`` allows (its processes disagree too much for passes to help here);
    ``("more", n)`` otherwise; ``("no interval", None)`` when there is none to narrow (one configuration). Below
    `TRIMMED_FROM` processes a side a case is never judged futile when ``max_passes`` reaches it: one slow process
    there stretches the interval the trimmed estimator would cut it from."""
    from cifar.stats.estimate import BENCH_HALF_WIDTH, MIN_PROCESSES, TRIMMED_FROM, best_of

    entries = _entries(case, results)
    if len(entries) < 2:
        return "no interval", None
    _, baseline, estimate = best_of(entries)
    if baseline is None:
        return "no interval", None
    if estimate.ratio is None and estimate.n < MIN_PROCESSES:
        return "more", MIN_PROCESSES  # e.g. --quick --max-passes 4: one process a side has no interval yet
    if estimate.half_width <= BENCH_HALF_WIDTH:
        return "settled", None
    needed = estimate.processes_needed(BENCH_HALF_WIDTH)
    if case.max_passes is not None and estimate.n < TRIMMED_FROM <= case.max_passes:
        return "more", needed
    return ("futile" if case.max_passes is None or needed > case.max_passes else "more"), needed


def contenders(case: Case, results: dict[str, list[dict]]) -> list[str]:
    """The configurations the best-vs-default interval compares (the fastest and default, or default and the
    runner-up when default is the fastest): an extra pass runs only these two, since the others' processes would
    not narrow it. Every configuration when there is no such pair."""
    from cifar.stats.estimate import best_of

    entries = _entries(case, results)
    best, baseline, _ = best_of(entries) if len(entries) > 1 else (None, None, None)
    if baseline is None:
        return list(results)
    return [best["threads"], baseline["threads"]]


@dataclass
class CaseRun:
    """One case being measured: its configurations' children per arm, the passes each ran and where each stands
    ("open" while it may still get pairs; then why it stopped: "unchanged", "regression", "all", "budget", "fixed",
    "settled", "futile", "cap", "failed")."""

    case: Case
    configs: list
    arms: dict
    sequential: bool = False
    budgeted: bool = False
    per_arm: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    passes: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    needed: int | None = None
    seconds: float = 0.0  # wall time spent measuring it

    def __post_init__(self) -> None:
        self.per_arm = {arm: {c.id: [] for c in self.configs} for arm in self.arms}
        self.failed = {arm: {} for arm in self.arms}
        self.passes = {c.id: 0 for c in self.configs}
        self.state = {c.id: "open" for c in self.configs}

    @property
    def done(self) -> int:
        """Passes run: the most any configuration ran."""
        return max(self.passes.values(), default=0)

    def open(self) -> bool:
        return any(state == "open" for state in self.state.values())

    def set_all(self, state: str) -> None:
        self.state = dict.fromkeys(self.state, state)


class Campaign:
    """Runs cases for the session and caches results, so each test just picks up its configuration.

    With ``interleave=True`` the first request for a case runs every configuration, pass by pass, in
    alternating order (A B C, C B A, …), so drift of a noisy machine spreads over all of them. With
    ``interleave=False`` (smoke runs, xdist workers) only the requested configuration runs, once, small.
    """

    def __init__(self, settings: SuiteSettings, interleave: bool = True, runner: Runner | None = None,
                 baseline: Runner | None = None, progress=None, looks=None):
        self.settings = settings
        #: The paired gate's looks (`cifar.gate.sequential.Looks`: ``at(max_pairs)``, ``stop(fullname, baseline
        #: results, current results, max_pairs, budgeted)``, and for ``--budget`` ``verdict``, ``alpha``, ``every``,
        #: ``extend``) for ``--sequential``; None: every case runs all its passes.
        self.looks = looks
        #: The cases the session's selected tests will ask for (benchmarks/conftest.py, after collection): with a
        #: budget all are measured first, then the extra pairs go where still needed. None: each case as asked.
        self.planned: list[Case] | None = None
        self.started = time.monotonic()  # the budget's clock
        #: ``progress(case_name, processes_done)`` after every child (cifar.suite.progress), or None.
        self.progress = progress
        self.phases = Phases()
        self.interleave = interleave
        self.configs = settings.thread_configs()
        # The zygote loads the data set once; every child inherits it (copy-on-write) instead of
        # generating or reading 150 MB itself.
        warm = warm_data(settings.data)
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
        self._env_runners: dict[tuple, Runner] = {}  # zygotes of variants imported with their own environment

    def start(self) -> None:
        """Start the zygotes now, together (a paired run's two checkouts import TensorFlow at once) and before any
        child: otherwise each starts at its first child, one import after the other."""
        try:
            start_together([r for r in (self.runner, self.baseline) if r is not None and hasattr(r, "launch")])
        except ChildError as err:  # each child's run tries again and reports it where it belongs
            log.warning("a zygote did not start: %s", err)

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
            return merge_results([self._child(self.runner, case, params, config)])
        except ChildError as err:
            return err

    def _child(self, runner: Runner, case: Case, params: dict, config: ThreadConfig) -> dict:
        """One child, accounted for in `phases` and reported to `progress`. A `Variant` (a whole setting) adds its
        parameters, runs in a zygote imported with its environment, on its CPUs."""
        cpus = None
        if isinstance(config, Variant):
            params = {**params, **config.params}
            runner = self._runner_with(runner, config.env)
            if config.cpus is not None:
                cpus = tuple(sorted(os.sched_getaffinity(0))[:config.cpus])
            config = config.threads
        try:
            result = runner.run(case.target, params, config, **({"cpus": cpus} if cpus is not None else {}))
        finally:
            if self.progress is not None:
                self.progress(case.name)
        self.phases.add(result, case.workload)
        return result

    def _runner_with(self, runner: Runner, env: dict) -> Runner:
        """`runner`, or a zygote like it (same checkout, mode, data) whose TensorFlow is imported with `env` on top."""
        if not env:
            return runner
        key = (id(runner), tuple(sorted(env.items())))
        if key not in self._env_runners:
            self._env_runners[key] = Runner(mode=runner.mode, warm=runner.warm, tree=runner.tree, unset=runner.unset,
                                            env={**runner.env, **env}, timeout=runner.timeout)
        return self._env_runners[key]

    def _run_interleaved(self, case: Case) -> None:
        """Measure `case` (`_measure`) and keep its results; with a budget (``--budget``), every case of the session
        first (`planned`, else this one), then more pairs for those still unresolved (`_extend`)."""
        if not self._budgeted():
            self._store(self._measure(case))
            return
        planned = [c for c in (self.planned or [case]) if not self._measured(c)]
        if case not in planned:
            planned.append(case)
        runs = [self._measure(c) for c in planned]
        self._extend(runs)
        for run in runs:
            self._store(run)

    def _measured(self, case: Case) -> bool:
        return any(key[0] == case.name for key in self.results)

    def _budgeted(self) -> bool:
        return self.settings.budget is not None and self.looks is not None and self.baseline is not None

    def _measure(self, case: Case) -> "CaseRun":
        """Pass i runs every configuration (order reversed on odd passes); in a paired run each configuration
        runs in both arms, this tree first on even passes and the baseline first on odd ones (A B, B A, …).

        With the paired gate's looks (`_sequential`) each configuration stops on its own at a look once its pairs
        exclude its tolerance; later passes run only the configurations still open.

        A case with ``max_passes`` (and no baseline arm) gets more passes, one at a time, while its best-vs-default
        interval — the summary's, computed the same way (`effort`) — is wider than ±`BENCH_HALF_WIDTH` and the
        processes it would take fit in ``max_passes``: effort goes where a pass can still settle the answer, not to
        cases already settled nor to those whose processes disagree too much for a few more to help. An extra
        pass runs only the two configurations that interval compares (`contenders`), alternating their order."""
        run = CaseRun(case, list(case.threads or self.configs),
                      {"current": self.runner, **({"baseline": self.baseline} if self.baseline else {})},
                      self._sequential(case, list(case.threads or self.configs)), self._budgeted())
        started = time.monotonic()
        for index in range(case.passes):
            self._run_pass(run, index)
            if run.sequential:
                self._look(run, final=index + 1 == case.passes)
            if not run.open():
                break
        if run.sequential and self.progress is not None and hasattr(self.progress, "grow"):
            left = sum(case.passes - run.passes[c.id] for c in run.configs)
            if left:
                self.progress.grow(-left * len(run.arms))
        adaptive = case.max_passes is not None and self.baseline is None and len(run.configs) > 1
        while adaptive and run.done < case.max_passes and not run.failed["current"] \
                and effort(case, run.per_arm["current"])[0] == "more":
            pair = contenders(case, run.per_arm["current"])
            if self.progress is not None and hasattr(self.progress, "grow"):
                self.progress.grow(len(pair))
            self._run_pass(run, run.done, only=pair)
        # A sequential case's configurations got their state at their looks.
        if not run.sequential and not adaptive:
            run.set_all("fixed")
        elif not run.sequential and run.failed["current"]:
            run.set_all("failed")  # a configuration crashed: no more passes spent on the case
        elif not run.sequential:
            state, run.needed = effort(case, run.per_arm["current"])
            run.set_all("cap" if state == "more" else state)  # "cap": it would have gone on, max_passes stopped it
        run.seconds = time.monotonic() - started
        if self.progress is not None and hasattr(self.progress, "end_case"):
            self.progress.end_case()  # before pytest writes this test's result
        return run

    def _run_pass(self, run: "CaseRun", index: int, only: list[str] | None = None) -> None:
        """Pass `index` of `run`'s open configurations (of those in `only`, when given), in alternating order."""
        configs = [c for c in run.configs if only is None or c.id in only]
        for config in in_pass_order(configs, index):
            if run.state.get(config.id, "open") != "open":
                continue
            for arm in in_pass_order(list(run.arms), index):
                if config.id in run.failed[arm]:
                    continue
                try:
                    result = self._child(run.arms[arm], run.case, run.case.params, config)
                    run.per_arm[arm][config.id].append({**result, "pass_index": index})
                except ChildError as err:
                    run.failed[arm][config.id] = err
            run.passes[config.id] += 1

    def _look(self, run: "CaseRun", final: bool) -> None:
        """The paired gate's looks on each open configuration of `run` after a pass (`cifar.gate.sequential`):
        before the planned end a configuration stops once its pairs say "unchanged"; at the planned end it is done
        ("all"), unless budgeted and its pairs decide nothing yet: then it stays open for `_extend`."""
        for config in run.configs:
            if run.state[config.id] != "open":
                continue
            n = run.passes[config.id]
            name = self.fullname(run.case, config)
            base, cur = run.per_arm["baseline"][config.id], run.per_arm["current"][config.id]
            if run.failed["current"].get(config.id) or run.failed["baseline"].get(config.id):
                run.state[config.id] = "failed"
            elif n > run.case.passes:  # an extension look
                run.state[config.id] = self.looks.verdict(name, base, cur, run.case.passes) or "open"
            elif n in self.looks.at(run.case.passes) and self.looks.stop(name, base, cur, run.case.passes,
                                                                       run.budgeted):
                run.state[config.id] = "unchanged"
            elif final:
                run.state[config.id] = ((self.looks.verdict(name, base, cur, run.case.passes) or "open")
                                        if run.budgeted else "all")

    def _extend(self, runs: list["CaseRun"]) -> None:
        """The session's budget (``--budget``, from the campaign's start) spent on the configurations still
        unresolved after their planned pairs: the looks' ``every`` more pairs at a time, to the open case with the
        fewest extra pairs so far, while the next batch's expected time (its case's seconds per pass so far) fits and
        the case has fewer than ``extend`` times its planned pairs. What is left open when the budget or the cap
        ends it is "budget" or "all"; the gate then judges it on the pairs it has."""
        every, extend = self.looks.every, self.looks.extend
        deadline = self.started + self.settings.budget
        while True:
            open_runs = [r for r in runs if r.open() and r.done < extend * r.case.passes]
            if not open_runs:
                break
            run = min(open_runs, key=lambda r: (r.done - r.case.passes, runs.index(r)))
            batch = min(every, extend * run.case.passes - run.done)
            opened = [c for c in run.configs if run.state[c.id] == "open"]
            per_pass = run.seconds / max(1, sum(run.passes.values()))  # one configuration's pass, both arms
            if time.monotonic() + batch * len(opened) * per_pass > deadline:
                for config in run.configs:
                    if run.state[config.id] == "open":
                        run.state[config.id] = "budget"
                continue
            if self.progress is not None and hasattr(self.progress, "grow"):
                self.progress.grow(batch * len(opened) * len(run.arms))
            started = time.monotonic()
            for _ in range(batch):
                self._run_pass(run, run.done)
            run.seconds += time.monotonic() - started
            self._look(run, final=False)
            if self.progress is not None and hasattr(self.progress, "end_case"):
                self.progress.end_case()
        for run in runs:
            for config in run.configs:
                if run.state[config.id] == "open":
                    run.state[config.id] = "all"

    def _store(self, run: "CaseRun") -> None:
        """Each configuration's merged result, with why it stopped where it did (extra_info["effort"])."""
        for config in run.configs:
            spent = {"passes": run.passes[config.id],
                     "max_passes": run.case.passes if run.sequential else run.case.max_passes,
                     "stopped": run.state[config.id], "processes_needed": run.needed}
            if run.budgeted and run.sequential:
                # The pairs it could have grown to, and the alpha the gate's test gets at the look it ended at.
                name = self.fullname(run.case, config)
                spent.update(max_passes=self.looks.extend * run.case.passes, planned=run.case.passes,
                             alpha=self.looks.alpha(name, run.passes[config.id], run.case.passes))
            for arm, results in (("current", self.results), ("baseline", self.baseline_results)):
                if arm in run.arms:
                    outcome = run.failed[arm].get(config.id) or merge_results(run.per_arm[arm][config.id])
                    if isinstance(outcome, dict):
                        outcome["effort"] = spent
                    results[(run.case.name, config.id)] = outcome

    def _sequential(self, case: Case, configs: list[ThreadConfig]) -> bool:
        """Does this case look at its pairs as they come (`cifar.gate.sequential`)? Only in a paired run with
        ``--sequential`` (and `looks`), for a case with looks before its last pass; never the calibration kernel,
        which is shown, not gated. Each configuration looks at its own pairs."""
        return (self.settings.sequential and self.looks is not None and self.baseline is not None
                and case.workload != "calibration" and bool(self.looks.at(case.passes)))

    @staticmethod
    def fullname(case: Case, config: ThreadConfig) -> str:
        """The benchmark's id as the gate's policy patterns match it ("*test_pipeline*"; the file part is not
        known here)."""
        return f"{case.test_id[:-1]}-{config.id}]"

    def baseline_result(self, case: Case, config: ThreadConfig) -> dict | ChildError | None:
        """The baseline arm's result for a case measured by `result` (None when this is not a paired run)."""
        return self.baseline_results.get((case.name, config.id))

    def phase_seconds(self) -> dict[str, float]:
        """Where the children's time went, plus the zygotes' starts (see `Phases`)."""
        starts = sum(getattr(r, "zygote_start_seconds", 0.0)
                     for r in (self.runner, self.baseline, *self._env_runners.values()) if r is not None)
        return {"zygote_start": starts, **self.phases.seconds}

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
        for runner in self._env_runners.values():
            runner.close()


