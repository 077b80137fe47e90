"""Does the suite agree with a plain ``model.fit`` script that uses none of the project's code?

Interleaves, in one session, fresh processes of two measurements of the same thing, TensorFlow's default threads:

* **plain**: `PLAIN` below, run as ``python -c``: the article's model and ``model.fit`` timed with a Keras callback
  around each epoch, the first epoch (tracing) dropped; no import of this project anywhere in the process;
* **suite**: the suite's own epoch child (``cifar.workloads:epoch`` through `cifar.isolation.Runner`, as
  ``pytest benchmarks/`` and ``python -m cifar tune`` run it), the same steps, rounds and data shapes.

Each for every ``--pipeline``: ``arrays`` (the article's script: ``model.fit(x, y, batch_size=128)`` on float32
arrays / 255) and ``batched`` (the tuner's answer on the AMD EPYC, ``default batched-npcAUTO``: uint8 images
shuffled, repeated and batched, then one vectorized map casts, normalizes and flips each batch, AUTOTUNE,
prefetch; ``steps_per_epoch``), written out in `PLAIN` by hand, not imported.

Each process's figure is its timed epochs' images over their time. Each ratio, paired by pass, comes with a 95 % t
interval (`cifar.stats.estimate.compare`): suite / plain per pipeline (the suite's figure agrees when the interval
holds 1.00) and, with both pipelines, batched / arrays as the plain script measures it (the gain the tuner reports,
measured independently) beside the same ratio as the suite measures it. Both feed synthetic data of CIFAR-10's
shapes, so no archive is needed.

The plain script also times each step (a callback around each batch), and reports per pipeline its median step and
what an epoch costs beyond its steps (the epoch's time minus its steps at the median step's time: a fresh
iterator, a first batch not yet prefetched): a share of a short epoch that a whole epoch spreads over 390 steps.

    python scripts/measure/independent_fit.py [--pairs 6] [--steps 20] [--rounds 4] [--runner zygote|spawn]
                                              [--pipeline arrays|batched ...] [--out reports/independent.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

PLAIN = r"""
import json, sys, time
import numpy as np
import keras

steps, rounds, pipeline, n_train = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rng = np.random.default_rng(0)
if pipeline == "arrays":
    x = rng.integers(0, 256, size=(steps * 128, 32, 32, 3), dtype=np.uint8).astype("float32") / 255.0
    y = rng.integers(0, 10, size=(steps * 128, 1), dtype=np.int64)
    fit_args = {"x": x, "y": y, "batch_size": 128}
