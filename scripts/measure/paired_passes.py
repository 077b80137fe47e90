"""Does pairing by pass narrow the tuner's confirmation intervals? (docs/tuning.md, "Confirmation")

Measures SETTINGS (the default arrays script, the default with the article's tf.data pipeline, and the batched
pipeline at intra 2 / inter 0) in PASSES interleaved passes of fresh processes, as the confirmation does, and
prints each pair's speedup both ways: unpaired (ratio of medians, processes resampled) and paired by pass
(median of per-pass ratios, passes resampled).

    python scripts/measure/paired_passes.py --passes 10 --out reports/paired-passes.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

#: The tuner's epochs when the figure in docs/tuning.md was measured (before they became 6, time-weighted).
EPOCH = {"rounds": 3, "warmup_rounds": 1, "steps": 10}
SETTINGS = {"arrays": {}, "seed": {"pipeline": "seed"},
            "batched": {"intra": 2, "inter": 0, "pipeline": "batched", "num_parallel_calls": -1}}


def main() -> int:
    from cifar.isolation.schedule import in_pass_order
    from cifar.stats.significance import median_ratio_ci, paired_ratio_ci
    from cifar.tuning.search import MachineLock, Runners
    from cifar.tuning.space import Setting

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=10)
    parser.add_argument("--out", default="reports/paired-passes.json")
    args = parser.parse_args()
    settings = {name: Setting.from_dict(data) for name, data in SETTINGS.items()}
    values: dict[str, list[float]] = {name: [] for name in settings}
    runners, lock = Runners("auto"), MachineLock()
    try:
        for index in range(args.passes):
            for name in in_pass_order(list(settings), index):
                setting = settings[name]
                with lock.held():
                    result = runners.run(setting, "cifar.workloads:epoch",
                                         {"model": "seed_cnn", "data": "auto", **EPOCH, **setting.epoch_params()})
                values[name].append(result["items_per_s_median"])
            print(f"pass {index}: " + ", ".join(f"{n} {v[-1]:,.0f}" for n, v in values.items()), flush=True)
    finally:
        runners.close()
    rows = []
    for a, b in itertools.combinations(settings, 2):
        unpaired, paired = median_ratio_ci(values[a], values[b]), paired_ratio_ci(values[a], values[b])
        rows.append({"pair": f"{a} / {b}", "unpaired": unpaired.__dict__, "paired": paired.__dict__})
        print(f"{settings[a].id} / {settings[b].id}: unpaired {unpaired}, paired by pass {paired}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"settings": {n: s.id for n, s in settings.items()}, "images_per_s": values,
                                          "ratios": rows, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
                                         indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
