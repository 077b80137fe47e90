"""What the tuner searches: the dimensions, their values on this machine, one point of the space (`Setting`).

A dimension is a short name and the values it may take; ``--space NAME=V1,V2`` replaces a dimension's values
(``1-4`` is a range; one value fixes it). Defaults come from this process's CPU budget (`cpu_budget`: affinity
and cgroup quota, not the host's count), with L usable cores:

========================= ================================================= =========================
dimension                 what the child sets                               default values
========================= ================================================= =========================
``intra``                 ``set_intra_op_parallelism_threads``              0 (TF decides), 1, 2, 4 … 2L
``inter``                 ``set_inter_op_parallelism_threads``              0, 1, 2, 4 … 2L
``pipeline``              arrays (the article's script) / seed / batched    all three
``num_parallel_calls``    tf.data ``map`` (not for arrays)                  AUTOTUNE, 1, 2, 4 … L
``private_threadpool_size`` ``tf.data.Options().threading`` (not for arrays) 0 (shared), 1, 2, 4 … L
``cpus``                  CPU affinity: the first N usable cores            1, 2, 4 … L
``onednn``                ``TF_ENABLE_ONEDNN_OPTS`` (read at import)        on, off
``precision``             Keras' policy (opt-in)                            float32
``jit_compile``           ``model.compile(jit_compile=…)`` (opt-in)         auto (Keras' default)
========================= ================================================= =========================

Each dimension is one entry of `TABLE` (a `Dimension`: its values, parser, how the child gets it, its part of the
setting's id, its text in the snippet, how the child's result reads it back) plus its `Setting` field; everything
else here, the snippet (`cifar.tuning.report.snippet`) and the suite's guard of a tuned setting derive from them.

>>> Space.parse(["intra=1,2", "pipeline=arrays", "onednn=on"], logical=2).size()   # 2 x 4 inter x 2 cpus
16
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

from cifar.errors import BadInput
from cifar.training.pipeline import ARRAYS, AUTOTUNE, PipelineOptions
from cifar.training.threads import ThreadConfig, check_thread_count
from cifar.workloads.epoch import PRECISIONS

PIPELINES = (ARRAYS, "seed", "batched")
JIT = ("auto", "on", "off")
ONEDNN = ("on", "off")


class SpaceError(BadInput, ValueError):
    """A bad ``--space``: an unknown dimension, no values, a value it cannot take."""


def _powers(top: int, start: int = 1) -> list[int]:
    values, v = [], start
    while v <= top:
        values.append(v)
        v *= 2
    return values + ([top] if top not in values else [])


def _counts(minimum: int, auto: bool = False, default_word: bool = False, at_most_cores: bool = False):
    """A parser of one ``--space`` value of a count dimension: N, a range N-M; ``auto`` (AUTOTUNE), ``default``
    (0: TensorFlow decides) where the dimension takes them; thread counts checked against this machine's cap."""

    def parse(dim: str, text: str, logical: int) -> list:
        if auto and text.lower() in ("auto", "autotune", "-1"):
            return [AUTOTUNE]
        if default_word and text == "default":
            return [0]
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
        if not match:
            raise SpaceError(f"--space {dim}: {text!r} is not a count (e.g. 2, or a range 1-4)")
        low, high = int(match[1]), int(match[2] or match[1])
        if high < low:
            raise SpaceError(f"--space {dim}: range {text!r} is empty")
        values = list(range(low, high + 1))
        for value in values:
            if value < minimum:
                raise SpaceError(f"--space {dim}: {value} is below {minimum}")
            if at_most_cores and value > logical:
                raise SpaceError(f"--space {dim}: {value} is more than the {logical} usable cores")
            try:
                check_thread_count(dim, value, logical)
            except ValueError as err:
                raise SpaceError(f"--space {err}") from None
        return values

    return parse


def _choice(choices: tuple):
    def parse(dim: str, text: str, logical: int) -> list:
        if text not in choices:
            raise SpaceError(f"--space {dim}: {text!r} is not one of {', '.join(choices)}")
        return [text]

    return parse


def _threads_read_back(name: str):
    def read_back(value, result: dict) -> str | None:
        applied = (result.get("threads_applied") or {}).get(name)
        return None if applied is None or applied == value else f"{name} read back {applied}, not {value}"

    return read_back


