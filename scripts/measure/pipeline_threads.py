"""Does a tf.data pipeline's speed depend on TensorFlow's intra-op / inter-op pools? (docs/performance.md)

Each pipeline case of the quick suite under each configuration of the standard grid, in fresh processes, all
interleaved; per pipeline a Kruskal-Wallis test of the process medians across configurations, and the ratio of the
fastest configuration's median to the slowest's.

    python scripts/measure/pipeline_threads.py --processes 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cifar.isolation.runner import Runner  # noqa: E402
from cifar.isolation.schedule import alternating  # noqa: E402
from cifar.suite.settings import pipeline_options  # noqa: E402
from cifar.training.threads import thread_grid  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=5)
    args = parser.parse_args()
    from scipy.stats import kruskal

    pipelines = pipeline_options(quick=True)
    grid = thread_grid()
    arms = [(p, c) for p in pipelines for c in grid]
    medians: dict[tuple[str, str], list[float]] = {(p.id, c.id): [] for p, c in arms}
    with Runner(warm=(("cifar.training.data:warm_cache", {"data": "synthetic"}),)) as runner:
        for _, (p, c) in alternating(arms, args.processes):
            r = runner.run("cifar.workloads:pipeline", {"pipeline": p.to_dict(), "rounds": 8, "warmup_rounds": 1,
                                                        "batches": 20, "data": "synthetic"}, c)
            medians[(p.id, c.id)].append(r["items_per_round"] / statistics.median(r["durations_seconds"]))
    print("| pipeline | " + " | ".join(c.id for c in grid) + " | Kruskal-Wallis p | fastest / slowest |")
    print("|---|" + "---|" * (len(grid) + 2))
    for p in pipelines:
        groups = [medians[(p.id, c.id)] for c in grid]
        centre = [statistics.median(g) for g in groups]
        print(f"| {p.id} | " + " | ".join(f"{m:,.0f}" for m in centre)
              + f" | {kruskal(*groups).pvalue:.3g} | {max(centre) / min(centre):.3f} |")


if __name__ == "__main__":
    main()
