"""The paired gate: this tree against the baseline code, both measured in one session, processes interleaved.

A paired run (``pytest benchmarks/ --baseline-tree=PATH``) carries both arms. The unit is the process: each
contributes its value as the estimator defines it (`cifar.stats.estimate.process_seconds`: its rounds' time over
their number). Process i of each arm ran back to back, so whatever the machine did at that moment slowed both: by
default the test is Wilcoxon's signed-rank on log(current / baseline) of the pairs, and the ratio the estimator's
(the trimmed mean of the pairs' log ratios) with its trimmed-t interval. A pair in which either process was contended is
left out (`cifar.stats.estimate.quiet_indices`).
"""

from __future__ import annotations

from dataclasses import replace

from cifar.gate.decide import BLIND_SPOT, DETECTION_POWER, Comparison, judge_benchmark
from cifar.errors import GateError
from cifar.gate.stored import GateReport, _note_inconclusive, confirm_regressions, remeasured
from cifar.gate.policy import Policies
from cifar.suite.runfile import Benchmark, Run, comparable
from cifar.stats.estimate import TRIM, TRIMMED_FROM, centre, process_values, quiet_indices
from cifar.stats.ranktests import FALLBACK, TESTS
from cifar.workloads.timing import CONTENTION_THRESHOLD


def contended_pairs(bench: Benchmark) -> list[int]:
    """Indices of the pairs (process i of each arm, run side by side) in which either process was contended:
    the rest of the machine took more than its share of the CPU while it measured. Runs from before each
    process's contention was recorded have none."""
    current, baseline = bench.current.contention, bench.baseline.contention if bench.baseline else ()
    if not current or not baseline or len(current) != len(baseline):
        return []
    return sorted(bench.current.contended | bench.baseline.contended)


def _quiet(values: list, contention: tuple[dict, ...]) -> tuple[list, int]:
    """`values` without the processes flagged contended (`quiet_indices`' rule), and how many were left out;
    all of them when the flags do not match the processes one to one (runs from before they were recorded)."""
    if len(contention) != len(values):
        return values, 0
    keep = quiet_indices([bool(c.get("contended")) for c in contention])
    return [values[i] for i in keep], len(values) - len(keep)


def paired_samples(run, policies: Policies = Policies(), dropped: dict | None = None,
                   ) -> dict[str, tuple[list[float] | None, list[float]]]:
    """{benchmark: (baseline arm's per-process values or None, this tree's)}: `process_values` of each arm.

    A pair in which either process was contended is left out of both arms: what it measured is partly the
    neighbour. If that would leave fewer than half the pairs, all are kept (the run itself was contended,
    and the gate's blind-spot note says what it could still catch). ``dropped``, if given, is filled with
    {benchmark: (pairs left out, pairs)}."""
    out = {}
    for bench in Run.of(run).benchmarks:
        current = list(bench.current.per_process)
        baseline = list(bench.baseline.per_process) if bench.baseline else None
        if baseline and len(baseline) == len(current):
            skip = set(contended_pairs(bench))
            keep = quiet_indices([i in skip for i in range(len(current))])
            if skip and dropped is not None:
                dropped[bench.fullname] = (len(current) - len(keep), len(current))
            baseline, current = [baseline[i] for i in keep], [current[i] for i in keep]
        elif baseline:
            # Not pairs (an arm lost a process): each arm leaves out its own contended processes, by the same rule.
            baseline, left_base = _quiet(baseline, bench.baseline.contention)
            current, left_cur = _quiet(current, bench.current.contention)
            if (left_base or left_cur) and dropped is not None:
                dropped[bench.fullname] = (left_base + left_cur, len(baseline) + len(current) + left_base + left_cur)
        out[bench.fullname] = (process_values(baseline) if baseline else None, process_values(current))
    return out


def spent_policy(run, name: str, policy):
    """`policy` as the paired gate tests benchmark `name` of `run`: in a budgeted session (``--budget``) at the
    alpha its looks left it (``extra_info["effort"]["alpha"]``, `cifar.gate.sequential.spent_alpha`), else as is."""
    bench = Run.of(run).get(name)
    spent = ((bench.extra.get("effort") or {}) if bench is not None else {}).get("alpha")
    return policy if spent is None else replace(policy, alpha=min(policy.alpha, float(spent)))


