"""The article's script, made real: set threads first, then train and report per-epoch speed.

    python -m cifar train            # the article's script

With no options it is the article's script: ``set_intra_op_parallelism_threads(4)``,
``set_inter_op_parallelism_threads(2)``, CIFAR-10 as float32 arrays scaled by 1/255, the article's model, and::

    model.fit(x_train, y_train, batch_size=128, epochs=3, validation_split=0.1)

(``--pipeline arrays``). The article's 4 and 2 are "only example numbers": ``--intra 0 --inter 0`` leaves them to
TensorFlow. ``--pipeline seed`` trains over the article's tf.data pipeline instead, ``batched`` and ``heavy``
over this project's (cifar.training.pipeline); those hold out the same last 10 % for validation. Runs in this process,
like the article: the thread settings are applied before TensorFlow runs any op.
"""

from __future__ import annotations

import json
import sys
import time


def train(*, intra: int = 4, inter: int = 2, epochs: int = 3, batch_size: int = 128, data: str = "auto",
          model: str = "seed_cnn", pipeline: str = "arrays", num_parallel_calls: int = -1,
          validation_split: float = 0.1, n_train: int | None = None, download: bool = False, seed: int = 0,
          json_path: str | None = None) -> dict:
    """Train as the article does and return the per-epoch report (also printed, one line per epoch)."""
    from cifar.training.pipeline import ARRAYS, PipelineOptions, check_pipeline_threads
    from cifar.training.threads import ThreadConfig, apply_thread_config, check_thread_config, read_back

    config = ThreadConfig(intra, inter)
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    options = None if pipeline == ARRAYS else PipelineOptions(pipeline, batch_size=batch_size,
                                                              num_parallel_calls=num_parallel_calls, seed=seed)
    # Refuse absurd thread counts before anything starts; warn about oversubscription, then go on.
    for warning in check_thread_config(config) + (check_pipeline_threads(options) if options else []):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    apply_thread_config(config)  # first: TensorFlow only accepts it before its runtime starts

    import keras

    from cifar.training.data import load_cifar10
    from cifar.training.models import build_model
    from cifar.training.pipeline import make_pipeline

    ds = load_cifar10(data, n_train=n_train, seed=seed, download=download)
    # Keras' validation_split holds out the last fraction of the arrays; the tf.data inputs hold out the same.
    n_val = int(len(ds.x_train) * validation_split)
    n_fit = len(ds.x_train) - n_val
    net = build_model(model)
    rows = []

    class Report(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()
            self._train_end = None

        def on_test_begin(self, logs=None):  # fit validates inside the epoch, after its last training step
            self._train_end = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            end = time.perf_counter()
            train_seconds = (self._train_end or end) - self._start
            row = {"epoch": epoch + 1, "seconds": end - self._start, "train_seconds": train_seconds,
                   "images_per_s": n_fit / train_seconds, "loss": logs.get("loss"),
                   "accuracy": logs.get("accuracy"), "val_loss": logs.get("val_loss"),
                   "val_accuracy": logs.get("val_accuracy")}
            rows.append(row)
            val_acc = "n/a" if row["val_accuracy"] is None else f"{row['val_accuracy']:.4f}"
            print(f"epoch {row['epoch']}/{epochs}: {row['seconds']:.2f} s ({train_seconds:.2f} s training), "
                  f"{row['images_per_s']:,.0f} images/s, loss {row['loss']:.4f}, val_accuracy {val_acc}", flush=True)

    input_name = ARRAYS if options is None else options.id
    print(f"threads: {config.id}; model {model} ({net.count_params():,} parameters); input {input_name}; "
          f"batch {batch_size}; {n_fit} training / {n_val} validation images", flush=True)
    if options is None:
        # The article's call, word for word (shuffle=True, Keras' default, shuffles the arrays every epoch).
        x_train = ds.x_train.astype("float32") / 255.0
        net.fit(x_train, ds.y_train, batch_size=batch_size, epochs=epochs, validation_split=validation_split,
                verbose=0, callbacks=[Report()])
    else:
        train_ds = make_pipeline(ds.x_train[:n_fit], ds.y_train[:n_fit], options)
        val = (ds.x_train[n_fit:].astype("float32") / 255.0, ds.y_train[n_fit:]) if n_val else None
        net.fit(train_ds, epochs=epochs, validation_data=val, verbose=0, callbacks=[Report()],
                shuffle=False)  # the pipeline shuffles
    report = {"threads_requested": config.to_dict(), "threads_applied": read_back(), "data_source": ds.source,
              "model": model, "parameters": net.count_params(), "input": input_name,
              "pipeline": None if options is None else options.to_dict(), "epochs": rows}
    applied = report["threads_applied"]
    print(f"applied: intra {applied['intra_op_parallelism_threads']}, inter {applied['inter_op_parallelism_threads']}, "
          f"{applied['os_threads']} OS threads")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(report, f, indent=2)
    return report


def main(args) -> int:
    try:
        train(intra=args.intra, inter=args.inter, epochs=args.epochs, batch_size=args.batch_size, data=args.data,
              model=args.model, pipeline=args.pipeline, num_parallel_calls=args.num_parallel_calls,
              validation_split=args.validation_split, n_train=args.n_train, download=args.download,
              seed=args.seed, json_path=args.json)
    except ValueError as err:  # bad option values, absurd thread counts and DataError: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
