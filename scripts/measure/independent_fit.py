"""Does the suite's arrays epoch agree with a plain ``model.fit`` script that uses none of the project's code?

Interleaves, in one session, fresh processes of two measurements of the same thing, TensorFlow's default threads:

* **plain**: `PLAIN` below, run as ``python -c``: the article's model and ``model.fit(x, y, batch_size=128)`` on
  float32 arrays / 255, timed with a Keras callback around each epoch, the first epoch (tracing) dropped; no
  import of this project anywhere in the process;
* **suite**: the suite's own arrays-epoch child (``cifar.workloads:epoch`` through `cifar.isolation.Runner`, as
  ``pytest benchmarks/`` runs it), the same steps, rounds and data shapes.

Each process's figure is its timed epochs' images over their time. The ratio suite / plain, paired by pass, comes
with a 95 % t interval (`cifar.stats.estimate.compare`); the suite's figure agrees when the interval holds 1.00.
Both feed synthetic data of CIFAR-10's shapes (the same generator seed), so no archive is needed.

    python scripts/measure/independent_fit.py [--pairs 6] [--steps 20] [--rounds 4] [--runner zygote|spawn]
                                              [--out reports/independent.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

PLAIN = r"""
import json, sys, time
import numpy as np
import keras

steps, rounds = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
x = rng.integers(0, 256, size=(steps * 128, 32, 32, 3), dtype=np.uint8).astype("float32") / 255.0
y = rng.integers(0, 10, size=(steps * 128, 1), dtype=np.int64)
model = keras.Sequential([keras.layers.Input(shape=(32, 32, 3)), keras.layers.Conv2D(32, 3, activation="relu"),
                          keras.layers.MaxPooling2D(), keras.layers.Conv2D(64, 3, activation="relu"),
                          keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])


class Timer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


timer = Timer()
model.fit(x, y, batch_size=128, epochs=1 + rounds, verbose=0, callbacks=[timer])
print(json.dumps({"seconds": timer.seconds[1:], "images_per_epoch": steps * 128}))
"""


def plain(steps: int, rounds: int, env: dict) -> float:
    out = subprocess.run([sys.executable, "-c", PLAIN, str(steps), str(rounds)], capture_output=True, text=True,
                         check=True, env=env, cwd="/")  # cwd /: not even this checkout is importable
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["images_per_epoch"] * len(result["seconds"]) / sum(result["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=20, help="steps of 128 images per epoch [20, make bench's]")
    parser.add_argument("--rounds", type=int, default=4, help="timed epochs per process [4, make bench's]")
    parser.add_argument("--runner", choices=("zygote", "spawn"), action="append",
                        help="how the suite's child starts: forked from the TensorFlow-preloaded zygote (the suite's "
                             "default) or a fresh interpreter; repeat to measure both in the same passes [zygote]")
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
    params = {"model": "seed_cnn", "pipeline": "arrays", "rounds": args.rounds, "warmup_rounds": 1,
              "steps": args.steps, "data": "synthetic"}
    started = time.time()
    modes = args.runner or ["zygote"]
    arms: dict[str, list[float]] = {"plain": [], **{mode: [] for mode in modes}}
    runners = {mode: Runner(mode=mode, warm=warm("synthetic")) for mode in modes}
    try:
        for i in range(args.pairs):
            order = list(arms) if i % 2 == 0 else list(reversed(arms))
            for which in order:
                if which == "plain":
                    arms["plain"].append(plain(args.steps, args.rounds, env))
                else:
                    result = runners[which].run(WORKLOADS["epoch"].target, params, None)
                    arms[which].append(process_rate(result["durations_seconds"], result["items_per_round"]))
            print(f"pass {i + 1}: " + ", ".join(f"{name} {values[-1]:,.0f}" for name, values in arms.items())
                  + " images/s", flush=True)
    finally:
        for runner in runners.values():
            runner.close()
    ratios = {}
    # compare() takes seconds per image: each ratio is the numerator's speed over the denominator's.
    pairs = [(mode, "plain") for mode in modes] + ([("zygote", "spawn")] if len(modes) == 2 else [])
    for top, bottom in pairs:
        e = compare([1.0 / v for v in arms[bottom]], [1.0 / v for v in arms[top]], paired=True)
        ratios[f"{top}/{bottom}"] = [e.ratio.ratio, e.ratio.low, e.ratio.high]
        print(f"suite {top} / {bottom}: {e.ratio} over {e.n} passes; "
              + ("agrees (the interval holds 1.00)" if e.ratio.low <= 1.0 <= e.ratio.high else "DIFFERS"))
    print(f"({cpu_model()}, {time.time() - started:.0f} s)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"cpu_model": cpu_model(), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                        time.gmtime()),
                                          "params": params, "images_per_s": arms, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
