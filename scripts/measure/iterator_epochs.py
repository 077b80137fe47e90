"""Why does the article's arrays epoch run at two speeds? (docs/measuring.md, "What was found on the way")

Times every epoch of the article's model fed four ways, each in fresh Python processes (interleaved), with the
process's CPU time over the epoch's wall time (2.0 = both cores of a 2-core machine busy):

* ``arrays``: the article's script, ``model.fit(x, y, batch_size=128)`` on float32 arrays (Keras builds its own
  tf.data pipeline and a new iterator every epoch);
* ``fresh``: ``from_tensor_slices(...).shuffle().batch(128).prefetch(AUTOTUNE)``, a new iterator every epoch;
* ``fresh-noautotune``: the same with tf.data's autotuning off (``Options().autotune.enabled = False``);
* ``repeat``: the same pipeline ``.repeat()``-ed with ``steps_per_epoch``: one iterator for the whole fit.

    python scripts/measure/iterator_epochs.py --processes 3 --epochs 12 --out reports/iterator-epochs.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ("arrays", "fresh", "fresh-noautotune", "repeat")
IMAGES = 1280  # 10 steps of 128, the tuner's epoch
#: An epoch whose process used less CPU than this per second of wall time ran on about one core.
ONE_CORE = 1.4


def child(variant: str, epochs: int) -> None:
    import keras
    import tensorflow as tf

    from cifar.training.data import load_cifar10
    from cifar.training.models import build_model

    ds = load_cifar10("auto", n_train=IMAGES, n_test=16)
    x, y = ds.x_train[:IMAGES].astype("float32") / 255.0, ds.y_train[:IMAGES]
    net = build_model("seed_cnn", compile=False)
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    epochs_seen = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.cpu, self.wall = time.process_time(), time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            wall = time.perf_counter() - self.wall
            epochs_seen.append({"images_per_s": IMAGES / wall, "cpu_per_wall": (time.process_time() - self.cpu) / wall})

    fit = {"epochs": epochs + 1, "verbose": 0, "callbacks": [Timer()]}
    if variant == "arrays":
        net.fit(x, y, batch_size=128, **fit)
    else:
        pipeline = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(IMAGES).batch(128).prefetch(tf.data.AUTOTUNE)
        if variant == "fresh-noautotune":
            options = tf.data.Options()
            options.autotune.enabled = False
            pipeline = pipeline.with_options(options)
        if variant == "repeat":
            net.fit(pipeline.repeat(), steps_per_epoch=IMAGES // 128, **fit)
        else:
            net.fit(pipeline, **fit)
    print(json.dumps(epochs_seen[1:]))  # the first epoch traces the train function


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per variant")
    parser.add_argument("--epochs", type=int, default=12, help="timed epochs per process (after one that traces)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", default="reports/iterator-epochs.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.epochs)
        return 0
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    results: dict[str, list] = {v: [] for v in variants}
    for index in range(args.processes):
        for variant in variants if index % 2 == 0 else variants[::-1]:
            out = subprocess.run([sys.executable, __file__, "--child", variant, "--epochs", str(args.epochs)],
                                 capture_output=True, text=True, check=True)
            epochs = json.loads(out.stdout.strip().splitlines()[-1])
            results[variant].append(epochs)
            print(f"process {index} {variant:17s} " + " ".join(f"{e['images_per_s']:5.0f}/{e['cpu_per_wall']:.1f}"
                                                           for e in epochs), flush=True)
    print(f"\n{'variant':17s} epochs  on ~one core  images/s there  images/s elsewhere  all epochs' images/s")
    rows = {}
    for variant, processes in results.items():
        epochs = [e for p in processes for e in p]
        slow = [e["images_per_s"] for e in epochs if e["cpu_per_wall"] < ONE_CORE]
        fast = [e["images_per_s"] for e in epochs if e["cpu_per_wall"] >= ONE_CORE]
        overall = len(epochs) / sum(1 / e["images_per_s"] for e in epochs)
        rows[variant] = {"epochs": len(epochs), "one_core": len(slow),
                         "one_core_median": statistics.median(slow) if slow else None,
                         "other_median": statistics.median(fast) if fast else None, "overall": overall}
        print(f"{variant:17s} {len(epochs):6d}  {len(slow):12d}  {rows[variant]['one_core_median'] or 0:14,.0f}  "
              f"{rows[variant]['other_median'] or 0:18,.0f}  {overall:20,.0f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"results": results, "summary": rows, "one_core_below": ONE_CORE,
                                          "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
