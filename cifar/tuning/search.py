"""The search: an Optuna study (ask/tell) whose every trial is measured in fresh isolated processes.

A trial is one `Setting` of the `Space`, measured as short epochs of ``model.fit`` in up to
`PROCESSES_PER_TRIAL` fresh processes (`cifar.isolation.Runner`, one zygote per value of the settings TensorFlow
reads at import). After its first process the pruner compares it with the trials before it and stops the clearly
bad ones (the bottom third: `PRUNE_PERCENTILE`), so the processes go to the promising ones; a trial's value is
its processes' images/s (each its epochs' images over their time) over processes (`cifar.stats.estimate`). The
sampler is Optuna's TPE, multivariate over the dimensions that are there (the tf.data ones only for tf.data
pipelines), with the constant liar so that machines sharing a study do not all try the same setting at once.

Studies persist (SQLite by default; PostgreSQL for several machines on one study): every finished trial is kept
through Ctrl-C, and a study is keyed by machine fingerprint, model and workload definition. On one machine,
trials never overlap: a lock file is held around every measured process (`MachineLock`), whatever the number of
workers started there.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cifar.errors import BadInput
from cifar.isolation.errors import ChildError
from cifar.isolation.runner import Runner
from cifar.stats.estimate import process_rate, rate_over
from cifar.training.data import warm as warm_data
from cifar.tuning.space import Setting, Space

#: The short epochs one process of a trial times: the article's batch size, 10 steps an epoch, 6 epochs after the
#: one that traces. A process costs ~3.5 s besides its epochs (fork, model, tracing), so short epochs; 6 of them
#: because the article's arrays script runs each epoch at one of two speeds, and the spread between its processes
#: is the mix of its epochs: more epochs, less spread (measured: docs/tuning.md, "A trial").
TRIAL_EPOCH = {"rounds": 6, "warmup_rounds": 1, "steps": 10}


def process_images_per_s(result: dict) -> float:
    """A measured process's images/s: its timed epochs' images over their time (`cifar.stats.estimate.process_rate`),
    what a training run gets.

    >>> process_images_per_s({"durations_seconds": [1.0, 2.0, 1.0], "items_per_round": 1280})
    960.0
    """
    return process_rate(result["durations_seconds"], result["items_per_round"])


PROCESSES_PER_TRIAL = 2
#: Optuna's PercentilePruner keeps this percentile of trials at each step: 66.7 prunes the bottom third.
PRUNE_PERCENTILE = 66.7
#: Trials before TPE models the results (and before the pruner prunes): the start points (TensorFlow's defaults
#: under each pipeline, `Space.start_points`) and a few random ones. Six random start-up trials were all that a
#: 15 %-budget search ran in the proof's first attempt (docs/tuning.md).
STARTUP_TRIALS = 5
DEFAULT_STORAGE = "sqlite:///reports/tune.db"
LOCK_PATH = Path(tempfile.gettempdir()) / "cifar-tune.lock"


class TuneError(BadInput, ValueError):
    """A bad tuner input or a study that cannot be used: one line, raised before anything is measured."""


class MeasurementFailed(RuntimeError):
    """What a verdict needs could not be measured (a setting's processes kept failing): the command could not
    finish (exit 4), which is neither bad input nor a verdict."""


class NotApplied(ChildError):
    """A child ran, but part of its setting did not take (`Setting.not_applied`): its measurement is not the
    setting's, and counts as a failed process."""


def error_line(err: BaseException) -> str:
    """``ChildCrashed: child exited with code -11 …``: a failure's type and first line, for a trial's record."""
    return f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0]}".rstrip(": ")


def parse_budget(text: str) -> float:
    """``"10m"``, ``"90s"``, ``"1h"``, ``"1h30m"`` or plain seconds -> seconds (> 0).

    >>> parse_budget("1h30m"), parse_budget("90s"), parse_budget("300")
    (5400.0, 90.0, 300.0)
    """
    text = str(text).strip().lower()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?", text)
        if not text or not parts or not any(parts.groups()):
            raise TuneError(f"--budget {text!r}: expected a duration like 10m, 90s, 1h30m or seconds")
        hours, minutes, secs = (float(g or 0) for g in parts.groups())
        seconds = 3600 * hours + 60 * minutes + secs
    if seconds <= 0:
        raise TuneError(f"--budget must be more than 0, got {text!r}")
    return seconds


#: How a trial's images/s are counted, part of every study's key: 2 counts the images an epoch trained on (a data
#: set smaller than the epoch's steps x 128 was credited with the full steps before), so studies of 1 never mix in.
MEASUREMENT_VERSION = 2


