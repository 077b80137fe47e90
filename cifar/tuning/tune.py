"""``python -m cifar tune``: search, confirm, report. See `cifar.tuning`.

    python -m cifar tune --model seed_cnn --budget 10m
    python -m cifar tune --space intra=1-4 --space inter=1,2 --space precision=float32,mixed_bfloat16
    python -m cifar tune --storage postgresql://tuner@db/tune --study team --phase search   # on each machine
    python -m cifar tune --storage postgresql://tuner@db/tune --study team --phase confirm  # then on one
"""

from __future__ import annotations

import datetime
import os
import statistics
import sys
import time
from pathlib import Path

from cifar.files import write_json_atomic
from cifar.isolation.errors import ChildError
from cifar.stats.estimate import rate_over
from cifar.suite.machine import fingerprint as machine_fingerprint, identity
from cifar.tuning import report as reporting
from cifar.tuning.confirm import WHOLE_EPOCH, arms_for, candidates_that_fit, confirm, epoch_process_seconds
from cifar.tuning.search import (DEFAULT_STORAGE, TRIAL_EPOCH, MachineLock, Runners, StudyKey, TuneError,
                                 definition_key, measured_settings, open_study, parse_budget, search)
from cifar.tuning.space import DEFAULT, Space
from cifar.workloads import WORKLOADS

#: With ``--phase all``, the share of the budget kept for the confirmation: it decides, so it gets the larger part
#: (3-5 settings x at least `cifar.tuning.confirm.MIN_PASSES` processes of whole epochs, and a short one each).
CONFIRM_SHARE = 0.7
#: The article's batch size: a whole epoch of N training images is N // 128 steps.
BATCH = 128
PHASES = ("all", "search", "confirm")
EPOCH_TARGET = WORKLOADS["epoch"].target
PEAK_TARGET = "cifar.workloads:matmul_peak"  # not a suite benchmark: no registry entry


def confirmation_epochs(trial: dict, confirm_steps: int | None, n_train: int | None) -> tuple[dict, dict | None]:
    """The epoch the confirmation decides on and the search's short one it measures beside it (None when they are
    the same): whole epochs of the data (``n_train // BATCH`` steps, CIFAR-10's 50,000 images when `n_train` is
    None: 390), `WHOLE_EPOCH` rounds, unless ``confirm_steps`` (``--confirm-steps``) names the steps.

    >>> confirmation_epochs({"steps": 10, "rounds": 6, "warmup_rounds": 1}, None, None)[0]
    {'steps': 390, 'rounds': 2, 'warmup_rounds': 1, 'n_train': 49920}
    >>> confirmation_epochs({"steps": 10, "rounds": 6, "warmup_rounds": 1}, 10, None)[1] is None
    True
    """
    from cifar.training.data import TRAIN_SIZE

    steps = confirm_steps or max(1, (n_train or TRAIN_SIZE) // BATCH)
    if steps == trial["steps"]:
        return dict(trial), None
    return {**trial, **WHOLE_EPOCH, "steps": steps, "n_train": steps * BATCH}, dict(trial)


def this_machine() -> tuple[str, dict]:
    """This machine's fingerprint and facts as the suite's runs record them (`cifar.suite.machine`), without
    importing TensorFlow."""
    info = identity()
    return machine_fingerprint(info), info


class _Feedback:
    """A progress bar on a terminal (rich), a line per trial elsewhere; on stderr, so stdout stays the summary."""

    def __init__(self, seconds: float, started: float, console=None):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console or Console(stderr=True)
        if not self.console.is_terminal:
            self.console = console or Console(stderr=True, width=200)  # a log line per trial, unwrapped
        self.started, self.seconds = started, seconds
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                            TextColumn("of {task.fields[budget]}"), console=self.console, transient=False)
        self.task = None
        self._trials = 0

    def __enter__(self):
        if self.console.is_terminal:
            self.bar.start()
            self.task = self.bar.add_task("searching", total=self.seconds, budget=f"{self.seconds:.0f} s")
        return self

    def __exit__(self, *exc):
        if self.task is not None:
            self.bar.stop()

    def phase(self, text: str) -> None:
        if self.task is not None:
            self.bar.update(self.task, description=text)
        else:
            self.console.print(f"tune: {text}", highlight=False)

    def search(self, progress) -> None:
        best = f"best {progress.best:,.0f} images/s ({progress.best_id})" if progress.best else "no trial done yet"
        text = (f"trial {progress.trials}: {progress.processes} processes, {progress.pruned} pruned, "
                f"{progress.failed} failed; {best}")
        if self.task is not None:
            self.bar.update(self.task, completed=time.monotonic() - self.started, description=text)
        elif progress.trials != self._trials:
            self._trials = progress.trials
            self.console.print(f"tune: {text}", highlight=False, markup=False)

    def arm(self, arm) -> None:
        text = f"confirming: {arm.setting.id} ({arm.role}) {len(arm.images_per_s)} processes"
        if self.task is not None:
            self.bar.update(self.task, completed=time.monotonic() - self.started, description=text)


