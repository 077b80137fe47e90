"""The end-of-session summary: best configuration per case, epoch verdicts, oversubscription, contention.

Input is the list of what each benchmark recorded (``extra_info`` plus ``durations_seconds``); pure
functions, so tests feed them fake results.

Every figure here comes from the one measurement model, `cifar.stats.estimate` (its docstring says what a process
is worth, how two settings compare and which processes are left out). Each interval says its half-width;
`BENCH_HALF_WIDTH` is what a compute case aims for (±5 %), and where one pass alone widened an interval the
summary names it.

Configurations of one case are paired by pass: a case runs every configuration pass by pass (A B C, C B A, …), so
pass i of one configuration and pass i of another ran seconds apart, and their ratio is free of the machine's
drift between passes. Within a case the speedup is the geometric mean of the per-pass ratios, with a paired t
interval. Different cases ran at different times: their comparisons (the input paths, the pipelines) stay
unpaired (Welch's t).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from cifar.stats.estimate import (BENCH_HALF_WIDTH, Ratio, best_of, half_width, influential, rounds_spread, spread,
                                  kept_values, processes_needed, speedup, throughput)
from cifar.workloads.timing import CONTENTION_THRESHOLD

BASELINE_CONFIG = "default"


def process_speedup(baseline: dict, entry: dict, paired: bool = False) -> Ratio | None:
    """How many times faster `entry` is than `baseline` (`cifar.stats.estimate.speedup`); None below
    `MIN_PROCESSES` a side."""
    return speedup(baseline, entry, paired).ratio


@dataclass(frozen=True)
class BestRow:
    case: str
    best: str
    items_per_s: float
    unit: str
    speedup: Ratio | None  # over `baseline`; None when default was not measured or too few processes
    #: what `speedup` is over: "default"; the runner-up when default is the best (how far ahead it is); "-" when
    #: default was not measured
    baseline: str
    processes: int = 1  # the fewer of the two sides' processes that the interval used
    #: The pass (0-based, among those the interval used) that alone widened the interval (`influential`), or None.
    widened_by: int | None = None
    #: What the interval's numbers do not say (`cifar.stats.estimate.Estimate.note`: e.g. it lost its pairing).
    note: str | None = None
    #: Where the interval is wider than the target: which noise holds it (`holding_noise`), else None.
    held_by: str | None = None


@dataclass(frozen=True)
class EpochVerdict:
    case: str
    threads: str
    epoch_images_per_s: float
    pipeline_images_per_s: float
    train_step_images_per_s: float
    verdict: str  # "input-bound" or "compute-bound"

    @property
    def efficiency(self) -> float:
        """Epoch throughput as a share of the slower of the two ceilings."""
        return self.epoch_images_per_s / min(self.pipeline_images_per_s, self.train_step_images_per_s)


def _by_case(entries: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for entry in entries:
        out.setdefault(entry["case"], []).append(entry)
    return out


def best_configurations(entries: list[dict]) -> list[BestRow]:
    """Per case measured under more than one configuration: the one with the highest `throughput`, and its
    speedup over default — or, when default is the fastest, its speedup over the runner-up (`best_of`)."""
    rows = []
    for case, group in _by_case(entries).items():
        if len(group) < 2:
            continue
        best, baseline, estimate = best_of(group, BASELINE_CONFIG)
        widened = held = None
        if estimate is not None:
            a, b = kept_values(baseline, best, estimate)
            widened = influential(estimate, a, b)
            if estimate.half_width > BENCH_HALF_WIDTH:
                held = holding_noise(baseline, best, a, b)
        rows.append(BestRow(case, best["threads"], throughput(best), best["unit"],
                            estimate.ratio if estimate else None, baseline["threads"] if baseline else "-",
                            estimate.n if estimate else 1, widened, estimate.note if estimate else None, held))
    return rows


#: Rounds of one process that differ by more than this (sd of their logs) run at more than one speed within it.
ROUNDS_SPREAD = 0.10


def holding_noise(baseline: dict, best: dict, base_values: list[float], best_values: list[float]) -> str:
    """Which noise keeps a best-vs-default interval wide, in words: the configuration whose processes differ more
    (`cifar.stats.estimate.spread`, as the interval trims them) and by how much beside the other's, and, where a
    process's own rounds differ by more than `ROUNDS_SPREAD` (median over its processes), that they do: the
    arrays epoch's two speeds within a process show there, a process now and then slower shows between them."""
    sides = [(spread(base_values), baseline), (spread(best_values), best)]
    (most, noisy), (least, quiet) = sorted(sides, key=lambda s: -s[0])
    line = (f"{noisy['threads']}'s processes differ by {most:.1%} (sd of their logs), {quiet['threads']}'s by "
            f"{least:.1%}")
    within = max(rounds_spread(e.get("durations_per_process") or []) for e in (baseline, best))
    if within > ROUNDS_SPREAD:
        line += f"; within one process its rounds differ by {within:.0%} (more than one speed in a process)"
    return line


