"""The command line, ``python -m cifar COMMAND``: ``--help`` lists the commands. Each handler imports what it
needs when it runs, so ``--help`` and bad options answer at once, without TensorFlow or scipy."""

from __future__ import annotations

import argparse
import json
import os
import sys

from cifar.files import write_json_atomic


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be >= 1, got 0")
    return value


def _parallel_calls(text: str) -> int:
    if text.lower() in ("autotune", "auto", "-1"):
        return -1
    return _positive_int(text)


def build_parser() -> argparse.ArgumentParser:
    from cifar.gate.baselines import POOLED_RUNS
    from cifar.training.models import MODELS
    from cifar.training.pipeline import ARRAYS, VARIANTS

    parser = argparse.ArgumentParser(prog="python -m cifar", description="CIFAR-10 thread benchmarks for TensorFlow")
    parser.add_argument("--debug", action="store_true", help="print the traceback of a crash (exit 4)")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="the article's script (no options: exactly it): set threads, train, "
                                              "report per-epoch time, images/s, val_accuracy")
    train.add_argument("--intra", type=_non_negative_int, default=4,
                       help="intra_op_parallelism_threads [4, the article's; 0 = TensorFlow decides]")
    train.add_argument("--inter", type=_non_negative_int, default=2,
                       help="inter_op_parallelism_threads [2, the article's; 0 = TensorFlow decides]")
    train.add_argument("--epochs", type=_positive_int, default=3)
    train.add_argument("--batch-size", type=_positive_int, default=128)
    train.add_argument("--data", default="auto", help="auto | real | synthetic | PATH to an archive or folder")
    train.add_argument("--download", action="store_true", help="let Keras download CIFAR-10 if it is not found")
    train.add_argument("--model", choices=MODELS, default="seed_cnn")
    train.add_argument("--pipeline", choices=(ARRAYS, *VARIANTS), default=ARRAYS,
                       help="arrays: the article's model.fit on float32 arrays [default]; seed: the article's tf.data "
                            "pipeline; batched, heavy: this project's")
    train.add_argument("--num-parallel-calls", type=_parallel_calls, default=-1, help="int or AUTOTUNE")
    train.add_argument("--validation-split", type=float, default=0.1)
    train.add_argument("--n-train", type=_positive_int, default=None, help="use only the first N training images")
    train.add_argument("--seed", type=_non_negative_int, default=0)
    train.add_argument("--json", help="also write the per-epoch report to this JSON file")
    claims = commands.add_parser("claims", help="the article's claims (a-f), each measured on this machine")
    claims.add_argument("claims", nargs="*", metavar="CLAIM", help="which of a b c d e f [all]")
    claims.add_argument("--processes", type=_positive_int, default=5, help="fresh processes per arm [5]")
    claims.add_argument("--json", default="reports/claims.json",
                        help="every measurement and verdict [reports/claims.json]")
    claims.add_argument("--markdown", default=None, help="also write the table as Markdown here")
    claims.add_argument("--epoch-steps", type=_positive_int, default=20,
                        help="steps of 128 images per timed epoch (b-f) [20]; 390 is one whole CIFAR-10 epoch")
    tune = commands.add_parser("tune", help="the best settings for this machine: an Optuna search in isolated "
                                            "processes, confirmed against TensorFlow's default, ready to paste")
    tune.add_argument("--model", default="seed_cnn", help="seed_cnn | resnet20 | pkg.module:function returning your "
                                                          "Keras model [seed_cnn]")
    tune.add_argument("--budget", default="20m", help="wall time for search and confirmation: 20m, 90s, 1h [20m; "
                                                      "docs/tuning.md: what a budget confirms]")
    tune.add_argument("--space", action="append", default=[], metavar="NAME=VALUES",
                      help="replace a dimension's values, e.g. intra=1-4, pipeline=arrays,seed, "
                           "precision=float32,mixed_bfloat16 (repeatable; see cifar.tuning.space)")
    tune.add_argument("--storage", default=None, help="the study's database [sqlite:///reports/tune.db]; "
                                                      "postgresql://… for several machines on one study")
    tune.add_argument("--study", default=None, help="study name [from model, workload and machine fingerprint]")
    tune.add_argument("--phase", default="all", help="all | search (a fleet worker) | confirm (from the study) [all]")
    tune.add_argument("--exhaustive", action="store_true", help="measure every setting of the space (the reference)")
    tune.add_argument("--trials", type=_positive_int, default=None, help="stop the search after N trials")
    tune.add_argument("--max-passes", type=_positive_int, default=None, help="stop the confirmation after N passes")
    tune.add_argument("--steps", type=_positive_int, default=None,
                      help="training steps per timed epoch of the search [10]")
    tune.add_argument("--confirm-steps", type=_positive_int, default=None,
                      help="training steps per epoch of the confirmation, which decides [a whole epoch of --data: "
                           "its images // 128, 390 for CIFAR-10]")
    tune.add_argument("--data", default="auto", help="auto | real | synthetic | PATH to CIFAR-10 | pkg.module:function "
                                                     "returning (x uint8 images, y labels) [auto]")
    tune.add_argument("--seed", type=_non_negative_int, default=None, help="the sampler's seed")
    tune.add_argument("--json", default=None,
                      help="the full report [reports/tune.json; --check: reports/tune-check.json]")
    tune.add_argument("--check", default=None, metavar="REPORT",
                      help="re-measure REPORT's recommendation against TensorFlow's default and its runner-up, "
                           "interleaved, within --budget: exit 0 it holds, 1 it no longer does, 2 bad input, "
                           "3 inconclusive (too little time to tell)")
    tune.add_argument("--markdown", default="reports/tune.md", help="the report with its PNG plots beside it "
                                                                    "[reports/tune.md]")
    overhead = commands.add_parser("overhead", help="measure the runner's per-configuration isolation cost")
    overhead.add_argument("--children", type=_positive_int, default=20, help="children per mode")
    gate = commands.add_parser("gate", help="did RUN regress against its baseline arm (a paired run) or its "
                                            "machine's stored baselines? exit 0 passed, 1 regression, 2 bad input, "
                                            "3 inconclusive (something not gated), 4 could not finish")
    gate.add_argument("run", help="a pytest-benchmark JSON (--benchmark-json), or 'latest' in .benchmarks/")
    gate.add_argument("--baseline", action="append",
                      help="compare with this JSON (repeat to pool several) instead of baselines/<fingerprint>/ "
                           "(or, for a paired run, instead of its own baseline arm)")
    gate.add_argument("--baseline-runs", type=_positive_int, default=POOLED_RUNS,
                      help=f"how many of the newest promoted baselines to pool [{POOLED_RUNS}]")
    gate.add_argument("--baselines", default="baselines", help="the baselines folder [baselines]")
    gate.add_argument("--config", default=None,
                      help="the policy: alpha, floor, tolerance, test, per-benchmark overrides [BASELINES/gate.json]")
    gate.add_argument("--alpha", type=float, default=None,
                      help="significance of the test [from --config; its \"paired\" section for paired runs]")
    gate.add_argument("--floor", type=float, default=None,
                      help="minimum slowdown, 0.05 = 5 %% [from --config, as --alpha]")
    gate.add_argument("--tolerance", type=float, default=None,
                      help="'unchanged' only when a slowdown above this is ruled out, 0.05 = 5 %%; replaces "
                           "every benchmark's [from --config, as --alpha]")
    gate.add_argument("--cross-machine", action="store_true",
                      help="allow a baseline from another machine, normalized by the 1-thread matmul kernel")
    gate.add_argument("--no-remeasure", action="store_true", help="fail on the first failing measurement")
    gate.add_argument("--calibrate", action="store_true", default=None,
                      help="divide each run by its own session's calibration kernel before comparing")
    gate.add_argument("--report", help="also write the verdicts as JSON here")
    gate.add_argument("--markdown", help="also append the report as Markdown here (e.g. $GITHUB_STEP_SUMMARY)")

    session = commands.add_parser("session", help="run a benchmark session as the gates ship it: paired (this tree "
                                                  "and a baseline checkout, interleaved) or history (make gate's)")
    session.add_argument("kind", choices=("paired", "history"))
    session.add_argument("--baseline-tree", help="paired: a checkout of the baseline code")
    session.add_argument("--json", default="reports/run.json", help="where pytest-benchmark writes the run "
                                                                    "[reports/run.json]; more pytest options after --")


    baseline = commands.add_parser("baseline", help="list or promote baselines")
    baseline_commands = baseline.add_subparsers(dest="baseline_command", required=True)
    promote = baseline_commands.add_parser("promote", help="make RUN its machine's newest baseline (refused "
                                                           "if contended, injected or regressed)")
    promote.add_argument("run", help="a pytest-benchmark JSON, or 'latest' in .benchmarks/")
    promote.add_argument("--baselines", default="baselines")
    listing = baseline_commands.add_parser("list", help="the baseline series per machine fingerprint")
    listing.add_argument("--baselines", default="baselines")

    hist = commands.add_parser("history", help="each benchmark across saved runs by commit and date, change points, "
                                               "PNG plots and an HTML page")
    hist.add_argument("runs", nargs="*", help="run JSON files (default: every file in .benchmarks/)")
    hist.add_argument("-k", "--select", help="only benchmarks whose name contains this (or matches this pattern)")
    hist.add_argument("--alpha", type=float, default=0.01, help="permutation-test significance [0.01]")
    hist.add_argument("--min-change", type=float, default=0.05, help="smallest change reported, 0.05 = 5 %% [0.05]")
    hist.add_argument("--plot", default="reports/history.png",
                      help="PNG to write, paged (-2.png, …) past 12 panels [reports/history.png]")
    hist.add_argument("--html", help="also write one self-contained HTML page here (e.g. reports/history.html)")
    hist.add_argument("--json", help="also write the series and change points as JSON")

    bisect = commands.add_parser("bisect", help="the first commit between GOOD and BAD where a case got slower: "
                                 "each step a paired gate session of that commit against GOOD (git worktrees)")
    bisect.add_argument("good", metavar="GOOD", help="a commit where the case was fast (an ancestor of BAD)")
    bisect.add_argument("bad", metavar="BAD", help="a later commit where it is slower")
    bisect.add_argument("-k", dest="case", required=True, metavar="CASE",
                        help="pytest -k expression selecting the benchmarks (of the paired session) to follow")
    bisect.add_argument("--budget", default="2h", help="wall time for all steps: 30m, 2h, 1h30m [2h]")
    bisect.add_argument("--passes", type=_positive_int, default=16,
                        help="pairs of processes per step, doubled for a step that cannot decide [16, as the gate]")
    bisect.add_argument("--out", default="reports/bisect", help="worktrees, each step's run and log [reports/bisect]")
    bisect.add_argument("--json", default="reports/bisect.json", help="the steps and the result [reports/bisect.json]")
    bisect.epilog = "Options after -- are added to each step's pytest command."
    check = commands.add_parser("gate-check", help="real A/A and A/B sessions: false alarms and detection power")
    check.add_argument("--sessions", type=_positive_int, default=None,
                       help="real sessions per arm (A, B10, B5) [paired 3; --history 6, at least 5 for A/A: "
                            "3 pooled + 2]")
    check.add_argument("--resamples", type=_positive_int, default=2000, help="resampled sessions per figure [2000]")
    check.add_argument("--out", default="reports/gate-check.json", help="the full report, with every session's data")
    check.add_argument("--keep", help="the folder each finished session's JSON is kept in, and resumed from when "
                                      "a run was interrupted [reports/gate-check-paired; --history: "
                                      "reports/gate-check-history]")
    check.add_argument("--from-sessions", help="recompute the figures from sessions kept earlier with --keep")
    check.add_argument("--config", default=None, help="the gate's policies [baselines/gate.json]")
    check.add_argument("--history", action="store_true",
                       help="check the gate against stored baselines (plain sessions, 3 pooled as the baseline) "
                            "instead of the paired gate (both arms in one session)")
    check.epilog = ("Options after -- are added to each session's pytest command (the shipped paired or history "
                    "session), e.g. -- -k seed-npc1")
    for sub in commands.choices.values():  # also after the command: python -m cifar gate run.json --debug
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _resolve_run(text: str) -> str:
    if text != "latest":
        return text
    from cifar.errors import GateError
    from cifar.suite.runfile import saved_runs

    runs = saved_runs()
    if not runs:
        raise GateError("no saved runs in .benchmarks/ (run pytest benchmarks/ --benchmark-autosave first)")
    return str(runs[-1])