def definition_key(model: str, epoch: dict, space: Space) -> str:
    """A short hash of what a trial measures (model, epoch parameters, the space, `MEASUREMENT_VERSION`): studies
    of different definitions never mix."""
    text = json.dumps({"model": model, "epoch": epoch, "space": space.to_dict(), "measurement": MEASUREMENT_VERSION},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class StudyKey:
    fingerprint: str
    model: str
    definition: str

    def default_name(self) -> str:
        return f"{self.model}-{self.definition}-{self.fingerprint}"


def open_study(storage: str, name: str | None, key: StudyKey, space: Space, seed: int | None = None,
               exhaustive: bool = False):
    """Create or join the study `name` (default: from `key`) in `storage`. Raises `TuneError` for storage that
    cannot be reached and for a study made on another machine, model or definition."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # TPE's group option (conditional dimensions: the tf.data ones exist only for tf.data pipelines) is marked
    # experimental since Optuna 2.8; it is what makes the multivariate sampler work on this space.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if storage.startswith("sqlite:///"):
        Path(storage[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    from sqlalchemy.pool import NullPool

    rdb = None
    for attempt in range(3):
        try:
            # No pool: a connection per use, closed after it. A tuner talks to its storage a few times a trial,
            # and a pooled connection would outlive a worker's study (or a fleet server's restart).
            rdb = optuna.storages.RDBStorage(storage, engine_kwargs={"poolclass": NullPool})
            break
        except Exception as err:  # noqa: BLE001 - SQLAlchemy's and drivers' errors alike: say which storage, one line
            cause = err.__cause__ or err
            first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
            # Workers started together on an empty database race to create Optuna's tables: the loser retries.
            if ("already exists" in first or "duplicate key" in first) and attempt < 2:
                time.sleep(0.5 * (attempt + 1))
                continue
            raise TuneError(f"cannot open the study storage {storage}: {first}") from None
    if exhaustive:
        # Every setting is enqueued (`enqueue_all`); Optuna's BruteForceSampler would do the same but calls
        # study.stop() when done, which only works inside study.optimize, not with ask/tell.
        sampler = optuna.samplers.RandomSampler(seed=seed)
        pruner = optuna.pruners.NopPruner()
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True,
                                             n_startup_trials=STARTUP_TRIALS)
        pruner = optuna.pruners.PercentilePruner(PRUNE_PERCENTILE, n_startup_trials=STARTUP_TRIALS)
    name = name or key.default_name() + ("-exhaustive" if exhaustive else "")
    study = optuna.create_study(storage=rdb, sampler=sampler, pruner=pruner, study_name=name, direction="maximize",
                                load_if_exists=True)
    mine = {"fingerprint": key.fingerprint, "model": key.model, "definition": key.definition}
    theirs = study.user_attrs.get("key")
    if theirs is None:
        study.set_user_attr("key", mine)
        study.set_user_attr("space", space.to_dict())
    elif theirs != mine:
        what = next(k for k in ("fingerprint", "model", "definition") if theirs.get(k) != mine[k])
        raise TuneError(f"study {name!r} is for {what} {theirs.get(what)!r}, this run is {mine[what]!r}: "
                        f"a study is one machine, model and workload; pick another --study")
    return study


def enqueue_all(study, space: Space) -> int:
    """Queue every setting of `space` not yet tried in `study` (the exhaustive reference); returns how many."""
    tried = {json.dumps(t.params, sort_keys=True) for t in study.get_trials(deepcopy=False)}
    queued = 0
    for params in space.all_params():
        if json.dumps(params, sort_keys=True) not in tried:
            study.enqueue_trial(params)
            queued += 1
    return queued


class MachineLock:
    """One measured process at a time on this machine, across every tuner process: an exclusive ``flock``."""

    def __init__(self, path: str | os.PathLike = LOCK_PATH):
        self.path = Path(path)

    @contextlib.contextmanager
    def held(self):
        with open(self.path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


class Runners:
    """One `Runner` (zygote) per distinct environment a setting needs (`Setting.env`), started on first use."""

    def __init__(self, data: str = "auto", factory=None):
        warm = warm_data(data)
        self._factory = factory or (lambda env: Runner(warm=warm, env=env))
        self._runners: dict[tuple, Runner] = {}
        self.usable = sorted(os.sched_getaffinity(0))

    def run(self, setting: Setting, target: str, params: dict, timeout: float | None = None) -> dict:
        env = setting.env()
        key = tuple(sorted(env.items()))
        if key not in self._runners:
            self._runners[key] = self._factory(env)
        result = self._runners[key].run(target, params, setting.threads, timeout=timeout,
                                        cpus=setting.affinity(self.usable))
        wrong = setting.not_applied(result)
        if wrong:
            raise NotApplied(f"{setting.id}: {wrong}")
        return result

    def close(self) -> None:
        for runner in self._runners.values():
            runner.close()
        self._runners.clear()


@dataclass
class SearchProgress:
    """What the search did, for the progress bar and the report."""

    trials: int = 0
    processes: int = 0
    pruned: int = 0
    failed: int = 0
    best: float | None = None
    best_id: str | None = None
    process_seconds: list = field(default_factory=list)  # each measured process's wall time


def search(study, space: Space, runners: Runners, target: str, params: dict, deadline: float,
           max_trials: int | None = None, exhaustive: bool = False, lock: MachineLock | None = None,
           on_process=None, processes_per_trial: int = PROCESSES_PER_TRIAL) -> SearchProgress:
    """Ask, measure, tell until `deadline` (``time.monotonic()``), `max_trials`, or (exhaustive) every setting.

    ``target(**params, **setting.epoch_params())`` runs in each process; ``on_process(progress)`` after each.
    A crashed or timed-out child fails its trial (recorded, with the error) and the search goes on.
    """
    from optuna.trial import TrialState

    lock = lock or MachineLock()
    progress = SearchProgress()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    walls: list[float] = []  # each process's wall time, to see whether the next fits
    remaining = enqueue_all(study, space) if exhaustive else None
    if not exhaustive and not study.get_trials(deepcopy=False):
        for start in space.start_points():
            study.enqueue_trial(start)
    while time.monotonic() < deadline and (max_trials is None or progress.trials < max_trials):
        if walls and time.monotonic() + statistics.median(walls) > deadline:
            break  # not even one more process fits
        if remaining is not None:
            if remaining == 0:
                break
            remaining -= 1
        trial = study.ask()
        try:
            setting, value, state = _measure_trial(trial, space, runners, target, params, deadline, lock, progress,
                                                   on_process, processes_per_trial, worker, walls)
        except BaseException:  # Ctrl-C: this trial is not finished, every earlier one is already stored
            trial.set_user_attr("error", "interrupted")
            study.tell(trial, state=TrialState.FAIL)
            raise
        if state == TrialState.FAIL:
            study.tell(trial, state=TrialState.FAIL)
            progress.failed += 1
        elif state == TrialState.PRUNED:
            study.tell(trial, state=TrialState.PRUNED)
            progress.pruned += 1
        else:
            study.tell(trial, value)
            if progress.best is None or value > progress.best:
                progress.best, progress.best_id = value, setting.id
        progress.trials += 1
        if on_process:
            on_process(progress)
    return progress


def _measure_trial(trial, space, runners, target, params, deadline, lock, progress, on_process, processes_per_trial,
                   worker, walls):
    """One trial's processes: returns (setting, value or None, state); the per-process facts go into the
    trial's user attributes."""
    from optuna.trial import TrialState

    setting = space.suggest(trial)
    trial.set_user_attr("setting", setting.to_dict())
    trial.set_user_attr("id", setting.id)
    trial.set_user_attr("worker", worker)
    values, intervals, training = [], [], []
    state = TrialState.COMPLETE
    for step in range(processes_per_trial):
        with lock.held():
            started, wall = time.time(), time.monotonic()
            try:
                result = runners.run(setting, target, {**params, **setting.epoch_params()})
            except ChildError as err:
                trial.set_user_attr("error", error_line(err))
                state = TrialState.FAIL
                break
            finally:
                walls.append(time.monotonic() - wall)
                progress.process_seconds.append(walls[-1])
                intervals.append([started, time.time()])
                progress.processes += 1
        values.append(process_images_per_s(result))
        training.append(result.get("training", {}))
        trial.set_user_attr("flops_per_image", result.get("flops_per_image"))
        trial.report(rate_over(values), step)
        if on_process:
            on_process(progress)
        if step + 1 < processes_per_trial and (trial.should_prune() or time.monotonic() > deadline):
            state = TrialState.PRUNED
            break
    trial.set_user_attr("images_per_s", values)
    trial.set_user_attr("intervals", intervals)
    trial.set_user_attr("training", training)
    return setting, (rate_over(values) if values and state == TrialState.COMPLETE else None), state


def measured_settings(study) -> list[dict]:
    """Every setting measured in `study` (all its workers), its processes pooled: ``{"setting", "id",
    "images_per_s": [...], "trials"}``, fastest first (`cifar.stats.estimate.rate_over` of its processes). Failed
    trials are left out, pruned ones kept."""
    from optuna.trial import TrialState

    pooled: dict[str, dict] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        values = t.user_attrs.get("images_per_s") or []
        if not values:
            continue
        entry = pooled.setdefault(t.user_attrs["id"], {"setting": Setting.from_dict(t.user_attrs["setting"]),
                                                       "id": t.user_attrs["id"], "images_per_s": [], "trials": 0})
        entry["images_per_s"].extend(values)
        entry["trials"] += 1
    return sorted(pooled.values(), key=lambda e: -rate_over(e["images_per_s"]))