def gate_paired(run, policies: Policies = Policies(), *, remeasure=None) -> GateReport:
    """Gate a paired run: per benchmark, this tree's per-process values against the baseline arm's, both
    measured in the same session, processes interleaved (A B B A …), so drift of the machine hits both.
    ``remeasure(names) -> run`` makes a fresh paired measurement of the failing benchmarks."""
    run = Run.of(run)
    if not run.paired:
        raise GateError("not a paired run (no baseline arm): make one with pytest benchmarks/ --baseline-tree=PATH")
    trees = sorted({str(b.baseline_tree) for b in run.benchmarks if b.in_pair})
    report = GateReport([], f"the baseline arm ({', '.join(trees)}), same session, interleaved")
    dropped: dict[str, tuple[int, int]] = {}
    pairs = paired_samples(run, policies, dropped)
    if all(base is None for base, _ in pairs.values()):
        # Nothing was compared: passing would hide that the baseline code never ran (e.g. too old for this runner).
        first = next((b.baseline_error for b in run.benchmarks if b.baseline_error), "?")
        raise GateError(f"the baseline arm produced no result for any benchmark (first error: {first})")
    calibration = run.calibration
    redefined = {b.fullname for b in run.benchmarks
                 if b.baseline and not comparable(b.baseline.definition, b.current.definition)}
    failing = []
    for name, (base, cur) in pairs.items():
        if base is None:
            report.comparisons.append(Comparison(name, "new", current_seconds=centre(cur)))
            continue
        policy = spent_policy(run, name, policies.for_benchmark(name))
        if not TESTS[policy.test].applies(base, cur, paired_run=True):
            report.notes.append(f"{name.split('::')[-1]}: {len(cur)} vs {len(base)} processes are not pairs; "
                                f"tested with {FALLBACK.description}")
        result = judge_benchmark(name, base, cur, policy, paired=True)
        if name == calibration:
            result = replace(result, verdict="calibration")
        elif name in redefined:
            result = replace(result, verdict="redefined")
        report.comparisons.append(result)
        if result.verdict == "regression":
            failing.append(name)
    if dropped:
        report.notes.append("pairs in which either process was contended (others and steal took > "
                            f"{CONTENTION_THRESHOLD:.0%} of the CPU) are left out (where the arms do not pair up, "
                            "each arm's contended processes): " + ", ".join(
                                f"{name.split('::')[-1]} {k} of {n}" if k else
                                f"{name.split('::')[-1]} none of {n} (over half were contended: all kept)"
                                for name, (k, n) in sorted(dropped.items())))
    if redefined:
        report.notes.append(f"{len(redefined)} benchmark(s) measure something other than the baseline code does "
                            "(their workload definition changed), so their ratio is shown but not gated: "
                            + ", ".join(sorted(n.split("::")[-1] for n in redefined)))
    fresh_run = remeasured(report, failing, remeasure) if failing and remeasure is not None else None
    if fresh_run is not None:
        fresh = paired_samples(fresh_run, policies)

        def again(first: Comparison) -> Comparison | None:
            base, cur = fresh.get(first.name, (None, None))
            return None if base is None else judge_benchmark(first.name, base, cur, first.policy, paired=True)

        confirm_regressions(report, failing, again)
    stopped = [(b.name, b.extra["effort"]) for b in run.benchmarks
               if (b.extra.get("effort") or {}).get("stopped") == "unchanged" and b.fullname != calibration]
    if stopped:
        report.notes.append("stopped at a look once their pairs ruled out a slowdown above their tolerance "
                            "(--sequential): " + ", ".join(
                                f"{name} {e['passes']} of {e.get('planned') or e['max_passes']} pairs"
                                for name, e in stopped))
    extended = [(b.name, b.extra["effort"]) for b in run.benchmarks
                if (b.extra.get("effort") or {}).get("planned") is not None
                and b.extra["effort"]["passes"] > b.extra["effort"]["planned"]]
    if extended:
        report.notes.append("unresolved after their planned pairs, given more within the session's budget "
                            "(--budget; the test's alpha spent across the looks): " + ", ".join(
                                f"{name} {e['passes']} pairs ({e['planned']} planned, {e['stopped']}, "
                                f"alpha {e['alpha']:.3g})" for name, e in extended))
    n = sorted({len(cur) for _, cur in pairs.values()})
    used = [TESTS[name] for name in sorted({c.test for c in report.comparisons if c.p_slower is not None})]
    how = (used[0].description if len(used) == 1 else
           " where processes pair up, else ".join(t.description for t in sorted(used, key=lambda t: not t.paired)))
    report.notes.append("paired: one value per process (its rounds' time over their number), "
                        f"{'/'.join(map(str, n))} processes per arm; {how}; ratio = the pairs' {TRIM:.0%} trimmed "
                        f"mean of log ratios with Yuen's 95 % interval (none trimmed below {TRIMMED_FROM} pairs; "
                        "cifar.stats.estimate)")
    blind = [c for c in report.comparisons if c.verdict not in ("calibration", "inconclusive")
             and c.detectable is not None and c.detectable > BLIND_SPOT]
    if blind:
        report.notes.append(f"too noisy in this run to catch a {BLIND_SPOT:.0%} slowdown with {DETECTION_POWER:.0%} "
                            "power; the smallest each would catch: " + ", ".join(
                                f"{c.short_name} {c.detectable:.1%}" for c in blind)
                            + "; more --passes (processes per arm) narrow it")
    _note_inconclusive(report)
    return report


def is_paired(run) -> bool:
    """A run made with ``pytest benchmarks/ --baseline-tree=PATH``: it carries its own baseline arm."""
    return Run.of(run).paired
