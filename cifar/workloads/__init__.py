"""What a child process measures: the workloads, and one registry that knows each of them.

The runner addresses a workload as ``cifar.workloads:NAME`` (``Runner.run("cifar.workloads:matmul", …)``);
run them through `cifar.isolation.Runner`, never in pytest's process. Each returns the same keys (see
`cifar.workloads.timing.summarize`), so results can be compared and recorded in pytest-benchmark's stats.

=============== ===================================================== =====================
workload        one round                                             items
=============== ===================================================== =====================
``matmul``      the article's 30 x tf.matmul((2000,1024), (1024,1024)) matrix products
``calibration`` the same on 1 thread, 10 products: the gate's yardstick matrix products
``conv2d``      ``steps`` forward+backward passes of two conv layers   images
``train_step``  ``steps`` compiled training steps on one fixed batch   images
``pipeline``    ``batches`` batches pulled from a tf.data pipeline     images
``epoch``       one short epoch: ``steps`` steps of ``model.fit``      images
=============== ===================================================== =====================

>>> WORKLOADS["epoch"].smoke
{'rounds': 1, 'warmup_rounds': 0, 'steps': 2}
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cifar.workloads.epoch import epoch
from cifar.workloads.input import pipeline
from cifar.workloads.micro import calibration, conv2d, matmul, matmul_peak, train_step
from cifar.workloads.timing import CONTENTION_THRESHOLD, INJECT_ENV, injected_slowdown, measure, summarize


#: The kinds of workload (`Workload.kind`).
KINDS = ("compute", "pipeline", "epoch", "calibration")


@dataclass(frozen=True)
class Workload:
    """What the suite knows about one workload."""

    name: str
    unit: str
    #: What kind of case it is, which decides its rounds per process (`cifar.suite.settings.ROUNDS`): ``compute``
    #: (one kernel or step, cheap rounds), ``pipeline`` (tf.data alone, a fresh iterator a round), ``epoch`` (whole
    #: ``fit`` epochs) or ``calibration`` (the gate's fixed yardstick, its own rounds).
    kind: str
    #: The same body as small as possible (``--benchmark-disable`` smoke runs): one round, no warm-up.
    smoke: dict = field(default_factory=dict)
    #: Its throughput is images/s (the summary's epoch verdicts and input table use these).
    images: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"workload {self.name}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    @property
    def target(self) -> str:
        """How the runner addresses it."""
        return f"cifar.workloads:{self.name}"


_ONE_ROUND = {"rounds": 1, "warmup_rounds": 0}
WORKLOADS = {w.name: w for w in (
    Workload("calibration", "products", "calibration", dict(_ONE_ROUND), images=False),
    Workload("matmul", "products", "compute", dict(_ONE_ROUND), images=False),
    Workload("conv2d", "images", "compute", {**_ONE_ROUND, "steps": 1}),
    Workload("train_step", "images", "compute", {**_ONE_ROUND, "steps": 1}),
    Workload("pipeline", "images", "pipeline", {**_ONE_ROUND, "batches": 2}),
    Workload("epoch", "images", "epoch", {**_ONE_ROUND, "steps": 2}),
)}


def environment() -> dict:
    """TensorFlow facts for machine info: version, oneDNN, CPU features (run in a child)."""
    import tensorflow as tf

    from cifar.training.threads import onednn_enabled

    return {
        "tensorflow_version": tf.__version__,
        "onednn_enabled": onednn_enabled(),
        "keras_version": __import__("keras").__version__,
    }


__all__ = ["CONTENTION_THRESHOLD", "INJECT_ENV", "KINDS", "WORKLOADS", "Workload", "calibration", "conv2d",
           "environment", "epoch", "injected_slowdown", "matmul", "matmul_peak", "measure", "pipeline", "summarize",
           "train_step"]
