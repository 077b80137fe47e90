"""Histories: each benchmark's median across saved runs, change points, and a PNG plot.

Change points are found as Hunter / Apache Otava and asv do it in spirit: binary segmentation of the
series of per-run medians. At each step the split that maximizes the standardized difference of means
is tested with a permutation test that re-runs the whole search on shuffled series (so trying every split
is paid for in the p-value); a split is kept when p < alpha (default 0.01) and the medians on either side
differ by at least `min_change` (default 5 %). Per-run medians, not pooled rounds, are the observations:
rounds within a run share that session's machine state, so pooling them would overstate the evidence.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifar.judging.errors import GateError
from cifar.judging.runfile import Run, saved_runs


@dataclass(frozen=True)
class SavedRun:
    label: str  # file name, e.g. 0003_abc123
    datetime: str
    medians: dict[str, float]  # benchmark fullname -> median seconds per round


@dataclass(frozen=True)
class ChangePoint:
    index: int  # first run after the change
    before: float
    after: float
    p_value: float

    @property
    def change(self) -> float:
        return self.after / self.before - 1.0


def read_runs(paths: list[Path]) -> list[SavedRun]:
    """Saved pytest-benchmark runs, oldest first; unreadable files are one-line errors."""
    runs = []
    for path in paths:
        run = Run.load(path)
        medians = {b.fullname: statistics.median(b.rounds) for b in run.benchmarks}
        runs.append(SavedRun(path.stem, run.datetime, medians))
    return sorted(runs, key=lambda r: (r.datetime, r.label))


def find_runs(storage: Path = Path(".benchmarks")) -> list[Path]:
    return saved_runs(storage)


def _best_split(values: np.ndarray, min_size: int) -> tuple[int, float]:
    best_k, best_stat = -1, -1.0
    n = len(values)
    for k in range(min_size, n - min_size + 1):
        a, b = values[:k], values[k:]
        spread = np.sqrt(a.var() / len(a) + b.var() / len(b)) + 1e-12 * abs(values.mean())
        stat = abs(a.mean() - b.mean()) / spread
        if stat > best_stat:
            best_k, best_stat = k, stat
    return best_k, best_stat


def change_points(series: list[float], alpha: float = 0.01, min_change: float = 0.05, min_size: int = 2,
                  permutations: int = 999, seed: int = 0) -> list[ChangePoint]:
    """Change points in `series` (per-run medians, oldest first), by binary segmentation + permutation test."""
    rng = np.random.default_rng(seed)
    values = np.asarray(series, dtype=float)
    found: list[ChangePoint] = []

    def segment(lo: int, hi: int) -> None:
        part = values[lo:hi]
        if len(part) < 2 * min_size:
            return
        k, stat = _best_split(part, min_size)
        if k < 0:
            return
        exceed = sum(_best_split(rng.permutation(part), min_size)[1] >= stat for _ in range(permutations))
        p_value = (exceed + 1) / (permutations + 1)
        before, after = float(np.median(part[:k])), float(np.median(part[k:]))
        if p_value < alpha and abs(after / before - 1.0) >= min_change:
            found.append(ChangePoint(lo + k, before, after, p_value))
            segment(lo, lo + k)
            segment(lo + k, hi)

    segment(0, len(values))
    return sorted(found, key=lambda c: c.index)


def history(runs: list[SavedRun], select: str | None = None, **kwargs) -> dict[str, dict]:
    """Per benchmark: the runs it appears in (their labels, and their positions in `runs`), its medians, and its
    change points. A change point's ``index`` counts this benchmark's runs only; ``positions[index]`` is that
    run's place in `runs`, which differs when the benchmark is missing from some runs."""
    import fnmatch

    names = sorted({name for run in runs for name in run.medians})
    if select:
        names = [n for n in names if fnmatch.fnmatchcase(n, select) or select in n]
    out = {}
    for name in names:
        positions = [i for i, r in enumerate(runs) if name in r.medians]
        medians = [runs[i].medians[name] for i in positions]
        out[name] = {"runs": [runs[i].label for i in positions], "positions": positions, "medians": medians,
                     "change_points": change_points(medians, **kwargs)}
    return out


def plot(trends: dict[str, dict], path: Path, max_panels: int = 12) -> Path:
    """Small multiples: median per run (relative to the first run), change points as vertical lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Benchmarks with change points first: they are what a reader looks for.
    names = sorted(trends, key=lambda n: (not trends[n]["change_points"], n))[:max_panels]
    if not names:
        raise GateError("nothing to plot: no benchmark matched")
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        trend = trends[name]
        first = trend["medians"][0]
        ax.plot(range(len(trend["medians"])), [m / first for m in trend["medians"]], marker="o")
        for cp in trend["change_points"]:
            ax.axvline(cp.index - 0.5, color="red", linestyle="--")
            ax.annotate(f"{cp.change:+.0%}", (cp.index - 0.5, 1.0), color="red", fontsize=8)
        ax.set_title(name.split("::")[-1], fontsize=8)
        ax.set_xlabel("run")
        ax.set_ylabel("median time / first run")
        ax.axhline(1.0, color="grey", linewidth=0.5)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def to_json(trends: dict[str, dict]) -> str:
    return json.dumps({name: {**t, "change_points": [cp.__dict__ for cp in t["change_points"]]}
                       for name, t in trends.items()}, indent=2)
