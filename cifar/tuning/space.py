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

>>> Space.parse(["intra=1,2", "pipeline=arrays", "onednn=on"], logical=2).size()   # 2 x 4 inter x 2 cpus
16
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from cifar.errors import BadInput
from cifar.training.pipeline import ARRAYS, AUTOTUNE, PipelineOptions
from cifar.training.threads import ThreadConfig, check_thread_count
from cifar.workloads.epoch import PRECISIONS

PIPELINES = (ARRAYS, "seed", "batched")
JIT = ("auto", "on", "off")
#: The dimensions that only a tf.data pipeline has.
PIPELINE_ONLY = ("num_parallel_calls", "private_threadpool_size")
DIMENSIONS = ("intra", "inter", "pipeline", "num_parallel_calls", "private_threadpool_size", "cpus", "onednn",
              "precision", "jit_compile")


class SpaceError(BadInput, ValueError):
    """A bad ``--space``: an unknown dimension, no values, a value it cannot take."""


def _powers(top: int, start: int = 1) -> list[int]:
    values, v = [], start
    while v <= top:
        values.append(v)
        v *= 2
    return values + ([top] if top not in values else [])


def defaults(logical: int) -> dict[str, tuple]:
    """Each dimension's values on a machine with `logical` usable cores."""
    return {
        "intra": (0, *_powers(2 * logical)),
        "inter": (0, *_powers(2 * logical)),
        "pipeline": PIPELINES,
        "num_parallel_calls": (AUTOTUNE, *_powers(logical)),
        "private_threadpool_size": (0, *_powers(logical)),
        "cpus": tuple(_powers(logical)),
        "onednn": ("on", "off"),
        "precision": ("float32",),
        "jit_compile": ("auto",),
    }


def bf16_supported(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Does this CPU do bfloat16 arithmetic natively (AVX512_BF16 or AMX-BF16)? Otherwise it is emulated, slowly."""
    try:
        with open(cpuinfo) as f:
            flags = f.read()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def _parse_value(dim: str, text: str, logical: int):
    text = text.strip()
    if dim in ("intra", "inter", "num_parallel_calls", "private_threadpool_size", "cpus"):
        if dim == "num_parallel_calls" and text.lower() in ("auto", "autotune", "-1"):
            return [AUTOTUNE]
        if dim in ("intra", "inter") and text == "default":
            return [0]
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
        if not match:
            raise SpaceError(f"--space {dim}: {text!r} is not a count (e.g. 2, or a range 1-4)")
        low, high = int(match[1]), int(match[2] or match[1])
        if high < low:
            raise SpaceError(f"--space {dim}: range {text!r} is empty")
        values = list(range(low, high + 1))
        minimum = 1 if dim in ("num_parallel_calls", "cpus") else 0
        for value in values:
            if value < minimum:
                raise SpaceError(f"--space {dim}: {value} is below {minimum}")
            if dim == "cpus" and value > logical:
                raise SpaceError(f"--space cpus: {value} is more than the {logical} usable cores")
            try:
                check_thread_count(dim, value, logical)
            except ValueError as err:
                raise SpaceError(f"--space {err}") from None
        return values
    choices = {"pipeline": PIPELINES, "precision": PRECISIONS, "jit_compile": JIT, "onednn": ("on", "off")}[dim]
    if text not in choices:
        raise SpaceError(f"--space {dim}: {text!r} is not one of {', '.join(choices)}")
    return [text]


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
        """``intra2-inter1 arrays`` plus whatever differs from TensorFlow's defaults."""
        parts = [self.threads.id, self.pipeline_options.id if self.pipeline_options else ARRAYS]
        if self.cpus is not None:
            parts.append(f"cpus{self.cpus}")
        if self.onednn != "on":
            parts.append("onednn-off")
        if self.precision != "float32":
            parts.append(self.precision)
        if self.jit_compile != "auto":
            parts.append(f"jit-{self.jit_compile}")
        return " ".join(parts)

    def changes(self) -> tuple[str, ...]:
        """What this setting changes from TensorFlow's defaults and the article's input (threads 0, arrays, no
        private pool, every usable core, oneDNN on, float32, Keras' jit_compile): the fewer, the simpler to adopt.

        >>> Setting().changes(), Setting(4, 2, "batched", private_threadpool_size=2).changes()
        ((), ('intra', 'inter', 'pipeline', 'private_threadpool_size'))
        """
        default = Setting()
        return tuple(name for name in DIMENSIONS if getattr(self, name) != getattr(default, name))

    def epoch_params(self) -> dict:
        """The `cifar.workloads.epoch` parameters this setting changes."""
        params: dict = {"pipeline": self.pipeline_options.to_dict() if self.pipeline_options else ARRAYS}
        if self.precision != "float32":
            params["precision"] = self.precision
        if self.jit_compile != "auto":
            params["jit_compile"] = self.jit_compile == "on"
        return params

    def affinity(self, usable: list[int]) -> tuple[int, ...] | None:
        """The CPUs the child runs on: the first `cpus` of `usable` (this process's affinity), or None (all)."""
        return None if self.cpus is None or self.cpus >= len(usable) else tuple(sorted(usable)[: self.cpus])

    def env(self) -> dict:
        """Environment read at TensorFlow's import: a Runner (zygote) per distinct value. Set both ways: "on" left
        to the parent's environment would be off wherever the user's shell exports the variable as 0."""
        return {"TF_ENABLE_ONEDNN_OPTS": "1" if self.onednn == "on" else "0"}

    def not_applied(self, result: dict) -> str | None:
        """What of this setting a child's `result` says did not take (its threads, its cores, oneDNN as TensorFlow
        reports it), one line; None when all of it did. A measurement of a setting that did not take is not one."""
        applied = result.get("threads_applied") or {}
        for name, want in (("intra_op_parallelism_threads", self.intra), ("inter_op_parallelism_threads", self.inter)):
            if name in applied and applied[name] != want:
                return f"{name} read back {applied[name]}, not {want}"
        if self.cpus is not None and result.get("cpus") is not None and len(result["cpus"]) != self.cpus:
            return f"ran on CPUs {result['cpus']}, not {self.cpus} of them"
        onednn = result.get("onednn_applied")
        if onednn is not None and onednn != (self.onednn == "on"):
            return (f"oneDNN is {'on' if onednn else 'off'} in TensorFlow, not {self.onednn} (TF_ENABLE_ONEDNN_OPTS="
                    f"{(result.get('environment_applied') or {}).get('TF_ENABLE_ONEDNN_OPTS')})")
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
        cpus = self.logical if setting.cpus is None else setting.cpus
        checks = [setting.intra in self.values["intra"], setting.inter in self.values["inter"],
                  setting.pipeline in self.values["pipeline"], cpus in self.values["cpus"],
                  setting.onednn in self.values["onednn"], setting.precision in self.values["precision"],
                  setting.jit_compile in self.values["jit_compile"]]
        if setting.pipeline != ARRAYS:
            checks += [setting.num_parallel_calls in self.values["num_parallel_calls"],
                       setting.private_threadpool_size in self.values["private_threadpool_size"]]
        return all(checks)

    def to_dict(self) -> dict:
        return {"logical": self.logical, "values": {k: list(v) for k, v in self.values.items()}}
