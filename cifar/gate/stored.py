"""The regression gate against stored baselines: did this run get slower than this machine's promoted runs?

Per benchmark, `cifar.gate.decide.judge_benchmark`: one-sided Mann-Whitney U (asv's test) on the run's rounds
against the pooled rounds of the newest promoted baselines of the same machine fingerprint, at alpha, and the ratio
above 1 + floor, where the ratio and its 95 % interval are the estimator's over processes (`cifar.stats.estimate`:
each process's value, the ratio of the trimmed geometric means of the run's processes and the baselines' pooled
processes, Yuen-Welch's trimmed t on the logs). A benchmark that fails is measured once more in fresh processes,
and the gate fails only if it fails again: one unlucky session on a shared machine does not fail CI. A paired run
carries its own baseline arm instead: `cifar.gate.paired`.

Exit codes of ``python -m cifar gate`` (see `GateReport.exit_code`): 0 passed, 1 regression, 2 bad input,
3 inconclusive (no regression, but something was not settled or not gated: a benchmark unresolved (a slowdown
above its tolerance not ruled out), one whose test could not have failed, one with no baseline to compare with,
one the baseline has and a run not narrowed with ``-k`` lacks, or no baseline for this machine at all), 4 the gate
could not finish (a regression was seen and its re-measurement crashed or timed out, or the gate itself crashed).

>>> python -m cifar gate run.json                       # doctest: +SKIP
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace

from cifar import exitcodes
from cifar.gate.decide import Comparison, judge_benchmark
from cifar.errors import GateError, RemeasureError
from cifar.gate.policy import Policies
from cifar.stats.estimate import centre, process_values
from cifar.suite.runfile import Run, comparable

#: Verdicts of benchmarks that were in the run but not compared with anything: the gate is inconclusive, not passed.
UNGATED = ("new", "redefined")


@dataclass
class GateReport:
    comparisons: list[Comparison]
    baseline_label: str
    normalization: float | None = None  # baseline scaled by this calibration factor (cross-machine)
    notes: list[str] = field(default_factory=list)
    #: Why the re-measurement that should confirm the regressions gave no result (None: it did, or none was made).
    unconfirmed: str | None = None
    #: How the run was deliberately narrowed (``-k conv2d``, other options than the baseline's); then a benchmark
    #: the baseline has and the run lacks was left out by choice. None: a whole run, whose missing ones vanished.
    narrowed: str | None = None

    @property
    def regressions(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == "regression"]

    @property
    def inconclusive(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == "inconclusive"]

    @property
    def unresolved(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == "unresolved"]

    @property
    def ungated(self) -> list[Comparison]:
        """Benchmarks compared with nothing: no baseline measured them (new), one measured something else under
        their name (redefined), or the baseline has them and a run that was not narrowed lacks them (missing:
        skipped or deleted)."""
        return [c for c in self.comparisons if c.verdict in UNGATED or (c.verdict == "missing" and not self.narrowed)]

    @property
    def passed(self) -> bool:
        """No regression (an inconclusive benchmark is not a pass either: see `verdict`)."""
        return not self.regressions

    @property
    def verdict(self) -> str:
        """``FAILED`` (a confirmed regression, or one decided without re-measuring), ``UNCONFIRMED`` (regressions
        seen and none confirmed: the re-measurement failed, or gave no result for them), ``INCONCLUSIVE`` (none,
        but something was not gated or not settled: see `cifar.gate.stored`) or ``passed``: every gated
        benchmark ruled out a slowdown above its tolerance."""
        if self.regressions:
            confirmed = [c for c in self.regressions if not c.unconfirmed]
            return "FAILED" if confirmed and not self.unconfirmed else "UNCONFIRMED"
        return "INCONCLUSIVE" if self.inconclusive or self.unresolved or self.ungated else "passed"

    @property
    def exit_code(self) -> int:
        return {"FAILED": exitcodes.CAUGHT, "UNCONFIRMED": exitcodes.ERROR, "INCONCLUSIVE": exitcodes.INCONCLUSIVE,
                "passed": exitcodes.OK}[self.verdict]

    def to_dict(self) -> dict:
        return {"baseline": self.baseline_label, "normalization": self.normalization, "passed": self.passed,
                "verdict": self.verdict, "exit_code": self.exit_code, "notes": self.notes, "narrowed": self.narrowed,
                "unconfirmed": self.unconfirmed, "comparisons": [c.to_dict() for c in self.comparisons]}


def ungated_report(run: Run, reason: str, label: str) -> GateReport:
    """A report for a run nothing could be compared with (e.g. no baseline for its machine): every benchmark
    ``new``, the verdict INCONCLUSIVE, `reason` the first note."""
    return GateReport([Comparison(b.fullname, "new", current_seconds=centre(process_values(b.current.per_process)))
                       for b in run.benchmarks], label, notes=[reason])


def remeasured(report: GateReport, failing: list[str], remeasure):
    """``remeasure(failing)``, or None when it crashed or timed out: then the report keeps the first verdicts,
    says the regressions were seen and not confirmed, and exits `exitcodes.ERROR`, never "regression"."""
    try:
        return remeasure(failing)
    except RemeasureError as err:
        report.unconfirmed = str(err)
        report.comparisons = [replace(c, unconfirmed=str(err)) if c.name in failing else c for c in report.comparisons]
        report.notes.append(f"regression seen in {', '.join(n.split('::')[-1] for n in failing)}, NOT CONFIRMED: "
                            f"{err}; rerun the gate (or pass --no-remeasure to decide on the first measurement)")
        return None


def prepared(run: Run, policies: Policies, calibrate: bool, everything: bool = False) -> dict[str, list[float]]:
    """The run's rounds, divided by its own session's calibration median where the policy says so
    (``everything``: all benchmarks, as cross-machine comparison needs). The calibration kernel stays raw."""
    data = run.samples()
    name = run.calibration
    if not calibrate or name is None:
        return data
    c = statistics.median(data[name])
    return {n: [d / c for d in values] if n != name and (everything or policies.for_benchmark(n).calibrate) else values
            for n, values in data.items()}


def process_samples(run: Run, policies: Policies, calibrate: bool, everything: bool = False) -> dict[str, list[float]]:
    """Each benchmark's per-process values (`cifar.stats.estimate.process_values`), divided by the calibration
    exactly where `prepared` divides the rounds (a process's value is linear in its rounds)."""
    name = run.calibration
    factor = statistics.median(run.samples()[name]) if calibrate and name is not None else None
    out = {}
    for bench in run.benchmarks:
        values = process_values(bench.current.per_process)
        if factor and bench.fullname != name and (everything or policies.for_benchmark(bench.fullname).calibrate):
            values = [v / factor for v in values]
        out[bench.fullname] = values
    return out


def confirm_regressions(report: GateReport, failing: list[str], again) -> None:
    """Replace each failing comparison by its re-measurement, a regression only if that fails too.
    ``again(first) -> Comparison | None`` compares the fresh measurement (None: it has no result)."""
    for i, first in enumerate(report.comparisons):
        if first.name not in failing:
            continue
        result = again(first)
        if result is None:
            why = "its re-measurement produced no result for it (its test failed or was not run)"
            report.comparisons[i] = replace(first, unconfirmed=why)
            report.notes.append(f"regression seen in {first.short_name}, NOT CONFIRMED: {why}; rerun the gate")
            continue
        verdict = result.verdict
        if verdict == "improvement":  # slower, then faster: no regression; unchanged only if it ruled one out
            verdict = "unchanged" if result.bound < 1.0 + result.policy.tolerance else "unresolved"
        report.comparisons[i] = replace(result, verdict=verdict, remeasured=True, first=first)


def gate(baseline_runs, current_run, policies: Policies = Policies(), *, remeasure=None,
         cross_machine: bool = False, baseline_label: str = "baseline") -> GateReport:
    """Compare every benchmark of `current_run` with the pooled rounds of `baseline_runs` (`Run`s or dicts).

    Pooling several baseline sessions (the newest promoted runs) keeps one lucky or unlucky baseline
    session from deciding every later verdict. Benchmarks whose policy has ``calibrate`` (all of them
    across machines) are first divided by their own session's calibration kernel, which cancels drift of
    the whole machine between sessions. ``remeasure(names) -> run`` measures the failing benchmarks
    again in fresh processes; a benchmark is a regression only if the new measurement fails too.
    """
    if isinstance(baseline_runs, (dict, Run)):
        baseline_runs = [baseline_runs]
    baseline_runs = [Run.of(r) for r in baseline_runs]
    current_run = Run.of(current_run)
    if not baseline_runs:
        raise GateError("no baseline run to compare with")
    cur_fp = current_run.fingerprint
    report = GateReport([], baseline_label)
    calibration = current_run.calibration
    foreign = [run.fingerprint for run in baseline_runs if run.fingerprint != cur_fp]
    if foreign and not cross_machine:
        raise GateError(f"baseline was measured on {foreign[0]}, this run on {cur_fp}: comparing across machines "
                        "measures the machines, not the change (pass --cross-machine to normalize by the "
                        "1-thread matmul calibration kernel measured in both sessions)")
    have_calibration = calibration is not None and all(run.calibration for run in baseline_runs)
    if foreign and not have_calibration:
        raise GateError("--cross-machine needs the calibration kernel (test_calibration) in both runs")
    everything = bool(foreign)
    calibrate = everything or any(policies.for_benchmark(b.fullname).calibrate
                                  for b in current_run.benchmarks if b.fullname != calibration)
    if calibrate and not have_calibration:
        report.notes.append("no calibration kernel in every run: compared without calibration")
    calibrate = calibrate and have_calibration
    cur_raw = current_run.samples()
    cur = prepared(current_run, policies, calibrate, everything)
    cur_values, cur_raw_values = (process_samples(current_run, policies, calibrate, everything),
                                  process_samples(current_run, policies, False))
    base: dict[str, list[float]] = {}
    base_raw: dict[str, list[float]] = {}
    base_values: dict[str, list[float]] = {}
    base_raw_values: dict[str, list[float]] = {}
    redefined: set[str] = set()
    for run in baseline_runs:
        # A baseline measured a benchmark of the same name but a different workload (e.g. the code changed how it
        # measures): not comparable. Only baseline runs of the current definition are pooled.
        same = set()
        for bench in run.benchmarks:
            mine = current_run.get(bench.fullname)
            if mine is None or comparable(bench.current.definition, mine.current.definition):
                same.add(bench.fullname)
            else:
                redefined.add(bench.fullname)
        for name, data in prepared(run, policies, calibrate, everything).items():
            if name in same:
                base.setdefault(name, []).extend(data)
        for name, data in run.samples().items():
            if name in same:
                base_raw.setdefault(name, []).extend(data)
        for name, data in process_samples(run, policies, calibrate, everything).items():
            if name in same:
                base_values.setdefault(name, []).extend(data)
        for name, data in process_samples(run, policies, False).items():
            if name in same:
                base_raw_values.setdefault(name, []).extend(data)
    if calibrate and calibration in base_raw:
        factor = statistics.median(cur_raw[calibration]) / statistics.median(base_raw[calibration])
        report.normalization = factor
        report.notes.append(f"calibrated: each run divided by its own session's {calibration.split('::')[-1]}; "
                            f"this session's calibration kernel ran {factor:.3f}x the baseline's time"
                            + (f" (cross-machine: baseline from {foreign[0]}, this run on {cur_fp})"
                               if foreign else ""))

    def judged(name: str, reference: dict, rounds: dict, values: dict, reference_values: dict,
               raw_values: dict) -> Comparison:
        # The test on rounds, the ratio over processes (both calibrated where the policy says); the table shows
        # real seconds.
        return judge_benchmark(name, reference[name], rounds[name], policies.for_benchmark(name),
                               values=(reference_values[name], values[name]),
                               seconds=(centre(base_raw_values[name]), centre(raw_values[name])))

    failing = []
    for name in cur:
        if name not in base:
            verdict = "redefined" if name in redefined else "new"
            report.comparisons.append(Comparison(name, verdict, current_seconds=centre(cur_raw_values[name])))
            continue
        result = judged(name, base, cur, cur_values, base_values, cur_raw_values)
        if name == calibration:
            result = replace(result, verdict="calibration")
        report.comparisons.append(result)
        if result.verdict == "regression":
            failing.append(name)
    missing = sorted(base.keys() - cur.keys())
    for name in missing:
        report.comparisons.append(Comparison(name, "missing", baseline_seconds=centre(base_raw_values[name])))
    chosen = [*current_run.narrowed_by, *(f"--{k.replace('_', '-')} other than the baseline's"
                                          for k in current_run.options_differ(baseline_runs))]
    report.narrowed = ", ".join(chosen) or None
    if missing:
        names = ", ".join(n.split("::")[-1] for n in missing)
        report.notes.append(f"{len(missing)} benchmark(s) of the baseline left out of this run, which was narrowed "
                            f"({report.narrowed}): {names}" if report.narrowed else
                            f"{len(missing)} benchmark(s) of the baseline are not in this run (skipped, failed or "
                            f"deleted?) and were not gated: {names}")
    changed = sorted(n for n in cur if n in redefined and n not in base)
    if changed:
        report.notes.append(f"{len(changed)} benchmark(s) measure something other than the baseline did (their "
                            "workload definition changed), so they were not compared: "
                            + ", ".join(n.split("::")[-1] for n in changed)
                            + "; promote a run of this code to gate them again")
    fresh_run = remeasured(report, failing, remeasure) if failing and remeasure is not None else None
    if fresh_run is not None:
        fresh_run = Run.of(fresh_run)
        fresh_calibrated = fresh_run.calibration is not None
        fresh = prepared(fresh_run, policies, calibrate and fresh_calibrated, everything)
        fresh_values = process_samples(fresh_run, policies, calibrate and fresh_calibrated, everything)
        fresh_raw_values = process_samples(fresh_run, policies, False)
        # Without a calibration kernel in the fresh run, its seconds can only meet the baseline's seconds (never its
        # calibrated ratios); across machines seconds mean nothing, so the first verdict stands.
        if calibrate and not fresh_calibrated:
            report.notes.append("the re-measurement has no calibration kernel: "
                                + ("first verdicts kept (cross-machine)" if everything else
                                   "compared in seconds with the baseline's seconds"))

        def again(first: Comparison) -> Comparison | None:
            if first.name not in fresh or (calibrate and not fresh_calibrated and everything):
                return None
            raw = calibrate and not fresh_calibrated
            return judged(first.name, base_raw if raw else base, fresh, fresh_values,
                          base_raw_values if raw else base_values, fresh_raw_values)

        confirm_regressions(report, failing, again)
    _note_inconclusive(report)
    return report


def _note_inconclusive(report: GateReport) -> None:
    unresolved = report.unresolved
    if unresolved:
        report.notes.append(f"{len(unresolved)} benchmark(s) unresolved: not a regression, but a slowdown above "
                            "the tolerance is not ruled out (one-sided 95 % bound): " + "; ".join(
                                f"{c.short_name} rules out {c.rules_out_text}, tolerance {c.policy.tolerance:.0%} "
                                + (f"(about {c.to_resolve} processes a side would settle it)" if c.to_resolve else
                                   f"(its ratio {c.ratio.ratio:.3f} is above the tolerance: more processes will "
                                   "not make it unchanged)") for c in unresolved))
    new = [c.short_name for c in report.comparisons if c.verdict == "new"]
    if new and report.comparisons and len(new) < len(report.comparisons):
        report.notes.append(f"{len(new)} benchmark(s) not gated: nothing in the baseline measured them: "
                            + ", ".join(sorted(new)))
    blind = report.inconclusive
    if blind:
        report.notes.append(
            f"{len(blind)} benchmark(s) could not have failed: with their sample sizes the test cannot reach "
            f"p < alpha whatever the data: "
            + ", ".join(f"{c.short_name} (needs >= {c.needed} per side)" for c in blind))