def _workload_read_back(key: str, expect):
    """A read-back from what the epoch records of itself (``result["workload"]``); `expect(value)` is what it should
    say, None when the value leaves nothing to check there."""

    def read_back(value, result: dict) -> str | None:
        workload = _epoch(result)
        want = expect(value)
        if workload is None or want is None:
            return None
        got = workload.get(key)
        return None if got == want else f"the epoch ran with {key}={got!r}, not {want!r}"

    return read_back


def _pipeline_read_back(key: str):
    def read_back(value, result: dict) -> str | None:
        pipeline = (_epoch(result) or {}).get("pipeline")
        if not isinstance(pipeline, dict):
            return None  # the arrays input: no tf.data options
        got = pipeline.get(key)
        return None if got == value else f"the pipeline ran with {key}={got!r}, not {value!r}"

    return read_back


def _epoch(result: dict) -> dict | None:
    """What an epoch's result records of itself (`cifar.workloads.epoch`); None for any other workload."""
    workload = result.get("workload")
    return workload if isinstance(workload, dict) and workload.get("name") == "epoch" else None


def _variant_read_back(value, result: dict) -> str | None:
    if _epoch(result) is None:
        return None
    pipeline = result["workload"].get("pipeline")
    ran = pipeline.get("variant") if isinstance(pipeline, dict) else pipeline
    return None if ran == value else f"the epoch was fed by {ran!r}, not {value!r}"


def _cpus_read_back(value, result: dict) -> str | None:
    ran = result.get("cpus")
    return None if value is None or ran is None or len(ran) == value else f"ran on CPUs {ran}, not {value} of them"


def _onednn_read_back(value, result: dict) -> str | None:
    onednn = result.get("onednn_applied")
    if onednn is None or onednn == (value == "on"):
        return None
    return (f"oneDNN is {'on' if onednn else 'off'} in TensorFlow, not {value} (TF_ENABLE_ONEDNN_OPTS="
            f"{(result.get('environment_applied') or {}).get('TF_ENABLE_ONEDNN_OPTS')})")


def _jit_read_back(value, result: dict) -> str | None:
    resolved = (result.get("training") or {}).get("jit_compile_resolved")
    if value == "auto" or resolved is None or resolved == (value == "on"):
        return None
    return f"Keras compiled with jit_compile={resolved}, not {value}"


@dataclass(frozen=True)
class Dimension:
    """One knob the tuner turns, whole: everything the space, a `Setting`, its child and its snippet need of it.

    ``applied`` says how the child gets it: ``threads`` (the runner's `ThreadConfig`, before any op), ``epoch``
    (a parameter of `cifar.workloads.epoch`), ``pipeline`` (inside the epoch's tf.data options), ``affinity``
    (the child's CPU mask) or ``environment`` (read at TensorFlow's import: a zygote per value)."""

    name: str
    #: Its value in TensorFlow's defaults and the article's input (`DEFAULT`).
    default: object
    #: Its search values on a machine with L usable cores.
    values: Callable[[int], tuple]
    #: One ``--space NAME=TEXT`` value -> its values; `SpaceError` for what it cannot take.
    parse: Callable[[str, str, int], list]
    applied: str
    #: Its part of `Setting.id` for a value away from the default (None: at the default, or part of another's).
    id_part: Callable[[object], str | None]
    #: The text the snippet holds for a value (`cifar.tuning.report.snippet`), None where it writes nothing.
    snippet: Callable[[object], str | None]
    #: What a child's result says about the value it ran with: one line when it did not take, else None.
    read_back: Callable[[object, dict], str | None]
    #: Only a tf.data pipeline has it (the arrays input does not).
    pipeline_only: bool = False
    #: ``applied == "epoch"``: the epoch's parameter for a value away from the default (the value itself unless
    #: given); ``applied == "environment"``: the variables it sets, for every value.
    param: Callable[[object], object] | None = None
    env: Callable[[object], dict] | None = None


APPLIED = ("threads", "epoch", "pipeline", "affinity", "environment")


def _npc_text(v) -> str:
    return "tf.data.AUTOTUNE" if v == AUTOTUNE else str(v)