def _gate(args) -> int:
    from pathlib import Path

    from cifar.gate import baselines
    from cifar.gate.stored import gate, ungated_report
    from cifar.gate.paired import gate_paired
    from cifar.gate.policy import POLICY_NAME, Policies
    from cifar.gate.remeasure import pytest_remeasure
    from cifar.suite.runfile import Run

    run_path = _resolve_run(args.run)
    run = Run.load(run_path)
    root = Path(args.baselines)
    paired = run.paired and not args.baseline
    policies = Policies.load(args.config or root / POLICY_NAME, args.alpha, args.floor, args.calibrate, paired=paired,
                             required=args.config is not None, tolerance=args.tolerance)
    remeasure = None if args.no_remeasure else pytest_remeasure(run)
    if paired:
        # The run carries its own baseline arm, measured in the same session: no stored baseline needed.
        report = gate_paired(run, policies, remeasure=remeasure)
    else:
        if args.baseline:
            baseline_paths = [Path(p) for p in args.baseline]
        else:
            baseline_paths = baselines.baseline_runs(root, run.fingerprint, args.baseline_runs)
        if not baseline_paths:
            # A new machine, or a TensorFlow or Python upgrade that changed the fingerprint: passing would stop
            # gating without anyone noticing.
            report = ungated_report(run, f"no baseline for this machine ({run.fingerprint}) under {root}/: nothing was "
                                         f"gated. Record one with: python -m cifar baseline promote {run_path}",
                                    f"no baseline for {run.fingerprint}")
            return _emit(report, args, paired)
        label = ", ".join(str(p) for p in baseline_paths)
        if len(baseline_paths) > 1:
            label = f"{len(baseline_paths)} pooled runs ({label})"
        report = gate([Run.load(p) for p in baseline_paths], run, policies, remeasure=remeasure,
                      cross_machine=args.cross_machine, baseline_label=label)
    return _emit(report, args, paired)


