"""What `pytest benchmarks/` measures: the thread grid and the workload cases, for quick and default runs, and
the one translation between the suite's settings and pytest's command line (`pytest_args`), which the
re-measurement, the paired gate and the gate's check all use.

Pure data: building the suite never imports TensorFlow.

>>> from cifar.suite.settings import SuiteSettings, build_cases
>>> [c.id for c in build_cases(SuiteSettings(quick=True)) if c.workload == "pipeline"]
['seed-npcAUTO', 'seed-npc1', 'batched-npcAUTO', 'batched-npc1']
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import asdict, dataclass, field, replace

from cifar.isolation.runner import MODES
from cifar.training.data import SOURCES
from cifar.training.models import MODELS
from cifar.training.user import is_spec
from cifar.training.pipeline import ARRAYS, AUTOTUNE, PipelineOptions
from cifar.training.threads import ThreadConfig, check_thread_config, core_counts, parse_grid, thread_grid
from cifar.workloads import WORKLOADS


#: The longest a benchmark session the gate starts may run (a re-measurement, a gate-check session) before it is
#: stopped; the suite's largest shipped session, the paired gate, takes ~22 min on the slowest machine measured.
SESSION_TIMEOUT_SECONDS = 1800

@dataclass(frozen=True)
class Variant(ThreadConfig):
    """A whole setting a case runs under where others run under a thread configuration: `python -m cifar tune`'s
    recommendation and TensorFlow's default, side by side (``--thread-grid tune:PATH``). Its threads as a
    `ThreadConfig`'s, plus what it changes in the case's parameters (input pipeline, precision, jit_compile), the
    environment its TensorFlow is imported with (oneDNN) and how many of the usable CPUs it runs on (None: all)."""

    name: str = "default"
    params: dict = field(default_factory=dict, hash=False, compare=False)
    env: dict = field(default_factory=dict, hash=False, compare=False)
    cpus: int | None = None
    #: The tuner's setting as a whole (`cifar.tuning.space.Setting.to_dict`), which the child's result is read back
    #: against, dimension by dimension; empty for TensorFlow's default.
    setting: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def id(self) -> str:
        return self.name

    @property
    def threads(self) -> ThreadConfig:
        return ThreadConfig(self.intra_op_parallelism_threads, self.inter_op_parallelism_threads, self.api)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "variant": self.name, "params": self.params, "env": self.env, "cpus": self.cpus}


#: The code-regression detector (`SuiteSettings.pinned`): one intra-op and one inter-op thread, the child's affinity
#: set to the first CPU this process may use. Work that needs one core is the steadiest this shared 2-vCPU VM
#: measures (docs/gate.md: its pair spread against TensorFlow's default threads'); what only shows with
#: parallelism stays with the default configuration beside it.
PINNED = Variant(1, 1, name="intra1-inter1-pin1", cpus=1)


def tuned_variants(tuned: dict) -> tuple[Variant, Variant]:
    """TensorFlow's default and the tuned setting (``tuned``: `cifar.tuning.report.guard_from_report`'s
    ``"tuned"``), as a tuned case's two configurations."""
    intra, inter = tuned["threads"]
    return (Variant(name="default"),
            Variant(intra, inter, name=tuned["id"], params=dict(tuned["params"]), env=dict(tuned["env"]),
                    cpus=tuned["cpus"], setting=dict(tuned.get("setting") or {})))


@dataclass(frozen=True)
class Case:
    """One benchmark body: a workload with fixed parameters, run under every thread configuration."""

    workload: str
    id: str  # readable, unique within the workload: "seed_cnn", "batched-npc2-pool2"
    params: dict = field(hash=False)
    passes: int = 1  # interleaved passes over the thread grid; each pass is a fresh child per config
    threads: tuple[ThreadConfig, ...] | None = None  # fixed configurations instead of the grid
    #: Adaptive effort: up to this many passes, one more at a time while the case's best-vs-default interval is
    #: wider than ±5 % (cifar.suite.campaign); None: exactly `passes`.
    max_passes: int | None = None

    @property
    def target(self) -> str:
        return WORKLOADS[self.workload].target

    @property
    def test_id(self) -> str:
        """The pytest id without the thread configuration, e.g. ``test_pipeline[seed-npc1]``."""
        return f"test_{self.workload}[{self.id}]"

    @property
    def name(self) -> str:
        return self.workload if self.id == self.workload else f"{self.workload}-{self.id}"

    def smoke_params(self) -> dict:
        """The same body, as small as possible: one round, no warm-up (for ``--benchmark-disable`` runs)."""
        return {**self.params, **WORKLOADS[self.workload].smoke}


