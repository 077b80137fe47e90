"""The run file: pytest-benchmark's JSON as this suite writes it, read once into a small typed model.

Everything that judges runs (the gate, baselines, histories, the gate's check) reads runs through `Run`, so
what older files lack is decided here, once, instead of by ``.get()`` fallbacks wherever a key is read.

Format versions (``"cifar_format"`` at the top of the JSON, written by conftest.py):

* 1 — files from before the format was versioned: no ``cifar_format``. Runs older still lack a benchmark's
  ``definition`` (what exactly it measured); those are taken as measuring what the code measures now, except
  for the workloads whose way of measuring changed before definitions were recorded (`CHANGED_UNRECORDED`),
  which compare with nothing. Runs older still lack ``durations_per_process`` (one process per benchmark is
  assumed) and per-process contention (none recorded).
* 2 — this version: the above always present, plus ``cifar_phases``: the session's wall time by phase and its
  timed fraction (timed rounds / wall).

>>> run = Run.load("reports/run.json")     # doctest: +SKIP
>>> run.fingerprint, run.paired, [b.name for b in run.benchmarks][:1]   # doctest: +SKIP
('amd-epyc-2c2t-tf2.21.0-py3.11', False, ['test_calibration[calibration-intra1-inter1]'])
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cifar.errors import GateError
from cifar.suite.machine import fingerprint

FORMAT = 2
FORMAT_KEY = "cifar_format"
#: pipeline: rounds on a fresh iterator each (commit 257a7f2), before definitions were recorded.
CHANGED_UNRECORDED = frozenset({"pipeline"})
#: The calibration kernel: the article's matmul on one thread, measured in every session.
CALIBRATION = ("calibration", "intra1-inter1")


class RunFileError(GateError):
    """A run file that cannot be used (missing, corrupt, not this suite's, no per-round data); one line."""


@dataclass(frozen=True)
class ArmRecord:
    """One arm's measurements of a benchmark: each process's rounds (seconds) and contention."""

    per_process: tuple[tuple[float, ...], ...]
    contention: tuple[dict, ...] = ()  # per process: other_fraction, steal_fraction, contended; () = not recorded
    definition: dict | None = None
    injected_slowdown: float = 0.0

    @property
    def contended(self) -> set[int]:
        """Indices of the processes the rest of the machine disturbed."""
        return {i for i, c in enumerate(self.contention) if c.get("contended")}


@dataclass(frozen=True)
class Benchmark:
    fullname: str
    rounds: tuple[float, ...]
    workload: str | None
    threads: str | None
    contended: bool
    current: ArmRecord  # this tree's arm (the benchmark's own stats)
    baseline: ArmRecord | None = None  # a paired run's baseline arm
    baseline_error: str | None = None  # the baseline code could not run it
    baseline_tree: str | None = None
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        """The test id without the file: ``test_matmul[matmul-default]``."""
        return self.fullname.split("::")[-1]

    @property
    def in_pair(self) -> bool:
        return self.baseline is not None or self.baseline_error is not None


@dataclass(frozen=True)
class Run:
    benchmarks: tuple[Benchmark, ...]
    machine: dict  # machine_info["cifar"]
    settings: dict  # the suite's options (cifar_settings)
    datetime: str
    commit: dict  # pytest-benchmark's commit_info
    version: int
    source: str
    raw: dict = field(compare=False, repr=False)

    @property
    def narrowed_by(self) -> tuple[str, ...]:
        """How the run was deliberately narrowed to part of the suite (``-k``, ``-m``, test ids, ``--skip-cases``);
        empty for a whole run and for runs from before this was recorded."""
        chosen = (self.raw.get("cifar_selection") or {}).get("narrowed_by") or []
        return (*map(str, chosen), *(f"--skip-cases={p}" for p in self.settings.get("skip") or ()))

    #: The suite's options that decide which benchmarks a run has (`cifar.suite.settings.SuiteSettings`).
    SELECTING = ("quick", "grid", "models", "tuned", "data")

    def options_differ(self, others: "list[Run]") -> tuple[str, ...]:
        """The selecting options (`SELECTING`) in which this run differs from every run of `others`: a run made
        with another grid or models has other benchmarks by choice."""
        differ = None
        for other in others:
            these = {k for k in self.SELECTING if self.settings.get(k) != other.settings.get(k)}
            differ = these if differ is None else differ & these
        return tuple(k for k in self.SELECTING if k in (differ or ()))

    @property
    def phases(self) -> dict | None:
        """Where the session's wall time went (version 2), or None for older runs."""
        return self.raw.get("cifar_phases")

    # -- reading -------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "Run":
        """Read a run file; any problem is one `RunFileError` line naming the file."""
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise RunFileError(f"{path}: no such file") from None
        except OSError as err:
            raise RunFileError(f"{path}: cannot read ({err.strerror})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise RunFileError(f"{path}: not valid JSON, corrupt or half-written ({err.msg} at line "
                               f"{err.lineno})") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def of(cls, run: "Run | dict") -> "Run":
        """`run` itself, or the dict read into a `Run` (tests and callers holding parsed JSON)."""
        return run if isinstance(run, Run) else cls.from_dict(run, "<run>")

    @classmethod
    def from_dict(cls, data: dict, source: str = "<run>") -> "Run":
        if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
            raise RunFileError(f"{source}: not a pytest-benchmark result (no 'benchmarks' list)")
        version = data.get(FORMAT_KEY, 1)
        if not isinstance(version, int) or version > FORMAT:
            raise RunFileError(f"{source}: run format {version!r} is newer than this code reads ({FORMAT}); update")
        benchmarks = tuple(_benchmark(b, source) for b in data["benchmarks"])
        return cls(benchmarks, dict(data.get("machine_info", {}).get("cifar") or {}),
                   dict(data.get("cifar_settings") or {}), str(data.get("datetime", "")),
                   dict(data.get("commit_info") or {}), version, source, data)

    # -- what is in it -------------------------------------------------------------------------------------
    @property
    def paired(self) -> bool:
        """Made with ``pytest benchmarks/ --baseline-tree=PATH``: it carries its own baseline arm."""
        return any(b.in_pair for b in self.benchmarks)

    def samples(self) -> dict[str, list[float]]:
        """Every benchmark's rounds (seconds), by fullname."""
        return {b.fullname: list(b.rounds) for b in self.benchmarks}

    def get(self, fullname: str) -> Benchmark | None:
        return next((b for b in self.benchmarks if b.fullname == fullname), None)

    @property
    def calibration(self) -> str | None:
        """The fullname of the calibration kernel's benchmark, if the run has it."""
        return next((b.fullname for b in self.benchmarks if (b.workload, b.threads) == CALIBRATION), None)

    @property
    def fingerprint(self) -> str:
        """The machine a run was measured on: CPU model, core counts, TensorFlow version, Python minor."""
        info = self.machine
        if not info:
            raise RunFileError(f"{self.source}: no machine_info['cifar'] (was it made by this suite's pytest "
                               f"benchmarks/?)")
        return fingerprint(info)

    @property
    def label(self) -> str:
        """Short commit and date, for tables and plots: ``ab12cd3 2026-12-01`` (``+`` marks a dirty tree)."""
        commit = str(self.commit.get("id") or "")[:7] or "no-commit"
        dirty = "+" if self.commit.get("dirty") else ""
        return f"{commit}{dirty} {self.datetime[:10]}".strip()


def comparable(baseline: dict | None, current: dict | None) -> bool:
    """Did a baseline measure what the current run measures? None (not recorded, workload unchanged since) is
    taken as the same; see the module docstring."""
    return baseline is None or current is None or baseline == current


def _floats(values, what: str, source: str, name: str) -> tuple[float, ...]:
    if not values or not all(isinstance(d, (int, float)) and not isinstance(d, bool) and d > 0 for d in values):
        raise RunFileError(f"{source}: {name} has no usable {what} (save runs with --benchmark-json, or "
                           "--benchmark-autosave from this suite, which keeps every round)")
    return tuple(float(d) for d in values)


def _definition(extra: dict, workload: str | None) -> dict | None:
    if "definition" in extra:
        return extra["definition"]
    # Not recorded: the same as now, unless this workload changed how it measures before recording began.
    return {"name": workload, "recorded": False} if workload in CHANGED_UNRECORDED else None


def _benchmark(bench, source: str) -> Benchmark:
    if not isinstance(bench, dict):
        raise RunFileError(f"{source}: a benchmark entry is not an object")
    fullname = str(bench.get("fullname", "?"))
    rounds = _floats((bench.get("stats") or {}).get("data"), "per-round data", source, fullname)
    extra = dict(bench.get("extra_info") or {})
    workload = extra.get("workload")
    per_process = extra.get("durations_per_process") or [list(rounds)]
    current = ArmRecord(tuple(_floats(p, "per-process rounds", source, fullname) for p in per_process),
                  tuple(extra.get("contention_per_process") or ()), _definition(extra, workload),
                  float(extra.get("injected_slowdown") or 0.0))
    paired = extra.get("paired_baseline")
    baseline = error = tree = None
    if isinstance(paired, dict):
        tree = paired.get("tree")
        error = paired.get("error")
        if error is None:
            if not paired.get("durations_per_process"):
                error = "no per-process rounds recorded for the baseline arm"
            else:
                baseline = ArmRecord(tuple(_floats(p, "baseline rounds", source, fullname)
                                     for p in paired["durations_per_process"]),
                               tuple(paired.get("contention_per_process") or ()),
                               _definition(paired, workload), float(paired.get("injected_slowdown") or 0.0))
    return Benchmark(fullname, rounds, workload, extra.get("threads"), bool(extra.get("contended")), current,
                     baseline, error, tree, extra)


def run_order(datetime: str, name: str) -> tuple[str, str]:
    """The one order of saved runs, oldest first: by the run's own ``datetime`` (pytest-benchmark's ISO time),
    then by file name. Never by file time: a clone or a copy resets it."""
    return datetime, name


def saved_runs(storage: str | Path = ".benchmarks") -> list[Path]:
    """pytest-benchmark's saved runs (``--benchmark-autosave``) under `storage`, oldest first by `run_order`
    (a file that cannot be read sorts first: ``latest`` never picks it, loading it says what is wrong)."""
    def key(path: Path) -> tuple[str, str]:
        try:
            with open(path) as f:
                stamp = json.load(f).get("datetime", "")
        except (OSError, ValueError, AttributeError):
            stamp = ""
        return run_order(str(stamp), path.stem)

    return sorted(Path(storage).glob("*/*.json"), key=key)
