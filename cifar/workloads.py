"""Workloads: what a child process measures. Each returns a plain dict with per-round durations.

A round is a fixed amount of work (``items_per_round`` items); warm-up rounds run first and are not
recorded. Every workload returns the same keys (see `measure`), so results can be compared and recorded
in pytest-benchmark's stats. Run them through `cifar.runner.Runner`, never in pytest's process:

>>> runner.run("cifar.workloads:matmul", {"rounds": 5}, ThreadConfig(1, 1))   # doctest: +SKIP

=============== ===================================================== =====================
workload        one round                                             items
=============== ===================================================== =====================
``matmul``      the article's 30 x tf.matmul((2000,1024), (1024,1024)) matrix products
``conv2d``      ``steps`` forward+backward passes of two conv layers   images
``train_step``  ``steps`` compiled training steps on one fixed batch   images
``pipeline``    ``batches`` batches pulled from a tf.data pipeline     images
``epoch``       one short epoch: ``steps`` steps of ``model.fit``      images
=============== ===================================================== =====================
"""

from __future__ import annotations

import os
import resource
import statistics
import time

WORKLOADS = ("matmul", "conv2d", "train_step", "pipeline", "epoch", "calibration")
MATMUL_SHAPES = ((2000, 1024), (1024, 1024))
MATMUL_PRODUCTS = 30
PIPELINE_WARM_BATCHES = 6  # untimed batches from each fresh iterator before a pipeline round's clock starts
#: Above this share of the machine's CPU time used by other processes, a measurement is "contended".
CONTENTION_THRESHOLD = 0.10
#: Set to a fraction (0.10 = 10 %) to make every measured round that much slower with a busy-wait inside
#: the timed region, in the child only: how the regression gate is shown to catch a known slowdown.
INJECT_ENV = "CIFAR_BENCH_INJECT_SLOWDOWN"


def injected_slowdown() -> float:
    """The fraction from ``$CIFAR_BENCH_INJECT_SLOWDOWN`` (0 when unset)."""
    text = os.environ.get(INJECT_ENV, "").strip()
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{INJECT_ENV} must be a fraction like 0.10, got {text!r}") from None
    if not 0.0 <= value <= 10.0:
        raise ValueError(f"{INJECT_ENV} must be between 0 and 10, got {text!r}")
    return value


def _busy_wait(seconds: float) -> None:
    # Spin, not sleep: the slowdown should cost CPU like real slower code does.
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ContentionProbe:
    """CPU time the rest of the machine used while we measured: system busy time minus our own."""

    def __enter__(self) -> "ContentionProbe":
        import psutil

        self._psutil = psutil
        self._cpus = psutil.cpu_count() or 1
        self._sys0 = psutil.cpu_times()
        self._own0 = _own_cpu_seconds()
        self._wall0 = time.perf_counter()
        return self

    @staticmethod
    def _busy(t) -> float:
        return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)

    def __exit__(self, *exc) -> None:
        sys1 = self._psutil.cpu_times()
        wall = time.perf_counter() - self._wall0
        own = _own_cpu_seconds() - self._own0
        busy = self._busy(sys1) - self._busy(self._sys0)
        others = max(0.0, busy - own)
        steal = getattr(sys1, "steal", 0.0) - getattr(self._sys0, "steal", 0.0)
        capacity = max(wall * self._cpus, 1e-9)
        self.result = {
            "wall_seconds": wall,
            "own_cpu_seconds": own,
            "other_cpu_seconds": others,
            "steal_seconds": steal,
            "other_fraction": others / capacity,
            "steal_fraction": steal / capacity,
            "contended": (others + steal) / capacity > CONTENTION_THRESHOLD,
        }


