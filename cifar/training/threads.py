"""Thread configuration: what to set (`ThreadConfig`), a grid of them, and applying one.

A `ThreadConfig` is plain data: building one never touches TensorFlow or the environment. Only
`apply_thread_config` imports TensorFlow, and only the isolated child process calls it, before any op
has run — the only moment TensorFlow accepts the setting.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

APIS = ("tf2", "compat_v1")

#: The seed article's setting: ``set_intra_op_parallelism_threads(4)``, ``set_inter_op_parallelism_threads(2)``.
ARTICLE = (4, 2)


class ThreadConfigError(RuntimeError):
    """The thread setting could not be applied (typically: TensorFlow's runtime already started)."""


def _check_count(name: str, value: object) -> None:
    # bool is an int subclass: True would silently mean 1 thread.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a non-negative int (0 = TensorFlow decides), got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (0 = TensorFlow decides), got {value!r}")


@dataclass(frozen=True)
class ThreadConfig:
    """TensorFlow's two CPU thread pools, as in ``tf.config.threading``; 0 means "TensorFlow decides".

    >>> ThreadConfig(2, 1).id
    'intra2-inter1'
    >>> ThreadConfig().id
    'default'
    >>> ThreadConfig(4, 2, api="compat_v1").id
    'intra4-inter2-v1'

    ``api`` selects how the child applies it: ``"tf2"`` (``tf.config.threading.set_*``) or
    ``"compat_v1"`` (a TF1 ``tf.compat.v1.ConfigProto`` passed to a ``tf.compat.v1.Session``).
    """

    intra_op_parallelism_threads: int = 0
    inter_op_parallelism_threads: int = 0
    api: str = "tf2"

    def __post_init__(self) -> None:
        _check_count("intra_op_parallelism_threads", self.intra_op_parallelism_threads)
        _check_count("inter_op_parallelism_threads", self.inter_op_parallelism_threads)
        if self.api not in APIS:
            raise ValueError(f"api must be one of {APIS}, got {self.api!r}")

    @property
    def id(self) -> str:
        intra, inter = self.intra_op_parallelism_threads, self.inter_op_parallelism_threads
        base = "default" if (intra, inter) == (0, 0) else f"intra{intra}-inter{inter}"
        return base + ("-v1" if self.api == "compat_v1" else "")

    def to_dict(self) -> dict:
        return {
            "intra_op_parallelism_threads": self.intra_op_parallelism_threads,
            "inter_op_parallelism_threads": self.inter_op_parallelism_threads,
            "api": self.api,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ThreadConfig":
        return cls(d["intra_op_parallelism_threads"], d["inter_op_parallelism_threads"], d.get("api", "tf2"))


_GRID_ITEM = re.compile(r"^(\d+)x(\d+)$")


def parse_grid(text: str) -> list[ThreadConfig]:
    """Parse ``"1x1,2x1,4x2,default"`` (intra x inter) into configurations, in order, without duplicates.

    >>> [c.id for c in parse_grid("1x1,4x2,default")]
    ['intra1-inter1', 'intra4-inter2', 'default']
    """
    configs: list[ThreadConfig] = []
    for item in (part.strip() for part in text.split(",")):
        if item in ("default", "0x0"):
            config = ThreadConfig()
        else:
            match = _GRID_ITEM.match(item)
            if not match:
                raise ValueError(f"bad thread configuration {item!r}: expected INTRAxINTER (e.g. 2x1) or 'default'")
            config = ThreadConfig(int(match[1]), int(match[2]))
        if config not in configs:
            configs.append(config)
    if not configs:
        raise ValueError(f"empty thread grid {text!r}")
    return configs


#: Above this many threads per usable core (or `MIN_THREAD_CAP`, whichever is larger) a thread count is refused:
#: 99999 intra-op threads ran the matmul for 7 minutes before failing, 5,000 trained at 23 images/s.
MAX_THREADS_PER_CORE = 8
MIN_THREAD_CAP = 64


@dataclass(frozen=True)
class CpuBudget:
    """The cores this process may really use: the host's count bounded by the CPU affinity mask and, in a
    container, the cgroup CPU quota (``cpu.max``; ``cpu.cfs_quota_us`` on cgroup v1), rounded up.

    ``logical`` is the budget everything else uses (the thread grid, "oversubscribed", the caps).
    """

    logical: int
    physical: int
    host_logical: int
    affinity: int
    quota_cores: float | None  # None: no quota

    def describe(self) -> str:
        limits = [f"affinity {self.affinity}"]
        if self.quota_cores is not None:
            limits.append(f"cgroup quota {self.quota_cores:g}")
        return f"{self.logical} usable of {self.host_logical} logical cores ({', '.join(limits)})"


def cgroup_quota_cores(root: str | os.PathLike = "/sys/fs/cgroup") -> float | None:
    """The cgroup CPU quota in cores (``quota / period``), or None when there is none.

    cgroup v2 keeps ``"QUOTA PERIOD"`` (or ``"max PERIOD"``) in ``cpu.max``; v1 keeps ``cpu.cfs_quota_us`` (-1: none)
    and ``cpu.cfs_period_us`` under ``cpu/`` or ``cpu,cpuacct/``. Unreadable files count as no quota.
    """
    from pathlib import Path

    root = Path(root)
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for folder in (root / "cpu", root / "cpu,cpuacct", root):
        try:
            quota = int((folder / "cpu.cfs_quota_us").read_text())
            period = int((folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota <= 0 or period <= 0 else quota / period
    return None


def cpu_budget(cgroup_root: str | os.PathLike = "/sys/fs/cgroup") -> CpuBudget:
    """This process's `CpuBudget`, from psutil, the affinity mask and the cgroup quota."""
    import math

    import psutil

    host_logical = psutil.cpu_count(logical=True) or 1
    host_physical = psutil.cpu_count(logical=False) or host_logical
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = host_logical
    quota = cgroup_quota_cores(cgroup_root)
    logical = min(host_logical, affinity)
    if quota is not None:
        logical = min(logical, max(1, math.ceil(quota)))
    return CpuBudget(logical=logical, physical=min(host_physical, logical), host_logical=host_logical,
                     affinity=affinity, quota_cores=quota)


def core_counts() -> tuple[int, int]:
    """(physical, logical) cores this process may use (`cpu_budget`)."""
    budget = cpu_budget()
    return budget.physical, budget.logical


class ThreadCountError(ValueError):
    """A thread count far beyond what this machine can run (above `thread_cap`)."""


def thread_cap(logical: int) -> int:
    """The largest thread count accepted for one pool on a machine with `logical` usable cores."""
    return max(MIN_THREAD_CAP, MAX_THREADS_PER_CORE * logical)


def check_thread_count(name: str, value: int, logical: int | None = None) -> str | None:
    """Refuse `value` above `thread_cap` (`ThreadCountError`, one line); return a warning above the usable
    logical cores (oversubscribed: allowed, since measuring that is the point, but rarely what one wants)."""
    if logical is None:
        logical = core_counts()[1]
    cap = thread_cap(logical)
    if value > cap:
        raise ThreadCountError(f"{name}={value} is far more threads than this machine can run: {logical} usable "
                               f"logical cores, at most {cap} accepted ({MAX_THREADS_PER_CORE} per core, or "
                               f"{MIN_THREAD_CAP}); 0 lets TensorFlow decide")
    if value > logical:
        return f"{name}={value} is more than the {logical} usable logical cores: oversubscribed, often slower"
    return None


def check_thread_config(config: "ThreadConfig", logical: int | None = None) -> list[str]:
    """`check_thread_count` for both pools of `config`; returns the warnings."""
    if logical is None:
        logical = core_counts()[1]
    warnings = [check_thread_count(name, getattr(config, name), logical)
                for name in ("intra_op_parallelism_threads", "inter_op_parallelism_threads")]
    return [w for w in warnings if w]


def thread_grid(physical: int | None = None, logical: int | None = None) -> list[ThreadConfig]:
    """The standard grid: 1 thread, physical cores, logical cores, 2x logical (oversubscribed),
    the article's (4, 2), and TensorFlow's default — deduplicated, in that order.

    >>> [c.id for c in thread_grid(physical=2, logical=4)]
    ['intra1-inter1', 'intra2-inter2', 'intra4-inter4', 'intra8-inter8', 'intra4-inter2', 'default']
    """
    if physical is None or logical is None:
        physical, logical = core_counts()
    configs: list[ThreadConfig] = []
    for intra, inter in ((1, 1), (physical, physical), (logical, logical), (2 * logical, 2 * logical), ARTICLE, (0, 0)):
        config = ThreadConfig(intra, inter)
        if config not in configs:
            configs.append(config)
    return configs


def is_oversubscribed(config: ThreadConfig, logical: int) -> bool:
    """True when either pool asks for more threads than there are logical cores."""
    return max(config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) > logical


@dataclass(frozen=True)
class LegacySession:
    """What ``api="compat_v1"`` makes: the ``tf.compat.v1.Session`` graph code runs in, and the ConfigProto it was
    built with (TensorFlow has no public accessor for a Session's config)."""

    session: object
    config: object


def apply_thread_config(config: ThreadConfig) -> LegacySession | None:
    """Apply `config` to this process's TensorFlow. Call it in the child, before any op has run.

    Returns a `LegacySession` for ``api="compat_v1"`` (TF1 code runs its graph in it), else None. Raises
    `ThreadConfigError` if TensorFlow's runtime has already started.

    >>> apply_thread_config(ThreadConfig(2, 1))  # doctest: +SKIP
    """
    import tensorflow as tf

    if config.api == "compat_v1":
        # The TF1 way: the settings travel in a ConfigProto to a Session, which only graph code uses.
        tf.compat.v1.disable_eager_execution()
        proto = tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=config.intra_op_parallelism_threads,
            inter_op_parallelism_threads=config.inter_op_parallelism_threads,
        )
        return LegacySession(tf.compat.v1.Session(config=proto), proto)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(config.intra_op_parallelism_threads)
        tf.config.threading.set_inter_op_parallelism_threads(config.inter_op_parallelism_threads)
    except RuntimeError as err:
        raise ThreadConfigError(
            f"cannot apply {config.id}: TensorFlow's runtime already started in this process ({err}). "
            "Thread pools can only be set before the first op runs — set them first, or run each "
            "configuration in its own process (cifar.isolation)."
        ) from err
    return None


def onednn_enabled() -> bool | None:
    """Whether this process's TensorFlow runs oneDNN's optimizations, as TensorFlow itself answers (it reads
    ``TF_ENABLE_ONEDNN_OPTS`` at import, with a default of its own per platform); None when TensorFlow is not
    imported here or does not say."""
    import sys

    if "tensorflow" not in sys.modules:
        return None
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def read_back(legacy: LegacySession | None = None) -> dict:
    """What TensorFlow reports it uses (``tf.config.threading.get_*``, or a compat_v1 Session's ConfigProto),
    plus this process's OS thread count (psutil)."""
    import psutil
    import tensorflow as tf

    if legacy is not None:
        applied = {"intra_op_parallelism_threads": legacy.config.intra_op_parallelism_threads,
                   "inter_op_parallelism_threads": legacy.config.inter_op_parallelism_threads}
    else:
        applied = {"intra_op_parallelism_threads": tf.config.threading.get_intra_op_parallelism_threads(),
                   "inter_op_parallelism_threads": tf.config.threading.get_inter_op_parallelism_threads()}
    applied["os_threads"] = psutil.Process().num_threads()
    return applied
