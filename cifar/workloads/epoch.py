"""End to end: short epochs of ``model.fit``, fed by the article's arrays or a tf.data pipeline."""

from __future__ import annotations

import time

from cifar.workloads.timing import (ContentionProbe, busy_wait, injected_slowdown, own_cpu_seconds, steady,
                                    summarize, warmup_record)


#: Keras' own default for ``compile(jit_compile=...)``: with TensorFlow, XLA when a non-CPU device is present and
#: every layer supports it; on a CPU-only machine Keras resolves it to off (recorded as ``jit_compile_resolved``).
KERAS_JIT_DEFAULT = "auto"
PRECISIONS = ("float32", "mixed_bfloat16")


def epoch(model: str = "seed_cnn", pipeline: dict | str = "arrays", rounds: int = 5, warmup_rounds: int = 1,
          steps: int = 40, data: str = "synthetic", n_train: int = 10_000, precision: str = "float32",
          jit_compile: bool | str = KERAS_JIT_DEFAULT, seed: int | None = None) -> dict:
    """Short epochs of ``model.fit``: one round = one epoch of `steps` steps of 128 (the pipeline's batch size).

    ``pipeline="arrays"`` is the article's script: ``model.fit(x, y, batch_size=128)`` on float32 arrays
    scaled by 1/255 (the first ``steps x 128`` training images, so one epoch is `steps` steps; Keras shuffles
    them every epoch). A dict is `cifar.training.pipeline.PipelineOptions` for a tf.data pipeline, repeated, with
    ``steps_per_epoch=steps``. Neither validates: both time the training path alone, so they compare.

    A round's images are those it trained on (`images_trained`: the steps Keras ran, the last partial batch as
    what it held): a data set smaller than ``steps x 128`` (the user's own, ``data="pkg.module:function"``)
    gives the arrays fewer steps an epoch, and the result says so (``workload["steps_run"]``).

    Warm-up first, untimed: a ``fit`` of single steps (which traces and compiles the train function) that stops
    once a step's time is stable (`cifar.workloads.timing.WARMUP_RULE`, at most `warmup_rounds` epochs' worth of
    steps; recorded under ``warmup``). Then one ``fit`` call runs the `rounds` epochs, a callback timing each; it
    reuses the traced train function.

    Beyond the article (the tuner's dimensions): ``precision="mixed_bfloat16"`` (Keras' mixed-precision policy),
    ``jit_compile`` passed to ``compile`` (Keras' ``"auto"`` by default, as the article's script), ``seed`` for
    Keras' initial weights and shuffling. The result's ``training`` holds the last epoch's loss and accuracy
    (so a faster setting that breaks the model shows), and ``flops_per_image`` the model's training FLOPs.
    """
    import keras

    from cifar.training.data import load_cifar10
    from cifar.training.models import build_model
    from cifar.training.pipeline import ARRAYS, PipelineOptions, make_pipeline

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(precision)
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
    net = build_model(model, compile=False)
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                jit_compile=jit_compile)

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.durations = []
            self.cpu_seconds = []

            self.steps_run = []

        def on_epoch_begin(self, epoch, logs=None):
            self._steps = 0
            self._cpu = own_cpu_seconds()
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self._steps += 1

        def on_epoch_end(self, epoch, logs=None):
            if inject:
                busy_wait(inject * (time.perf_counter() - self._start))
            self.durations.append(time.perf_counter() - self._start)
            self.cpu_seconds.append(own_cpu_seconds() - self._cpu)
            self.steps_run.append(self._steps)
            self.logs = dict(logs or {})

    class StepWarmup(keras.callbacks.Callback):
        """Times each step of the warm-up fit and stops it once they are steady."""

        def __init__(self):
            super().__init__()
            self.unit_seconds = []

        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.unit_seconds.append(time.perf_counter() - self._start)
            if steady(self.unit_seconds):
                self.model.stop_training = True

    inject = injected_slowdown()
    cap = warmup_rounds * steps
    started = time.perf_counter()
    warm = StepWarmup()
    if cap:
        # Arrays: up to warmup_rounds epochs of the same arrays; a pipeline: one epoch of up to cap steps.
        warm_args = dict(fit_args, epochs=warmup_rounds) if arrays else dict(fit_args, epochs=1, steps_per_epoch=cap)
        net.fit(verbose=0, callbacks=[warm], **warm_args)
    warmup = warmup_record(warm.unit_seconds, cap, time.perf_counter() - started)
    timer = EpochTimer()
    with ContentionProbe() as probe:
        net.fit(epochs=rounds, verbose=0, callbacks=[timer], **fit_args)
    ran = set(timer.steps_run)
    if len(ran) != 1:
        raise RuntimeError(f"the timed epochs ran different numbers of steps ({timer.steps_run}): a round is not "
                           "one amount of work")
    (steps_run,) = ran
    images = images_trained(steps_run, batch_size, len(fit_args["x"]) if arrays else None)
    result = summarize(timer.durations, images, "images", warmup_rounds, probe.result, inject,
                       sum(timer.cpu_seconds))
    result["phases"] = {"warmup_seconds": warmup["seconds"], "between_rounds_seconds": 0.0}
    result["warmup"] = warmup
    result["workload"] = {"name": "epoch", "model": model, "parameters": net.count_params(),
                          "pipeline": ARRAYS if arrays else options.to_dict(),
                          "pipeline_id": ARRAYS if arrays else options.id,
                          "steps": steps, "batch_size": batch_size, "data_source": ds.source}
    # Only settings away from the suite's are named, so the suite's benchmarks keep their recorded definitions.
    for name, value, default in (("precision", precision, "float32"), ("jit_compile", jit_compile, KERAS_JIT_DEFAULT),
                                 ("seed", seed, None), ("steps_run", steps_run, steps)):
        if value != default:
            result["workload"][name] = value
    result["training"] = {"loss": float(timer.logs.get("loss", float("nan"))),
                          "accuracy": float(timer.logs.get("accuracy", float("nan"))),
                          "epochs": rounds, "warmup_steps": warmup["units"],
                          "jit_compile_resolved": bool(net.jit_compile)}
    result["flops_per_image"] = training_flops_per_image(net)
    return result


def images_trained(steps_run: int, batch_size: int, dataset_images: int | None = None) -> int:
    """The images one epoch trained on: `steps_run` batches of `batch_size`, except that an epoch over
    `dataset_images` arrays (``fit(x, y)``) ends with what is left, a partial batch (a repeated tf.data pipeline,
    None here, always gives full ones).

    >>> images_trained(4, 128, 512), images_trained(4, 128, 500), images_trained(10, 128)
    (512, 500, 1280)
    """
    if dataset_images is None:
        return steps_run * batch_size
    return min(steps_run * batch_size, dataset_images)


def training_flops_per_image(net) -> float:
    """Floating-point operations of one training step per image: 3x the forward pass's multiply-adds x 2
    (the backward pass costs about twice the forward), counting Conv2D and Dense layers only (pooling,
    normalization and activations are a few per cent of these models' work)."""
    import keras

    forward = 0.0
    for layer in net._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2D):
            out = layer.output.shape  # (None, H, W, filters)
            kh, kw = layer.kernel_size
            forward += 2.0 * out[1] * out[2] * out[3] * kh * kw * layer.input.shape[-1] / layer.groups
        elif isinstance(layer, keras.layers.Dense):
            forward += 2.0 * layer.input.shape[-1] * layer.units
    return 3.0 * forward