def measure(run_round, *, rounds: int, warmup_rounds: int, items_per_round: int, unit: str = "images",
            injectable: bool = True, before_round=None) -> dict:
    """Call ``run_round()`` warm-up + `rounds` times; time each recorded round with ``perf_counter``.

    ``injectable=False`` exempts the calibration kernel from ``$CIFAR_BENCH_INJECT_SLOWDOWN``: it stands for
    the machine, not for the code under test. ``before_round()``, if given, runs before every round, untimed.
    """
    if rounds < 1 or warmup_rounds < 0:
        raise ValueError(f"need rounds >= 1 and warmup_rounds >= 0, got {rounds}, {warmup_rounds}")
    inject = injected_slowdown() if injectable else 0.0
    for _ in range(warmup_rounds):
        if before_round is not None:
            before_round()
        run_round()
    durations = []
    cpu_seconds = 0.0  # this process's CPU (all its threads) inside the timed rounds only
    with ContentionProbe() as probe:
        for _ in range(rounds):
            if before_round is not None:
                before_round()
            cpu_start = _own_cpu_seconds()
            start = time.perf_counter()
            run_round()
            if inject:
                _busy_wait(inject * (time.perf_counter() - start))
            durations.append(time.perf_counter() - start)
            cpu_seconds += _own_cpu_seconds() - cpu_start
    return summarize(durations, items_per_round, unit, warmup_rounds, probe.result, inject, cpu_seconds)


def summarize(durations: list[float], items_per_round: int, unit: str, warmup_rounds: int, contention: dict,
              injected: float, cpu_seconds: float) -> dict:
    """The result every workload returns. `cpu_seconds`: this process's CPU time inside the recorded rounds
    (not warm-up, not untimed set-up between rounds), so CPU per item is per recorded item."""
    median = statistics.median(durations)
    return {
        "durations_seconds": durations,
        "rounds": len(durations),
        "warmup_rounds": warmup_rounds,
        "items_per_round": items_per_round,
        "unit": unit,
        "items_per_s_median": items_per_round / median,
        "cpu_seconds_per_1000_items": 1000.0 * cpu_seconds / (items_per_round * len(durations)),
        "contention": contention,
        "injected_slowdown": injected,
    }


def _fixed_batch(batch_size: int, data: str, seed: int = 0):
    from cifar.data import load_cifar10

    ds = load_cifar10(data, n_train=max(batch_size, 1024), n_test=16, seed=seed)
    return ds.x_train[:batch_size].astype("float32") / 255.0, ds.y_train[:batch_size], ds.source


# -- the workloads -------------------------------------------------------------------------------------
def matmul(rounds: int = 10, warmup_rounds: int = 2, products: int = MATMUL_PRODUCTS, injectable: bool = True) -> dict:
    """The article's loop: `products` x ``tf.matmul`` of (2000x1024)·(1024x1024), fp32, forced to finish."""
    import tensorflow as tf

    from cifar.threads import current_session

    (m, k), (_, n) = MATMUL_SHAPES
    session = current_session()
    if session is not None:  # compat_v1: the same products, run one at a time in the TF1 Session
        import numpy as np

        rng = np.random.default_rng(0)
        with session.graph.as_default():
            # Constants, not random ops: a random op would be recomputed on every session.run.
            a = tf.constant(rng.standard_normal((m, k), dtype=np.float32))
            b = tf.constant(rng.standard_normal((k, n), dtype=np.float32))
            product = tf.matmul(a, b)

        def run_round():
            for _ in range(products):
                session.run(product.op)  # .op: compute the product without copying it out
    else:
        a = tf.random.normal((m, k), seed=1)
        b = tf.random.normal((k, n), seed=2)

        def run_round():
            c = None
            for _ in range(products):
                c = tf.matmul(a, b)
            c[0, 0].numpy()  # block until the last product is really computed

    result = measure(run_round, rounds=rounds, warmup_rounds=warmup_rounds, items_per_round=products, unit="products",
                     injectable=injectable)
    result["gflop_per_s_median"] = result["items_per_s_median"] * 2 * m * k * n / 1e9
    result["workload"] = {"name": "matmul", "products": products}
    return result


