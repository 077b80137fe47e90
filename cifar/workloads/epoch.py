"""End to end: short epochs of ``model.fit``, fed by the article's arrays or a tf.data pipeline."""

from __future__ import annotations

import time

from cifar.workloads.timing import ContentionProbe, busy_wait, injected_slowdown, own_cpu_seconds, summarize


def epoch(model: str = "seed_cnn", pipeline: dict | str = "arrays", rounds: int = 5, warmup_rounds: int = 1,
          steps: int = 40, data: str = "synthetic", n_train: int = 10_000) -> dict:
    """Short epochs of ``model.fit``: one round = one epoch of `steps` steps of 128 (the pipeline's batch size).

    ``pipeline="arrays"`` is the article's script: ``model.fit(x, y, batch_size=128)`` on float32 arrays
    scaled by 1/255 (the first ``steps x 128`` training images, so one epoch is `steps` steps; Keras shuffles
    them every epoch). A dict is `cifar.training.pipeline.PipelineOptions` for a tf.data pipeline, repeated, with
    ``steps_per_epoch=steps``. Neither validates: both time the training path alone, so they compare.

    One ``fit`` call runs all epochs; a callback times each, and the first `warmup_rounds` epochs (which
    include tracing the train function) are dropped.
    """
    import keras

    from cifar.training.data import load_cifar10
    from cifar.training.models import build_model
    from cifar.training.pipeline import ARRAYS, PipelineOptions, make_pipeline

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
            self._cpu = own_cpu_seconds()
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if inject:
                busy_wait(inject * (time.perf_counter() - self._start))
            self.durations.append(time.perf_counter() - self._start)
            self.cpu_seconds.append(own_cpu_seconds() - self._cpu)

    inject = injected_slowdown()
    timer = EpochTimer()
    with ContentionProbe() as probe:
        # The probe covers warm-up epochs too; fit gives no hook between them that would not itself run
        # inside the timed epoch.
        net.fit(epochs=warmup_rounds + rounds, verbose=0, callbacks=[timer], **fit_args)
    result = summarize(timer.durations[warmup_rounds:], steps * batch_size, "images", warmup_rounds,
                       probe.result, inject, sum(timer.cpu_seconds[warmup_rounds:]))
    result["phases"] = {"warmup_seconds": sum(timer.durations[:warmup_rounds]), "between_rounds_seconds": 0.0}
    result["workload"] = {"name": "epoch", "model": model, "parameters": net.count_params(),
                          "pipeline": ARRAYS if arrays else options.to_dict(),
                          "pipeline_id": ARRAYS if arrays else options.id,
                          "steps": steps, "batch_size": batch_size, "data_source": ds.source}
    return result