#: The tuner's dimensions, in the order the search asks them; adding a knob is an entry here and its `Setting` field
#: (tests/test_tuning.py fails on a dimension that lacks either, or whose snippet or read-back says nothing).
TABLE = (
    Dimension("intra", 0, lambda L: (0, *_powers(2 * L)), _counts(0, default_word=True), "threads",
              lambda v: None,  # the threads' id (ThreadConfig.id) leads every setting's id
              lambda v: f"tf.config.threading.set_intra_op_parallelism_threads({v})",
              _threads_read_back("intra_op_parallelism_threads")),
    Dimension("inter", 0, lambda L: (0, *_powers(2 * L)), _counts(0, default_word=True), "threads",
              lambda v: None,
              lambda v: f"tf.config.threading.set_inter_op_parallelism_threads({v})",
              _threads_read_back("inter_op_parallelism_threads")),
    Dimension("pipeline", ARRAYS, lambda L: PIPELINES, _choice(PIPELINES), "epoch",
              lambda v: None,  # the input's id (arrays, or PipelineOptions.id) follows the threads'
              lambda v: {ARRAYS: "model.fit(x_train.astype(\"float32\") / 255.0, y_train, batch_size=128",
                         "seed": "train_ds.map(augment,", "batched": "train_ds.map(augment_batch,"}[v],
              _variant_read_back),
    Dimension("num_parallel_calls", AUTOTUNE, lambda L: (AUTOTUNE, *_powers(L)), _counts(1, auto=True), "pipeline",
              lambda v: None, lambda v: f"num_parallel_calls={_npc_text(v)}",
              _pipeline_read_back("num_parallel_calls"), pipeline_only=True),
    Dimension("private_threadpool_size", 0, lambda L: (0, *_powers(L)), _counts(0), "pipeline",
              lambda v: None,
              lambda v: f"options.threading.private_threadpool_size = {v}" if v else None,
              _pipeline_read_back("private_threadpool_size"), pipeline_only=True),
    Dimension("cpus", None, lambda L: tuple(_powers(L)), _counts(1, at_most_cores=True), "affinity",
              lambda v: None if v is None else f"cpus{v}",
              lambda v: None if v is None else f"os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:{v}])",
              _cpus_read_back),
    Dimension("onednn", "on", lambda L: ONEDNN, _choice(ONEDNN), "environment",
              lambda v: None if v == "on" else f"onednn-{v}",
              lambda v: None if v == "on" else 'os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"',
              _onednn_read_back, env=lambda v: {"TF_ENABLE_ONEDNN_OPTS": "1" if v == "on" else "0"}),
    Dimension("precision", "float32", lambda L: ("float32",), _choice(PRECISIONS), "epoch",
              lambda v: None if v == "float32" else v,
              lambda v: None if v == "float32" else f'keras.mixed_precision.set_global_policy("{v}")',
              _workload_read_back("precision", lambda v: None if v == "float32" else v)),
    Dimension("jit_compile", "auto", lambda L: ("auto",), _choice(JIT), "epoch",
              lambda v: None if v == "auto" else f"jit-{v}",
              lambda v: None if v == "auto" else f"jit_compile={v == 'on'}",
              _jit_read_back, param=lambda v: v == "on"),
)
DIMENSIONS = tuple(d.name for d in TABLE)
BY_NAME = {d.name: d for d in TABLE}
#: The dimensions that only a tf.data pipeline has.
PIPELINE_ONLY = tuple(d.name for d in TABLE if d.pipeline_only)


def defaults(logical: int) -> dict[str, tuple]:
    """Each dimension's values on a machine with `logical` usable cores."""
    return {d.name: tuple(d.values(logical)) for d in TABLE}


