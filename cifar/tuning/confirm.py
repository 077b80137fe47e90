"""Confirmation: never recommend a noise winner.

The search's best settings are the luckiest of many noisy measurements. So its top `TOP` settings, TensorFlow's
default and the article's (4, 2) are measured again, in fresh processes, interleaved pass by pass (A B C, C B A,
…), until every candidate's speedup over the default has a 95 % interval no wider than ±`TARGET_HALF_WIDTH`,
or the time is spent.

What the confirmation measures is what the user trains: whole epochs of the data (`cifar.tuning.tune` passes
len(data) // 128 steps, `WHOLE_EPOCH` rounds), while the search ranks settings on its short epochs. The ratio of
a short epoch is a property of the short epoch (docs/performance.md: the batched pipeline's gain over the
article's arrays was 1.2-1.4x on 10-60 steps and 0.98x on whole epochs), so with ``short`` each pass also runs
every arm on the search's short epoch, and the report shows both ratios and says where they disagree; the
recommendation rests on the whole epochs.

Every figure comes from the one measurement model, `cifar.stats.estimate`: a process's value is its images over its
time; the speedup is paired by pass (in each pass an arm's process and the default's ran within half a minute of
each other), the trimmed mean of the per-pass log ratios with Yuen's trimmed-t interval, which takes out the machine's
drift between passes (docs/tuning.md); a process measured while others took more than 10 % of its CPUs is left
out with its pass; "±" is the interval's half-width relative to its point.

After `MIN_PASSES`, an arm stops being measured when it cannot be the answer: its interval over the default lies
wholly below 1, or its paired interval against the current leader does. The processes go to the contenders.

The recommendation: among the arms whose interval over the default lies above 1, the leader (the highest point)
and every arm tied with it (their paired interval against the leader holds 1: no measurement told them apart),
the one with the fewest changes from TensorFlow's defaults (`cifar.tuning.space.Setting.changes`; the higher
point among equals). If no arm lies above 1: "keep TensorFlow's default".
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field

from cifar.isolation.errors import ChildError
from cifar.isolation.schedule import in_pass_order
from cifar.stats.estimate import TARGET_HALF_WIDTH, Ratio, compare, processes_needed, rate_over
from cifar.tuning.search import MachineLock, MeasurementFailed, Runners, error_line, process_images_per_s
from cifar.training.pipeline import ARRAYS
from cifar.tuning.space import ARTICLE, DEFAULT, Setting

TOP = 3
#: The article's inputs: its script's arrays and its tf.data pipeline; preferred among equally simple tied arms.
ARTICLE_INPUTS = (ARRAYS, "seed")
#: No recommendation is made from fewer passes, and no arm is settled or dropped before: at 2-4 pairs a t interval
#: is honest but too wide to tell settings apart, and an early drop is final.
MIN_PASSES = 5
#: A confirmation process on whole epochs: two timed epochs after a warm-up of single steps that stops once a
#: step's time is stable (`cifar.workloads.epoch`; at most one epoch's worth).
WHOLE_EPOCH = {"rounds": 2, "warmup_rounds": 1}


@dataclass
class Arm:
    """One setting being confirmed: its processes' images/s, and the last epoch's loss and accuracy of each."""

    role: str  # "default", "article", "candidate N"
    setting: Setting
    images_per_s: list = field(default_factory=list)  # each process's images over its time
    passes: list = field(default_factory=list)  # the pass each value of images_per_s was measured in
    contended: list = field(default_factory=list)  # whether each process was contended (`cifar.workloads.timing`)
    training: list = field(default_factory=list)
    seconds: list = field(default_factory=list)  # wall time per process
    failures: list = field(default_factory=list)
    dropped: str | None = None  # why it stopped being measured early
    speedup: Ratio | None = None  # over the default, paired by pass (`cifar.stats.estimate.compare`)
    pairs: int = 0  # passes the speedup rests on: both this arm and the default measured, neither contended
    #: The same setting on the search's short epochs, measured in the same passes (`confirm`'s ``short``); None when
    #: the confirmation measured only one epoch length.
    short: "Arm | None" = None

    def disagrees(self) -> bool:
        """Do the short epochs' speedup and the whole epochs' exclude each other (their 95 % intervals do not
        overlap)? Then the short epoch's ratio does not carry over to the training the user runs."""
        if self.short is None or self.speedup is None or self.short.speedup is None:
            return False
        return self.short.speedup.high < self.speedup.low or self.speedup.high < self.short.speedup.low

    def paired_with(self, other: "Arm") -> tuple[list[float], list[float]]:
        """This arm's and `other`'s images/s in the passes both were measured in, pass by pass."""
        mine, theirs, _, _ = self._pairs(other)
        return mine, theirs

    def _pairs(self, other: "Arm") -> tuple[list[float], list[float], list[bool], list[bool]]:
        flags = self.contended if len(self.contended) == len(self.images_per_s) else [False] * len(self.images_per_s)
        their_flags = (other.contended if len(other.contended) == len(other.images_per_s)
                       else [False] * len(other.images_per_s))
        theirs = {p: (v, f) for p, v, f in zip(other.passes, other.images_per_s, their_flags)}
        common = [(value, theirs[p][0], flag, theirs[p][1])
                  for p, value, flag in zip(self.passes, self.images_per_s, flags) if p in theirs]
        return [c[0] for c in common], [c[1] for c in common], [c[2] for c in common], [c[3] for c in common]

    def compared_to(self, other: "Arm"):
        """How many times faster this arm is than `other` over the passes both ran (`compare` on seconds per
        image, contended passes left out)."""
        mine, theirs, my_flags, their_flags = self._pairs(other)
        return compare([1.0 / v for v in theirs], [1.0 / v for v in mine], their_flags, my_flags, paired=True)

    def ratio_to(self, other: "Arm") -> Ratio | None:
        return self.compared_to(other).ratio

    def seconds_with(self, other: "Arm") -> tuple[list[float], list[float]]:
        """`other`'s and this arm's seconds per image over the passes both ran, contended passes left out (the
        pairs `compared_to` rests on)."""
        from cifar.stats.estimate import quiet_indices

        mine, theirs, my_flags, their_flags = self._pairs(other)
        keep = quiet_indices([a or b for a, b in zip(my_flags, their_flags)])
        return [1.0 / theirs[i] for i in keep], [1.0 / mine[i] for i in keep]

    def may_be_beaten_by(self, other: "Arm") -> float:
        """How many times faster than this arm `other` may be: the one-sided 95 % upper bound, paired by pass
        (`cifar.stats.estimate.slowdown_bound`); inf with too few pairs."""
        from cifar.stats.estimate import slowdown_bound

        theirs, mine = self.seconds_with(other)
        return slowdown_bound(theirs, mine, paired=True)

    @property
    def half_width(self) -> float:
        """The speedup's half-width relative to its point (0.03: ±3 %); inf without an interval."""
        from cifar.stats.estimate import half_width

        return math.inf if self.speedup is None else half_width(self.speedup)

    def to_dict(self) -> dict:
        return {"role": self.role, "id": self.setting.id, "setting": self.setting.to_dict(),
                "images_per_s": self.images_per_s, "passes": self.passes, "processes": len(self.images_per_s),
                "images_per_s_geomean": rate_over(self.images_per_s) if self.images_per_s else None,
                "speedup": None if self.speedup is None else
                {"ratio": self.speedup.ratio, "low": self.speedup.low, "high": self.speedup.high},
                "half_width": None if math.isinf(self.half_width) else self.half_width,
                "training": _median_training(self.training), "failures": self.failures, "dropped": self.dropped,
                **({"short": self.short.to_dict(), "disagrees": self.disagrees()} if self.short is not None else {})}