def calibration(rounds: int = 5, warmup_rounds: int = 1, products: int = 10) -> dict:
    """The calibration kernel: the article's matmul, run by the suite under one thread in every session.

    The gate divides other benchmarks by it (same session) to cancel machine-wide drift, and uses it to
    compare across machines. Never slowed by ``$CIFAR_BENCH_INJECT_SLOWDOWN``: it measures the machine.
    """
    result = matmul(rounds=rounds, warmup_rounds=warmup_rounds, products=products, injectable=False)
    result["workload"] = {"name": "calibration", "products": products}
    return result


def conv2d(rounds: int = 10, warmup_rounds: int = 2, steps: int = 5, batch_size: int = 128) -> dict:
    """Forward + backward of two 3x3 conv layers (3->32->64 channels) on a CIFAR-shaped batch."""
    import tensorflow as tf

    x = tf.random.uniform((batch_size, 32, 32, 3), seed=1)
    w1 = tf.Variable(tf.random.normal((3, 3, 3, 32), stddev=0.1, seed=2))
    w2 = tf.Variable(tf.random.normal((3, 3, 32, 64), stddev=0.1, seed=3))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            h = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
            loss = tf.reduce_mean(tf.square(tf.nn.conv2d(h, w2, 1, "SAME")))
        return tape.gradient(loss, [w1, w2])

    def run_round():
        grads = None
        for _ in range(steps):
            grads = step()
        grads[1].numpy()

    result = measure(run_round, rounds=rounds, warmup_rounds=warmup_rounds, items_per_round=steps * batch_size)
    result["workload"] = {"name": "conv2d", "steps": steps, "batch_size": batch_size}
    return result


def train_step(model: str = "seed_cnn", rounds: int = 10, warmup_rounds: int = 2, steps: int = 10,
               batch_size: int = 128, data: str = "synthetic") -> dict:
    """`steps` x ``model.train_on_batch`` on one fixed batch: the compute ceiling, no input pipeline."""
    from cifar.models import build_model

    x, y, source = _fixed_batch(batch_size, data)
    net = build_model(model)

    def run_round():
        for _ in range(steps):
            net.train_on_batch(x, y)

    result = measure(run_round, rounds=rounds, warmup_rounds=warmup_rounds, items_per_round=steps * batch_size)
    result["workload"] = {"name": "train_step", "model": model, "parameters": net.count_params(), "steps": steps,
                          "batch_size": batch_size, "data_source": source}
    return result


def pipeline(pipeline: dict | None = None, rounds: int = 10, warmup_rounds: int = 2, batches: int = 20,
             data: str = "synthetic", n_train: int = 10_000, warm_batches: int = PIPELINE_WARM_BATCHES) -> dict:
    """Pull `batches` batches per round from the tf.data pipeline alone (no model).

    Every round starts a fresh iterator (as every Keras epoch does) and pulls `warm_batches` untimed first, so
    the shuffle buffer is full and prefetching has started before the clock does. Why fresh: a long-lived
    iterator keeps whatever speed its threads settled into when it started, and that differed by ~10 % from
    process to process for the per-element pipelines (seed-npc1, measured: between-process CV of the median
    9-11 % with one iterator per process, 4-6 % with one per round; two interleaved runs, 10-12 processes each).
    """
    from cifar.data import load_cifar10
    from cifar.pipeline import PipelineOptions, make_pipeline

    if warm_batches < 1:
        raise ValueError(f"warm_batches must be >= 1, got {warm_batches}")
    options = PipelineOptions(**(pipeline or {}))
    ds = load_cifar10(data, n_train=n_train, n_test=16)
    dataset = make_pipeline(ds.x_train, ds.y_train, options, repeat=True)
    iterator = None

    def start_iterator():
        nonlocal iterator
        iterator = None  # the previous iterator's threads stop before the next one's start
        iterator = iter(dataset)
        for _ in range(warm_batches):
            next(iterator)

    def run_round():
        for _ in range(batches):
            next(iterator)

    # An injected slowdown is the same busy-wait as everywhere else: with a fresh iterator every round, what
    # prefetching produces while the consumer spins is thrown away with the iterator, so every recorded round
    # is that fraction longer than its own work. (With one long-lived iterator it was not: the next round
    # started from a full buffer, and a 10 % busy-wait showed as -2 % to +7 %.) The work itself can still
    # react a little, as for every workload: the README's gate checks report the effect measured.
    result = measure(run_round, rounds=rounds, warmup_rounds=warmup_rounds, items_per_round=batches * options.batch_size,
                     before_round=start_iterator)
    result["workload"] = {"name": "pipeline", "pipeline": options.to_dict(), "pipeline_id": options.id,
                          "batches": batches, "batch_size": options.batch_size, "data_source": ds.source,
                          "iterator": "fresh per round", "warm_batches": warm_batches}
    return result


