"""``python -m cifar tune --check reports/tune.json``: does a tuned setting still hold here, now?

After a TensorFlow upgrade, on a new machine, or just later, the report's recommendation is measured again against
TensorFlow's default and the confirmation's runner-up, interleaved in fresh processes, by the confirmation's own
rule (`cifar.tuning.confirm`: paired by pass, the estimator's 95 % trimmed-t interval, at least `MIN_PASSES` passes):

====  ======================================================================================================
exit  meaning
====  ======================================================================================================
0     it holds: the recommendation is measurably faster than the default, and every other setting measured is
      ruled out (one-sided 95 %, paired by pass) as more than `TOLERANCE` faster than it (for a report that kept
      the default: every setting is ruled out as more than `TOLERANCE` faster than the default)
1     it no longer holds: the recommendation is not faster than the default (its interval lies at or below
      1), or the runner-up is measurably faster than it (or, for a report that kept the default, the runner-up
      is now measurably faster than the default); the line gives the interval
2     bad input: no such report, not a confirmed tune report, a setting this code or this machine cannot run
      (threads above its cap, more cores than it has), a model that does not load here
3     inconclusive: too little time to tell (fewer than `MIN_PASSES` passes, an interval that still holds 1, or
      a setting not ruled out as more than `TOLERANCE` faster than the recommendation: "may be up to +y %
      faster"); the line says about how many processes per setting would tell
4     could not finish: the recommendation's (or the default's) processes failed twice, or the check crashed
====  ======================================================================================================

A report from another machine fingerprint says so and is measured here: the question is then whether its answer
carries over.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cifar import exitcodes
from cifar.tuning.confirm import MIN_PASSES, Arm, Confirmation, confirm
from cifar.tuning.search import MachineLock, Runners, TuneError, parse_budget
from cifar.tuning.space import DEFAULT, Setting

#: The check holds only when no setting measured may be more than this much faster than the recommendation (the
#: paired gate's default tolerance: the same question, "is it ruled out?", asked of the other arms).
TOLERANCE = 0.05


@dataclass(frozen=True)
class Checked:
    """What a tune report says, as far as a check needs it."""

    model: str
    recommended: Setting
    runner_up: Setting | None
    fingerprint: str | None
    cpu_model: str | None
    date: str | None
    #: The epochs the confirmation measured (``steps``, ``rounds``, ...): the one it decided on and the short one
    #: beside it; None for a report from before they were recorded (then the search's `TRIAL_EPOCH`).
    epoch: dict | None = None
    short_epoch: dict | None = None


def read_checked(path: str) -> Checked:
    """The report's recommendation and runner-up (the fastest other confirmed arm, not the default); `TuneError`,
    one line, for anything else."""
    from cifar.training.models import MODELS
    from cifar.training.user import is_spec

    from cifar.tuning.report import read_report as read_json

    where = f"--check {path}"
    try:
        report = read_json(path, where, ("recommended", "confirmation"),
                           "no confirmed recommendation in it (a --phase search report has none)")
    except ValueError as err:
        raise TuneError(str(err)) from None
    try:
        recommended = Setting.from_dict(report["recommended"])
        arms = [(Setting.from_dict(a["setting"]), (a.get("speedup") or {}).get("ratio") or 0.0)
                for a in report["confirmation"]["arms"]]
    except (TypeError, ValueError, KeyError) as err:
        raise TuneError(f"{where}: its settings are not ones this code can run ({err})") from None
    model = report.get("model", "seed_cnn")
    if model not in MODELS and not is_spec(model):
        raise TuneError(f"{where}: model {model!r} is not one of {', '.join(MODELS)} or pkg.module:function")
    others = sorted((a for a in arms if a[0] not in (recommended, DEFAULT)), key=lambda a: -a[1])
    confirmation = report["confirmation"]
    epoch, short = confirmation.get("epoch") or None, confirmation.get("short_epoch") or None
    for name, value in (("epoch", epoch), ("short_epoch", short)):
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("steps"), int)
                                      and value["steps"] > 0):
            raise TuneError(f"{where}: its confirmation's {name} is not an epoch this code can run ({value!r})")
    return Checked(model, recommended, others[0][0] if others else None, report.get("fingerprint"),
                   report.get("cpu_model"), report.get("date"), epoch, short)


def runnable_here(checked: Checked, data: str) -> None:
    """`TuneError`, one line, when the report's settings cannot run on this machine (threads above its cap, more
    cores than it lets this process use) or its model (the user's ``pkg.module:function``) does not load here with
    `data`: checked before anything is measured."""
    from cifar.suite.usercheck import check_user_functions
    from cifar.training.threads import check_thread_config, cpu_budget

    logical = cpu_budget().logical
    for setting in (s for s in (checked.recommended, checked.runner_up) if s is not None):
        try:
            check_thread_config(setting.threads, logical)
        except ValueError as err:
            raise TuneError(f"--check: {setting.id} cannot run here: {err}") from None
        if setting.cpus is not None and setting.cpus > logical:
            raise TuneError(f"--check: {setting.id} runs on {setting.cpus} cores; this process may use {logical}")
    try:
        check_user_functions((checked.model,), data)
    except ValueError as err:
        raise TuneError(f"--check: {err}") from None


def decide(confirmation: Confirmation, recommended: Setting) -> tuple[int, str]:
    """The exit code and its line, by the confirmation's rule (see the module docstring)."""
    arms = {arm.setting: arm for arm in confirmation.arms}
    default = confirmation.default
    if not confirmation.enough:
        return exitcodes.INCONCLUSIVE, (f"inconclusive: {len(default.images_per_s)} processes of the default, "
                                   f"{MIN_PASSES} needed; give --check a larger --budget")
    if recommended == DEFAULT:
        faster = [a for a in confirmation.arms[1:] if a.speedup is not None and a.speedup.low > 1.0
                  and a.pairs >= MIN_PASSES]
        if faster:
            best = max(faster, key=lambda a: a.speedup.ratio)
            return exitcodes.CAUGHT, (f"no longer holds: {best.setting.id} is now measurably faster than TensorFlow's "
                                    f"default, {best.speedup}")
        unsettled = _not_ruled_out(confirmation.default, confirmation.arms[1:])
        if unsettled:
            return exitcodes.INCONCLUSIVE, _inconclusive_line("TensorFlow's default", confirmation.default, unsettled)
        return exitcodes.OK, (f"holds: no setting measured is more than {TOLERANCE:.0%} faster than TensorFlow's "
                              "default (ruled out at 95 %)")
    mine = arms[recommended]
    if mine.dropped and len(mine.failures) >= 2:  # the check drops arms for failing only (eliminate=False)
        return exitcodes.ERROR, f"could not finish: {recommended.id} {mine.dropped}"
    if mine.speedup is None:
        return exitcodes.INCONCLUSIVE, f"inconclusive: {recommended.id} has no interval yet ({mine.pairs} pairs)"
    if mine.speedup.high <= 1.0:
        return exitcodes.CAUGHT, (f"no longer holds: {recommended.id} is not faster than TensorFlow's default, "
                                  f"{mine.speedup}")
    for other in confirmation.arms[1:]:
        if other is mine or other.pairs < MIN_PASSES:
            continue
        against = mine.ratio_to(other)
        if against is not None and against.high < 1.0:
            return exitcodes.CAUGHT, (f"no longer holds: {other.setting.id} is measurably faster than {recommended.id}"
                                    f", which runs at {against} of it")
    if mine.speedup.low > 1.0:
        unsettled = _not_ruled_out(mine, [a for a in confirmation.arms[1:] if a is not mine])
        if unsettled:
            return exitcodes.INCONCLUSIVE, _inconclusive_line(recommended.id, mine, unsettled)
        return exitcodes.OK, (f"holds: {recommended.id} runs at {mine.speedup} of TensorFlow's default, and no other "
                              f"setting measured is more than {TOLERANCE:.0%} faster than it")
    needed = confirmation.processes_needed(mine)
    return exitcodes.INCONCLUSIVE, (f"inconclusive: {recommended.id} at {mine.speedup} of TensorFlow's default: the "
                               "interval still holds 1" + (f"; ~{needed} processes per setting would tell"
                                                           if needed else ""))


def _not_ruled_out(mine: Arm, others: list[Arm]) -> list[tuple[Arm, float]]:
    """The arms of `others` not ruled out as more than `TOLERANCE` faster than `mine`, with how much faster each
    may be, the largest first."""
    bounds = [(other, mine.may_be_beaten_by(other)) for other in others]
    return sorted(((o, b) for o, b in bounds if not b < 1.0 + TOLERANCE), key=lambda ob: -ob[1])


def _inconclusive_line(name: str, mine: Arm, unsettled: list[tuple[Arm, float]]) -> str:
    from cifar.stats.estimate import processes_to_bound

    other, bound = unsettled[0]
    theirs, own = mine.seconds_with(other)
    may = "may be any amount faster" if math.isinf(bound) else f"may be up to {bound - 1.0:+.1%} faster"
    line = f"inconclusive: {other.setting.id} {may} than {name} ({TOLERANCE:.0%} tolerated, one-sided 95 %)"
    if len(theirs) >= 2:
        needed = processes_to_bound(theirs, own, 1.0 + TOLERANCE, paired=True)
        line += (f"; ~{needed} processes per setting would tell" if needed is not None else
                 f"; it measured {other.setting.id} faster: more processes will not rule that out")
    return line


def run(args) -> int:
    """``tune --check PATH``: measure, decide, print one line (and a table); returns the exit code."""
    from rich.console import Console

    from cifar.tuning import report as reporting
    from cifar.tuning.search import TRIAL_EPOCH
    from cifar.tuning.tune import EPOCH_TARGET, this_machine

    console = Console() if sys.stdout.isatty() else Console(width=120)
    out = Path(args.json or "reports/tune-check.json")
    budget = parse_budget(args.budget)
    if out.resolve() == Path(args.check).resolve():
        raise TuneError(f"--json {out} is the report being checked: give the check's report another path")
    checked = read_checked(args.check)
    runnable_here(checked, args.data)  # before anything is measured: a bad report is exit 2, not a crash
    here, _ = this_machine()
    if checked.fingerprint is not None and checked.fingerprint != here:
        console.print(f"the report was measured on {checked.fingerprint} ({checked.date}); this machine is {here}: "
                      "its answer is measured here", highlight=False, markup=False)
    elif checked.fingerprint is None:
        console.print(f"the report does not say its machine fingerprint (measured on {checked.cpu_model}, "
                      f"{checked.date}); measured here, {here}", highlight=False, markup=False)
    arms = [Arm("default", DEFAULT)]
    if checked.recommended != DEFAULT:
        arms.append(Arm("recommended", checked.recommended))
    if checked.runner_up is not None:
        arms.append(Arm("runner-up", checked.runner_up))
    # What the confirmation measured: its deciding epoch (whole epochs, for reports that record it) and the short
    # one beside it; --steps measures one epoch of that many steps instead.
    epoch = {**(checked.epoch or TRIAL_EPOCH), "model": checked.model, "data": args.data}
    short = {**checked.short_epoch, "model": checked.model, "data": args.data} if checked.short_epoch else None
    if args.steps:
        epoch = {**TRIAL_EPOCH, "model": checked.model, "data": args.data, "steps": args.steps}
        short = None
    console.print(f"measuring {epoch['steps']}-step epochs, as the report's confirmation did"
                  + (f" (and its {short['steps']}-step ones beside them)" if short else "")
                  if not args.steps else f"measuring {args.steps}-step epochs (--steps)", highlight=False,
                  markup=False)
    runners = Runners(args.data)
    try:
        confirmation = confirm(arms, runners, EPOCH_TARGET, epoch, time.monotonic() + budget, lock=MachineLock(),
                               max_passes=args.max_passes, eliminate=False, short=short)
    finally:
        runners.close()
    code, line = decide(confirmation, checked.recommended)
    console.print(reporting.summary_table({"confirmation": confirmation.to_dict(), "peak_gflops": None,
                                           "peak_error": "not measured by --check"}))
    console.print(line, style="bold", highlight=False, markup=False)
    from cifar.files import write_json_atomic

    write_json_atomic(out, {"checked": str(args.check), "fingerprint": here, "exit_code": code,
                            "verdict": line, "confirmation": confirmation.to_dict()})
    console.print(f"wrote {out}", highlight=False, markup=False)
    return code