def slower_oversubscribed(entries: list[dict]) -> list[tuple[str, str, Ratio]]:
    """Oversubscribed configurations measurably slower than default (the whole CI below 1)."""
    out = []
    for case, group in _by_case(entries).items():
        baseline = next((e for e in group if e["threads"] == BASELINE_CONFIG), None)
        if baseline is None:
            continue
        for entry in group:
            if entry.get("oversubscribed"):
                ratio = process_speedup(baseline, entry, paired=True)
                if ratio is not None and ratio.high < 1.0:
                    out.append((case, entry["threads"], ratio))
    return out


def epoch_verdicts(entries: list[dict]) -> list[EpochVerdict]:
    """For each epoch result: compare with the pipeline alone and the train step alone, same threads.

    Input-bound: the pipeline alone delivers fewer images/s than the model can train on; compute-bound:
    the other way round. Both stages share the same cores, so the epoch is below both ceilings.
    """
    index = {(e["case"], e["threads"]): e for e in entries}
    verdicts = []
    for entry in entries:
        if entry["workload"] != "epoch":
            continue
        pipeline = index.get((f"pipeline-{entry['pipeline_id']}", entry["threads"]))
        step = index.get((f"train_step-{entry['model']}", entry["threads"]))
        if pipeline is None or step is None:
            continue
        p, s = throughput(pipeline), throughput(step)
        verdicts.append(EpochVerdict(entry["case"], entry["threads"], throughput(entry), p, s,
                                     "input-bound" if p < s else "compute-bound"))
    return verdicts


@dataclass(frozen=True)
class InputRow:
    model: str
    threads: str
    #: input id ("arrays", "seed-npcAUTO", ...) -> (images/s, speedup over arrays or None for arrays)
    inputs: dict[str, tuple[float, Ratio | None]]


ARRAYS = "arrays"


def input_comparison(entries: list[dict]) -> list[InputRow]:
    """The article's "tune the input pipeline too": per model and threads, the epoch fed by the article's arrays
    next to the epochs over tf.data pipelines, each with its speedup over arrays (95 % trimmed-t interval over
    processes; None for arrays itself or with too few processes)."""
    groups: dict[tuple[str, str], dict[str, dict]] = {}
    for entry in entries:
        if entry["workload"] == "epoch" and entry.get("pipeline_id"):
            groups.setdefault((entry["model"], entry["threads"]), {})[entry["pipeline_id"]] = entry
    rows = []
    for (model, threads), feeds in groups.items():
        arrays = feeds.get(ARRAYS)
        if arrays is None or len(feeds) < 2:
            continue
        inputs = {ARRAYS: (throughput(arrays), None)}
        for feed, entry in feeds.items():
            if feed != ARRAYS:
                inputs[feed] = (throughput(entry), process_speedup(arrays, entry))
        rows.append(InputRow(model, threads, inputs))
    return rows


#: Steps of 128 images in one whole CIFAR-10 epoch (`cifar.training.data.TRAIN_SIZE` // 128; that module imports
#: numpy, which this one does not).
WHOLE_EPOCH_STEPS = 50_000 // 128


