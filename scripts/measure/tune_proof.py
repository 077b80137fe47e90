"""Does the tuner find what an exhaustive search finds, for a fraction of its time? (docs/tuning.md, "Proof")

1. ``python -m cifar tune --exhaustive --phase search`` measures every setting of SPACE once (2 processes each):
   the reference, and its wall time W.
2. ``python -m cifar tune --budget 0.15W`` (search and confirmation) REPETITIONS times, each a fresh study.
3. One interleaved confirmation of the exhaustive best, each run's recommendation, TensorFlow's default and the
   article's (4, 2), every arm in every pass: every ratio from this one run, paired by pass, as the estimator gives
   it (`cifar.stats.estimate`: the trimmed mean of the per-pass log ratios with a 95 % trimmed-t interval).

Every step measures the search's 10-step epochs (``--confirm-steps 10``: the tuner's own confirmation runs whole
epochs, which the exhaustive reference does not).

    python scripts/measure/tune_proof.py --repetitions 3 --processes 10 --out reports/tune-proof.json
    python scripts/measure/tune_proof.py --again reports/tune-proof.json --processes 30   # step 3 alone, again
    python scripts/measure/tune_proof.py --exhaustive-from reports/tune-proof.json     # steps 2-3, new tuner code

``--exhaustive-from`` reuses step 1 of an earlier proof on this machine (same space; the exhaustive search does
not run the tuner's sampler or confirmation, so a change to those leaves it as it was); the output says so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPACE = ["intra=0,1,2,4", "inter=0,1,2", "pipeline=arrays,seed,batched", "num_parallel_calls=auto,1",
         "private_threadpool_size=0", "cpus=1,2", "onednn=on"]
SHARE = 0.15


def tune(args: list[str], folder: Path, name: str) -> tuple[dict, float]:
    command = [sys.executable, "-m", "cifar", "tune", "--storage", f"sqlite:///{folder}/{name}.db",
               "--json", str(folder / f"{name}.json"), "--markdown", str(folder / f"{name}.md"),
               *[f"--space={item}" for item in SPACE], *args]
    print("$", " ".join(command[1:]), flush=True)
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads((folder / f"{name}.json").read_text()), time.monotonic() - started


def step_one(previous: dict) -> tuple:
    """An earlier proof's exhaustive search, from its JSON: (its report's parts used here, W, best, best setting)."""
    from cifar.tuning.space import Setting

    exhaustive = {"search": {"best": previous["exhaustive_top"], "space_size": previous["space_size"]},
                  "cpu_model": previous["cpu_model"]}
    return (exhaustive, previous["exhaustive_seconds"], previous["exhaustive_best"],
            Setting.from_dict(previous["exhaustive_best_setting"]))


def main() -> int:
    from cifar.stats.estimate import Ratio
    from cifar.tuning.confirm import Arm, confirm
    from cifar.tuning.search import MachineLock, Runners, TRIAL_EPOCH
    from cifar.tuning.space import ARTICLE, DEFAULT, Setting

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--processes", type=int, default=10, help="per arm in the final confirmation")
    parser.add_argument("--out", default="reports/tune-proof.json")
    parser.add_argument("--again", help="a proof's JSON: repeat only step 3 (the interleaved confirmation)")
    parser.add_argument("--exhaustive-from", help="a proof's JSON: reuse its step 1 (the exhaustive search)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tune-proof-"))
    reused = None

    if args.again:
        previous = json.loads(Path(args.again).read_text())
        reused = previous.get("exhaustive_reused_from")
        exhaustive, exhaustive_seconds, best, best_setting = step_one(previous)
        runs = [{**{k: v for k, v in run.items() if k in ("repetition", "seconds", "recommended", "verdict", "trials")},
                 "setting": Setting.from_dict(run["setting"])} for run in previous["runs"]]
    else:
        if args.exhaustive_from:
            previous = json.loads(Path(args.exhaustive_from).read_text())
            if previous["space"] != SPACE:
                print(f"--exhaustive-from {args.exhaustive_from}: its space {previous['space']} is not {SPACE}",
                      file=sys.stderr)
                return 2
            exhaustive, exhaustive_seconds, best, best_setting = step_one(previous)
            reused = {"file": args.exhaustive_from, "date": previous["date"]}
        else:
            exhaustive, exhaustive_seconds = tune(["--exhaustive", "--phase", "search", "--budget", "3h"], folder,
                                                  "exhaustive")
            best = exhaustive["search"]["best"][0]
            trials = {t["id"]: t for t in exhaustive["trials"]}
            best_setting = Setting.from_dict(trials[best["id"]]["setting"])
        budget = SHARE * exhaustive_seconds
        runs = []
        for repetition in range(args.repetitions):
            # The proof asks whether the search finds what the exhaustive search finds on the same (10-step)
            # epochs, so the tuner's confirmation measures those too, not whole epochs (docs/tuning.md).
            from cifar.tuning.search import TRIAL_EPOCH

            report, seconds = tune(["--budget", f"{budget:.0f}s", "--seed", str(repetition), "--confirm-steps",
                                    str(TRIAL_EPOCH["steps"])], folder, f"tuned-{repetition}")
            chosen = Setting.from_dict(report["recommended"])
            runs.append({"repetition": repetition, "seconds": seconds, "recommended": chosen.id,
                         "verdict": report["confirmation"]["verdict"], "trials": report["search"]["trials"],
                         "setting": chosen})

    arms = [Arm("default", DEFAULT), Arm("article (4, 2)", ARTICLE), Arm("exhaustive best", best_setting)]
    for run in runs:
        if all(run["setting"] != arm.setting for arm in arms):
            arms.append(Arm(f"tuned {run['repetition']}", run["setting"]))
    runners = Runners("auto")
    try:
        result = confirm(arms, runners, "cifar.workloads:epoch", {"model": "seed_cnn", "data": "auto", **TRIAL_EPOCH},
                         time.monotonic() + 3 * 3600, lock=MachineLock(), min_passes=args.processes,
                         max_passes=args.processes, eliminate=False)
    finally:
        runners.close()
    by_setting = {arm.setting: arm for arm in result.arms}
    reference = by_setting[best_setting]
    table = []
    for run in runs:
        arm = by_setting[run["setting"]]
        vs_best = arm.ratio_to(reference) if arm is not reference else None
        vs_best = vs_best or Ratio(1.0, 1.0, 1.0)  # the run recommended the exhaustive best itself
        vs_default = arm.ratio_to(by_setting[DEFAULT]) if arm is not by_setting[DEFAULT] else Ratio(1.0, 1.0, 1.0)
        vs_article = arm.ratio_to(by_setting[ARTICLE]) if arm is not by_setting[ARTICLE] else Ratio(1.0, 1.0, 1.0)
        table.append({**{k: v for k, v in run.items() if k != "setting"}, "setting": run["setting"].to_dict(),
                      "share_of_exhaustive_time": run["seconds"] / exhaustive_seconds,
                      "vs_exhaustive_best": vs_best.__dict__, "vs_default": vs_default.__dict__,
                      "vs_article": vs_article.__dict__,
                      "within_3_percent": vs_best.ratio >= 0.97})
    out = {"space": SPACE, "space_size": exhaustive["search"]["space_size"], "exhaustive_seconds": exhaustive_seconds,
           "exhaustive_best": best, "exhaustive_best_setting": best_setting.to_dict(),
           "exhaustive_top": exhaustive["search"]["best"], "cpu_model": exhaustive["cpu_model"],
           "exhaustive_reused_from": reused, "runs": table, "confirmation": result.to_dict(),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"exhaustive: {out['space_size']} settings in {exhaustive_seconds:.0f} s; best {best['id']} "
          f"{best['images_per_s_geomean']:,.0f} images/s" + (f" (reused from {reused['file']}, {reused['date']})"
                                                           if reused else ""))
    for row in table:
        b, d, a = row["vs_exhaustive_best"], row["vs_default"], row["vs_article"]
        print(f"run {row['repetition']}: {row['seconds']:.0f} s ({row['share_of_exhaustive_time']:.0%}), "
              f"{row['recommended']}: {b['ratio']:.3f} [{b['low']:.3f}, {b['high']:.3f}] of the exhaustive best, "
              f"{d['ratio']:.3f} [{d['low']:.3f}, {d['high']:.3f}] of default, "
              f"{a['ratio']:.3f} [{a['low']:.3f}, {a['high']:.3f}] of (4, 2)")
    print("medians: " + ", ".join(f"{arm.setting.id} ({arm.role}) {statistics.median(arm.images_per_s):,.0f}"
                                   for arm in result.arms if arm.images_per_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
