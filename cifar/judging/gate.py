"""The regression gate: did this run get slower than the baseline, beyond noise?

Per benchmark, a regression needs both
  * statistical evidence: one-sided Mann-Whitney U (scipy), current rounds slower than baseline rounds,
    p < alpha (default 0.01) — asv's test, made one-sided because only slowdowns fail a gate; and
  * practical size: median(current) / median(baseline) > 1 + floor (default 5 %);
reported with a bootstrap 95 % confidence interval of that ratio. A benchmark that fails is measured once
more in fresh processes, and the gate fails only if it fails again: one unlucky session on a shared machine
does not fail CI.

Two sources for the baseline:
  * a paired run (``pytest benchmarks/ --baseline-tree=PATH``) carries its own: the baseline code measured in
    the same session, processes interleaved; `gate_paired` tests per-process medians of the two arms, by
    default as pairs (process i of each arm ran side by side: Wilcoxon signed-rank on their ratios);
  * otherwise the newest promoted runs of this machine (`gate`), pooled.

>>> python -m cifar gate run.json                       # doctest: +SKIP
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path

from cifar.judging.stats import Ratio, detectable_slowdown, median_ratio_ci, paired_ratio_ci, signed_rank_p
from cifar.workloads.timing import CONTENTION_THRESHOLD

DEFAULT_ALPHA = 0.01
DEFAULT_FLOOR = 0.05
#: The calibration kernel: the article's matmul on one thread, measured in every session (test_calibration).
CALIBRATION = ("calibration", "intra1-inter1")
TESTS = ("mann-whitney", "signed-rank")
#: What one process contributes to a paired gate: the median of its rounds, or their geometric mean (and how
#: reports name them).
PER_PROCESS = {"median": "medians", "geomean": "geometric means"}
#: A paired gate notes every benchmark whose own noise hid slowdowns this large (with 80 % power).
BLIND_SPOT = 0.10
DETECTION_POWER = 0.8


class GateError(Exception):
    """Bad input to the gate (missing, corrupt, foreign or incomplete run); the message is one line."""


@dataclass(frozen=True)
class Policy:
    alpha: float = DEFAULT_ALPHA
    floor: float = DEFAULT_FLOOR
    #: Divide by the same session's calibration kernel first. Off by default: on this machine it did not
    #: lower false alarms in a real A/A check (README, "Does the gate work?").
    calibrate: bool = False
    #: The test of a paired run: "signed-rank" (Wilcoxon, on the ratios of processes run side by side) or
    #: "mann-whitney" (the two arms as independent samples; the only choice for stored baselines).
    test: str = "mann-whitney"
    #: One value per process in a paired run: "median" of its rounds (robust to a stray round) or "geomean"
    #: (uses every round; measured on the per-element pipelines: better for one, worse for the other, so not
    #: shipped; README, checks 6 and 7).
    per_process: str = "median"

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise GateError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if self.test not in TESTS:
            raise GateError(f"test must be one of {', '.join(TESTS)}, got {self.test!r}")
        if self.per_process not in PER_PROCESS:
            raise GateError(f"per_process must be one of {', '.join(PER_PROCESS)}, got {self.per_process!r}")
        if not 0.0 <= self.floor < 10.0:
            raise GateError(f"floor must be a fraction >= 0 (0.05 = 5 %), got {self.floor!r}")


@dataclass(frozen=True)
class Policies:
    """A default policy plus per-benchmark overrides by fnmatch pattern on the benchmark's fullname."""

    default: Policy = Policy()
    overrides: tuple[tuple[str, Policy], ...] = ()

    def for_benchmark(self, name: str) -> Policy:
        policy = self.default
        for pattern, override in self.overrides:
            if fnmatch.fnmatchcase(name, pattern):
                policy = override
        return policy

    @classmethod
    def load(cls, path: str | Path | None, alpha: float | None = None, floor: float | None = None,
             calibrate: bool | None = None, paired: bool = False, required: bool = False) -> "Policies":
        """Read ``gate.json``: ``{"alpha": 0.01, "floor": 0.05, "overrides": {"PATTERN": {"floor": 0.1}},
        "paired": {"alpha": 0.01, "floor": 0.03, "overrides": {...}}}``.

        ``paired``: use the ``"paired"`` section (for paired runs; the top level when it has none).
        ``alpha``/``floor``/``calibrate`` (command-line values) replace the file's defaults. ``required``: the
        user named `path` (``--config``), so a missing file is an error; otherwise the defaults apply.
        """
        data: dict = {}
        if required and (path is None or not Path(path).is_file()):
            raise GateError(f"{path}: no such policy file")
        if path is not None and Path(path).exists():
            try:
                data = json.loads(Path(path).read_text())
            except json.JSONDecodeError as err:
                raise GateError(f"{path}: not valid JSON ({err})") from None
            if not isinstance(data, dict):
                raise GateError(f"{path}: expected a JSON object")
        unknown = set(data) - {"alpha", "floor", "calibrate", "overrides", "paired"}
        if unknown:
            raise GateError(f"{path}: unknown keys {sorted(unknown)}")
        section = data.pop("paired", None)
        if section is not None and not isinstance(section, dict):
            raise GateError(f"{path}: 'paired' must be an object with alpha, floor and/or overrides")
        if paired and section is not None:
            unknown = set(section) - {"alpha", "floor", "test", "per_process", "overrides"}
            if unknown:
                raise GateError(f"{path}: unknown keys in 'paired': {sorted(unknown)}")
            data = section
        default = Policy(float(data.get("alpha", DEFAULT_ALPHA)), float(data.get("floor", DEFAULT_FLOOR)),
                         bool(data.get("calibrate", False)) if calibrate is None else calibrate,
                         str(data.get("test", "mann-whitney")), str(data.get("per_process", "median")))
        if alpha is not None or floor is not None:
            default = replace(default, alpha=default.alpha if alpha is None else alpha,
                              floor=default.floor if floor is None else floor)
        overrides = []
        for pattern, values in data.get("overrides", {}).items():
            keys = {"alpha", "floor", "calibrate"} | ({"test", "per_process"} if paired and section is not None else set())
            if not isinstance(values, dict) or set(values) - keys:
                raise GateError(f"{path}: override {pattern!r} must be an object with {', '.join(sorted(keys))}")
            values = {k: (bool(v) if k == "calibrate" else str(v) if k in ("test", "per_process") else float(v))
                      for k, v in values.items()}
            overrides.append((pattern, replace(default, **values)))
        return cls(default, tuple(overrides))