@dataclass(frozen=True)
class SuiteSettings:
    quick: bool = False
    data: str = "auto"
    models: tuple[str, ...] | None = None  # None: seed_cnn (the article's model); resnet20 on request
    epoch_steps: int | None = None
    grid: tuple[ThreadConfig, ...] | None = None  # None: the standard grid (quick: a subset)
    runner: str = "zygote"
    passes: int | None = None  # None: the case's own (quick 1; default 3, 2 for the calibration); fixes them
    #: Adaptive effort: up to this many passes for every case measured under several configurations, added while
    #: its best-vs-default interval is wider than ±5 %. None: the cases' own (default 10 for the compute cases, none
    #: with --passes or --quick).
    max_passes: int | None = None
    #: (pattern, passes): cases whose test id without the configuration ("test_pipeline[seed-npc1]") matches
    #: the fnmatch pattern get that many passes instead; the last matching pattern wins.
    passes_for: tuple[tuple[str, int], ...] = ()
    #: A checkout of the baseline code: every case also runs there, interleaved (a paired run, see campaign.py).
    baseline_tree: str | None = None
    #: Cases left out: fnmatch patterns on the test id without the configuration ("test_epoch[seed_cnn-seed-*").
    skip: tuple[str, ...] = ()
    #: A paired run's looks: a case under one configuration stops before its last pass once its pairs exclude a
    #: 5 % slowdown (cifar.gate.sequential). Needs baseline_tree.
    sequential: bool = False
    #: Cases that also run as a code-regression detector (`PINNED`: 1 intra-op and 1 inter-op thread on one CPU):
    #: fnmatch patterns on the test id without the configuration (``--pinned 'test_matmul*'``).
    pinned: tuple[str, ...] = ()
    #: Seconds the session may take (from its start) for a paired run's extra pairs: with ``--sequential``, a
    #: configuration still unresolved after its planned pairs gets more, up to twice its passes, while the budget
    #: lasts (cifar.gate.sequential). None: no extra pairs. The planned pairs always run.
    budget: float | None = None
    #: ``--thread-grid tune:PATH``: the tune report (``path``) and its recommendation as a whole (``model``, ``id``,
    #: ``threads``, ``params``, ``env``, ``cpus``; `cifar.tuning.report.guard_from_report`), measured as the case
    #: ``test_epoch[MODEL-tuned]`` beside TensorFlow's default. None: no tuned case.
    tuned: dict | None = None

    def __post_init__(self) -> None:
        if self.data not in SOURCES and not os.path.exists(os.path.expanduser(self.data)) and not is_spec(self.data):
            raise ValueError(f"--data must be one of {', '.join(SOURCES)}, an existing path or pkg.module:function, "
                             f"got {self.data!r}")
        for model in self.models or ():
            if model not in MODELS and not is_spec(model):
                raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)} or pkg.module:function")
        if self.models is not None and not self.models:
            raise ValueError("--models is empty")
        if self.epoch_steps is not None and (isinstance(self.epoch_steps, bool) or self.epoch_steps < 1):
            raise ValueError(f"--epoch-steps must be >= 1, got {self.epoch_steps!r}")
        if self.passes is not None and (isinstance(self.passes, bool) or self.passes < 1):
            raise ValueError(f"--passes must be >= 1, got {self.passes!r}")
        if self.budget is not None and (isinstance(self.budget, bool) or not self.budget > 0):
            raise ValueError(f"--budget must be a duration > 0 (10m, 600s), got {self.budget!r}")
        if self.budget is not None and not self.sequential:
            raise ValueError("--budget spends time on a paired run's unresolved benchmarks: it needs --sequential")
        if self.max_passes is not None and (isinstance(self.max_passes, bool) or self.max_passes < 1):
            raise ValueError(f"--max-passes must be >= 1, got {self.max_passes!r}")
        for pattern, passes in self.passes_for:
            if not pattern or isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
                raise ValueError(f"--passes-for needs PATTERN=N with N >= 1, got {pattern}={passes!r}")
        for config in self.grid or ():
            check_thread_config(config)  # absurd counts are a usage error now, not a failure minutes later
        if self.runner not in MODES:
            raise ValueError(f"--runner must be one of {MODES}, got {self.runner!r}")
        if self.baseline_tree is not None and not os.path.isfile(os.path.join(self.baseline_tree, "cifar",
                                                                              "__init__.py")):
            raise ValueError(f"--baseline-tree {self.baseline_tree!r} is not a checkout of this project "
                             "(no cifar/__init__.py); make one with: git worktree add --detach reports/base main")

    @property
    def user_functions(self) -> bool:
        """Does the suite run the user's own model or data (`cifar.training.user`), to be checked first?"""
        return is_spec(self.data) or any(is_spec(m) for m in self.models or ())

    @property
    def model_list(self) -> tuple[str, ...]:
        if self.models is not None:
            return self.models
        # ResNet-20 is not the article's: ~42 s a process here for one process a configuration (no interval), a
        # third of make bench's time; conv2d and the training step ask its question (docs/performance.md).
        return ("seed_cnn",)

    def to_dict(self) -> dict:
        """Plain JSON (the run file's ``cifar_settings``); `from_dict` reads it back."""
        data = asdict(self)
        data["grid"] = None if self.grid is None else [c.id for c in self.grid]
        return data

    def __hash__(self) -> int:  # `tuned` is a dict, which the generated hash cannot take
        import json

        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    @classmethod
    def from_dict(cls, data: dict) -> "SuiteSettings":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        grid = known.get("grid")
        known["grid"] = None if grid is None else tuple(parse_grid(",".join(grid_item(c) for c in grid)))
        for key in ("models", "skip", "pinned"):
            if known.get(key) is not None:
                known[key] = tuple(known[key])
        known["passes_for"] = tuple((str(p), int(n)) for p, n in known.get("passes_for") or ())
        return cls(**known)

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