def _simplicity(arm: Arm) -> tuple:
    """Sort key of tied arms, simplest first: fewer changes from TensorFlow's defaults, the article's input, faster."""
    return len(arm.setting.changes()), arm.setting.pipeline not in ARTICLE_INPUTS, -arm.speedup.ratio


def _median_training(training: list[dict]) -> dict:
    out = {}
    for key in ("loss", "accuracy"):
        values = [t[key] for t in training if isinstance(t.get(key), (int, float)) and not math.isnan(t[key])]
        out[key] = statistics.median(values) if values else None
    return out


def arms_for(candidates: list[Setting], top: int = TOP) -> list[Arm]:
    """The default, the article's (4, 2) and the first `top` other `candidates` (best first), each once."""
    arms = [Arm("default", DEFAULT), Arm("article (4, 2)", ARTICLE)]
    for setting in candidates:
        if len(arms) >= 2 + top:
            break
        if all(setting != arm.setting for arm in arms):
            arms.append(Arm(f"candidate {len(arms) - 1}", setting))
    return arms


#: A confirmation's processes take longer than the search's mean (every confirmation process is a full one, and a
#: pass must fit whole): the slack `candidates_that_fit` allows (measured: docs/tuning.md, "Confirmation").
PROCESS_SLACK = 1.2
#: What a process costs besides its epochs (fork, data, model, tracing; docs/tuning.md, "A trial").
PROCESS_OVERHEAD_SECONDS = 3.5


