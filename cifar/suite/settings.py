"""What `pytest benchmarks/` measures: the thread grid and the workload cases, for quick and default runs.

Pure data: building the suite never imports TensorFlow.

>>> from cifar.suite.settings import SuiteSettings, build_cases
>>> [c.id for c in build_cases(SuiteSettings(quick=True)) if c.workload == "pipeline"]
['seed-npcAUTO', 'seed-npc1', 'batched-npcAUTO', 'batched-npc1']
"""

from __future__ import annotations

import fnmatch
import os

from dataclasses import dataclass, field, replace

from cifar.training.models import MODELS
from cifar.training.pipeline import ARRAYS, AUTOTUNE, PipelineOptions
from cifar.isolation.runner import MODES
from cifar.training.threads import ThreadConfig, check_thread_config, core_counts, thread_grid

DATA_CHOICES = ("auto", "real", "synthetic")


@dataclass(frozen=True)
class Case:
    """One benchmark body: a workload with fixed parameters, run under every thread configuration."""

    workload: str
    id: str  # readable, unique within the workload: "seed_cnn", "batched-npc2-pool2"
    params: dict = field(hash=False)
    passes: int = 1  # interleaved passes over the thread grid; each pass is a fresh child per config
    threads: tuple[ThreadConfig, ...] | None = None  # fixed configurations instead of the grid

    @property
    def target(self) -> str:
        return f"cifar.workloads:{self.workload}"

    @property
    def test_id(self) -> str:
        """The pytest id without the thread configuration, e.g. ``test_pipeline[seed-npc1]``."""
        return f"test_{self.workload}[{self.id}]"

    @property
    def name(self) -> str:
        return self.workload if self.id == self.workload else f"{self.workload}-{self.id}"

    def smoke_params(self) -> dict:
        """The same body, as small as possible: one round, no warm-up (for ``--benchmark-disable`` runs)."""
        small = {"rounds": 1, "warmup_rounds": 0}
        if self.workload in ("conv2d", "train_step"):
            small["steps"] = 1
        if self.workload == "epoch":
            small["steps"] = 2
        if self.workload == "pipeline":
            small["batches"] = 2
        return {**self.params, **small}


@dataclass(frozen=True)
class SuiteSettings:
    quick: bool = False
    data: str = "auto"
    models: tuple[str, ...] | None = None  # None: seed_cnn + resnet20, quick: seed_cnn
    epoch_steps: int | None = None
    grid: tuple[ThreadConfig, ...] | None = None  # None: the standard grid (quick: a subset)
    runner: str = "zygote"
    passes: int | None = None  # None: the case's own (quick 1, default 2 for micro cases)
    #: (pattern, passes): cases whose test id without the configuration ("test_pipeline[seed-npc1]") matches
    #: the fnmatch pattern get that many passes instead; the last matching pattern wins.
    passes_for: tuple[tuple[str, int], ...] = ()
    #: A checkout of the baseline code: every case also runs there, interleaved (a paired run, see bench.py).
    baseline_tree: str | None = None

    def __post_init__(self) -> None:
        if self.data not in DATA_CHOICES and not os.path.exists(os.path.expanduser(self.data)):
            raise ValueError(f"--data must be one of {', '.join(DATA_CHOICES)} or an existing path, got {self.data!r}")
        for model in self.models or ():
            if model not in MODELS:
                raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
        if self.models is not None and not self.models:
            raise ValueError("--models is empty")
        if self.epoch_steps is not None and (isinstance(self.epoch_steps, bool) or self.epoch_steps < 1):
            raise ValueError(f"--epoch-steps must be >= 1, got {self.epoch_steps!r}")
        if self.passes is not None and (isinstance(self.passes, bool) or self.passes < 1):
            raise ValueError(f"--passes must be >= 1, got {self.passes!r}")
        for pattern, passes in self.passes_for:
            if not pattern or isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
                raise ValueError(f"--passes-for needs PATTERN=N with N >= 1, got {pattern}={passes!r}")
        for config in self.grid or ():
            check_thread_config(config)  # absurd counts are a usage error now, not a failure minutes later
        if self.runner not in MODES:
            raise ValueError(f"--runner must be one of {MODES}, got {self.runner!r}")
        if self.baseline_tree is not None and not os.path.isfile(os.path.join(self.baseline_tree, "cifar", "__init__.py")):
            raise ValueError(f"--baseline-tree {self.baseline_tree!r} is not a checkout of this project "
                             "(no cifar/__init__.py); make one with: git worktree add --detach reports/base main")

    @property
    def model_list(self) -> tuple[str, ...]:
        if self.models is not None:
            return self.models
        return ("seed_cnn",) if self.quick else MODELS

    def thread_configs(self) -> list[ThreadConfig]:
        if self.grid is not None:
            return list(self.grid)
        grid = thread_grid()
        if self.quick:
            # One thread, all logical cores, TensorFlow's default: the three a user asks about first.
            _, logical = core_counts()
            grid = [c for c in grid if c in (ThreadConfig(1, 1), ThreadConfig(logical, logical), ThreadConfig())]
        return grid