#: Rounds per process, by kind of case and run (`rounds_mode`), from Kalibera and Jones' r* = sqrt(c_p sigma_w^2 /
#: (c_r sigma_b^2)) and docs/performance.md's variance split (c_p: a process's cost outside its rounds; c_r: a
#: round's, the pipelines' with its fresh iterator), by workload kind (`cifar.workloads.Workload.kind`): the
#: compute cases (matmul, conv2d, the training step; r* 1.1-1.8) 2, and 3 in the paired gate, whose pairs are fixed
#: and whose error rates were measured at 3; the epochs 4 (r* ~4); the pipelines 4 (r* 3.4-4.4).
ROUNDS = {"compute": {"full": 2, "quick": 2, "paired": 3},
          "epoch": {"full": 4, "quick": 4, "paired": 4},
          "pipeline": {"full": 4, "quick": 4, "paired": 4}}


def rounds_for(workload: str, mode: str) -> int:
    """A case's rounds per process: `ROUNDS` of its workload's kind (`cifar.workloads.WORKLOADS`) in `mode`."""
    from cifar.workloads import WORKLOADS

    return ROUNDS[WORKLOADS[workload].kind][mode]


def rounds_mode(settings: "SuiteSettings") -> str:
    """``paired`` for the paired gate's sessions (looks at its pairs: `PAIRED`), else ``quick`` or ``full``."""
    return "paired" if settings.sequential else "quick" if settings.quick else "full"