def _emit(report, args, paired: bool) -> int:
    """Print `report`, write its JSON and Markdown where asked; its exit code."""
    from pathlib import Path

    from cifar.gate.report import markdown, render

    print(render(report), end="")
    if args.report:
        write_json_atomic(Path(args.report), report.to_dict())
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        with open(args.markdown, "a") as f:  # append: $GITHUB_STEP_SUMMARY collects several steps
            f.write(markdown(report, "Paired gate" if paired else "Regression gate"))
    return report.exit_code


def _session(args) -> int:
    """A benchmark session as shipped: the paired gate's or the stored-baseline gate's (`cifar.suite.settings`)."""
    import subprocess
    from dataclasses import replace
    from pathlib import Path

    from cifar.errors import GateError
    from cifar.suite.settings import HISTORY, PAIRED, pytest_args

    settings = PAIRED if args.kind == "paired" else HISTORY
    if args.kind == "paired":
        if not args.baseline_tree:
            raise GateError("session paired needs --baseline-tree=PATH (a checkout of the baseline code, e.g. "
                            "git worktree add --detach reports/base main)")
        try:
            settings = replace(settings, baseline_tree=str(Path(args.baseline_tree).resolve()))
        except ValueError as err:
            raise GateError(str(err)) from None
    command = [sys.executable, "-m", "pytest", "benchmarks/", *pytest_args(settings), f"--benchmark-json={args.json}",
               *args.after]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    print("$ " + " ".join(command[1:]), flush=True)
    return subprocess.run(command).returncode