def bf16_supported(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Does this CPU do bfloat16 arithmetic natively (AVX512_BF16 or AMX-BF16)? Otherwise it is emulated, slowly."""
    try:
        with open(cpuinfo) as f:
            flags = f.read()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def _parse_value(dim: str, text: str, logical: int):
    return BY_NAME[dim].parse(dim, text.strip(), logical)


@dataclass(frozen=True)
class Setting:
    """One point of the space: everything one trial's child is set up with. 0 threads: TensorFlow decides."""

    intra: int = 0
    inter: int = 0
    pipeline: str = ARRAYS
    num_parallel_calls: int = AUTOTUNE
    private_threadpool_size: int = 0
    cpus: int | None = None  # None: every usable core
    onednn: str = "on"
    precision: str = "float32"
    jit_compile: str = "auto"

    def __post_init__(self) -> None:
        if self.pipeline == ARRAYS and (self.num_parallel_calls, self.private_threadpool_size) != (AUTOTUNE, 0):
            raise ValueError("the arrays input has no tf.data threads: num_parallel_calls and "
                             "private_threadpool_size apply to seed and batched only")

    @property
    def threads(self) -> ThreadConfig:
        return ThreadConfig(self.intra, self.inter)

    @property
    def pipeline_options(self) -> PipelineOptions | None:
        if self.pipeline == ARRAYS:
            return None
        return PipelineOptions(self.pipeline, num_parallel_calls=self.num_parallel_calls,
                               private_threadpool_size=self.private_threadpool_size)

    @property
    def id(self) -> str:
        """``intra2-inter1 arrays`` plus whatever differs from TensorFlow's defaults (each dimension's `id_part`)."""
        parts = [self.threads.id, self.pipeline_options.id if self.pipeline_options else ARRAYS]
        parts += [part for d in TABLE if (part := d.id_part(getattr(self, d.name))) is not None]
        return " ".join(parts)

    def dimensions(self):
        """(dimension, its value) for every dimension this setting has (a tf.data one only for a pipeline)."""
        return [(d, getattr(self, d.name)) for d in TABLE if not (d.pipeline_only and self.pipeline == ARRAYS)]

    def changes(self) -> tuple[str, ...]:
        """What this setting changes from TensorFlow's defaults and the article's input (threads 0, arrays, no
        private pool, every usable core, oneDNN on, float32, Keras' jit_compile): the fewer, the simpler to adopt.

        >>> Setting().changes(), Setting(4, 2, "batched", private_threadpool_size=2).changes()
        ((), ('intra', 'inter', 'pipeline', 'private_threadpool_size'))
        """
        default = Setting()
        return tuple(name for name in DIMENSIONS if getattr(self, name) != getattr(default, name))

    def epoch_params(self) -> dict:
        """The `cifar.workloads.epoch` parameters this setting changes: the input (tf.data options included) and each
        ``epoch`` dimension away from its default."""
        params: dict = {"pipeline": self.pipeline_options.to_dict() if self.pipeline_options else ARRAYS}
        for d, value in self.dimensions():
            if d.applied == "epoch" and d.name != "pipeline" and value != d.default:
                params[d.name] = d.param(value) if d.param else value
        return params

    def affinity(self, usable: list[int]) -> tuple[int, ...] | None:
        """The CPUs the child runs on: the first `cpus` of `usable` (this process's affinity), or None (all)."""
        return None if self.cpus is None or self.cpus >= len(usable) else tuple(sorted(usable)[: self.cpus])

    def env(self) -> dict:
        """Environment read at TensorFlow's import: a Runner (zygote) per distinct value. Set for every value, "on"
        too: left to the parent's environment it would be off wherever the user's shell exports the variable as 0."""
        out: dict = {}
        for d, value in self.dimensions():
            if d.applied == "environment":
                out.update(d.env(value))
        return out

    def not_applied(self, result: dict) -> str | None:
        """What of this setting a child's `result` says did not take (each dimension's `read_back`: threads, cores,
        oneDNN as TensorFlow reports it, the epoch's input and options), one line; None when all of it did. A
        measurement of a setting that did not take is not one."""
        for d, value in self.dimensions():
            wrong = d.read_back(value, result)
            if wrong:
                return wrong
        return None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Setting":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


#: TensorFlow's defaults and the article's script: what every recommendation is measured against.
DEFAULT = Setting()
ARTICLE = Setting(4, 2)


@dataclass(frozen=True)
class Space:
    """The values of each dimension (`DIMENSIONS`); a dimension with one value is fixed."""

    values: dict
    logical: int

    @classmethod
    def parse(cls, items: list[str] | None, logical: int) -> "Space":
        """Defaults for `logical` cores with each ``NAME=V1,V2`` of `items` (``;`` also separates) replacing one
        dimension. Raises `SpaceError` (one line) for an unknown dimension, no values, or a bad value."""
        values = dict(defaults(logical))
        for item in (part.strip() for text in items or () for part in text.split(";")):
            if not item:
                continue
            name, sep, text = item.partition("=")
            name = name.strip()
            if name not in DIMENSIONS:
                raise SpaceError(f"--space: unknown dimension {name!r} (known: {', '.join(DIMENSIONS)})")
            if not sep or not text.strip():
                raise SpaceError(f"--space {name}= has no values: an empty space has nothing to search")
            parsed: list = []
            for value in (v for part in text.split(",") for v in _parse_value(name, part, logical)):
                if value not in parsed:
                    parsed.append(value)
            values[name] = tuple(parsed)
        if "mixed_bfloat16" in values["precision"] and not bf16_supported():
            raise SpaceError("--space precision=mixed_bfloat16: this CPU has neither AVX512_BF16 nor AMX-BF16, "
                             "so bfloat16 would be emulated (slow); leave precision at float32 here")
        return cls(values, logical)

    def searched(self) -> list[str]:
        """The dimensions with more than one value, in `DIMENSIONS` order."""
        return [d for d in DIMENSIONS if len(self.values[d]) > 1]

    def size(self) -> int:
        """How many distinct settings (tf.data dimensions count only for tf.data pipelines)."""
        common = 1
        for d in DIMENSIONS:
            if d not in PIPELINE_ONLY and d != "pipeline":
                common *= len(self.values[d])
        per_pipeline = sum(1 if p == ARRAYS else len(self.values["num_parallel_calls"]) *
                           len(self.values["private_threadpool_size"]) for p in self.values["pipeline"])
        return common * per_pipeline

    def suggest(self, trial) -> Setting:
        """The `Setting` an Optuna trial asks for (define-by-run: tf.data dimensions only for tf.data pipelines)."""
        chosen = {}
        for d in DIMENSIONS:
            if d in PIPELINE_ONLY and chosen["pipeline"] == ARRAYS:
                continue
            chosen[d] = trial.suggest_categorical(d, list(self.values[d]))
        cpus = chosen.pop("cpus")
        return Setting(**chosen, cpus=None if cpus >= self.logical else cpus)

    def all_params(self) -> list[dict]:
        """Every setting of the space as the parameters `suggest` asks for (the exhaustive reference)."""
        import itertools

        out = []
        for combo in itertools.product(*(self.values[d] for d in DIMENSIONS if d not in PIPELINE_ONLY)):
            params = dict(zip([d for d in DIMENSIONS if d not in PIPELINE_ONLY], combo))
            if params["pipeline"] == ARRAYS:
                out.append(params)
                continue
            for npc, pool in itertools.product(self.values["num_parallel_calls"],
                                               self.values["private_threadpool_size"]):
                out.append({**params, "num_parallel_calls": npc, "private_threadpool_size": pool})
        return out

    def start_points(self) -> list[dict]:
        """Where a search starts, as `suggest`'s parameters: TensorFlow's defaults (`DEFAULT`'s value of every
        dimension, or the dimension's first value where the space leaves it out) under each pipeline of the space.
        The article's own advice, made concrete: first see what the input path does at the defaults."""
        out = []
        for pipeline in self.values["pipeline"]:
            params: dict = {}
            for d in DIMENSIONS:
                if d in PIPELINE_ONLY and pipeline == ARRAYS:
                    continue
                want = pipeline if d == "pipeline" else self.logical if d == "cpus" else getattr(DEFAULT, d)
                params[d] = want if want in self.values[d] else self.values[d][0]
            out.append(params)
        return out

    def contains(self, setting: Setting) -> bool:
        """Is every dimension's value of `setting` among this space's (cores: None is every usable core)?"""
        return all((self.logical if d.name == "cpus" and value is None else value) in self.values[d.name]
                   for d, value in setting.dimensions())

    def to_dict(self) -> dict:
        return {"logical": self.logical, "values": {k: list(v) for k, v in self.values.items()}}