def build_cases(settings: SuiteSettings) -> list[Case]:
    """The cases of a run. Outside --quick each case runs in >= 3 processes a configuration (a t interval over
    2 processes spans 12.7 standard errors), and the compute cases add passes up to 10 until their best-vs-default
    interval is within ±5 % (adaptive effort, cifar.suite.campaign: an extra pass runs only the two configurations
    that interval compares). Rounds per process: `ROUNDS`."""
    quick = settings.quick
    passes = 1 if quick else 3
    most = None if quick else 10  # adaptive effort's cap on the compute cases (extra passes run two configurations)
    mode = rounds_mode(settings)
    data = settings.data
    cases = [
        # Always one thread, in every session: the gate's yardstick for machine-wide drift.
        Case("calibration", "calibration", {"rounds": 5, "warmup_rounds": 1, "products": 10}, 1 if quick else 2,
             threads=(ThreadConfig(1, 1),)),
        Case("matmul", "matmul", {"rounds": rounds_for("matmul", mode), "warmup_rounds": 1}, passes, max_passes=most),
        Case("conv2d", "conv2d", {"rounds": rounds_for("conv2d", mode), "warmup_rounds": 1,
                                  "steps": 5 if quick else 4}, passes, max_passes=most),
    ]
    for model in settings.model_list:
        # ResNet-20's training step is measured by its epoch (compute-bound whatever feeds it, and tracing it costs
        # ~10 s a child): only seed_cnn's step alone, the ceiling the epoch verdicts compare with.
        if model == "seed_cnn":
            cases.append(Case("train_step", model, {"model": model, "rounds": rounds_for("train_step", mode),
                                                    "warmup_rounds": 1, "steps": 10, "data": data}, passes,
                              max_passes=most))
    default = (ThreadConfig(),)
    for options in pipeline_options(quick):
        # A pipeline runs on tf.data's own threads: its speed did not depend on TensorFlow's intra/inter pools
        # (docs/performance.md), so it runs under TensorFlow's default only, in more processes. A round is short
        # (25-150 ms) but each starts a fresh iterator (~50 ms), and a child costs ~1 s to set up.
        cases.append(Case("pipeline", options.id, {"pipeline": options.to_dict(), "rounds": rounds_for("pipeline",
                                                                                                       mode),
                                                   "warmup_rounds": 1, "batches": 20, "data": data},
                          1 if quick else 3, threads=default))
    # --quick measures the article's model, and the user's own (`cifar.training.user`) when named.
    epoch_models = [m for m in settings.model_list if m == "seed_cnn" or is_spec(m) or not quick]
    for model in epoch_models:
        default_steps = (10 if quick else 20) if model == "seed_cnn" else 6
        steps = settings.epoch_steps or default_steps
        # The article's script feeds arrays; its tf.data pipeline and the batched one are the alternatives it
        # says to tune. ResNet-20 is compute-bound whatever feeds it (~500 images/s): only the article's arrays.
        inputs = epoch_inputs() if model == "seed_cnn" else (ARRAYS,)
        for feed in inputs:
            feed_id = feed if feed == ARRAYS else PipelineOptions(**feed).id
            arrays = feed == ARRAYS and model == "seed_cnn"
            # The arrays epoch, the article's script, runs under every configuration: do threads change it? It
            # can differ by up to 2x from process to process (docs/measuring.md): adaptive effort.
            # The tf.data epochs ask whether the input path changes it, under TensorFlow's default threads only:
            # their thread dependence is the same model's compute, which the arrays epoch, conv2d and the training
            # step show under every configuration (ResNet-20, on request, one process a configuration).
            cases.append(Case("epoch", f"{model}-{feed_id}", {"model": model, "pipeline": feed,
                                                              "rounds": rounds_for("epoch", mode),
                                                              "warmup_rounds": 1, "steps": steps, "data": data},
                              1 if quick or model != "seed_cnn" else passes,
                              threads=None if feed == ARRAYS else default,
                              max_passes=most if arrays else None))
    if settings.tuned is not None:
        # The tuner's answer as a whole (pipeline, its threads and pool, cores, oneDNN, precision) and TensorFlow's
        # default, interleaved in the same passes like any two configurations: the summary shows the gain, and the
        # gate fails a change that loses it. The epoch the tuner's confirmation decided on (whole epochs of the
        # data, for reports that record it), unless --epoch-steps names the steps.
        model = settings.tuned["model"]
        confirmed = settings.tuned.get("epoch") or {}
        steps = settings.epoch_steps or confirmed.get("steps") or ((10 if quick else 20) if model == "seed_cnn" else 6)
        epoch = {"rounds": rounds_for("epoch", mode), "warmup_rounds": 1,
                 **({k: confirmed[k] for k in ("rounds", "warmup_rounds", "n_train") if k in confirmed}
                    if not settings.epoch_steps else {})}
        cases.append(Case("epoch", f"{model}-tuned", {"model": model, "pipeline": ARRAYS, **epoch, "steps": steps,
                                                      "data": data},
                          passes, threads=tuned_variants(settings.tuned), max_passes=most))
    for pattern in settings.pinned:
        matched = {case.test_id for case in cases if fnmatch.fnmatchcase(case.test_id, pattern)}
        if not matched:
            raise ValueError(f"--pinned {pattern}: the pattern matches no case of this suite (e.g. "
                             f"{cases[-1].test_id})")
        cases = [replace(case, threads=tuple(dict.fromkeys((*(case.threads or settings.thread_configs()), PINNED))))
                 if case.test_id in matched else case for case in cases]
    for pattern in settings.skip:
        if not any(fnmatch.fnmatchcase(case.test_id, pattern) for case in cases):
            raise ValueError(f"--skip-cases {pattern}: the pattern matches no case of this suite (e.g. "
                             f"{cases[-1].test_id})")
    cases = [case for case in cases if not any(fnmatch.fnmatchcase(case.test_id, p) for p in settings.skip)]
    if settings.passes is not None:
        # More processes per case: the remedy when process-to-process variation dominates (docs/measuring.md).
        cases = [replace(case, passes=settings.passes, max_passes=None) for case in cases]
    for pattern, passes in settings.passes_for:
        matched = {case.test_id for case in cases if fnmatch.fnmatchcase(case.test_id, pattern)}
        if not matched:
            raise ValueError(f"--passes-for {pattern}={passes}: the pattern matches no case of this suite "
                             f"(e.g. {cases[-1].test_id})")
        cases = [replace(case, passes=passes, max_passes=None) if case.test_id in matched else case for case in cases]
    if settings.max_passes is not None:
        cases = [replace(case, max_passes=settings.max_passes if settings.max_passes > case.passes else None)
                 for case in cases]
    return cases