def _bisect(args) -> int:
    from cifar.gate import bisect

    return bisect.main(args)


def _baseline(args) -> int:
    from pathlib import Path

    from cifar.gate import baselines

    root = Path(args.baselines)
    if args.baseline_command == "promote":
        from cifar.gate.policy import POLICY_NAME, Policies

        target = baselines.promote(_resolve_run(args.run), root, Policies.load(root / POLICY_NAME))
        print(f"promoted: {target}")
        return 0
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not folders:
        print(f"no baselines under {root}/")
    for folder in folders:
        files = baselines.series(root, folder.name)
        print(f"{folder.name}: {len(files)} baseline(s), newest {files[-1].name if files else '-'}")
    return 0


def _history(args) -> int:
    from pathlib import Path

    from cifar.reports import history, historyplot

    series = history.history(history.load(args.runs), args.select, alpha=args.alpha, min_change=args.min_change)
    if not series:
        from cifar.errors import GateError

        raise GateError(f"no benchmark matches {args.select!r}")
    print(history.table(series), end="")
    for page in historyplot.plot(series, Path(args.plot)):
        print(f"plot: {page}")
    if args.html:
        print(f"html: {historyplot.html_page(series, Path(args.html))}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(history.to_json(series))
    return 0


def _history_sessions(count: int, option: str | None = None) -> None:
    from cifar.errors import GateError
    from cifar.gate.check import MIN_HISTORY_SESSIONS, check_history_sessions

    try:
        check_history_sessions(count)
    except ValueError as err:
        if option:
            raise GateError(f"gate-check --history needs {option} >= {MIN_HISTORY_SESSIONS}, got {count}: "
                            f"{err}") from None
        raise GateError(str(err)) from None


def _gate_check(args) -> int:
    from pathlib import Path

    from cifar.gate import check as gatecheck
    from cifar.errors import GateError
    from cifar.gate.policy import BASELINES, POLICY_NAME, Policies

    if args.from_sessions:
        runs = gatecheck.load_sessions(Path(args.from_sessions))
        if not runs["A"]:
            raise GateError(f"{args.from_sessions}: no kept sessions (NN-A.json, NN-B10.json, NN-B5.json)")
        paired = runs["A"][0].paired
        if not paired:
            _history_sessions(len(runs["A"]))
        default_args = gatecheck.PAIRED_PYTEST_ARGS if paired else gatecheck.DEFAULT_PYTEST_ARGS
        policies = Policies.load(args.config or BASELINES / POLICY_NAME, paired=paired,
                                 required=args.config is not None)
        report = gatecheck.report_from_runs(runs, policies, resamples=args.resamples,
                                            pytest_args=(*default_args, *args.after))
    else:
        sessions = args.sessions or (6 if args.history else 3)
        if args.history:  # before hours of sessions, not after them
            _history_sessions(sessions, "--sessions")
        policies = Policies.load(args.config or BASELINES / POLICY_NAME, paired=not args.history,
                                 required=args.config is not None)
        default_args = gatecheck.DEFAULT_PYTEST_ARGS if args.history else gatecheck.PAIRED_PYTEST_ARGS
        try:
            report = gatecheck.gate_check(sessions, args.resamples, (*default_args, *args.after), policies,
                                          keep=Path(args.keep) if args.keep else None, paired=not args.history)
        except gatecheck.SessionFailed as err:
            from cifar import exitcodes

            print(f"error: {err}", file=sys.stderr)
            return exitcodes.ERROR
    print(gatecheck.render(report), end="")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, json.loads(gatecheck.to_json(report)))
    print(f"report: {out}")
    return 0


