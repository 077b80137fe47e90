"""Would pairing rounds of two live processes answer "A or B?" with less time than pairing processes?
(docs/performance.md, "What ±3 % costs here")

The suite pairs processes: pass i runs a fresh process under A, then one under B, seconds apart, and compares
the two processes' items over their time. This script compares that with a second design: one live process under
A and one under B, both warmed up, taking turns round by round (A B B A ...), each round compared with its
neighbour. Both designs get the same timed rounds per side (`--passes` x 3 against 3 x `--passes` alternated), in
`--blocks` blocks that run the two designs in turn, so a slow minute of the machine hits both. Per design: the
spread across blocks of the block's mean log(A / B) and the wall time a block took; an F test (scipy) of the two
spreads. The work is the suite's matmul case (the article's loop, 30 products a round, 3 rounds a process).

    python scripts/measure/alternating_rounds.py [--blocks 8] [--passes 4] [--a 2x2] [--b default]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cifar.isolation.runner import Runner  # noqa: E402
from cifar.training.threads import ThreadConfig, parse_grid  # noqa: E402

ROUNDS = 3  # the suite's matmul case: 3 timed rounds, 1 warm-up, 30 products a round
WARMUP = 1


def _live_child(conn, config: dict) -> None:
    """A process under one configuration that runs one round of the article's matmul each time it is asked."""
    from cifar.training.threads import ThreadConfig, apply_thread_config
    from cifar.workloads.micro import matmul_round

    apply_thread_config(ThreadConfig(**config))  # before the first op, as in the suite's children
    run_round = matmul_round()  # the suite's matmul round, the same code

    def one_round() -> float:
        start = time.perf_counter()
        run_round()
        return time.perf_counter() - start

    for _ in range(WARMUP):
        one_round()
    conn.send("ready")
    while conn.recv() == "round":
        conn.send(one_round())


def rounds_design(a: ThreadConfig, b: ThreadConfig, rounds: int) -> tuple[float, list[float]]:
    """Two live processes taking turns, A B B A ...: the mean log(A / B) of neighbouring rounds."""
    ctx = mp.get_context("spawn")  # the parent has run no TensorFlow op, but spawn shares nothing at all
    children = []
    for config in (a, b):
        parent_end, child_end = ctx.Pipe()
        process = ctx.Process(target=_live_child, args=(child_end, config.to_dict()), daemon=True)
        process.start()
        children.append((process, parent_end))
    try:
        for _, conn in children:
            if conn.recv() != "ready":
                raise RuntimeError("a live child did not start")
        times: list[list[float]] = [[], []]
        for i in range(rounds):
            for side in ((0, 1) if i % 2 == 0 else (1, 0)):
                children[side][1].send("round")
                times[side].append(children[side][1].recv())
    finally:
        for process, conn in children:
            try:
                conn.send("stop")
            except OSError:
                pass
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    logs = [math.log(x / y) for x, y in zip(*times)]
    return statistics.fmean(logs), logs


def processes_design(runner: Runner, a: ThreadConfig, b: ThreadConfig, passes: int) -> tuple[float, list[float]]:
    """The suite's way: per pass a fresh process under A and one under B (A B B A ...), their items over time."""
    logs = []
    for i in range(passes):
        seconds = {}
        for config in ((a, b) if i % 2 == 0 else (b, a)):
            r = runner.run("cifar.workloads:matmul", {"rounds": ROUNDS, "warmup_rounds": WARMUP}, config)
            seconds[config.id] = sum(r["durations_seconds"])
        logs.append(math.log(seconds[a.id] / seconds[b.id]))
    return statistics.fmean(logs), logs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--passes", type=int, default=4, help="process pairs a block in the suite's design [4]")
    parser.add_argument("--a", default="2x2", help="configuration A [2x2]")
    parser.add_argument("--b", default="default", help="configuration B [default]")
    parser.add_argument("--out", default="reports/alternating-rounds.json")
    args = parser.parse_args()
    from scipy.stats import f as f_dist

    (a,), (b,) = parse_grid(args.a), parse_grid(args.b)
    blocks = []
    with Runner() as runner:
        for i in range(args.blocks):
            block = {}
            for design in (("processes", "rounds") if i % 2 == 0 else ("rounds", "processes")):
                start = time.perf_counter()
                if design == "processes":
                    mean, logs = processes_design(runner, a, b, args.passes)
                else:
                    mean, logs = rounds_design(a, b, ROUNDS * args.passes)
                block[design] = {"mean_log_ratio": mean, "log_ratios": logs,
                                 "wall_seconds": time.perf_counter() - start}
            blocks.append(block)
            print(f"block {i}: " + "  ".join(f"{d} {block[d]['mean_log_ratio']:+.4f} ({block[d]['wall_seconds']:.0f} s)"
                                             for d in ("processes", "rounds")), flush=True)
    summary = {}
    for design in ("processes", "rounds"):
        means = [blk[design]["mean_log_ratio"] for blk in blocks]
        within = [x for blk in blocks for x in blk[design]["log_ratios"]]
        walls = [blk[design]["wall_seconds"] for blk in blocks]
        summary[design] = {"sd_of_block_means": statistics.stdev(means),
                           "sd_of_one_comparison": statistics.stdev(within),
                           "mean_log_ratio": statistics.fmean(means), "median_block_wall_seconds": statistics.median(walls)}
    var_ratio = (summary["processes"]["sd_of_block_means"] / summary["rounds"]["sd_of_block_means"]) ** 2
    dof = len(blocks) - 1
    summary["variance_ratio_processes_over_rounds"] = var_ratio
    summary["f_test_p_one_sided"] = float(f_dist.sf(var_ratio, dof, dof))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"a": a.id, "b": b.id, "passes": args.passes, "rounds_per_process": ROUNDS,
                                          "blocks": blocks, "summary": summary}, indent=1))
    print(f"{a.id} over {b.id}, {args.blocks} blocks of {args.passes * ROUNDS} timed rounds a side per design:")
    for design in ("processes", "rounds"):
        s = summary[design]
        print(f"  {design:9s}: block means sd {s['sd_of_block_means']:.2%}, one comparison sd "
              f"{s['sd_of_one_comparison']:.2%}, ratio {math.exp(s['mean_log_ratio']):.3f}, "
              f"median block {s['median_block_wall_seconds']:.0f} s")
    print(f"  variance processes / rounds: {var_ratio:.2f} (F test, one-sided p {summary['f_test_p_one_sided']:.3f})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