def epoch_length(entries: list[dict]) -> tuple[str, str] | None:
    """What the epoch results timed: ("20-step epochs" (several lengths joined), and for epochs shorter than a
    whole CIFAR-10 epoch a line saying they stand in for one, else ""); None without epoch results."""
    steps = sorted({(e.get("definition") or {}).get("steps") for e in entries if e["workload"] == "epoch"} - {None})
    if not steps:
        return None
    label = "/".join(map(str, steps)) + "-step epochs"
    note = "" if steps[-1] >= WHOLE_EPOCH_STEPS else (
        f"The epoch cases timed {label} (128 images a step), short stand-ins for a whole CIFAR-10 epoch "
        f"({WHOLE_EPOCH_STEPS} steps): a gain measured on them need not hold over whole epochs (docs/performance.md). "
        f"--epoch-steps {WHOLE_EPOCH_STEPS} measures whole ones; python -m cifar tune confirms its answer on them.")
    return label, note


REFERENCE_PIPELINE = "seed-npcAUTO"  # the article's


def pipeline_comparison(entries: list[dict]) -> list[tuple[str, str, float, Ratio | None]]:
    """The input pipelines alone under the same threads: (pipeline id, threads, images/s, speedup over the
    article's pipeline with a 95 % trimmed-t interval over processes, None for the article's own)."""
    pipelines = [e for e in entries if e["workload"] == "pipeline" and e.get("pipeline_id")]
    reference = {e["threads"]: e for e in pipelines if e["pipeline_id"] == REFERENCE_PIPELINE}
    rows = []
    for entry in pipelines:
        ref = reference.get(entry["threads"])
        ratio = None if ref is None or ref is entry else process_speedup(ref, entry)
        rows.append((entry["pipeline_id"], entry["threads"], throughput(entry), ratio))
    return rows


def contended(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e.get("contended")]


def busiest_process(entry: dict) -> tuple[float, float]:
    """(others, steal): the CPU share other processes and the hypervisor's steal took from the entry's most
    disturbed process, the sum the contended flag tests (`cifar.workloads.timing`)."""
    per_process = (entry.get("contention_per_process")
                   or [{"other_fraction": entry.get("contention_other_fraction", 0.0)}])
    worst = max(per_process, key=lambda c: c.get("other_fraction", 0.0) + c.get("steal_fraction", 0.0))
    return worst.get("other_fraction", 0.0), worst.get("steal_fraction", 0.0)