def _overhead(args) -> int:
    import statistics

    from rich.console import Console
    from rich.table import Table

    from cifar.isolation.runner import measure_isolation_overhead

    report = measure_isolation_overhead(args.children)
    table = Table(title="Isolation overhead per configuration",
                  caption=f"{args.children} children per mode, interleaved")
    for column in ("mode", "median ms", "min ms", "max ms"):
        table.add_column(column, justify="right" if column != "mode" else "left")
    for mode, values in report["seconds"].items():
        ms = [v * 1000 for v in values]
        table.add_row(mode, f"{statistics.median(ms):.1f}", f"{min(ms):.1f}", f"{max(ms):.1f}")
    console = Console()
    console.print(table)
    if report["zygote_start_seconds"] is not None:
        console.print(f"zygote start (import TensorFlow once per session): {report['zygote_start_seconds']:.2f} s")
    return 0


def _train(args) -> int:
    from cifar.training import script as train

    return train.main(args)


def _claims(args) -> int:
    from cifar import claims

    return claims.main(args)


def _tune(args) -> int:
    if args.check:
        from cifar.tuning import check

        return check.run(args)
    from cifar.tuning import tune

    args.json = args.json or "reports/tune.json"
    return tune.main(args)


#: Every command's handler: ``handler(args) -> exit code`` (`cifar.exitcodes`); `main` maps what they raise.
COMMANDS = {"train": _train, "claims": _claims, "tune": _tune, "overhead": _overhead, "gate": _gate,
            "session": _session, "baseline": _baseline, "history": _history, "gate-check": _gate_check,
            "bisect": _bisect}


def main(argv: list[str] | None = None) -> int:
    """Run one command through the one error handling every command shares: `cifar.errors.BadInput` is one
    line and exit 2, Ctrl-C 130, anything else a crash: one line (the traceback with ``--debug``) and exit 4,
    which no command uses for a verdict (`cifar.exitcodes`)."""
    from cifar import exitcodes
    from cifar.errors import BadInput

    argv = list(sys.argv[1:] if argv is None else argv)
    # Whatever follows "--" is pytest's (session, gate-check): split it off before argparse, which would read it.
    after = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    args = build_parser().parse_args(argv)
    args.after = after
    # TensorFlow's C++ INFO/WARNING lines (CPU features, missing CUDA) drown the report; errors still show.
    # Set TF_CPP_MIN_LOG_LEVEL yourself to see them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return COMMANDS[args.command](args)
    except BadInput as err:
        print(f"error: {err}", file=sys.stderr)
        return exitcodes.BAD_INPUT
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    except Exception as err:  # noqa: BLE001 - a crash must not exit 1, which the gate defines as "regression"
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(f"error: {args.command} crashed ({type(err).__name__}: {first}); exit {exitcodes.ERROR} means the "
              "command could not finish, not a verdict" + ("" if getattr(args, "debug", False) else
                                                             " (--debug prints the traceback)"), file=sys.stderr)
        return exitcodes.ERROR
