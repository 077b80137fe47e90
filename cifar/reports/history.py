"""Histories: each benchmark across saved runs, placed by commit and date, with its change points.

A series is one benchmark on one machine fingerprint: runs from different machines measure the machines, so
they are never one series. Each point is a run: its commit (short hash, ``+`` for a dirty tree), its date, the
benchmark's median throughput (items/s, the unit its workload records; seconds per round where it has none)
and whether that measurement was contended.

Change points: binary segmentation of the series of per-run medians, in the spirit of Hunter / Apache Otava's
e-divisive and asv's step detection. At each step the split that maximizes the two-sample t statistic (pooled
variance) is tested with a permutation test that repeats the whole search on shuffled series (so trying every
split is paid for in the p-value); a split is kept when p < alpha (default 0.01) and the medians on either side differ
by at least `min_change` (default 5 %). Per-run medians, not pooled rounds, are the observations: rounds within a run
share that session's machine state, so pooling them would overstate the evidence. docs/history.md compares it
with Otava's detector.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cifar.errors import GateError
from cifar.stats.estimate import prediction_interval, process_rate, process_seconds, process_values, rate
from cifar.suite.runfile import Run, run_order, saved_runs


@dataclass(frozen=True)
class ChangePoint:
    index: int  # the first point after the change, in its series
    before: float  # median value of the segment before (the series' unit)
    after: float
    p_value: float

    @property
    def change(self) -> float:
        """Relative change of the value, after / before - 1 (for a throughput, negative is slower)."""
        return self.after / self.before - 1.0


@dataclass(frozen=True)
class Point:
    run: str  # the run's file name
    position: int  # the run's place among this machine's runs, oldest 0 (the plots' x axis)
    commit: str  # short hash, "+" when the tree was dirty
    date: str
    value: float
    contended: bool
    dirty: bool
    #: Each process's own value in the series' unit (its items over its time, or its seconds per round): the
    #: spread the run's value is the centre of.
    processes: tuple[float, ...] = ()


@dataclass
class Series:
    """One benchmark on one machine, oldest run first."""

    name: str  # the benchmark's fullname
    fingerprint: str
    case: str  # the suite's case (plots group by it)
    threads: str
    unit: str  # "images/s", "products/s", or "s per round"
    points: list[Point] = field(default_factory=list)
    change_points: list[ChangePoint] = field(default_factory=list)

    @property
    def short_name(self) -> str:
        return self.name.split("::")[-1]

    @property
    def throughput(self) -> bool:
        return self.unit.endswith("/s")

    def values(self) -> list[float]:
        return [p.value for p in self.points]

    def to_dict(self) -> dict:
        return {"name": self.name, "fingerprint": self.fingerprint, "case": self.case, "threads": self.threads,
                "unit": self.unit, "points": [asdict(p) for p in self.points],
                "bands": [asdict(b) for b in bands(self)],
                "change_points": [{**asdict(c), "change": c.change, "commit": self.points[c.index].commit,
                                   "run": self.points[c.index].run} for c in self.change_points]}


def read_runs(paths: list[Path]) -> list[tuple[str, Run]]:
    """(file name, run) for each saved run, oldest first by the run's own date; unreadable files are one line."""
    runs = [(Path(p).stem, Run.load(p)) for p in paths]
    return sorted(runs, key=lambda item: run_order(item[1].datetime, item[0]))


def find_runs(storage: Path = Path(".benchmarks")) -> list[Path]:
    return saved_runs(storage)


def _value(bench) -> tuple[float, str, tuple[float, ...]]:
    """A run's figure for a benchmark, from the one estimator (`cifar.stats.estimate`): items per second over its
    processes, or, for runs from before the unit was recorded, the processes' seconds per round; and each
    process's own."""
    values = process_values(bench.current.per_process)
    unit, items = bench.extra.get("unit"), bench.extra.get("items_per_round")
    rounds = [r for r in bench.current.per_process if r]
    if unit and items:
        return rate(values, items), f"{unit}/s", tuple(process_rate(r, items) for r in rounds)
    return 1.0 / rate(values, 1.0), "s per round", tuple(process_seconds(r) for r in rounds)


#: A segment (the runs between change points) gets a run-to-run band from this many runs on.
BAND_RUNS = 4