def render_summary(entries: list[dict], width: int = 150) -> str:
    """The summary as text (rich tables), for pytest's terminal summary."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None)
    console.rule("cifar thread benchmarks: summary")
    # Every id whole: no_wrap (rich would otherwise fold or cut "epoch-seed_cnn-batched-npcAUTO"), Text (it would
    # read "[...]" as markup).
    length = epoch_length(entries)
    table = Table(title="Best configuration per case",
                  caption="throughput: a process's items over its time, trimmed geometric mean over processes; "
                          "speedup over default (default's over the next fastest where it is the best) with a 95 % "
                          "trimmed-t interval over processes (paired by pass); ±: its half-width, and "
                          f"about how many processes a side ±{BENCH_HALF_WIDTH:.0%} would take"
                          + (f"; epoch: {length[0]}" if length else ""))
    for column in ("case", "best", "throughput", "speedup vs default", "±"):
        table.add_column(Text(column), no_wrap=True)
    widened: list[str] = []
    held: list[str] = []
    for row in best_configurations(entries):
        width = ""
        if row.speedup is not None:
            cell = str(row.speedup) + ("" if row.baseline == BASELINE_CONFIG else f" over {row.baseline}")
            width = f"{half_width(row.speedup):.1%}"
            if half_width(row.speedup) > BENCH_HALF_WIDTH:
                needed = processes_needed(row.speedup, row.processes, BENCH_HALF_WIDTH)
                width += f" (~{needed} for ±{BENCH_HALF_WIDTH:.0%})"
            if row.widened_by is not None:
                widened.append(f"{row.case}: pass {row.widened_by + 1} of {row.processes} alone widened its interval")
            if row.held_by is not None:
                held.append(f"{row.case} is wider than ±{BENCH_HALF_WIDTH:.0%} after {row.processes} passes: "
                            f"{row.held_by}")
            if row.note:
                cell += f" ({row.note})"
        elif row.baseline == "-":
            cell = "default not measured"
        else:
            cell = "one process a side: no CI"
        table.add_row(Text(row.case), row.best, f"{row.items_per_s:,.0f} {row.unit}/s", cell, width)
    if table.row_count:
        console.print(table)
    for line in widened:
        console.print(Text(f"{line} (leaving it out would more than halve the ±): its processes disagree more than "
                           "the others'; more passes, or a quieter machine, settle it"))
    for line in held:
        console.print(Text(line))
    if length and length[1]:
        console.print(Text(length[1]))
    pipes = pipeline_comparison(entries)
    if pipes:
        table = Table(title=f"Input pipelines alone (no model), against the article's ({REFERENCE_PIPELINE})",
                      caption="images/s (as above); speedup with a 95 % trimmed-t interval over processes (unpaired)")
        for column in ("pipeline", "threads", "images/s", f"speedup vs {REFERENCE_PIPELINE}"):
            table.add_column(Text(column), no_wrap=True)
        for pipeline_id, threads, value, ratio in pipes:
            table.add_row(Text(pipeline_id), threads, f"{value:,.0f} images/s", "-" if ratio is None else str(ratio))
        console.print(table)
    inputs = input_comparison(entries)
    if inputs:
        feeds = list(dict.fromkeys(feed for row in inputs for feed in row.inputs))
        table = Table(title="Epoch by input: the article's arrays vs tf.data pipelines (same model and threads)",
                      caption="images/s (as above); speedup over arrays with a 95 % trimmed-t interval over processes "
                              "(unpaired)" + (f"; {length[0]}" if length else ""))
        for column in ("model", "threads", *feeds):
            table.add_column(Text(column), no_wrap=True)
        for row in inputs:
            cells = []
            for feed in feeds:
                value = row.inputs.get(feed)
                if value is None:
                    cells.append("-")
                elif feed == ARRAYS:
                    cells.append(f"{value[0]:,.0f}")
                else:
                    cells.append(f"{value[0]:,.0f}" + (" (one process a side: no CI)" if value[1] is None
                                                       else f" ({value[1]})"))
            table.add_row(row.model, row.threads, *cells)
        console.print(table)
    verdicts = epoch_verdicts(entries)
    if verdicts:
        table = Table(title="Epoch: input-bound or compute-bound? (images/s, same threads)")
        for column in ("case", "threads", "epoch", "pipeline alone", "train step alone", "verdict", "epoch / slower"):
            table.add_column(Text(column), no_wrap=True)
        for v in verdicts:
            table.add_row(Text(v.case), v.threads, f"{v.epoch_images_per_s:,.0f}", f"{v.pipeline_images_per_s:,.0f}",
                          f"{v.train_step_images_per_s:,.0f}", v.verdict, f"{v.efficiency:.0%}")
        console.print(table)
    for case, threads, ratio in slower_oversubscribed(entries):
        console.print(Text(f"oversubscribed: {case} {threads} is slower than default: speedup {ratio}"))
    busy = contended(entries)
    if busy:
        worst = max(busy, key=lambda e: sum(busiest_process(e)))
        others, steal = busiest_process(worst)
        console.print(Text(f"WARNING: {len(busy)} result(s) measured while other processes or the hypervisor (steal) "
                           f"took > {CONTENTION_THRESHOLD:.0%} of the CPU (worst: {worst['case']} {worst['threads']}, "
                           f"{others + steal:.0%} (others {others:.0%}, steal {steal:.0%})); marked contended in "
                           "extra_info — rerun them on a quiet machine before trusting them."))
    return buffer.getvalue()