@dataclass(frozen=True)
class Comparison:
    name: str
    verdict: str  # regression | improvement | unchanged | new | missing | redefined | calibration
    baseline_median: float | None = None
    current_median: float | None = None
    ratio: Ratio | None = None  # current / baseline: > 1 is slower
    p_slower: float | None = None
    p_faster: float | None = None
    policy: Policy = Policy()
    remeasured: bool = False
    first: "Comparison | None" = None  # the failing comparison that triggered the re-measurement
    test: str = "mann-whitney"  # the test that gave the p-values (a paired run may fall back to mann-whitney)
    #: Paired runs: about the smallest slowdown this comparison would have flagged with 80 % power, given the
    #: spread of its own processes (never below the floor; inf when the test cannot reach alpha).
    detectable: float | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name, "verdict": self.verdict, "baseline_median": self.baseline_median,
            "current_median": self.current_median,
            "ratio": None if self.ratio is None else [self.ratio.ratio, self.ratio.low, self.ratio.high],
            "p_slower": self.p_slower, "p_faster": self.p_faster, "alpha": self.policy.alpha,
            "floor": self.policy.floor, "test": self.test, "remeasured": self.remeasured,
            "detectable_slowdown": None if self.detectable is None or math.isinf(self.detectable) else self.detectable,
        }


@dataclass
class GateReport:
    comparisons: list[Comparison]
    baseline_label: str
    normalization: float | None = None  # baseline scaled by this calibration factor (cross-machine)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == "regression"]

    @property
    def passed(self) -> bool:
        return not self.regressions

    def to_dict(self) -> dict:
        return {"baseline": self.baseline_label, "normalization": self.normalization, "passed": self.passed,
                "notes": self.notes, "comparisons": [c.to_dict() for c in self.comparisons]}