def epoch(model: str = "seed_cnn", pipeline: dict | str = "arrays", rounds: int = 5, warmup_rounds: int = 1,
          steps: int = 40, data: str = "synthetic", n_train: int = 10_000) -> dict:
    """Short epochs of ``model.fit``: one round = one epoch of `steps` steps of 128 (the pipeline's batch size).

    ``pipeline="arrays"`` is the article's script: ``model.fit(x, y, batch_size=128)`` on float32 arrays
    scaled by 1/255 (the first ``steps x 128`` training images, so one epoch is `steps` steps; Keras shuffles
    them every epoch). A dict is `cifar.pipeline.PipelineOptions` for a tf.data pipeline, repeated, with
    ``steps_per_epoch=steps``. Neither validates: both time the training path alone, so they compare.

    One ``fit`` call runs all epochs; a callback times each, and the first `warmup_rounds` epochs (which
    include tracing the train function) are dropped.
    """
    import keras

    from cifar.data import load_cifar10
    from cifar.models import build_model
    from cifar.pipeline import ARRAYS, PipelineOptions, make_pipeline

    arrays = pipeline == ARRAYS
    options = PipelineOptions(**({} if arrays else (pipeline or {})))
    batch_size = options.batch_size
    ds = load_cifar10(data, n_train=max(n_train, steps * batch_size) if arrays else n_train, n_test=16)
    if arrays:
        count = steps * batch_size
        x, y = ds.x_train[:count].astype("float32") / 255.0, ds.y_train[:count]
        fit_args: dict = {"x": x, "y": y, "batch_size": batch_size}
    else:
        fit_args = {"x": make_pipeline(ds.x_train, ds.y_train, options, repeat=True), "steps_per_epoch": steps,
                    "shuffle": False}  # the pipeline shuffles
    net = build_model(model)

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.durations = []
            self.cpu_seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._cpu = _own_cpu_seconds()
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if inject:
                _busy_wait(inject * (time.perf_counter() - self._start))
            self.durations.append(time.perf_counter() - self._start)
            self.cpu_seconds.append(_own_cpu_seconds() - self._cpu)

    inject = injected_slowdown()
    timer = EpochTimer()
    with ContentionProbe() as probe:
        # The probe covers warm-up epochs too; fit gives no hook between them that would not itself run
        # inside the timed epoch.
        net.fit(epochs=warmup_rounds + rounds, verbose=0, callbacks=[timer], **fit_args)
    result = summarize(timer.durations[warmup_rounds:], steps * batch_size, "images", warmup_rounds,
                       probe.result, inject, sum(timer.cpu_seconds[warmup_rounds:]))
    result["workload"] = {"name": "epoch", "model": model, "parameters": net.count_params(),
                          "pipeline": ARRAYS if arrays else options.to_dict(),
                          "pipeline_id": ARRAYS if arrays else options.id,
                          "steps": steps, "batch_size": batch_size, "data_source": ds.source}
    return result


def environment() -> dict:
    """TensorFlow facts for machine info: version, oneDNN, CPU features (run in a child)."""
    import tensorflow as tf

    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return {
        "tensorflow_version": tf.__version__,
        "onednn_enabled": onednn != "0" if onednn is not None else True,
        "keras_version": __import__("keras").__version__,
    }