def pipeline_options(quick: bool) -> list[PipelineOptions]:
    """Both variants x num_parallel_calls (1, 2, AUTOTUNE) x shared / private pool (quick: a subset)."""
    _, logical = core_counts()
    npcs = (AUTOTUNE, 1) if quick else (AUTOTUNE, 1, 2)
    pools = (0,) if quick else (0, logical)
    return [PipelineOptions(variant, num_parallel_calls=npc, private_threadpool_size=pool)
            for variant in ("seed", "batched") for npc in npcs for pool in pools]


def epoch_inputs() -> tuple:
    """What feeds the measured epochs: the article's arrays, its tf.data pipeline, the batched pipeline."""
    return (ARRAYS, PipelineOptions("seed").to_dict(), PipelineOptions("batched").to_dict())


def build_cases(settings: SuiteSettings) -> list[Case]:
    """The cases of a run. Round counts are sized for the time budget (quick <= 60 s, default <= 5 min on
    2 cores) while giving the regression gate >= 6 rounds a side (the fewest with which a one-sided
    Mann-Whitney U test can reach p < 0.01 is 5 vs 5)."""
    quick = settings.quick
    passes = 1 if quick else 2
    rounds = 6 if quick else 3  # per pass: quick 6, default 2 passes x 3 = 6
    data = settings.data
    cases = [
        # Always one thread, in every session: the gate's yardstick for machine-wide drift.
        Case("calibration", "calibration", {"rounds": 5, "warmup_rounds": 1, "products": 10}, passes,
             threads=(ThreadConfig(1, 1),)),
        Case("matmul", "matmul", {"rounds": 5 if quick else 3, "warmup_rounds": 1}, passes),
        Case("conv2d", "conv2d", {"rounds": rounds, "warmup_rounds": 1, "steps": 5 if quick else 4}, passes),
    ]
    for model in settings.model_list:
        # ResNet-20 is ~10x the compute of seed_cnn per image, and tracing it costs ~10 s per child:
        # fewer steps per round, one pass.
        if model == "seed_cnn":
            cases.append(Case("train_step", model, {"model": model, "rounds": rounds, "warmup_rounds": 1, "steps": 10,
                                                    "data": data}, passes))
        else:
            cases.append(Case("train_step", model, {"model": model, "rounds": 5, "warmup_rounds": 1, "steps": 2,
                                                    "data": data}, 1))
    for options in pipeline_options(quick):
        # A pipeline round is short (25-150 ms) and a child costs ~1 s to set up: many rounds, one pass.
        cases.append(Case("pipeline", options.id, {"pipeline": options.to_dict(), "rounds": 10 if quick else 8,
                                                   "warmup_rounds": 1,
                                                   "batches": 20, "data": data}, 1))
    epoch_models = [m for m in settings.model_list if m == "seed_cnn" or not quick]
    for model in epoch_models:
        default_steps = (10 if quick else 25) if model == "seed_cnn" else 6
        steps = settings.epoch_steps or default_steps
        # The article's script feeds arrays; its tf.data pipeline and the batched one are the alternatives it
        # says to tune. ResNet-20 is compute-bound whatever feeds it (~500 images/s): only the article's arrays.
        inputs = epoch_inputs() if model == "seed_cnn" else (ARRAYS,)
        for feed in inputs:
            feed_id = feed if feed == ARRAYS else PipelineOptions(**feed).id
            cases.append(Case("epoch", f"{model}-{feed_id}", {"model": model, "pipeline": feed,
                                                              "rounds": 6 if quick else 5, "warmup_rounds": 1,
                                                              "steps": steps, "data": data}, 1))
    if settings.passes is not None:
        # More processes per case: the remedy when process-to-process variation dominates (see README).
        cases = [replace(case, passes=settings.passes) for case in cases]
    for pattern, passes in settings.passes_for:
        matched = {case.test_id for case in cases if fnmatch.fnmatchcase(case.test_id, pattern)}
        if not matched:
            raise ValueError(f"--passes-for {pattern}={passes}: the pattern matches no case of this suite "
                             f"(e.g. {cases[-1].test_id})")
        cases = [replace(case, passes=passes) if case.test_id in matched else case for case in cases]
    return cases