# -- reading runs ---------------------------------------------------------------------------------------
def load_run(path: str | Path) -> dict:
    """A pytest-benchmark JSON file with per-round data; any problem is one `GateError` line."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise GateError(f"{path}: no such file") from None
    except OSError as err:
        raise GateError(f"{path}: cannot read ({err.strerror})") from None
    try:
        run = json.loads(text)
    except json.JSONDecodeError as err:
        raise GateError(f"{path}: not valid JSON, corrupt or half-written ({err.msg} at line {err.lineno})") from None
    if not isinstance(run, dict) or not isinstance(run.get("benchmarks"), list):
        raise GateError(f"{path}: not a pytest-benchmark result (no 'benchmarks' list)")
    for bench in run["benchmarks"]:
        data = bench.get("stats", {}).get("data") if isinstance(bench, dict) else None
        if not data or not all(isinstance(d, (int, float)) and d > 0 for d in data):
            name = bench.get("fullname", "?") if isinstance(bench, dict) else "?"
            raise GateError(f"{path}: {name} has no per-round data (save runs with --benchmark-json, "
                            "or --benchmark-autosave from this suite, which keeps the data)")
    return run


def samples(run: dict) -> dict[str, list[float]]:
    return {b["fullname"]: list(b["stats"]["data"]) for b in run["benchmarks"]}


#: Workloads whose way of measuring changed after runs started recording their definition: a baseline from
#: before (no definition) is not comparable for these. pipeline: a fresh iterator per round (commit 257a7f2).
CHANGED_SINCE_UNRECORDED = frozenset({"pipeline"})


def definitions(run: dict) -> dict[str, dict | None]:
    """What each benchmark measured (``extra_info["definition"]``; None in runs from before it was recorded)."""
    return {b["fullname"]: b.get("extra_info", {}).get("definition") for b in run["benchmarks"]}


def comparable(baseline: dict | None, current: dict | None, workload: str | None) -> bool:
    """Did a baseline measure what the current run measured? Unrecorded (older) baselines are, except for
    the workloads changed since (`CHANGED_SINCE_UNRECORDED`)."""
    if baseline is None:
        return current is None or workload not in CHANGED_SINCE_UNRECORDED
    return current is None or baseline == current


def fingerprint(run: dict) -> str:
    """The machine a run was measured on: CPU model, core counts, TensorFlow version, Python minor."""
    info = run.get("machine_info", {}).get("cifar")
    if not info:
        raise GateError("run has no machine_info['cifar'] (was it produced by this suite's pytest benchmarks/?)")
    python = ".".join(str(info.get("python", "?")).split(".")[:2])
    text = (f"{info.get('cpu_model', 'unknown-cpu')}-{info.get('physical_cores')}c{info.get('logical_cores')}t-"
            f"tf{info.get('tensorflow_version')}-py{python}")
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def _calibration_name(run: dict) -> str | None:
    for bench in run["benchmarks"]:
        extra = bench.get("extra_info", {})
        if (extra.get("workload"), extra.get("threads")) == CALIBRATION:
            return bench["fullname"]
    return None


# -- deciding ---------------------------------------------------------------------------------------------
def compare(name: str, baseline: list[float], current: list[float], policy: Policy = Policy(),
            ci: bool = True, paired: bool = False, detect: bool = True) -> Comparison:
    """One benchmark: a one-sided test both ways, the ratio current / baseline (with bootstrap CI unless
    ``ci=False``; the verdict does not use the CI), and the verdict; for a `paired` run also what it could
    have caught (unless ``detect=False``; neither the CI nor that is needed to resample verdicts).

    The test is Mann-Whitney U on the two samples, and the ratio the ratio of their medians; but when
    `paired` (``baseline[i]`` and ``current[i]`` ran side by side) and the policy says ``signed-rank``, it is
    Wilcoxon's signed-rank test on log(current[i] / baseline[i]) and the median of those ratios: drift
    common to a pair cancels."""
    from scipy.stats import mannwhitneyu

    if paired and policy.test == "signed-rank" and len(baseline) == len(current):
        ratios = [c / b for c, b in zip(current, baseline)]
        logs = [math.log(r) for r in ratios]
        ratio = paired_ratio_ci(current, baseline) if ci else Ratio(*[statistics.median(ratios)] * 3)
        p_slower, p_faster = signed_rank_p(logs, "greater"), signed_rank_p(logs, "less")
        test = "signed-rank"
    else:
        if ci:
            ratio = median_ratio_ci(current, baseline)
        else:
            point = statistics.median(current) / statistics.median(baseline)
            ratio = Ratio(point, point, point)
        p_slower = float(mannwhitneyu(current, baseline, alternative="greater").pvalue)
        p_faster = float(mannwhitneyu(current, baseline, alternative="less").pvalue)
        test = "mann-whitney"
    detectable = None
    if paired and detect:
        # Per-process values are independent units, so their spread says what this run could have seen. (Rounds
        # of one process are not: for stored baselines, which test rounds, such a figure would flatter.)
        detectable = (math.inf if smallest_p(len(current), len(baseline), test) >= policy.alpha else
                      max(policy.floor, detectable_slowdown(baseline, current, policy.alpha, DETECTION_POWER,
                                                            paired=test == "signed-rank")))
    if p_slower < policy.alpha and ratio.ratio > 1.0 + policy.floor:
        verdict = "regression"
    elif p_faster < policy.alpha and ratio.ratio < 1.0 / (1.0 + policy.floor):
        verdict = "improvement"
    else:
        verdict = "unchanged"
    return Comparison(name, verdict, statistics.median(baseline), statistics.median(current), ratio,
                      p_slower, p_faster, policy, test=test, detectable=detectable)


def prepared(run: dict, policies: Policies, calibrate: bool, everything: bool = False) -> dict[str, list[float]]:
    """The run's rounds, divided by its own session's calibration median where the policy says so
    (``everything``: all benchmarks, as cross-machine comparison needs). The calibration kernel stays raw."""
    data = samples(run)
    name = _calibration_name(run)
    if not calibrate or name is None:
        return data
    c = statistics.median(data[name])
    return {n: [d / c for d in values] if n != name and (everything or policies.for_benchmark(n).calibrate) else values
            for n, values in data.items()}


def gate(baseline_runs: dict | list[dict], current_run: dict, policies: Policies = Policies(), *, remeasure=None,
         cross_machine: bool = False, baseline_label: str = "baseline") -> GateReport:
    """Compare every benchmark of `current_run` with the pooled rounds of `baseline_runs`.

    Pooling several baseline sessions (the newest promoted runs) keeps one lucky or unlucky baseline
    session from deciding every later verdict. Benchmarks whose policy has ``calibrate`` (all of them
    across machines) are first divided by their own session's calibration kernel, which cancels drift of
    the whole machine between sessions. ``remeasure(names) -> run`` measures the failing benchmarks
    again in fresh processes; a benchmark is a regression only if the new measurement fails too.
    """
    if isinstance(baseline_runs, dict):
        baseline_runs = [baseline_runs]
    if not baseline_runs:
        raise GateError("no baseline run to compare with")
    cur_fp = fingerprint(current_run)
    report = GateReport([], baseline_label)
    calibration = _calibration_name(current_run)
    foreign = [fingerprint(run) for run in baseline_runs if fingerprint(run) != cur_fp]
    if foreign and not cross_machine:
        raise GateError(f"baseline was measured on {foreign[0]}, this run on {cur_fp}: comparing across machines "
                        "measures the machines, not the change (pass --cross-machine to normalize by the "
                        "1-thread matmul calibration kernel measured in both sessions)")
    have_calibration = calibration is not None and all(_calibration_name(run) for run in baseline_runs)
    if foreign and not have_calibration:
        raise GateError("--cross-machine needs the calibration kernel (test_calibration) in both runs")
    everything = bool(foreign)
    calibrate = everything or any(policies.for_benchmark(n).calibrate for n in samples(current_run) if n != calibration)
    if calibrate and not have_calibration:
        report.notes.append("no calibration kernel in every run: compared without calibration")
    calibrate = calibrate and have_calibration
    cur_raw = samples(current_run)
    cur = prepared(current_run, policies, calibrate, everything)
    cur_def = definitions(current_run)
    workloads = {b["fullname"]: b.get("extra_info", {}).get("workload") for b in current_run["benchmarks"]}
    base: dict[str, list[float]] = {}
    base_raw: dict[str, list[float]] = {}
    redefined: set[str] = set()
    for run in baseline_runs:
        # A baseline measured a benchmark of the same name but a different workload (e.g. the code changed how it
        # measures): not comparable. Only baseline runs of the current definition are pooled.
        defs = definitions(run)
        same = {n for n, d in defs.items() if n not in cur_def or comparable(d, cur_def[n], workloads[n])}
        redefined |= defs.keys() - same
        for name, data in prepared(run, policies, calibrate, everything).items():
            if name in same:
                base.setdefault(name, []).extend(data)
        for name, data in samples(run).items():
            if name in same:
                base_raw.setdefault(name, []).extend(data)
    if calibrate and calibration in base_raw:
        factor = statistics.median(cur_raw[calibration]) / statistics.median(base_raw[calibration])
        report.normalization = factor
        report.notes.append(f"calibrated: each run divided by its own session's {calibration.split('::')[-1]}; "
                            f"this session's calibration kernel ran {factor:.3f}x the baseline's time"
                            + (f" (cross-machine: baseline from {foreign[0]}, this run on {cur_fp})" if foreign else ""))

    def with_raw_medians(c: Comparison, current: dict[str, list[float]]) -> Comparison:
        # Verdicts may use calibrated values; the table shows real milliseconds.
        return replace(c, baseline_median=statistics.median(base_raw[c.name]),
                       current_median=statistics.median(current[c.name]))

    failing = []
    for name, data in cur.items():
        if name not in base:
            verdict = "redefined" if name in redefined else "new"
            report.comparisons.append(Comparison(name, verdict, current_median=statistics.median(cur_raw[name])))
            continue
        result = with_raw_medians(compare(name, base[name], data, policies.for_benchmark(name)), cur_raw)
        if name == calibration:
            result = replace(result, verdict="calibration")
        report.comparisons.append(result)
        if result.verdict == "regression":
            failing.append(name)
    for name in base.keys() - cur.keys():
        report.comparisons.append(Comparison(name, "missing", baseline_median=statistics.median(base_raw[name])))
    changed = sorted(n for n in cur if n in redefined and n not in base)
    if changed:
        report.notes.append(f"{len(changed)} benchmark(s) measure something other than the baseline did (their "
                            "workload definition changed), so they were not compared: "
                            + ", ".join(n.split("::")[-1] for n in changed)
                            + "; promote a run of this code to gate them again")
    if failing and remeasure is not None:
        fresh_run = remeasure(failing)
        fresh_raw = samples(fresh_run)
        fresh_calibrated = _calibration_name(fresh_run) is not None
        fresh = prepared(fresh_run, policies, calibrate and fresh_calibrated, everything)
        # Without a calibration kernel in the fresh run, its seconds can only meet the baseline's seconds (never its
        # calibrated ratios); across machines seconds mean nothing, so the first verdict stands.
        if calibrate and not fresh_calibrated:
            report.notes.append("the re-measurement has no calibration kernel: "
                                + ("first verdicts kept (cross-machine)" if everything else
                                   "compared in seconds with the baseline's seconds"))

        def again(first: Comparison) -> Comparison | None:
            if first.name not in fresh or (calibrate and not fresh_calibrated and everything):
                return None
            reference = base_raw if calibrate and not fresh_calibrated else base
            return with_raw_medians(compare(first.name, reference[first.name], fresh[first.name], first.policy),
                                    fresh_raw)

        _confirm(report, failing, again)
    return report


def _confirm(report: GateReport, failing: list[str], again) -> None:
    """Replace each failing comparison by its re-measurement, a regression only if that fails too.
    ``again(first) -> Comparison | None`` compares the fresh measurement (None: it has no result)."""
    for i, first in enumerate(report.comparisons):
        if first.name not in failing:
            continue
        result = again(first)
        if result is None:
            report.notes.append(f"re-measurement of {first.name} produced no result; first verdict kept")
            continue
        verdict = "regression" if result.verdict == "regression" else "unchanged"
        report.comparisons[i] = replace(result, verdict=verdict, remeasured=True, first=first)


# -- paired runs: both arms measured in one session ---------------------------------------------------------
def is_paired(run: dict) -> bool:
    """A run made with ``pytest benchmarks/ --baseline-tree=PATH``: it carries its own baseline arm."""
    return any("paired_baseline" in b.get("extra_info", {}) for b in run["benchmarks"])


def per_process(durations_per_process: list[list[float]], statistic: str = "median") -> list[float]:
    """One value per process: the unit a paired gate tests (rounds of one process are not independent)."""
    if statistic == "geomean":
        return [statistics.geometric_mean(rounds) for rounds in durations_per_process]
    return [statistics.median(rounds) for rounds in durations_per_process]


def contended_pairs(extra: dict) -> list[int]:
    """Indices of the pairs (process i of each arm, run side by side) in which either process was contended:
    the rest of the machine took more than its share of the CPU while it measured. Runs from before each
    process's contention was recorded have none."""
    current = extra.get("contention_per_process")
    baseline = extra.get("paired_baseline", {}).get("contention_per_process")
    if not current or not baseline or len(current) != len(baseline):
        return []
    return [i for i, (b, c) in enumerate(zip(baseline, current)) if b.get("contended") or c.get("contended")]


