"""The article's claims, each checked on this machine: ``python -m cifar claims [a b c d e f]``.

Every measurement is a fresh child process (`cifar.isolation.runner.Runner`), all the claims' arms interleaved pass by
pass (`cifar.isolation.schedule.alternating`), so drift of a shared machine spreads over all of them. A process is the
unit, and every figure comes from the one measurement model (`cifar.stats.estimate`): a process's value is its
rounds' time over their number, and a ratio is the trimmed mean of the log ratios over the passes both arms ran in
(paired by pass), with a 95 % trimmed-t interval. A ratio whose interval holds 1.00 is "no measurable difference".

=====  ======================================================================================================
claim  what the article says, and what is measured here
=====  ======================================================================================================
a      set threads before the runtime starts: a child sets them, runs an op, tries again (error, read-back)
b      more threads is not more speed: the article's script at 2x and 4x the usable cores
c      4 and 2 are only example numbers: the article's (4, 2) against TensorFlow's default and the grid's best
d      the matmul is for quick feedback, the epoch for decisions: does the matmul pick the epoch's configuration?
e      the input pipeline can be the bottleneck: per-image JPEG decoding + SimCLR augmentation (``heavy``)
f      legacy ConfigProto: a Session's settings in graph code, and what they do to Keras (eager) code
=====  ======================================================================================================

Every epoch arm (b-f) times epochs of ``--epoch-steps`` steps of 128 images: 20 by default (short, cheap), 390 for
whole CIFAR-10 epochs (the length the article's training runs and the tuner's confirmation decides on; the arrays
epoch's speed mix differs between the two, docs/performance.md). Claim e's tf.data inputs repeat their 4,096 images
for that many steps.

>>> python -m cifar claims b c --processes 5 --markdown reports/claims.md     # doctest: +SKIP
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cifar.training.pipeline import ARRAYS, AUTOTUNE, PipelineOptions
from cifar.isolation.schedule import alternating
from cifar.stats.estimate import Ratio, compare, process_seconds, rate
from cifar.training.data import warm
from cifar.workloads import WORKLOADS
from cifar.training.threads import ARTICLE, ThreadConfig, core_counts, thread_grid

ARTICLE_SAYS = {
    "a": "Set thread values early, before TensorFlow initializes: changing them after it started has no full effect",
    "b": "More threads is not more speed: setting them close to or above the logical cores often hurts",
    "c": "There is no universal best value: four and two are only example numbers",
    "d": "Small benchmarks (the matmul) for quick feedback, end-to-end epoch time for real decisions",
    "e": "The input pipeline can be the real bottleneck; then intra/inter alone give only limited gains",
    "f": "Legacy ConfigProto + Session is for TF1 code; TF2 code should use tf.config.threading",
}
CLAIMS = tuple(ARTICLE_SAYS)
DEFAULT_PROCESSES = 5
#: The article's script as short epochs: its model, float32 arrays, batch 128; 20 steps a round.
#: 8 rounds: on some VMs some arrays epochs run at half speed (docs/measuring.md), and a process's value weighs
#: each epoch by its time, as the training does.
EPOCH = {"model": "seed_cnn", "pipeline": ARRAYS, "rounds": 8, "warmup_rounds": 1, "steps": 20, "data": "auto"}
#: Steps a process times at least (EPOCH's 8 x 20), in at least 2 epochs (the tuner's confirmation's whole epochs).
EPOCH_TIMED_STEPS = 160
MATMUL = {"rounds": 3, "warmup_rounds": 1}
#: Claim e's inputs: the article's pipeline, and JPEG decoding + SimCLR augmentation per image on 1 thread or
#: AUTOTUNE.
#: 4,096 images: the heavy pipeline encodes its images as JPEG when it is built (~0.45 ms each, not timed).
INPUTS = {"seed-npcAUTO": PipelineOptions("seed"), "heavy-npc1": PipelineOptions("heavy", num_parallel_calls=1),
          "heavy-npcAUTO": PipelineOptions("heavy", num_parallel_calls=AUTOTUNE)}
INPUT_IMAGES = 4096
#: Claim f: two ratios within this of each other are "the same".
SAME = 0.05


def epoch_params(steps: int = EPOCH["steps"]) -> dict:
    """EPOCH at `steps` steps an epoch: as many epochs as time `EPOCH_TIMED_STEPS` steps, at least 2.

    >>> [(p["steps"], p["rounds"]) for p in (epoch_params(), epoch_params(60), epoch_params(390))]
    [(20, 8), (60, 3), (390, 2)]
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"--epoch-steps must be an integer >= 1, got {steps!r}")
    return {**EPOCH, "steps": steps, "rounds": max(2, -(-EPOCH_TIMED_STEPS // steps))}


def epoch_words(results: dict) -> str:
    """What the epoch arms timed, from a result: ``20-step epochs`` or ``whole 390-step epochs``."""
    from cifar.reports.summary import WHOLE_EPOCH_STEPS

    steps = next((r["workload"]["steps"] for name, arm in results.items() if name.startswith("epoch ")
                  for r in arm if "workload" in r), None)
    if steps is None:
        return "epochs"
    return f"whole {steps}-step epochs" if steps >= WHOLE_EPOCH_STEPS else f"{steps}-step epochs"


@dataclass(frozen=True)
class ClaimArm:
    """One thing measured in its own processes: ``target(**params)`` under `threads`."""

    name: str
    target: str
    params: dict = field(hash=False)
    threads: ThreadConfig | None = None


@dataclass
class Claim:
    key: str
    measured: str
    verdict: str
    details: dict
    #: The command-line options it was measured with, beyond the defaults (" --epoch-steps 390").
    options: str = ""

    @property
    def article(self) -> str:
        return ARTICLE_SAYS[self.key]

    @property
    def command(self) -> str:
        return f"python -m cifar claims {self.key}{self.options}"

    def to_dict(self) -> dict:
        return {"claim": self.key, "article": self.article, "measured": self.measured, "verdict": self.verdict,
                "command": self.command, "details": self.details}


# -- child targets (run in runner children) -------------------------------------------------------------------
def setting_after_the_runtime_started() -> dict:
    """Claim a: set threads before any op (accepted), run an op, set them again (refused); read back each time."""
    import tensorflow as tf

    threading = tf.config.threading
    threading.set_intra_op_parallelism_threads(1)
    threading.set_inter_op_parallelism_threads(1)
    before = [threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()]
    (tf.constant(1.0) + 1.0).numpy()  # the runtime starts with the first op
    try:
        threading.set_intra_op_parallelism_threads(2)
        error = None
    except RuntimeError as err:
        error = f"{type(err).__name__}: {err}"
    after = [threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()]
    return {"requested_before": [1, 1], "read_back_before": before, "requested_after": [2, 1],
            "error_after": error, "read_back_after": after}


def with_legacy_session(intra: int, inter: int, target: str, params: dict) -> dict:
    """Claim f: what legacy TF1 code does in TF2 — a ``tf.compat.v1.Session(config=ConfigProto(...))`` created
    first, eager execution left on — then `target` (TF2 code: eager ops, Keras); adds what
    ``tf.config.threading`` reads back afterwards."""
    import tensorflow as tf

    from cifar.isolation.child import load_target

    proto = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=intra, inter_op_parallelism_threads=inter)
    session = tf.compat.v1.Session(config=proto)
    result = dict(load_target(target)(**params))
    result["legacy_read_back"] = {"session_config": [session._config.intra_op_parallelism_threads,
                                                     session._config.inter_op_parallelism_threads],
                                  "tf_config_threading": [tf.config.threading.get_intra_op_parallelism_threads(),
                                                          tf.config.threading.get_inter_op_parallelism_threads()]}
    session.close()
    return result


# -- what each claim measures ---------------------------------------------------------------------------------
def _grid(logical: int) -> list[ThreadConfig]:
    """The suite's grid plus 4x the usable cores (claim b asks for 2x and 4x)."""
    grid = thread_grid()
    extra = ThreadConfig(4 * logical, 4 * logical)
    return grid + ([extra] if extra not in grid else [])


def epoch_arm(config: ThreadConfig, steps: int = EPOCH["steps"]) -> ClaimArm:
    return ClaimArm(f"epoch arrays {config.id}", WORKLOADS["epoch"].target, epoch_params(steps), config)


def matmul_arm(config: ThreadConfig) -> ClaimArm:
    return ClaimArm(f"matmul {config.id}", WORKLOADS["matmul"].target, dict(MATMUL), config)


def claim_arms(claims: list[str], logical: int, epoch_steps: int = EPOCH["steps"]) -> list[ClaimArm]:
    """Every arm the requested claims need, each once, in a fixed order; the epochs `epoch_steps` long."""
    epoch = epoch_params(epoch_steps)
    arms: list[ClaimArm] = []
    grid = _grid(logical)
    if "a" in claims:
        arms.append(ClaimArm("setting after the runtime started", "cifar.claims:setting_after_the_runtime_started", {}))
    if {"b", "c", "d"} & set(claims):
        arms += [epoch_arm(c, epoch_steps) for c in grid]
    if "d" in claims:
        arms += [matmul_arm(c) for c in grid]
    if "e" in claims:
        default, one = ThreadConfig(), ThreadConfig(1, 1)
        arms.append(ClaimArm("train_step default", WORKLOADS["train_step"].target, {"rounds": 5, "warmup_rounds": 1,
                                                                              "steps": 10, "data": "auto"}, default))
        for name, options in INPUTS.items():
            arms.append(ClaimArm(f"pipeline {name} default", WORKLOADS["pipeline"].target,
                            {"pipeline": options.to_dict(), "rounds": 6, "warmup_rounds": 1, "batches": 20,
                             "n_train": INPUT_IMAGES, "data": "auto"}, default))
            for config in (default, one):
                arms.append(ClaimArm(f"epoch {name} {config.id}", WORKLOADS["epoch"].target,
                                {**epoch, "pipeline": options.to_dict(), "n_train": INPUT_IMAGES}, config))
    if "f" in claims:
        for config in (ThreadConfig(1, 1, api="compat_v1"), ThreadConfig(2, 2, api="compat_v1")):
            arms.append(ClaimArm(f"matmul graph {config.id}", WORKLOADS["matmul"].target, dict(MATMUL), config))
        for config in (ThreadConfig(), ThreadConfig(1, 1)):
            arms += [matmul_arm(config), epoch_arm(config, epoch_steps)]
        for name, target, params in (("matmul", WORKLOADS["matmul"].target, MATMUL),
                                     ("epoch arrays", WORKLOADS["epoch"].target, epoch)):
            arms.append(ClaimArm(f"{name} legacy-session-intra1-inter1", "cifar.claims:with_legacy_session",
                            {"intra": 1, "inter": 1, "target": target, "params": dict(params)}))
    unique: dict[str, ClaimArm] = {}
    for arm in arms:
        unique.setdefault(arm.name, arm)
    return list(unique.values())


def measure_arms(arms: list[ClaimArm], processes: int, runner=None, progress=None) -> dict[str, list[dict]]:
    """Run every arm in `processes` fresh processes, interleaved pass by pass; {arm name: results}.
    A child that fails is recorded as ``{"error": message}`` and the run goes on."""
    from cifar.isolation.errors import ChildError
    from cifar.isolation.runner import Runner

    own = runner is None
    runner = runner or Runner(warm=warm())
    results: dict[str, list[dict]] = {arm.name: [] for arm in arms}
    try:
        for _, arm in alternating(arms, processes):
            try:
                results[arm.name].append(runner.run(arm.target, arm.params, arm.threads))
            except ChildError as err:
                results[arm.name].append({"error": str(err).splitlines()[0]})
            if progress is not None:
                progress(arm.name)
    finally:
        if own:
            runner.close()
    return results


# -- judging --------------------------------------------------------------------------------------------------
def pass_values(results: list[dict]) -> list[float | None]:
    """Each pass's process value (`cifar.stats.estimate.process_seconds`), None where that process failed."""
    return [process_seconds(r["durations_seconds"]) if "durations_seconds" in r else None for r in results]


def arm_throughput(results: list[dict]) -> float:
    """Items per second over the arm's processes (`cifar.stats.estimate.rate`)."""
    ok = [r for r in results if "durations_seconds" in r]
    return rate([process_seconds(r["durations_seconds"]) for r in ok], ok[0]["items_per_round"])


def arm_speedup(results: dict[str, list[dict]], reference: str, other: str) -> Ratio:
    """How many times faster `other` ran than `reference` (> 1: faster): paired by the passes both ran in, with a
    95 % trimmed-t interval (`cifar.stats.estimate.compare`). ValueError below 2 such passes (judged as a failed
    arm)."""
    pairs = [(a, b) for a, b in zip(pass_values(results[reference]), pass_values(results[other]))
             if a is not None and b is not None]
    ratio = compare([a for a, _ in pairs], [b for _, b in pairs], paired=True).ratio
    if ratio is None:
        raise ValueError(f"{reference} and {other} both ran in {len(pairs)} pass(es): no interval")
    return ratio


def _triple(ratio: Ratio) -> list[float]:
    return [ratio.ratio, ratio.low, ratio.high]


def difference(ratio: Ratio) -> str:
    if ratio.low > 1.0:
        return "faster"
    if ratio.high < 1.0:
        return "slower"
    return "no measurable difference"


def _fmt(ratio: Ratio) -> str:
    # Three decimals: with two, an interval ending at 0.996 reads [.., 1.00] next to the word "slower".
    return f"{ratio.ratio:.3f}x [{ratio.low:.3f}, {ratio.high:.3f}]"


def judge_a(results: dict) -> Claim:
    r = results["setting after the runtime started"][0]
    if "error" in r:
        return Claim("a", f"the child failed: {r['error']}", "not measured", r)
    refused = r["error_after"] is not None and r["read_back_after"] == r["read_back_before"]
    measured = (f"set (1, 1) before any op: read back {tuple(r['read_back_before'])}; after one op, setting intra 2 "
                f"raised \"{r['error_after']}\" and it still reads back {tuple(r['read_back_after'])}")
    return Claim("a", measured, "confirmed: refused, not silently ignored" if refused else "not confirmed", r)


def _grid_names(prefix: str, results: dict) -> list[str]:
    """The thread grid's arms of a workload: ``prefix`` and one configuration id, so not claim f's graph-mode
    (``matmul graph …``) or legacy-session arms, which measure the same workload another way."""
    return [name for name in results if name.startswith(prefix) and " " not in name[len(prefix):]
            and "legacy" not in name and all("durations_seconds" in r for r in results[name][:1])]


def judge_b(results: dict, logical: int) -> Claim:
    base = f"epoch arrays intra{logical}-inter{logical}"
    rows, words = {}, []
    for factor in (2, 4):
        name = f"epoch arrays intra{factor * logical}-inter{factor * logical}"
        ratio = arm_speedup(results, base, name)
        rows[f"{factor}x"] = {"config": name.split()[-1], "speedup_vs_all_cores": _triple(ratio)}
        words.append(f"{factor}x the {logical} cores: {_fmt(ratio)} of all cores ({difference(ratio)})")
    ratios = [Ratio(*row["speedup_vs_all_cores"]) for row in rows.values()]
    if any(r.high < 1.0 for r in ratios):
        verdict = "confirmed: oversubscribing is slower here"
    elif any(r.low > 1.0 for r in ratios):
        verdict = "contradicted: more threads were faster here"
    else:
        verdict = "not seen here: no measurable difference"
    return Claim("b", f"the article's script ({epoch_words(results)}): " + "; ".join(words), verdict, rows)


def judge_c(results: dict) -> Claim:
    names = _grid_names("epoch arrays ", results)
    best = max(names, key=lambda n: arm_throughput(results[n]))
    article = f"epoch arrays intra{ARTICLE[0]}-inter{ARTICLE[1]}"
    vs_default = arm_speedup(results, "epoch arrays default", article)
    best_vs_default = arm_speedup(results, "epoch arrays default", best)
    article_vs_best = arm_speedup(results, best, article)
    details = {"best": best.split()[-1], "article_vs_default": _triple(vs_default),
               "best_vs_default": _triple(best_vs_default),
               "article_vs_best": _triple(article_vs_best),
               "images_per_s": {n.split()[-1]: arm_throughput(results[n]) for n in names}}
    # A ratio of an arm to itself is 1 by construction: it is named, not shown as if measured.
    words = [f"(4, 2) {_fmt(vs_default)} of default"]
    if best == "epoch arrays default":
        words.append("the grid's best is default itself")
    else:
        words.append(f"the grid's best, {best.split()[-1]}, {_fmt(best_vs_default)} of default")
        words.append("(4, 2) is the best" if best == article else f"(4, 2) {_fmt(article_vs_best)} of the best")
    measured = f"epoch ({epoch_words(results)}): " + "; ".join(words)
    if best == article or article_vs_best.high >= 1.0:
        verdict = "not seen here: (4, 2) is within noise of the best on this machine (other machines may differ)"
    else:
        verdict = "confirmed: (4, 2) is not the best setting here"
    return Claim("c", measured, verdict, details)


def _tied_with_best(results: dict, names: list[str]) -> tuple[str, list[str]]:
    best = max(names, key=lambda n: arm_throughput(results[n]))
    return best, [n for n in names if n == best or arm_speedup(results, best, n).high >= 1.0]


def judge_d(results: dict) -> Claim:
    epochs, matmuls = _grid_names("epoch arrays ", results), _grid_names("matmul ", results)
    epoch_best, epoch_tied = _tied_with_best(results, epochs)
    matmul_best, matmul_tied = _tied_with_best(results, matmuls)
    config = matmul_best.split()[-1]
    picked = f"epoch arrays {config}"
    cost = arm_speedup(results, epoch_best, picked)
    details = {"epoch_best": epoch_best.split()[-1], "epoch_tied": [n.split()[-1] for n in epoch_tied],
               "matmul_best": config, "matmul_tied": [n.split()[-1] for n in matmul_tied],
               "epoch_at_matmul_pick_vs_epoch_best": _triple(cost)}
    measured = (f"matmul best {config} (tied: {', '.join(details['matmul_tied'])}); epoch best "
                f"{details['epoch_best']} (tied: {', '.join(details['epoch_tied'])}); "
                + ("the matmul's pick is the epoch's best" if picked == epoch_best else
                   f"the matmul's pick runs the epoch at {_fmt(cost)} of the epoch's best"))
    if picked in epoch_tied:
        verdict = "here the matmul picks a configuration as good as the epoch's best"
    else:
        verdict = "confirmed: the matmul picks a configuration the epoch runs measurably slower"
    return Claim("d", measured, verdict, details)


def judge_e(results: dict) -> Claim:
    ceiling = arm_throughput(results["train_step default"])
    light = next(iter(INPUTS))
    rows, words = {}, []
    for name in INPUTS:
        alone = arm_throughput(results[f"pipeline {name} default"])
        epoch = arm_throughput(results[f"epoch {name} default"])
        gain = arm_speedup(results, f"epoch {name} intra1-inter1", f"epoch {name} default")
        cost = arm_speedup(results, f"epoch {light} default", f"epoch {name} default")
        bound = "input-bound" if alone < ceiling else "compute-bound"
        rows[name] = {"pipeline_alone": alone, "train_step_alone": ceiling, "epoch": epoch, "verdict": bound,
                      "default_vs_1x1": _triple(gain), "epoch_vs_light": _triple(cost)}
        words.append(f"{name}: {alone:,.0f} / {epoch:,.0f}" + ("" if name == light else f" ({_fmt(cost)} of {light}'s)")
                     + f" / {_fmt(gain)}, {bound}")
    measured = (f"train step alone {ceiling:,.0f} images/s; per input, pipeline alone / epoch images/s / default "
                "threads vs (1, 1): " + "; ".join(words))
    flips = {row["verdict"] for row in rows.values()} == {"input-bound", "compute-bound"}
    bound = [n for n, r in rows.items() if r["verdict"] == "input-bound"]
    free = [n for n, r in rows.items() if r["verdict"] == "compute-bound"]
    limited = bool(bound and free) and max(rows[n]["default_vs_1x1"][0] for n in bound) < min(
        rows[n]["default_vs_1x1"][0] for n in free)
    if flips and limited:
        verdict = "confirmed: the verdict flips, and threads gain less when the input is the bottleneck"
    elif flips:
        verdict = "partly: the verdict flips, but the thread gain did not shrink"
    else:
        verdict = "not seen here: every input " + rows[light]["verdict"]
    return Claim("e", measured, verdict, rows)


def judge_f(results: dict) -> Claim:
    graph = arm_speedup(results, "matmul graph intra1-inter1-v1", "matmul graph intra2-inter2-v1")
    legacy = results["epoch arrays legacy-session-intra1-inter1"]
    read_back = next((r["legacy_read_back"] for r in legacy if "legacy_read_back" in r), {})
    eager = {ref: arm_speedup(results, f"matmul {ref}", "matmul legacy-session-intra1-inter1")
             for ref in ("default", "intra1-inter1")}
    keras = {ref: arm_speedup(results, f"epoch arrays {ref}", "epoch arrays legacy-session-intra1-inter1")
             for ref in ("default", "intra1-inter1")}

    def reach(against: dict[str, Ratio]) -> str:
        # Reached: measurably slower than default, and within 5 % of what tf.config.threading's (1, 1) gives.
        if against["default"].high < 1.0 and abs(against["intra1-inter1"].ratio - 1.0) <= SAME:
            return "reached (as if tf.config.threading had set (1, 1))"
        if against["default"].low <= 1.0 <= against["default"].high:
            return "not measurably reached"
        return "partly reached"

    details = {"graph_intra2_vs_intra1": _triple(graph), "legacy_read_back": read_back,
               "eager_matmul": {k: _triple(v) for k, v in eager.items()},
               "keras_epoch": {k: _triple(v) for k, v in keras.items()}}
    measured = (f"graph code (Session.run): ConfigProto intra 2 vs 1 {_fmt(graph)}; "
                f"after Session(ConfigProto(1, 1)) tf.config.threading reads back "
                f"{tuple(read_back.get('tf_config_threading', ['?', '?']))}, yet eager matmul runs at "
                f"{_fmt(eager['default'])} of default and {_fmt(eager['intra1-inter1'])} of tf.config (1, 1), "
                f"the Keras epoch at {_fmt(keras['default'])} of default and {_fmt(keras['intra1-inter1'])} "
                "of tf.config (1, 1)")
    verdict = (f"graph code: {'reached' if graph.low > 1.0 else 'not measurably reached'}; eager ops: "
               f"{reach(eager)}; Keras: {reach(keras)}")
    if read_back.get("tf_config_threading") == [0, 0] and "reached (" in verdict:
        verdict += "; and tf.config.threading reads back (0, 0): the setting took effect unseen"
    return Claim("f", measured, verdict, details)


def judge_claim(claims: list[str], results: dict, logical: int, epoch_steps: int = EPOCH["steps"]) -> list[Claim]:
    """Each claim's verdict from `results`; a claim that times epochs (b-f) measured at `epoch_steps` other than the
    default names it in its command."""
    out = []
    for key in claims:
        try:
            out.append({"a": lambda: judge_a(results), "b": lambda: judge_b(results, logical),
                        "c": lambda: judge_c(results), "d": lambda: judge_d(results),
                        "e": lambda: judge_e(results), "f": lambda: judge_f(results)}[key]())
        except (KeyError, ValueError, statistics.StatisticsError) as err:  # a failed arm: say so, keep the rest
            out.append(Claim(key, f"could not be judged: an arm produced no result ({type(err).__name__}: {err})",
                             "not measured", {}))
    if epoch_steps != EPOCH["steps"]:
        for claim in out:
            if claim.key != "a":
                claim.options = f" --epoch-steps {epoch_steps}"
    return out


# -- output ----------------------------------------------------------------------------------------------------
def render(claims: list[Claim], header: str) -> str:
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, width=170, color_system=None)
    table = Table(title=Text(f"The article's claims, checked here ({header})"), show_lines=True)
    for column in ("", "the article says", "measured here", "verdict", "reproduce"):
        table.add_column(column, overflow="fold")
    for claim in claims:
        table.add_row(claim.key, Text(claim.article), Text(claim.measured), Text(claim.verdict), Text(claim.command))
    console.print(table)
    return buffer.getvalue()


def markdown(claims: list[Claim], header: str) -> str:
    lines = [f"Measured {header}.", "", "| | the article says | measured here | verdict | reproduce |",
             "|---|---|---|---|---|"]
    for c in claims:
        cells = [c.key, c.article, c.measured, c.verdict, f"`{c.command}`"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def run(claims: list[str], processes: int = DEFAULT_PROCESSES, json_path: str | None = None,
        markdown_path: str | None = None, epoch_steps: int = EPOCH["steps"]) -> list[Claim]:
    """Measure and judge `claims`; print the table; write JSON and Markdown if asked. Returns the claims."""
    import datetime
    import time

    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from cifar.suite.machine import cpu_model

    unknown = sorted(set(claims) - set(CLAIMS))
    if unknown:
        raise ValueError(f"unknown claim(s) {', '.join(unknown)}; choose from {' '.join(CLAIMS)}")
    claims = [c for c in CLAIMS if c in claims] or list(CLAIMS)
    if processes < 2:
        raise ValueError(f"--processes must be >= 2 (a ratio needs spread to get an interval), got {processes}")
    _, logical = core_counts()
    arms = claim_arms(claims, logical, epoch_steps)
    started = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), transient=True, console=None) as bar:
        task = bar.add_task("processes", total=len(arms) * processes)
        results = measure_arms(arms, processes, progress=lambda name: bar.update(task, advance=1, description=name))
    seconds = time.perf_counter() - started
    epochs = f"{epoch_steps}-step epochs, " if any(a.name.startswith("epoch ") for a in arms) else ""
    header = (f"on {cpu_model()}, {logical} usable cores, {datetime.date.today().isoformat()}; {processes} processes "
              f"per arm, {epochs}{len(arms)} arms interleaved, {seconds / 60:.1f} min")
    judged = judge_claim(claims, results, logical, epoch_steps)
    print(render(judged, header), end="")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps({"header": header, "claims": [c.to_dict() for c in judged],
                                               "results": results}, indent=2, default=str))
        print(f"json: {json_path}")
    if markdown_path:
        Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown_path).write_text(markdown(judged, header))
        print(f"markdown: {markdown_path}")
    return judged


def main(args) -> int:
    try:
        run(args.claims, args.processes, args.json, args.markdown, args.epoch_steps)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