@dataclass(frozen=True)
class Band:
    """Where the next run of one benchmark should fall while nothing changes, from a segment's runs (first to
    last, positions on the x axis): a 95 % prediction interval on the logs of their values, centre ± t(0.975,
    n - 1) · sd · sqrt(1 + 1/n), the Student-t quantile paying for knowing the spread from a few runs. `centre`
    is the runs' geometric mean. How often runs really fell inside: `band_coverage`, docs/history.md."""

    first: int
    last: int
    runs: int
    centre: float
    low: float
    high: float


#: The share of new runs a band is meant to hold.
BAND_LEVEL = 0.95


def band_of(values: list[float]) -> tuple[float, float, float]:
    """(centre, low, high): the `Band` interval of `values` (at least 2, all positive), the estimator's
    `cifar.stats.estimate.prediction_interval` at `BAND_LEVEL`."""
    return prediction_interval(values, BAND_LEVEL)


def segments(s: "Series") -> list[tuple[int, int]]:
    """The (start, end) indices of `s`'s points between its change points."""
    cuts = [0, *(cp.index for cp in s.change_points), len(s.points)]
    return list(zip(cuts, cuts[1:]))


def bands(s: "Series") -> list[Band]:
    """One `Band` per segment of `s` between its change points with at least `BAND_RUNS` runs."""
    out = []
    for lo, hi in segments(s):
        if hi - lo < BAND_RUNS:
            continue
        centre, low, high = band_of([p.value for p in s.points[lo:hi]])
        out.append(Band(s.points[lo].position, s.points[hi - 1].position, hi - lo, centre, low, high))
    return out


def band_coverage(series: list["Series"]) -> tuple[int, int]:
    """How often the band holds a run it was not drawn from: for every run of a segment with more than
    `BAND_RUNS` runs, the band of the segment's other runs, and whether the run fell inside. (inside, checked)."""
    inside = checked = 0
    for s in series:
        for lo, hi in segments(s):
            values = [p.value for p in s.points[lo:hi]]
            if len(values) <= BAND_RUNS:
                continue
            for i, value in enumerate(values):
                _, low, high = band_of(values[:i] + values[i + 1:])
                inside += low <= value <= high
                checked += 1
    return inside, checked


def build_series(runs: list[tuple[str, Run]], select: str | None = None) -> list[Series]:
    """One `Series` per (benchmark, machine fingerprint, unit), in the order benchmarks first appear."""
    series: dict[tuple[str, str, str], Series] = {}
    positions: dict[str, int] = {}
    for label, run in runs:
        fp = run.fingerprint
        position = positions[fp] = positions.get(fp, -1) + 1
        commit = str(run.commit.get("id") or "")[:7] or "no-commit"
        dirty = bool(run.commit.get("dirty"))
        for bench in run.benchmarks:
            if select and not (fnmatch.fnmatchcase(bench.fullname, select) or select in bench.fullname):
                continue
            value, unit, processes = _value(bench)
            # Runs from before the unit was recorded give seconds per round: a series of their own, never mixed
            # with items/s (a change point between the two would be a change of unit).
            key = (bench.fullname, fp, unit)
            if key not in series:
                series[key] = Series(bench.fullname, fp, str(bench.extra.get("case") or bench.workload or bench.name),
                                     str(bench.threads or ""), unit)
            series[key].points.append(Point(label, position, commit + ("+" if dirty else ""), run.datetime[:10], value,
                                            bench.contended, dirty, processes))
    return list(series.values())


def history(runs: list[tuple[str, Run]], select: str | None = None, **kwargs) -> list[Series]:
    """Every series of `runs` with its change points (`change_points`' keyword arguments pass through)."""
    out = build_series(runs, select)
    for s in out:
        s.change_points = change_points(s.values(), **kwargs)
    return out


def _split_stats(values: np.ndarray, min_size: int) -> np.ndarray:
    """For each row of `values` (shape (rows, n)) and each split k in [min_size, n - min_size]: the two-sample t
    statistic of a mean shift at k with the pooled variance, |mean_a - mean_b| / (s * sqrt(1/n_a + 1/n_b)). Shape
    (rows, splits); vectorized over rows so a permutation test costs one call.

    Pooled, not each side's own variance: with a side of 2 or 3 runs its own variance is often near zero, and the
    statistic then peaks at the series' ends whatever the data, which drowned real steps (docs/history.md)."""
    n = values.shape[1]
    ks = np.arange(min_size, n - min_size + 1)
    csum = np.cumsum(values, axis=1)
    csq = np.cumsum(values ** 2, axis=1)
    total, total_sq = csum[:, -1:], csq[:, -1:]
    sum_a, sq_a = csum[:, ks - 1], csq[:, ks - 1]
    n_a, n_b = ks, n - ks
    mean_a, mean_b = sum_a / n_a, (total - sum_a) / n_b
    within = np.maximum(sq_a - n_a * mean_a ** 2, 0.0) + np.maximum((total_sq - sq_a) - n_b * mean_b ** 2, 0.0)
    pooled = np.sqrt(within / (n - 2)) + 1e-12 * np.abs(values.mean(axis=1, keepdims=True))
    return np.abs(mean_a - mean_b) / (pooled * np.sqrt(1.0 / n_a + 1.0 / n_b))