def paired_samples(run: dict, policies: Policies = Policies(), dropped: dict | None = None,
                   ) -> dict[str, tuple[list[float] | None, list[float]]]:
    """{benchmark: (baseline arm's per-process values or None, this tree's)}, each benchmark's policy saying
    which value (median or geometric mean of the process's rounds).

    A pair in which either process was contended is left out of both arms: what it measured is partly the
    neighbour. If that would leave fewer than half the pairs, all are kept (the run itself was contended,
    and the gate's blind-spot note says what it could still catch). ``dropped``, if given, is filled with
    {benchmark: (pairs left out, pairs)}."""
    out = {}
    for bench in run["benchmarks"]:
        extra = bench.get("extra_info", {})
        current = extra.get("durations_per_process") or [bench["stats"]["data"]]
        baseline = extra.get("paired_baseline", {}).get("durations_per_process")
        statistic = policies.for_benchmark(bench["fullname"]).per_process
        if baseline and len(baseline) == len(current):
            skip = set(contended_pairs(extra))
            keep_all = 2 * len(skip) > len(current)
            if skip and dropped is not None:
                dropped[bench["fullname"]] = (0 if keep_all else len(skip), len(current))
            if skip and not keep_all:
                baseline = [p for i, p in enumerate(baseline) if i not in skip]
                current = [p for i, p in enumerate(current) if i not in skip]
        out[bench["fullname"]] = (per_process(baseline, statistic) if baseline else None, per_process(current, statistic))
    return out