def run(args) -> dict:
    """Everything ``tune`` does; returns the report (also written as JSON, Markdown and PNGs)."""
    from cifar.suite.usercheck import check_user_functions
    from cifar.training.data import SOURCES
    from cifar.training.models import MODELS
    from cifar.training.threads import cpu_budget
    from cifar.training.user import is_spec

    budget = parse_budget(args.budget)
    if args.model not in MODELS and not is_spec(args.model):
        raise TuneError(f"--model {args.model!r}: one of {', '.join(MODELS)}, or pkg.module:function returning a "
                        "Keras model")
    if args.phase not in PHASES:
        raise TuneError(f"--phase {args.phase!r}: one of {', '.join(PHASES)}")
    if args.data not in SOURCES and not os.path.exists(os.path.expanduser(args.data)) and not is_spec(args.data):
        raise TuneError(f"--data {args.data!r}: one of {', '.join(SOURCES)}, a path to CIFAR-10, or "
                        "pkg.module:function returning (x, y)")
    try:
        n_train = check_user_functions((args.model,), args.data)  # before any search: the user's functions work here
    except ValueError as err:
        raise TuneError(str(err)) from None
    cores = cpu_budget()
    space = Space.parse(args.space, cores.logical)
    storage = args.storage or DEFAULT_STORAGE
    epoch = {"model": args.model, "data": args.data, **TRIAL_EPOCH}
    if args.steps:
        epoch["steps"] = args.steps
    whole, short = confirmation_epochs(epoch, args.confirm_steps, n_train)
    fp, info = this_machine()
    key = StudyKey(fp, args.model, definition_key(args.model, epoch, space))
    study = open_study(storage, args.study, key, space, seed=args.seed, exhaustive=args.exhaustive)
    if args.phase == "confirm" and not measured_settings(study):
        raise TuneError(f"study {study.study_name!r} has no measured trials to confirm: run --phase search (or all) "
                        "first, with the same --model and --space")

    started = time.monotonic()
    end = started + budget
    search_end = end if args.phase == "search" else (started if args.phase == "confirm" else
                                                    started + budget * (1 - CONFIRM_SHARE))
    runners = Runners(args.data)
    lock = MachineLock()
    progress = confirmation = None
    peak, peak_error, search_seconds = None, None, 0.0
    try:
        with _Feedback(budget, started) as feedback:
            feedback.phase(f"{space.size():,} settings over {', '.join(space.searched()) or 'nothing'}; "
                           f"study {study.study_name!r} ({len(study.trials)} trials so far)")
            with lock.held():
                try:
                    peak = runners.run(DEFAULT, PEAK_TARGET, {})["flops_per_s"]
                except ChildError as err:
                    # The peak only scales the report's "% of peak": losing it must not lose the search.
                    peak_error = str(err).splitlines()[0]
                    feedback.phase(f"the fp32 matmul peak was not measured ({peak_error}); the report goes on "
                                   "without '% of peak'")
            search_started = time.monotonic()
            if args.phase != "confirm":
                progress = search(study, space, runners, EPOCH_TARGET, epoch, search_end, max_trials=args.trials,
                                  exhaustive=args.exhaustive, lock=lock, on_process=feedback.search)
            search_seconds = time.monotonic() - search_started
            if args.phase != "search":
                measured = measured_settings(study)
                searched = (statistics.mean(progress.process_seconds)
                            if progress and progress.process_seconds else None)
                per_process = epoch_process_seconds(searched, epoch, whole)
                if per_process is not None and short is not None:
                    per_process += searched  # each arm's short-epoch process beside its whole-epoch one
                top = candidates_that_fit(end - time.monotonic(), per_process)
                feedback.phase(f"confirming the best {top} setting(s) against TensorFlow's default and the article's "
                               f"(4, 2), interleaved, on {whole['steps']}-step epochs"
                               + (f" (and the search's {short['steps']}-step ones beside them)" if short else ""))
                arms = arms_for([m["setting"] for m in measured if space.contains(m["setting"])], top=top)
                confirmation = confirm(arms, runners, EPOCH_TARGET, whole, end, lock=lock, on_process=feedback.arm,
                                       max_passes=args.max_passes, short=short)
    except KeyboardInterrupt:
        finished = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished())
        print(f"\ninterrupted: {finished} finished trials are kept in study {study.study_name!r} ({storage}); "
              "the same command resumes it", file=sys.stderr)
        raise
    finally:
        runners.close()
    report = build_report(args, study, storage, space, info, cores, budget, peak, progress, confirmation,
                          search_seconds)
    if peak_error:
        report["peak_error"] = peak_error
    return report