def epoch_process_seconds(search_seconds: float | None, trial: dict, epoch: dict) -> float | None:
    """About how long a process of `epoch` takes, from the search's mean process of `trial` epochs: the time
    besides the epochs (`PROCESS_OVERHEAD_SECONDS`) plus the steps, at the search's seconds per step (warm-up
    counted as its cap, `warmup_rounds` epochs' worth). None when the search's is unknown.

    >>> round(epoch_process_seconds(5.9, {"steps": 10, "rounds": 6, "warmup_rounds": 1},
    ...                             {"steps": 390, "rounds": 2, "warmup_rounds": 1}), 1)
    43.6
    """
    if not search_seconds:
        return None

    def steps(e: dict) -> int:
        return e["steps"] * (e["rounds"] + e.get("warmup_rounds", 0))

    per_step = max(search_seconds - PROCESS_OVERHEAD_SECONDS, 0.0) / steps(trial)
    return PROCESS_OVERHEAD_SECONDS + per_step * steps(epoch)


def candidates_that_fit(seconds: float, process_seconds: float | None, top: int = TOP) -> int:
    """How many candidates, besides the default and the article's (4, 2), can have `MIN_PASSES` passes in
    `seconds` at `process_seconds` a process (the search's mean, times `PROCESS_SLACK`): between 1 and `top`
    (`top` when the process time is unknown). A short budget confirms fewer candidates rather than nothing.

    >>> candidates_that_fit(140, 5.9), candidates_that_fit(600, 5.9), candidates_that_fit(60, 5.9)
    (1, 3, 1)
    """
    if not process_seconds:
        return top
    return max(1, min(top, int(seconds // (MIN_PASSES * process_seconds * PROCESS_SLACK)) - 2))


@dataclass
class Confirmation:
    arms: list
    passes: int
    seconds: float
    half_width_target: float = TARGET_HALF_WIDTH
    #: The epoch the decisions rest on (``steps``, ``rounds``, ``warmup_rounds``, ...) and the search's short one
    #: measured beside it (None: not measured).
    epoch: dict = field(default_factory=dict)
    short_epoch: dict | None = None

    @property
    def default(self) -> Arm:
        return self.arms[0]

    @property
    def enough(self) -> bool:
        """Did the default get `MIN_PASSES` processes? Otherwise nothing is recommended."""
        return len(self.default.images_per_s) >= MIN_PASSES

    def _above(self) -> list[Arm]:
        # A dropped arm is never the answer: one beaten by the leader keeps its stale interval over the default.
        return [a for a in self.arms[1:] if a.dropped is None and a.speedup is not None and a.speedup.low > 1.0
                and a.pairs >= MIN_PASSES]

    @property
    def leader(self) -> Arm | None:
        """The fastest arm (highest point) whose interval over the default lies above 1, resting on at least
        `MIN_PASSES` pairs; None: nothing was measurably faster than the default."""
        above = self._above()
        return max(above, key=lambda a: a.speedup.ratio) if above else None

    @property
    def tied(self) -> list[Arm]:
        """The leader and the arms above 1 that no measurement told apart from it (their paired interval against
        the leader holds 1), leader first."""
        leader = self.leader
        if leader is None:
            return []
        others = []
        for arm in self._above():
            if arm is leader:
                continue
            against = arm.ratio_to(leader)
            if against is not None and against.low <= 1.0 <= against.high:
                others.append(arm)
        return [leader, *others]

    @property
    def recommended(self) -> Arm | None:
        """Of `tied`, the arm with the fewest changes from TensorFlow's defaults; among equals, the article's input
        (its arrays or its tf.data pipeline) over the batched one, then the higher point. None: keep the default."""
        tied = self.tied
        return min(tied, key=_simplicity) if tied else None

    @property
    def settled(self) -> bool:
        """Every arm still measured has its interval within the target."""
        live = [a for a in self.arms[1:] if a.dropped is None]
        return all(a.half_width <= self.half_width_target for a in live)

    def processes_needed(self, arm: Arm) -> int | None:
        """About how many processes per arm would bring `arm`'s interval to the target
        (`cifar.stats.estimate.processes_needed`)."""
        if arm.speedup is None or math.isinf(arm.half_width):
            return None
        return processes_needed(arm.speedup, arm.pairs, self.half_width_target)

    def verdict(self) -> str:
        best = self.recommended
        if best is None and not self.enough:
            return (f"keep TensorFlow's default: too little time to confirm anything ({self.passes} processes per "
                    f"setting, {MIN_PASSES} needed); give tune a larger --budget")
        if best is None:
            line = ("keep TensorFlow's default: no setting was measurably faster than it "
                    f"({self.passes} interleaved processes per setting)")
            proxies = [a for a in self.arms[1:] if a.disagrees()]
            if proxies:
                steps = (self.short_epoch or {}).get("steps")
                line += (f"; on the search's {steps}-step epochs " + ", ".join(
                    f"{a.setting.id} ran at {a.short.speedup}" for a in proxies)
                    + ", which does not carry over to whole epochs")
            return line
        width = (f"±{best.half_width:.1%}, within the ±{self.half_width_target:.0%} target" if best.half_width <=
                 self.half_width_target else f"±{best.half_width:.1%}, wider than the ±{self.half_width_target:.0%} "
                 f"target: ~{self.processes_needed(best)} processes per setting would narrow it")
        line = f"use {best.setting.id}: {best.speedup} of TensorFlow's default ({width})"
        others = [a for a in self.tied if a is not best]
        if others:
            line += "; tied with " + ", ".join(f"{a.setting.id} ({a.speedup})" for a in others)
            mine, leader = len(best.setting.changes()), len(self.leader.setting.changes())
            if best is not self.leader:
                line += ("; chose the one closer to the defaults" if mine < leader
                         else "; chose the article's input of the equally simple")
            else:  # no tied arm has fewer changes
                line += "; it is also the closest to the defaults"
        return line + self.proxy_note(best)

    def proxy_note(self, best: Arm) -> str:
        """What the short epochs said of `best`, when they were measured: the same, or a ratio that does not carry
        over."""
        if best.short is None or best.short.speedup is None:
            return ""
        steps = (self.short_epoch or {}).get("steps")
        if best.disagrees():
            return (f"; on the search's {steps}-step epochs it ran at {best.short.speedup}, which does not carry over "
                    "to whole epochs")
        return f"; on the search's {steps}-step epochs {best.short.speedup}, consistent"

    def to_dict(self) -> dict:
        best = self.recommended
        return {"arms": [a.to_dict() for a in self.arms], "passes": self.passes, "seconds": self.seconds,
                "half_width_target": self.half_width_target, "settled": self.settled, "epoch": self.epoch,
                "short_epoch": self.short_epoch,
                "disagree": [a.setting.id for a in self.arms[1:] if a.disagrees()],
                "recommended": None if best is None else best.to_dict(),
                "tied": [a.setting.id for a in self.tied if a is not best], "verdict": self.verdict()}


def _update(arms: list[Arm], passes: int, min_passes: int, eliminate: bool = True) -> None:
    """Each arm's paired speedup over the default; after `min_passes`, drop (if `eliminate`) the arms that cannot
    be the answer: slower than the default, or slower than the leader (the live arm with the highest speedup)."""
    default = arms[0]
    for arm in arms[1:]:
        estimate = arm.compared_to(default)
        arm.pairs, arm.speedup = estimate.n, estimate.ratio
        if arm.short is not None and default.short is not None:
            short = arm.short.compared_to(default.short)
            arm.short.pairs, arm.short.speedup = short.n, short.ratio
    if not eliminate or passes < min_passes:
        return
    for arm in arms[1:]:
        if arm.dropped is None and arm.speedup is not None and arm.speedup.high < 1.0:
            arm.dropped = f"slower than the default after {passes} passes: {arm.speedup}"
    live = [a for a in arms[1:] if a.dropped is None and a.speedup is not None]
    if len(live) < 2:
        return
    leader = max(live, key=lambda a: a.speedup.ratio)
    for arm in live:
        against = None if arm is leader else arm.ratio_to(leader)
        if against is not None and against.high < 1.0:
            arm.dropped = f"slower than {leader.setting.id} after {passes} passes: {against}"


def _pass_seconds(arms: list[Arm]) -> float:
    """A pass of `arms` at the median time their processes took so far (short-epoch ones included)."""
    return sum(statistics.median(a.seconds) + (statistics.median(a.short.seconds) if a.short and a.short.seconds
                                               else 0.0) for a in arms if a.seconds)


def _fit(arms: list[Arm], deadline: float, min_passes: int) -> None:
    """After the first pass, when the time left cannot hold `min_passes` of every live arm at the times the first
    pass took (the number of candidates was chosen from the search's shorter processes), drop the last-ranked
    candidates until it can, keeping at least one: a recommendation needs `min_passes` of the default."""
    while True:
        live = [a for a in arms if a.dropped is None]
        candidates = [a for a in live if a.role.startswith("candidate")]
        left = deadline - time.monotonic()
        if len(candidates) < 2 or left >= (min_passes - 1) * _pass_seconds(live):
            return
        candidates[-1].dropped = (f"no time: {min_passes} passes of {len(live)} settings take about "
                                  f"{min_passes * _pass_seconds(live):.0f} s at the first pass's times")


def _measure(arm: Arm, runners: Runners, target: str, params: dict, passes: int, lock: MachineLock) -> bool:
    """One process of `arm` on `params`, recorded in `arm`; False when it failed (recorded in ``arm.failures``)."""
    with lock.held():
        mark = time.monotonic()
        try:
            result = runners.run(arm.setting, target, {**params, **arm.setting.epoch_params()})
        except ChildError as err:
            arm.failures.append(error_line(err))
            return False
        finally:
            arm.seconds.append(time.monotonic() - mark)
    arm.images_per_s.append(process_images_per_s(result))
    arm.contended.append(bool((result.get("contention") or {}).get("contended")))
    arm.passes.append(passes)
    arm.training.append(result.get("training", {}))
    return True


def confirm(arms: list[Arm], runners: Runners, target: str, params: dict, deadline: float,
            lock: MachineLock | None = None, on_process=None, half_width: float = TARGET_HALF_WIDTH,
            min_passes: int = MIN_PASSES, max_passes: int | None = None, eliminate: bool = True,
            short: dict | None = None) -> Confirmation:
    """Measure `arms` on `params`' epochs interleaved until settled (every live arm within ±`half_width`),
    `max_passes`, or `deadline` (``time.monotonic()``; at least `min_passes` passes are run only if they fit).
    ``eliminate=False`` measures every arm in every pass (the proof's final comparison). ``short``: the search's
    short epoch, measured for every live arm in every pass too, right after its process on `params` (``Arm.short``);
    only `params`' epochs decide."""
    lock = lock or MachineLock()
    started = time.monotonic()
    passes = 0
    confirmation = Confirmation(arms, 0, 0.0, half_width, dict(params), dict(short) if short else None)
    if short:
        for arm in arms:
            arm.short = Arm(arm.role, arm.setting)
    while max_passes is None or passes < max_passes:
        live = [a for a in arms if a.dropped is None]
        if passes and time.monotonic() + _pass_seconds(live) > deadline:
            break
        for arm in in_pass_order(live, passes):
            if not _measure(arm, runners, target, params, passes, lock):
                if len(arm.failures) >= 2 and arm is not arms[0]:
                    arm.dropped = f"failed twice: {arm.failures[-1]}"
                continue
            if short:
                _measure(arm.short, runners, target, short, passes, lock)
            if on_process:
                on_process(arm)
        passes += 1
        _update(arms, passes, min_passes, eliminate)
        if passes == 1 and eliminate:
            _fit(arms, deadline, min_passes)
        confirmation.passes = passes
        if not arms[0].images_per_s and len(arms[0].failures) >= 2:
            raise MeasurementFailed(f"TensorFlow's default setting failed twice, nothing to compare with: "
                                    f"{arms[0].failures[-1]}")
        if passes >= min_passes and confirmation.settled:
            break
    confirmation.seconds = time.monotonic() - started
    return confirmation