def smallest_p(n: int, m: int, test: str = "mann-whitney") -> float:
    """The smallest one-sided exact p-value with `n` and `m` samples: Mann-Whitney U 1 / C(n + m, n),
    signed-rank (n pairs) 1 / 2**n."""
    if test == "signed-rank" and n == m:
        return 0.5 ** n
    return 1.0 / math.comb(n + m, n)


def gate_paired(run: dict, policies: Policies = Policies(), *, remeasure=None) -> GateReport:
    """Gate a paired run: per benchmark, this tree's per-process medians against the baseline arm's, both
    measured in the same session, processes interleaved (A B B A …), so drift of the machine hits both.
    ``remeasure(names) -> run`` makes a fresh paired measurement of the failing benchmarks."""
    if not is_paired(run):
        raise GateError("not a paired run (no baseline arm): make one with pytest benchmarks/ --baseline-tree=PATH")
    arms = [b["extra_info"]["paired_baseline"] for b in run["benchmarks"] if "paired_baseline" in b.get("extra_info", {})]
    trees = sorted({str(arm.get("tree")) for arm in arms})
    report = GateReport([], f"the baseline arm ({', '.join(trees)}), same session, interleaved")
    dropped: dict[str, tuple[int, int]] = {}
    pairs = paired_samples(run, policies, dropped)
    if all(base is None for base, _ in pairs.values()):
        # Nothing was compared: passing would hide that the baseline code never ran (e.g. too old for this runner).
        raise GateError(f"the baseline arm produced no result for any benchmark (first error: {arms[0].get('error', '?')})")
    calibration = _calibration_name(run)
    # Both arms record what they measured (runs from before that was recorded have neither: compared as before).
    redefined = {b["fullname"] for b in run["benchmarks"]
                 if not comparable(b["extra_info"].get("paired_baseline", {}).get("definition"),
                                   b["extra_info"].get("definition"), b["extra_info"].get("workload"))}
    failing = []
    for name, (base, cur) in pairs.items():
        if base is None:
            report.comparisons.append(Comparison(name, "new", current_median=statistics.median(cur)))
            continue
        policy = policies.for_benchmark(name)
        if policy.test == "signed-rank" and len(cur) != len(base):
            report.notes.append(f"{name.split('::')[-1]}: {len(cur)} vs {len(base)} processes are not pairs; "
                                "tested with Mann-Whitney U")
        if smallest_p(len(cur), len(base), policy.test) >= policy.alpha:
            report.notes.append(f"{name.split('::')[-1]}: {len(cur)} vs {len(base)} processes cannot reach "
                                f"p < {policy.alpha}; use more --passes")
        result = compare(name, base, cur, policy, paired=True)
        if name == calibration:
            result = replace(result, verdict="calibration")
        elif name in redefined:
            result = replace(result, verdict="redefined")
        report.comparisons.append(result)
        if result.verdict == "regression":
            failing.append(name)
    if dropped:
        report.notes.append("pairs in which either process was contended (others used > "
                            f"{CONTENTION_THRESHOLD:.0%} of the CPU) are left out: " + ", ".join(
                                f"{name.split('::')[-1]} {k} of {n}" if k else
                                f"{name.split('::')[-1]} none of {n} (over half were contended: all kept)"
                                for name, (k, n) in sorted(dropped.items())))
    if redefined:
        report.notes.append(f"{len(redefined)} benchmark(s) measure something other than the baseline code does "
                            "(their workload definition changed), so their ratio is shown but not gated: "
                            + ", ".join(sorted(n.split("::")[-1] for n in redefined)))
    if failing and remeasure is not None:
        fresh = paired_samples(remeasure(failing), policies)

        def again(first: Comparison) -> Comparison | None:
            base, cur = fresh.get(first.name, (None, None))
            return None if base is None else compare(first.name, base, cur, first.policy, paired=True)

        _confirm(report, failing, again)
    n = sorted({len(cur) for _, cur in pairs.values()})
    tests = sorted({c.test for c in report.comparisons if c.p_slower is not None})
    how = ("signed-rank on each pair's ratio, ratio = median of the pairs' ratios" if tests == ["signed-rank"]
           else "Mann-Whitney U, ratio = ratio of the arms' medians" if tests == ["mann-whitney"]
           else "signed-rank where processes pair up, else Mann-Whitney U")
    kinds = sorted({policies.for_benchmark(name).per_process for name in pairs})
    report.notes.append(f"paired: samples are per-process {' or '.join(PER_PROCESS[k] for k in kinds)} of the rounds, "
                        f"{'/'.join(map(str, n))} processes per arm; {how}")
    blind = [c for c in report.comparisons
             if c.verdict != "calibration" and c.detectable is not None and c.detectable > BLIND_SPOT]
    if blind:
        report.notes.append(f"too noisy in this run to catch a {BLIND_SPOT:.0%} slowdown with {DETECTION_POWER:.0%} "
                            "power; the smallest each would catch: " + ", ".join(
                                f"{c.name.split('::')[-1]} {_percent(c.detectable)}" for c in blind)
                            + "; more --passes (processes per arm) narrow it")
    return report