def build_report(args, study, storage, space, info, cores, budget, peak, progress, confirmation,
                 search_seconds) -> dict:
    trials = reporting.trial_rows(study)
    flops = next((t.user_attrs.get("flops_per_image") for t in study.get_trials(deepcopy=False)
                  if t.user_attrs.get("flops_per_image")), None)
    best = confirmation.recommended if confirmation else None
    report = {
        "model": args.model, "cpu_model": info["cpu_model"], "fingerprint": machine_fingerprint(info),
        "budget_cores": cores.describe(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "study": study.study_name, "storage": storage, "budget_seconds": budget, "phase": args.phase,
        "peak_gflops": (peak or 0.0) / 1e9, "flops_per_image": flops,
        "space": space.to_dict(),
        "search": {"trials": progress.trials if progress else 0, "pruned": progress.pruned if progress else 0,
                   "failed": progress.failed if progress else 0, "processes": progress.processes if progress else 0,
                   "seconds": search_seconds, "study_trials": len(trials), "space_size": space.size(),
                   "dimensions": space.searched(), "explored": len({t["id"] for t in trials if t["images_per_s"]}),
                   "exhaustive": args.exhaustive,
                   "best": [{"id": m["id"], "images_per_s_geomean": rate_over(m["images_per_s"]),
                             "processes": len(m["images_per_s"])} for m in measured_settings(study)[:10]]},
        "trials": trials,
    }
    if confirmation is not None:
        report["confirmation"] = confirmation.to_dict()
        chosen = best.setting if best else DEFAULT
        report["recommended"] = chosen.to_dict()
        report["snippet"] = reporting.snippet(chosen, args.model, args.data)
        report["thread_grid"] = reporting.grid_for(best.setting if best else None)
    return report


def write(report: dict, json_path: Path, markdown_path: Path) -> list[Path]:
    written = []
    write_json_atomic(json_path, report)
    written.append(json_path)
    if "confirmation" in report:
        images = reporting.plots(report, report["trials"], markdown_path.parent, markdown_path.stem)
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(reporting.markdown(report, images))
        written += [markdown_path, *images.values()]
    return written


def main(args) -> int:
    from rich.console import Console

    report = run(args)  # bad input (TuneError, SpaceError) and crashes: cifar.cli.main says them, one line
    console = Console() if sys.stdout.isatty() else Console(width=120)
    search_info = report["search"]
    console.print(f"search: {search_info['trials']} trials ({search_info['pruned']} pruned, {search_info['failed']} "
                  f"failed), {search_info['processes']} processes in {search_info['seconds']:.0f} s; "
                  f"{search_info['explored']} of {search_info['space_size']:,} settings measured in the study",
                  highlight=False, markup=False)
    if "confirmation" in report:
        console.print(reporting.summary_table(report))
        console.print(report["confirmation"]["verdict"], style="bold", highlight=False, markup=False)
        console.print("\n" + report["snippet"], highlight=False, markup=False)
        guard = (f"pytest benchmarks/ --thread-grid tune:{args.json}" + (
            "  (the setting as a whole beside TensorFlow's default: test_epoch[" + args.model + "-tuned])"
            if report["recommended"] != DEFAULT.to_dict() else ""))
        console.print(f"guard it: {guard}", highlight=False, markup=False)
    else:
        for row in search_info["best"][:5]:
            console.print(f"  {row['images_per_s_geomean']:,.0f} images/s  {row['id']}  ({row['processes']} processes)",
                          highlight=False, markup=False)
    for path in write(report, Path(args.json), Path(args.markdown)):
        console.print(f"wrote {path}", highlight=False, markup=False)
    return 0