def grid_item(config_id: str) -> str:
    """``intra2-inter1`` -> ``2x1`` (``--thread-grid``'s form); ``default`` stays."""
    if config_id == "default":
        return "default"
    intra, _, inter = config_id.removeprefix("intra").partition("-inter")
    if not (intra.isdigit() and inter.isdigit()):
        raise ValueError(f"not a thread configuration of this suite: {config_id!r}")
    return f"{intra}x{inter}"


def pytest_args(settings: SuiteSettings) -> list[str]:
    """The options that make ``pytest benchmarks/`` run with `settings` — the inverse of conftest.py's parsing,
    and the only place that writes them, so a new setting cannot be dropped from a re-measurement.

    >>> pytest_args(SuiteSettings(quick=True, passes=3))
    ['--quick', '--data', 'auto', '--runner', 'zygote', '--passes', '3']
    """
    args = []
    if settings.quick:
        args.append("--quick")
    args += ["--data", settings.data, "--runner", settings.runner]
    if settings.tuned is not None:
        args += ["--thread-grid", f"tune:{settings.tuned['path']}"]  # the grid and the tuned case, as first read
    elif settings.grid is not None:
        args += ["--thread-grid", ",".join(grid_item(c.id) for c in settings.grid)]
    if settings.models is not None:
        args += ["--models", ",".join(settings.models)]
    if settings.epoch_steps is not None:
        args += ["--epoch-steps", str(settings.epoch_steps)]
    if settings.passes is not None:
        args += ["--passes", str(settings.passes)]
    if settings.max_passes is not None:
        args += ["--max-passes", str(settings.max_passes)]
    args += [f"--passes-for={pattern}={passes}" for pattern, passes in settings.passes_for]
    args += [f"--skip-cases={pattern}" for pattern in settings.skip]
    if settings.baseline_tree is not None:
        # "=": a separate value would be taken for a test path by pytest's early parse (before conftest.py adds
        # the option), and the baseline tree's own conftest.py would be loaded next to ours.
        args.append(f"--baseline-tree={settings.baseline_tree}")
    if settings.sequential:
        args.append("--sequential")
    args += [f"--pinned={pattern}" for pattern in settings.pinned]
    if settings.budget is not None:
        args.append(f"--budget={settings.budget:g}")
    return args


#: The paired gate as shipped (`make gate-paired`, CI on pull requests, `make gate-check`): the quick suite under
#: TensorFlow's default threads, up to 16 processes per arm, 32 for the per-element pipeline, whose processes vary most
#: (docs/gate.md), each case stopping at a look once its pairs exclude a slowdown above its tolerance (`sequential`; 5 %
#: unless `baselines/gate.json` says otherwise); a case still unresolved after its planned pairs gets up to as many
#: again while 10 minutes from the session's start last (`budget`: the pull-request session's target; the planned pairs
#: always run). The training step and the two pipelines also run as the pinned one-thread detector (`pinned`, `PINNED`),
#: where one-sitting A/As on both CPUs measured their pairs narrower than at default threads (docs/gate.md); not conv2d
#: (narrower on one CPU only), the matmul (no narrower) nor the arrays epoch (steady pinned, but its epochs after the
#: first wait on their input, and a slower step hides in that wait: a 10 % injection measured +2 %). Left out as adding
#: no coverage: the tf.data epochs (the pipelines' code, which the pipeline cases run) and the pipelines with
#: num_parallel_calls=1 (the same code as their AUTOTUNE twins, one argument apart; seed-npc1 took 64 processes a side,
#: a third of a session's processes). The calibration kernel is shown, never gated: 4 pairs.
PAIRED = SuiteSettings(quick=True, grid=(ThreadConfig(),), passes=16,
                       passes_for=(("test_calibration*", 4), ("test_pipeline?seed-npc*", 32)),
                       skip=("test_epoch?seed_cnn-seed-*", "test_epoch?seed_cnn-batched-*", "test_pipeline?*-npc1*"),
                       sequential=True, budget=600.0,
                       pinned=("test_train_step*", "test_pipeline?*-npcAUTO*"))
#: The stored-baseline gate's session (`make gate`): the quick suite, 3 processes per case.
HISTORY = SuiteSettings(quick=True, passes=3)
