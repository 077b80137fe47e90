"""The article's script, made real: set threads first, then train and report per-epoch speed.

    python -m cifar train --intra 4 --inter 2 --epochs 3 --batch-size 128 \\
        --data auto --model seed_cnn --pipeline seed

Runs in this process (like the article); the thread settings are applied before TensorFlow runs any op.
"""

from __future__ import annotations

import json
import sys
import time


def train(*, intra: int, inter: int, epochs: int, batch_size: int, data: str, model: str, pipeline: str,
          num_parallel_calls: int, validation_split: float = 0.1, n_train: int | None = None,
          download: bool = False, seed: int = 0, json_path: str | None = None) -> dict:
    from cifar.threads import ThreadConfig, apply_thread_config, read_back

    config = ThreadConfig(intra, inter)
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    apply_thread_config(config)  # first: TensorFlow only accepts it before its runtime starts

    import keras

    from cifar.data import load_cifar10
    from cifar.models import build_model
    from cifar.pipeline import PipelineOptions, make_pipeline

    ds = load_cifar10(data, n_train=n_train, seed=seed, download=download)
    # Like Keras' validation_split: hold out the last fraction of the training arrays.
    n_val = int(len(ds.x_train) * validation_split)
    n_fit = len(ds.x_train) - n_val
    options = PipelineOptions(pipeline, batch_size=batch_size, num_parallel_calls=num_parallel_calls, seed=seed)
    train_ds = make_pipeline(ds.x_train[:n_fit], ds.y_train[:n_fit], options)
    val = (ds.x_train[n_fit:].astype("float32") / 255.0, ds.y_train[n_fit:]) if n_val else None
    net = build_model(model)

    rows = []

    class Report(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            # Keras runs validation inside the epoch; the time covers training and validation.
            seconds = time.perf_counter() - self._start
            row = {"epoch": epoch + 1, "seconds": seconds, "images_per_s": n_fit / seconds,
                   "loss": logs.get("loss"), "accuracy": logs.get("accuracy"),
                   "val_loss": logs.get("val_loss"), "val_accuracy": logs.get("val_accuracy")}
            rows.append(row)
            val_acc = "n/a" if row["val_accuracy"] is None else f"{row['val_accuracy']:.4f}"
            print(f"epoch {row['epoch']}/{epochs}: {seconds:.2f} s, {row['images_per_s']:,.0f} images/s, "
                  f"loss {row['loss']:.4f}, val_accuracy {val_acc}", flush=True)

    print(f"threads: {config.id}; model {model}; pipeline {options.id}; batch {batch_size}; "
          f"{n_fit} training / {n_val} validation images", flush=True)
    net.fit(train_ds, epochs=epochs, validation_data=val, verbose=0, callbacks=[Report()],
            shuffle=False)  # the pipeline shuffles
    report = {"threads_requested": config.to_dict(), "threads_applied": read_back(), "data_source": ds.source,
              "model": model, "pipeline": options.to_dict(), "epochs": rows}
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
    except ValueError as err:  # bad option values and DataError: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