else:
    import tensorflow as tf

    x = rng.integers(0, 256, size=(n_train, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, size=(n_train, 1), dtype=np.int64)

    def augment_batch(images, labels):
        images = tf.cast(images, tf.float32) / 255.0
        flip = tf.random.uniform([tf.shape(images)[0], 1, 1, 1]) < 0.5
        return tf.where(flip, tf.reverse(images, axis=[2]), images), labels

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(10_000).repeat().batch(128)
    ds = ds.map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    fit_args = {"x": ds, "steps_per_epoch": steps}
model = keras.Sequential([keras.layers.Input(shape=(32, 32, 3)), keras.layers.Conv2D(32, 3, activation="relu"),
                          keras.layers.MaxPooling2D(), keras.layers.Conv2D(64, 3, activation="relu"),
                          keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])


class Timer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds, self.steps = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.steps.append([])
        self.start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self.step_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps[-1].append(time.perf_counter() - self.step_start)

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


timer = Timer()
model.fit(epochs=1 + rounds, verbose=0, callbacks=[timer], **fit_args)
print(json.dumps({"seconds": timer.seconds[1:], "step_seconds": timer.steps[1:], "images_per_epoch": steps * 128}))
"""


#: Steps of 128 images in one whole CIFAR-10 epoch.
WHOLE_STEPS = 390
#: Images the tf.data pipelines draw from (the suite's epoch's ``n_train`` default).
N_TRAIN = 10_000
#: The suite's pipeline parameter for each ``--pipeline``.
PIPELINES = {"arrays": "arrays", "batched": {"variant": "batched", "num_parallel_calls": -1}}


def plain(steps: int, rounds: int, pipeline: str, env: dict) -> tuple[float, float, float]:
    """One plain process: (its images/s over its timed epochs, its median step's seconds, the median of its epochs'
    time beyond that many median steps: what an epoch costs besides its steps, e.g. a fresh iterator)."""
    out = subprocess.run([sys.executable, "-c", PLAIN, str(steps), str(rounds), pipeline, str(N_TRAIN)],
                         capture_output=True, text=True, check=True, env=env,
                         cwd="/")  # cwd /: not even this checkout is importable
    result = json.loads(out.stdout.strip().splitlines()[-1])
    step = statistics.median(d for epoch in result["step_seconds"] for d in epoch)
    beyond = statistics.median(s - len(epoch) * step for s, epoch in zip(result["seconds"], result["step_seconds"]))
    return result["images_per_epoch"] * len(result["seconds"]) / sum(result["seconds"]), step, beyond


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=20, help="steps of 128 images per epoch [20, make bench's]")
    parser.add_argument("--rounds", type=int, default=4, help="timed epochs per process [4, make bench's]")
    parser.add_argument("--runner", choices=("zygote", "spawn"), action="append",
                        help="how the suite's child starts: forked from the TensorFlow-preloaded zygote (the suite's "
                             "default) or a fresh interpreter; repeat to measure both in the same passes [zygote]")
    parser.add_argument("--pipeline", choices=tuple(PIPELINES), action="append",
                        help="what the epochs feed model.fit: the article's arrays, or the tuner's batched tf.data "
                             "answer; repeat for both in the same passes [arrays]")
    parser.add_argument("--out", default="reports/independent.json")
    args = parser.parse_args()
    import os

    from cifar.isolation.runner import Runner
    from cifar.stats.estimate import compare, process_rate
    from cifar.suite.machine import cpu_model
    from cifar.training.data import warm
    from cifar.workloads import WORKLOADS

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    pipelines = args.pipeline or ["arrays"]
    started = time.time()
    modes = args.runner or ["zygote"]
    arms: dict[str, list[float]] = {f"{who}:{p}": [] for p in pipelines for who in ("plain", *modes)}
    runners = {mode: Runner(mode=mode, warm=warm("synthetic")) for mode in modes}
    epoch_cost: dict[str, list[tuple[float, float]]] = {}  # plain processes: (median step, an epoch's cost beyond)
    try:
        for i in range(args.pairs):
            for name in (list(arms) if i % 2 == 0 else list(reversed(arms))):
                who, pipeline = name.split(":")
                if who == "plain":
                    value, step, beyond = plain(args.steps, args.rounds, pipeline, env)
                    arms[name].append(value)
                    epoch_cost.setdefault(name, []).append((step, beyond))
                else:
                    params = {"model": "seed_cnn", "pipeline": PIPELINES[pipeline], "rounds": args.rounds,
                              "warmup_rounds": 1, "steps": args.steps, "data": "synthetic", "n_train": N_TRAIN}
                    result = runners[who].run(WORKLOADS["epoch"].target, params, None)
                    arms[name].append(process_rate(result["durations_seconds"], result["items_per_round"]))
            print(f"pass {i + 1}: " + ", ".join(f"{name} {values[-1]:,.0f}" for name, values in arms.items())
                  + " images/s", flush=True)
    finally:
        for runner in runners.values():
            runner.close()
    ratios = {}
    # compare() takes seconds per image: each ratio is the numerator's speed over the denominator's.
    pairs = [(f"{mode}:{p}", f"plain:{p}") for p in pipelines for mode in modes]
    pairs += [(f"zygote:{p}", f"spawn:{p}") for p in pipelines if len(modes) == 2]
    if len(pipelines) == 2:
        pairs += [(f"{who}:batched", f"{who}:arrays") for who in ("plain", *modes)]
    for top, bottom in pairs:
        e = compare([1.0 / v for v in arms[bottom]], [1.0 / v for v in arms[top]], paired=True)
        ratios[f"{top}/{bottom}"] = [e.ratio.ratio, e.ratio.low, e.ratio.high]
        agrees = "agrees (the interval holds 1.00)" if e.ratio.low <= 1.0 <= e.ratio.high else "DIFFERS"
        print(f"{top} / {bottom}: {e.ratio} over {e.n} passes" + ("" if top.split(":")[1] != bottom.split(":")[1]
                                                                   else f"; {agrees}"))
    if len(pipelines) == 2:
        low, high = ratios["plain:batched/plain:arrays"][1:]
        for mode in modes:
            point = ratios[f"{mode}:batched/{mode}:arrays"][0]
            print(f"the suite's ({mode}) gain of batched over arrays, {point:.2f}x, is "
                  + ("inside" if low <= point <= high else "OUTSIDE") + f" the plain script's [{low:.2f}, {high:.2f}]")
    for name, costs in epoch_cost.items():
        step = statistics.median(c[0] for c in costs)
        beyond = statistics.median(c[1] for c in costs)
        print(f"{name}: a step {step * 1e3:.1f} ms, an epoch {beyond * 1e3:+.0f} ms beyond its steps (medians over "
              f"processes): {beyond / (beyond + args.steps * step):.1%} of a {args.steps}-step epoch, "
              f"{beyond / (beyond + WHOLE_STEPS * step):.1%} of a {WHOLE_STEPS}-step one if it did not grow with "
              "the epoch")
    params = {"model": "seed_cnn", "pipelines": {p: PIPELINES[p] for p in pipelines}, "rounds": args.rounds,
              "warmup_rounds": 1, "steps": args.steps, "data": "synthetic", "n_train": N_TRAIN}
    print(f"({cpu_model()}, {time.time() - started:.0f} s)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"cpu_model": cpu_model(), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                        time.gmtime()),
                                          "params": params, "images_per_s": arms, "ratios": ratios,
                                          "plain_step_and_epoch_beyond_seconds": epoch_cost}, indent=2))


if __name__ == "__main__":
    main()