def _percent(fraction: float | None) -> str:
    if fraction is None:
        return "-"
    return "never" if math.isinf(fraction) else f"{fraction:.1%}"


def render(report: GateReport, width: int = 160) -> str:
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None)
    # Text, not str: rich would read "[matmul-default]" in a test id as markup and drop it.
    table = Table(title=Text(f"Regression gate against {report.baseline_label}"))
    table.add_column("benchmark", overflow="fold")
    columns = ["baseline median", "current median", "ratio [95 % CI]", "p (slower)"]
    detectable = any(c.detectable is not None for c in report.comparisons)
    if detectable:
        columns.append(f"detects >= ({DETECTION_POWER:.0%})")
    for column in columns:
        table.add_column(column)
    table.add_column("verdict", no_wrap=True)
    order = {"regression": 0, "improvement": 1, "new": 2, "redefined": 3, "missing": 4, "unchanged": 5,
             "calibration": 6}
    for c in sorted(report.comparisons, key=lambda c: (order[c.verdict], c.name)):
        verdict = c.verdict.upper() if c.verdict == "regression" else c.verdict
        if c.remeasured:
            verdict += " (re-measured)" if c.verdict == "regression" else " (re-measured; first run failed)"
        table.add_row(
            Text(c.name.split("::")[-1]),
            "-" if c.baseline_median is None else f"{c.baseline_median * 1000:.2f} ms",
            "-" if c.current_median is None else f"{c.current_median * 1000:.2f} ms",
            "-" if c.ratio is None else f"{c.ratio.ratio:.3f} [{c.ratio.low:.3f}, {c.ratio.high:.3f}]",
            "-" if c.p_slower is None else f"{c.p_slower:.2g}",
            *([_percent(c.detectable)] if detectable else []),
            verdict,
        )
    console.print(table)
    for note in report.notes:
        console.print(Text(note))
    counts = {v: sum(c.verdict == v for c in report.comparisons) for v in order}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    console.print(("FAILED: " if not report.passed else "passed: ") + summary)
    return buffer.getvalue()