def change_points(series: list[float], alpha: float = 0.01, min_change: float = 0.05, min_size: int = 2,
                  permutations: int = 999, seed: int = 0) -> list[ChangePoint]:
    """Change points in `series` (per-run values, oldest first), by binary segmentation + permutation test."""
    rng = np.random.default_rng(seed)
    values = np.asarray(series, dtype=float)
    found: list[ChangePoint] = []

    def segment(lo: int, hi: int) -> None:
        part = values[lo:hi]
        if len(part) < 2 * min_size:
            return
        stats = _split_stats(part[None, :], min_size)[0]
        k, stat = int(np.argmax(stats)) + min_size, float(stats.max())
        shuffled = rng.permuted(np.broadcast_to(part, (permutations, len(part))), axis=1)
        exceed = int((_split_stats(shuffled, min_size).max(axis=1) >= stat).sum())
        p_value = (exceed + 1) / (permutations + 1)
        before, after = float(np.median(part[:k])), float(np.median(part[k:]))
        if p_value < alpha and abs(after / before - 1.0) >= min_change:
            found.append(ChangePoint(lo + k, before, after, p_value))
            segment(lo, lo + k)
            segment(lo + k, hi)

    segment(0, len(values))
    return sorted(found, key=lambda c: c.index)


def describe(s: Series, cp: ChangePoint) -> str:
    """``-23.1 % images/s at ab12cd3 (2026-12-01, run 7 of 12), p 0.001``."""
    point = s.points[cp.index]
    what = s.unit if s.throughput else "time per round"
    return (f"{cp.change:+.1%} {what} at {point.commit} ({point.date}, run {cp.index + 1} of {len(s.points)}), "
            f"p {cp.p_value:.3g}")


def table(series: list[Series], width: int = 170) -> str:
    """The history as terminal tables, one per machine; ids shown literally and whole (rich would read ``[...]``
    as markup, and fold a long id)."""
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None)
    for fp in dict.fromkeys(s.fingerprint for s in series):
        members = [s for s in series if s.fingerprint == fp]
        inside, checked = band_coverage(members)
        held = (f"; bands: a left-out run fell inside the others' band {inside} of {checked} times "
                f"({inside / checked:.0%}, meant {BAND_LEVEL:.0%})" if checked else "")
        result = Table(title=Text(f"History on {fp}: {len(members)} benchmarks"),
                       caption=Text("change points: binary segmentation + permutation test on per-run medians" + held))
        result.add_column(Text("benchmark"), no_wrap=True, min_width=max(len(s.short_name) for s in members))
        for column in ("runs", "first", "last"):
            result.add_column(Text(column), no_wrap=True)
        result.add_column(Text("change points"), overflow="fold")
        for s in members:
            first, last = s.points[0], s.points[-1]
            fmt = (lambda v: f"{v:,.0f} {s.unit}") if s.throughput else (lambda v: f"{v:.4g} {s.unit}")
            points = "; ".join(describe(s, cp) for cp in s.change_points) or "-"
            result.add_row(Text(s.short_name), str(len(s.points)), Text(f"{fmt(first.value)} ({first.commit})"),
                           Text(f"{fmt(last.value)} ({last.commit})"), Text(points))
        console.print(result)
    return buffer.getvalue()


def to_json(series: list[Series]) -> str:
    return json.dumps([s.to_dict() for s in series], indent=2)


def load(paths: list[Path] | None = None) -> list[tuple[str, Run]]:
    """The runs a history is made of: `paths`, or every run saved in .benchmarks/; at least 2."""
    paths = [Path(p) for p in paths or []] or find_runs()
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        raise GateError(f"history: no such run file: {', '.join(absent)}")
    if len(paths) < 2:
        raise GateError(f"history needs at least 2 saved runs, found {len(paths)} "
                        "(run pytest benchmarks/ --benchmark-autosave a few times)")
    return read_runs(paths)
