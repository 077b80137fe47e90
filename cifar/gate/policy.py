"""The gate's policy, per benchmark: how sure (alpha), how big a slowdown fails (floor), how big a slowdown
"unchanged" must rule out (tolerance), which test.

Read from ``baselines/gate.json``; the ``"paired"`` section is the policy for paired runs::

    {"alpha": 0.01, "floor": 0.10, "tolerance": 0.10, "calibrate": false,
     "overrides": {"*test_pipeline*": {"floor": 0.30, "tolerance": 0.30}},
     "paired": {"alpha": 0.01, "floor": 0.02, "tolerance": 0.05, "test": "signed-rank"}}
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, replace
from pathlib import Path

from cifar.errors import GateError
from cifar.stats.ranktests import FALLBACK, TESTS

#: Where the baselines and the gate's policy live, relative to the project root (the commands' default).
BASELINES = Path("baselines")
POLICY_NAME = "gate.json"
#: This checkout's policy, wherever the command runs from (the paired gate's looks read it during the session).
TREE_POLICY = Path(__file__).resolve().parents[2] / BASELINES / POLICY_NAME
DEFAULT_ALPHA = 0.01
DEFAULT_FLOOR = 0.05
#: The slowdown a benchmark must be shown not to have for "unchanged" (`cifar.gate.decide`): 5 %.
DEFAULT_TOLERANCE = 0.05


@dataclass(frozen=True)
class Policy:
    alpha: float = DEFAULT_ALPHA
    floor: float = DEFAULT_FLOOR
    #: Divide by the same session's calibration kernel first. Off by default: on this machine it did not
    #: lower false alarms in a real A/A check (docs/gate.md).
    calibrate: bool = False
    #: The test, by its name in `cifar.stats.ranktests.TESTS`: a paired one ("signed-rank": Wilcoxon, on the ratios
    #: of processes run side by side) only for paired runs; the fallback ("mann-whitney": the two arms as independent
    #: samples) is the only choice for stored baselines.
    test: str = FALLBACK.name
    #: "unchanged" needs the estimator's one-sided 95 % upper bound of the ratio below 1 + tolerance; a benchmark
    #: that is neither a regression nor that is "unresolved".
    tolerance: float = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise GateError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if self.test not in TESTS:
            raise GateError(f"test must be one of {', '.join(TESTS)}, got {self.test!r}")  # cifar.stats.ranktests
        if not 0.0 <= self.floor < 10.0:
            raise GateError(f"floor must be a fraction >= 0 (0.05 = 5 %), got {self.floor!r}")
        if not 0.0 < self.tolerance < 10.0:
            raise GateError(f"tolerance must be a fraction > 0 (0.05 = 5 %), got {self.tolerance!r}")


@dataclass(frozen=True)
class Policies:
    """A default policy plus per-benchmark overrides by fnmatch pattern on the benchmark's fullname."""

    default: Policy = Policy()
    overrides: tuple[tuple[str, Policy], ...] = ()

    def for_benchmark(self, name: str) -> Policy:
        policy = self.default
        for pattern, override in self.overrides:
            if fnmatch.fnmatchcase(name, pattern):
                policy = override
        return policy

    @classmethod
    def load(cls, path: str | Path | None, alpha: float | None = None, floor: float | None = None,
             calibrate: bool | None = None, paired: bool = False, required: bool = False,
             tolerance: float | None = None) -> "Policies":
        """Read ``gate.json``: ``{"alpha": 0.01, "floor": 0.05, "tolerance": 0.05, "overrides": {"PATTERN":
        {"floor": 0.1}}, "paired": {"alpha": 0.01, "floor": 0.03, "overrides": {...}}}``.

        ``paired``: use the ``"paired"`` section (for paired runs; the top level when it has none).
        ``alpha``/``floor``/``calibrate``/``tolerance`` (command-line values) replace the file's defaults (and
        ``tolerance`` the overrides' too: the reviewer asked for that tolerance everywhere). ``required``: the
        user named `path` (``--config``), so a missing file is an error; otherwise the defaults apply.
        """
        data: dict = {}
        if required and (path is None or not Path(path).is_file()):
            raise GateError(f"{path}: no such policy file")
        if path is not None and Path(path).exists():
            try:
                data = json.loads(Path(path).read_text())
            except json.JSONDecodeError as err:
                raise GateError(f"{path}: not valid JSON ({err})") from None
            if not isinstance(data, dict):
                raise GateError(f"{path}: expected a JSON object")
        unknown = set(data) - {"alpha", "floor", "tolerance", "calibrate", "overrides", "paired"}
        if unknown:
            raise GateError(f"{path}: unknown keys {sorted(unknown)}")
        section = data.pop("paired", None)
        if section is not None and not isinstance(section, dict):
            raise GateError(f"{path}: 'paired' must be an object with alpha, floor and/or overrides")
        if "per_process" in str(data) + str(section):
            raise GateError(f"{path}: 'per_process' is no longer a policy: a process's value is the estimator's "
                            "(cifar.stats.estimate.process_seconds); remove the key")
        if paired and section is not None:
            unknown = set(section) - {"alpha", "floor", "tolerance", "test", "overrides"}
            if unknown:
                raise GateError(f"{path}: unknown keys in 'paired': {sorted(unknown)}")
            data = section
        default = Policy(float(data.get("alpha", DEFAULT_ALPHA)), float(data.get("floor", DEFAULT_FLOOR)),
                         bool(data.get("calibrate", False)) if calibrate is None else calibrate,
                         str(data.get("test", FALLBACK.name)), float(data.get("tolerance", DEFAULT_TOLERANCE)))
        if alpha is not None or floor is not None:
            default = replace(default, alpha=default.alpha if alpha is None else alpha,
                              floor=default.floor if floor is None else floor)
        overrides = []
        for pattern, values in data.get("overrides", {}).items():
            keys = {"alpha", "floor", "tolerance", "calibrate"}
            keys |= {"test"} if paired and section is not None else set()
            if not isinstance(values, dict) or set(values) - keys:
                raise GateError(f"{path}: override {pattern!r} must be an object with {', '.join(sorted(keys))}")
            values = {k: (bool(v) if k == "calibrate" else str(v) if k == "test" else float(v))
                      for k, v in values.items()}
            if tolerance is not None:
                values["tolerance"] = tolerance
            overrides.append((pattern, replace(default, **values)))
        if tolerance is not None:
            default = replace(default, tolerance=tolerance)
        return cls(default, tuple(overrides))