def _grid_item(config_id: str) -> str:
    if config_id == "default":
        return "default"
    match = re.fullmatch(r"intra(\d+)-inter(\d+)", config_id)
    if not match:
        raise GateError(f"cannot re-measure thread configuration {config_id!r}")
    return f"{match[1]}x{match[2]}"


def pytest_remeasure(run: dict, cwd: str | Path = ".", timeout: float = 1800.0):
    """A ``remeasure`` for `gate`: runs the failing benchmarks again with pytest, in fresh processes, with
    the options the run was made with (``cifar_settings`` in its JSON); returns the new run."""
    import subprocess
    import sys
    import tempfile

    settings = run.get("cifar_settings") or {}
    by_name = {b["fullname"]: b for b in run["benchmarks"]}

    def remeasure(names: list[str]) -> dict:
        """Re-run `names` (plus the calibration kernel, for calibrated comparison); the new run's JSON."""
        calibration = _calibration_name(run)
        # The grid comes from the failing benchmarks only: the calibration kernel always runs on its own fixed
        # configuration, and adding that to the grid would run every failing case under it too.
        configs = sorted({by_name[n]["extra_info"]["threads"] for n in names if n != calibration})
        if calibration and calibration not in names:
            names = [*names, calibration]
        args = [sys.executable, "-m", "pytest", *names, "-q", "-p", "no:cacheprovider",
                "--thread-grid", ",".join(_grid_item(c) for c in configs), "--runner", settings.get("runner", "zygote"),
                "--data", settings.get("data", "auto")]
        if settings.get("quick"):
            args.append("--quick")
        if settings.get("models"):
            args += ["--models", ",".join(settings["models"])]
        if settings.get("epoch_steps"):
            args += ["--epoch-steps", str(settings["epoch_steps"])]
        if settings.get("passes"):
            args += ["--passes", str(settings["passes"])]
        for pattern, passes in settings.get("passes_for") or ():
            args.append(f"--passes-for={pattern}={passes}")
        if settings.get("baseline_tree"):
            # "=": a separate value would be taken for a test path by pytest's early parse (before conftest.py adds
            # the option), and the baseline tree's own conftest.py would be loaded next to ours.
            args.append(f"--baseline-tree={settings['baseline_tree']}")
        with tempfile.TemporaryDirectory(prefix="cifar-remeasure-") as tmp:
            out = Path(tmp) / "remeasure.json"
            proc = subprocess.run([*args, f"--benchmark-json={out}"], cwd=cwd, timeout=timeout,
                                  capture_output=True, text=True)
            if not out.exists():
                tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
                raise GateError(f"re-measurement failed (pytest exit {proc.returncode}): {tail}")
            return load_run(out)

    return remeasure
