"""What should a tuner's process contribute: its median epoch, or its epochs' images over their time?
(docs/tuning.md, "A trial")

Runs PROCESSES interleaved pairs of fresh processes (the tuner's runner and epoch, but EPOCHS timed epochs each)
of TensorFlow's default with the article's arrays script and with the batched pipeline (num_parallel_calls 1),
then prints, per setting, the spread between processes (coefficient of variation) of each way of reading a
process: the median of its first 3 epochs (the tuner's before it took 6), the time-weighted mean of the same 3, and
of all.

    python scripts/measure/process_value.py --processes 10 --epochs 8 --out reports/process-value.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

FIRST = 3
SETTINGS = {"arrays": {}, "batched": {"pipeline": "batched", "num_parallel_calls": 1}}


def readings(images_per_s: list[float], first: int) -> dict:
    head = images_per_s[:first]
    return {f"median of {first}": statistics.median(head),
            f"mean of {first}": len(head) / sum(1 / v for v in head),
            f"mean of {len(images_per_s)}": len(images_per_s) / sum(1 / v for v in images_per_s)}


def main() -> int:
    from cifar.isolation.schedule import in_pass_order
    from cifar.tuning.search import MachineLock, Runners
    from cifar.tuning.space import Setting

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", default="reports/process-value.json")
    args = parser.parse_args()
    settings = {name: Setting.from_dict(data) for name, data in SETTINGS.items()}
    epochs: dict[str, list[list[float]]] = {name: [] for name in settings}
    runners, lock = Runners("auto"), MachineLock()
    params = {"warmup_rounds": 1, "steps": 10, "rounds": args.epochs}
    try:
        for index in range(args.processes):
            for name in in_pass_order(list(settings), index):
                setting = settings[name]
                with lock.held():
                    result = runners.run(setting, "cifar.workloads:epoch",
                                         {"model": "seed_cnn", "data": "auto", **params, **setting.epoch_params()})
                epochs[name].append([result["items_per_round"] / d for d in result["durations_seconds"]])
                print(f"process {index} {name:8s} " + " ".join(f"{v:5.0f}" for v in epochs[name][-1]), flush=True)
    finally:
        runners.close()
    first = FIRST
    table = {}
    for name, processes in epochs.items():
        values = [readings(p, first) for p in processes]
        table[name] = {key: statistics.stdev([v[key] for v in values]) / statistics.mean([v[key] for v in values])
                       for key in values[0]}
        print(f"{settings[name].id}: CV between processes " +
              ", ".join(f"{key} {cv:.2f}" for key, cv in table[name].items()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"settings": {n: s.id for n, s in settings.items()}, "epochs": epochs,
                                          "cv": table, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
                                         indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
