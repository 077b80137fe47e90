"""A stand-in for the tuner's measurements (no TensorFlow): each setting has a known speed, plus noise.

Also a worker for the study-sharing tests: ``python -m tests.tune_fakes STORAGE STUDY FINGERPRINT TRIALS LOCK``
runs the real search (`cifar.tuning.search.search`) against that storage with these fake measurements.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from cifar.isolation.errors import ChildCrashed
from cifar.tuning.search import MachineLock, StudyKey, open_study, search
from cifar.tuning.space import Space

#: A small space: 3 intra x 2 inter x (arrays + batched with 2 num_parallel_calls) = 18 settings.
SMALL = ["intra=1,2,4", "inter=1,2", "pipeline=arrays,batched", "num_parallel_calls=1,2",
         "private_threadpool_size=0", "cpus=2", "onednn=on"]


def speed(setting) -> float:
    """The true images/s of a setting in this fake world: intra 2 and batched with 2 calls are best."""
    value = 1000.0 + {0: 300, 1: 0, 2: 400, 4: 200}[setting.intra] - 50.0 * setting.inter
    if setting.pipeline == "batched":
        value += 100.0 * setting.num_parallel_calls
    return value


class FakeRunners:
    """`cifar.tuning.search.Runners`' interface; ``noise``: relative sd; ``crash``: setting ids that crash;
    ``interrupt_after``: raise KeyboardInterrupt on that process (1-based), as Ctrl-C would; ``drift``: the
    machine's speed changes by up to ±drift every ``drift_every`` processes (one level per pass when that is the
    number of arms), as a shared VM's does; ``epochs``: (setting, images/s) -> that process's epoch durations (s of
    1,280 images), for epochs at different speeds."""

    def __init__(self, noise: float = 0.0, seconds: float = 0.0, crash=(), interrupt_after: int | None = None,
                 seed: int = 0, speeds=None, drift: float = 0.0, drift_every: int = 1, epochs=None):
        self.noise, self.seconds, self.crash = noise, seconds, set(crash)
        self.drift, self.drift_every, self.level = drift, drift_every, 1.0
        self.interrupt_after, self.calls = interrupt_after, []
        self.rng = np.random.default_rng(seed)
        self.speed = speeds or speed
        self.epochs = epochs  # (setting, images/s) -> the process's epoch durations; default 3 equal epochs

    def run(self, setting, target, params, timeout=None):
        self.calls.append((setting, params))
        if self.interrupt_after is not None and len(self.calls) >= self.interrupt_after:
            raise KeyboardInterrupt
        if setting.id in self.crash:
            raise ChildCrashed(-11, "python -m cifar.isolation.child {...}", "Segmentation fault")
        time.sleep(self.seconds)
        if self.drift and (len(self.calls) - 1) % self.drift_every == 0:
            self.level = 1.0 + self.drift * self.rng.uniform(-1.0, 1.0)
        value = self.speed(setting) * self.level * (1.0 + self.noise * self.rng.standard_normal())
        durations = self.epochs(setting, value) if self.epochs else [1280.0 / value] * 3
        return {"durations_seconds": durations, "items_per_round": 1280,
                "items_per_s_median": 1280.0 / float(np.median(durations)),
                "training": {"loss": 2.0, "accuracy": 0.25}, "flops_per_image": 23_359_488.0}

    def close(self):
        pass


def small_space() -> Space:
    return Space.parse(SMALL, logical=2)


def main(storage: str, study_name: str, fingerprint: str, trials: int, lock_path: str) -> None:
    space = small_space()
    study = open_study(storage, study_name, StudyKey(fingerprint, "seed_cnn", "fake"), space)
    progress = search(study, space, FakeRunners(noise=0.02, seconds=0.15), "fake", {}, time.monotonic() + 120,
                      max_trials=trials, lock=MachineLock(lock_path), processes_per_trial=1)
    print(json.dumps({"trials": progress.trials}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
