"""``python -m cifar bisect GOOD BAD -k CASE``: the first commit between GOOD and BAD where CASE got slower.

asv has ``asv find`` for this; here every step is the paired gate (`cifar.suite.settings.PAIRED`, the rule and
rates of docs/gate.md): a git worktree of the step's commit runs ``python -m cifar session paired`` with GOOD's
worktree as the baseline arm, processes interleaved, ``-k CASE`` selecting the benchmarks; this checkout's gate
judges the run (`cifar.gate.paired.gate_paired`, no re-measurement). A step is

* ``slower``: some selected benchmark regressed (p < alpha and beyond the floor);
* ``not slower``: every selected benchmark was compared and ruled out a slowdown above its tolerance (or improved);
* ``undecided``: a benchmark was inconclusive (too few quiet pairs) or unresolved (no regression, but a slowdown
  above its tolerance not ruled out): the step is measured again with twice the passes while the budget allows;
  else the bisection stops and reports the range it narrowed to.

The first step measures BAD itself: if BAD is not slower than GOOD there is nothing to find. Then binary search
over the first-parent commits after GOOD up to BAD, each midpoint against GOOD. Each step's gate has the paired
gate's error rates, so a bisection of k steps can go wrong with about k times their per-step rate.

A step undecided because a selected benchmark is not in its run, or is ``new`` or ``redefined`` there (the
baseline arm has no such benchmark, or measures something else), stops the bisection at once: more passes cannot
decide it.

Exit codes: 0 the first slower commit was found; 1 BAD is not slower than GOOD; 2 bad input (unknown ref, GOOD
not an ancestor of BAD, nothing between them, a case that selects no benchmark, a bad budget), before anything
is measured; 3 undecided (budget spent, or a step could not decide): the range it narrowed to is reported;
4 could not finish (a step's session failed): the finished steps and the range are reported and written.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cifar import exitcodes
from cifar.errors import GateError

#: A step that could not decide is measured again with this many times the passes, while the budget allows.
MORE = 2


class StepFailed(RuntimeError):
    """A step's paired session failed or wrote no run: the bisection stops there, keeping the finished steps."""


@dataclass
class Commit:
    sha: str
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:7]


@dataclass
class Step:
    commit: Commit
    verdict: str  # "slower", "not slower", "undecided"
    passes: int
    seconds: float
    #: Per selected benchmark: [ratio current / baseline, low, high] of the step's gate, and its verdict.
    benchmarks: dict = field(default_factory=dict)
    run: str = ""  # the step's run JSON

    def ratio(self) -> list[float] | None:
        """The slowest selected benchmark's ratio with its interval (the one a verdict of ``slower`` rests on)."""
        ratios = [b["ratio"] for b in self.benchmarks.values() if b.get("ratio")]
        return max(ratios, key=lambda r: r[0]) if ratios else None


def git(*args: str, cwd: Path | str = ".") -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise GateError(f"git {' '.join(args)}: {(proc.stderr.strip().splitlines() or ['failed'])[-1]}")
    return proc.stdout.strip()


def resolve(ref: str, cwd: Path | str = ".") -> str:
    proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=cwd,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise GateError(f"bisect: {ref!r} is not a commit of this repository")
    return proc.stdout.strip()


def commits_between(good: str, bad: str, cwd: Path | str = ".") -> list[Commit]:
    """The first-parent commits after `good` up to and including `bad`, oldest first; GateError when `good` is
    not an ancestor of `bad` or nothing lies between them."""
    if subprocess.run(["git", "merge-base", "--is-ancestor", good, bad], cwd=cwd).returncode != 0:
        raise GateError(f"bisect: GOOD {good[:7]} is not an ancestor of BAD {bad[:7]}: "
                        "name an older good commit first, then the bad one")
    lines = git("log", "--first-parent", "--reverse", "--format=%H %s", f"{good}..{bad}", cwd=cwd).splitlines()
    commits = [Commit(*line.split(" ", 1)) if " " in line else Commit(line, "") for line in lines if line]
    if not commits:
        raise GateError(f"bisect: nothing between GOOD {good[:7]} and BAD {bad[:7]}")
    if commits[-1].sha != bad:
        raise GateError(f"bisect: BAD {bad[:7]} is not on the first-parent line after GOOD {good[:7]}")
    return commits


def selected(case: str, after: list[str], cwd: Path | str = ".") -> list[str]:
    """The benchmarks of the paired session that ``-k CASE`` selects in this checkout (pytest's own -k, by
    collecting only: nothing is measured). GateError when none."""
    from dataclasses import replace

    from cifar.suite.settings import PAIRED, pytest_args

    # Collecting needs no baseline arm, and looks (--sequential) are refused without one: the same cases without.
    settings = replace(PAIRED, sequential=False, budget=None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks/", *pytest_args(settings), "--collect-only",
                           "-q",
                           "-p", "no:cacheprovider", "-k", case, *after], cwd=cwd, capture_output=True, text=True)
    ids = [line.split("::")[-1] for line in proc.stdout.splitlines() if "::" in line]
    gated = [i for i in ids if not i.startswith("test_calibration")]
    if not gated:
        if proc.returncode not in (0, 5):  # 5: pytest's "no tests collected"
            raise GateError(f"bisect: -k {case!r}: pytest could not collect: "
                            f"{(proc.stdout.strip().splitlines() or proc.stderr.strip().splitlines() or ['?'])[-1]}")
        raise GateError(f"bisect: -k {case!r} selects no benchmark the paired gate judges "
                        "(e.g. -k conv2d, -k 'train_step', -k 'matmul and default')")
    return gated


class Worktrees:
    """Detached git worktrees of the commits measured, under `root`; removed on exit."""

    def __init__(self, root: Path, cwd: Path | str = "."):
        self.root, self.cwd, self.trees = Path(root), cwd, {}

    def __enter__(self) -> "Worktrees":
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    def get(self, sha: str) -> Path:
        if sha not in self.trees:
            path = (self.root / sha[:12]).resolve()
            if path.exists():
                subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=self.cwd, capture_output=True)
                shutil.rmtree(path, ignore_errors=True)
            git("worktree", "add", "--detach", str(path), sha, cwd=self.cwd)
            self.trees[sha] = path
        return self.trees[sha]

    def __exit__(self, *exc) -> None:
        for path in self.trees.values():
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=self.cwd, capture_output=True)
        subprocess.run(["git", "worktree", "prune"], cwd=self.cwd, capture_output=True)


#: Benchmark verdicts more passes cannot turn into a decision: the baseline arm has no such benchmark, or measures
#: something else under its name.
NOT_COMPARABLE = ("new", "redefined")


def judge(run_path: Path, names: list[str]) -> tuple[str, dict, str | None]:
    """A step's verdict from its paired run, by this checkout's paired gate (its policy, no re-measurement), and,
    for an undecided step that more passes cannot decide (a selected benchmark absent from the run, ``new`` or
    ``redefined``), why."""
    from cifar.gate.paired import gate_paired
    from cifar.gate.policy import TREE_POLICY, Policies
    from cifar.suite.runfile import Run

    run = Run.load(run_path)
    report = gate_paired(run, Policies.load(TREE_POLICY, paired=True), remeasure=None)
    benchmarks = {c.short_name: {"verdict": c.verdict,
                                 "ratio": None if c.ratio is None else [c.ratio.ratio, c.ratio.low, c.ratio.high],
                                 "p_slower": c.p_slower}
                  for c in report.comparisons if c.short_name in names}
    verdicts = [b["verdict"] for b in benchmarks.values()]
    if "regression" in verdicts:
        return "slower", benchmarks, None
    absent = [n for n in names if n not in benchmarks]
    blocked = [f"{n} {b['verdict']}" for n, b in benchmarks.items() if b["verdict"] in NOT_COMPARABLE]
    if absent or blocked:
        why = "; ".join(([f"not in the run: {', '.join(absent)}"] if absent else []) +
                        ([f"not comparable with GOOD's: {', '.join(blocked)}"] if blocked else []))
        return "undecided", benchmarks, why + " (more passes cannot change that)"
    if any(v not in ("unchanged", "improvement") for v in verdicts):
        return "undecided", benchmarks, None
    return "not slower", benchmarks, None


@dataclass
class Bisection:
    good: Commit
    bad: Commit
    case: str
    budget: float
    steps: list[Step] = field(default_factory=list)
    first_slower: Commit | None = None
    #: The range still open when it stopped undecided: (last known not slower, first known slower).
    narrowed: tuple[Commit, Commit] | None = None
    outcome: str = ""  # "found", "BAD is not slower", "undecided", "could not finish"
    seconds: float = 0.0
    #: Why it stopped undecided without using the budget, or what failed ("could not finish"); one line.
    reason: str | None = None

    @property
    def exit_code(self) -> int:
        return {"found": exitcodes.OK, "BAD is not slower": exitcodes.CAUGHT,
                "could not finish": exitcodes.ERROR}.get(self.outcome, exitcodes.INCONCLUSIVE)

    def to_dict(self) -> dict:
        return {"good": asdict(self.good), "bad": asdict(self.bad), "case": self.case, "budget_seconds": self.budget,
                "outcome": self.outcome, "exit_code": self.exit_code, "seconds": self.seconds, "reason": self.reason,
                "first_slower": asdict(self.first_slower) if self.first_slower else None,
                "narrowed_to": [asdict(c) for c in self.narrowed] if self.narrowed else None,
                "steps": [{**asdict(s), "commit": asdict(s.commit)} for s in self.steps]}


def bisect(good_ref: str, bad_ref: str, case: str, *, budget: float, passes: int, out: Path, after: list[str],
           say=print, cwd: Path | str = ".", measure=None) -> Bisection:
    """Validate everything (GateError on bad input, before anything is measured), then bisect.

    `measure(tree, baseline_tree, run_path, passes)` runs one paired session and returns its exit status (default:
    `paired_session`); tests replace it to check the search without measuring."""
    good, bad = resolve(good_ref, cwd), resolve(bad_ref, cwd)
    commits = commits_between(good, bad, cwd)
    names = selected(case, after, cwd)
    good_commit = Commit(good, git("log", "-1", "--format=%s", good, cwd=cwd))
    result = Bisection(good_commit, commits[-1], case, budget)
    measure = measure or (lambda tree, base, run_path, n: paired_session(tree, base, run_path, case, n, after))
    started = time.monotonic()
    out = Path(out)
    say(f"bisect: {len(commits)} commits after {good_commit.short} up to {commits[-1].short}; -k {case!r} selects "
        f"{', '.join(names)}; at most ~{max(1, (len(commits) - 1).bit_length()) + 1} steps, budget {budget / 60:.0f} "
        f"min")
    with Worktrees(out / "trees", cwd) as trees:
        base_tree = trees.get(good)

        def step(index: int) -> str | None:
            """Measure commits[index] against GOOD (more passes while undecided and the budget allows); its
            verdict, or None when the budget stopped it before a decision."""
            commit, n = commits[index], passes
            while True:
                spent = time.monotonic() - started
                longest = max((s.seconds for s in result.steps), default=0.0) * n / passes
                if result.steps and spent + longest > budget:
                    say(f"  budget: {spent / 60:.1f} of {budget / 60:.0f} min spent, a step of {n} passes takes "
                        f"~{longest / 60:.1f} min: stopping")
                    return None
                tree = trees.get(commit.sha)
                run_path = (out / f"step-{len(result.steps) + 1}-{commit.short}.json").resolve()
                say(f"step {len(result.steps) + 1}: {commit.short} {commit.subject[:60]!r} against "
                    f"{good_commit.short}, "
                    f"{n} passes ...")
                mark = time.monotonic()
                status = measure(tree, base_tree, run_path, n)
                if status != 0 or not run_path.is_file():
                    raise StepFailed(f"the paired session of {commit.short} failed (exit {status}); its log is "
                                     f"{run_path.with_suffix('.log')}")
                verdict, benchmarks, why = judge(run_path, names)
                taken = Step(commit, verdict, n, time.monotonic() - mark, benchmarks, str(run_path))
                result.steps.append(taken)
                ratio = taken.ratio()
                shown = f"{ratio[0]:.3f}x [{ratio[1]:.3f}, {ratio[2]:.3f}]" if ratio else "no ratio"
                say(f"  {verdict}: {shown} time of {good_commit.short}, {taken.seconds:.0f} s"
                    + (f"; {why}" if why else ""))
                if why:
                    result.reason = f"{commit.short}: {why}"
                    return None
                if verdict != "undecided":
                    return verdict
                n *= MORE

        lo, hi = -1, len(commits) - 1  # commits[lo] not slower (-1: GOOD), commits[hi] slower once BAD is
        try:
            verdict = step(len(commits) - 1)
            if verdict != "slower":
                result.outcome = "BAD is not slower" if verdict == "not slower" else "undecided"
                if verdict != "not slower":
                    result.narrowed = (good_commit, commits[-1])
                return result
            while hi - lo > 1:
                mid = (lo + hi) // 2
                verdict = step(mid)
                if verdict is None or verdict == "undecided":
                    result.outcome = "undecided"
                    result.narrowed = (good_commit if lo < 0 else commits[lo], commits[hi])
                    return result
                lo, hi = (lo, mid) if verdict == "slower" else (mid, hi)
            result.outcome, result.first_slower = "found", commits[hi]
            return result
        except StepFailed as err:
            # What the finished steps found is kept: the range they narrowed to, and the JSON main writes.
            result.outcome, result.reason = "could not finish", str(err)
            result.narrowed = (good_commit if lo < 0 else commits[lo], commits[hi])
            return result
        finally:
            result.seconds = time.monotonic() - started


def paired_session(tree: Path, base_tree: Path, run_path: Path, case: str, passes: int, after: list[str]) -> int:
    """One step's measurement: the commit's own paired session (its benchmarks and children against the baseline
    tree's), ``-k CASE``, `passes` pairs; its output to ``<run>.log``."""
    run_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "cifar", "session", "paired", f"--baseline-tree={base_tree}",
               f"--json={run_path}", "--", "-k", case, "--passes", str(passes), *after]
    with open(run_path.with_suffix(".log"), "w") as log:
        return subprocess.run(command, cwd=tree, stdout=log, stderr=subprocess.STDOUT).returncode


def render(result: Bisection, width: int = 120) -> str:
    """The steps as a table (commit, subject, ratio with interval, verdict) and the conclusion."""
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None)
    table = Table(title=Text(f"bisect -k {result.case!r}: each commit's time against GOOD {result.good.short}"),
                  caption=Text("ratio: current / GOOD time per round, 95 % trimmed-t interval over pairs "
                               "(the paired gate's)"))
    for column in ("step", "commit", "subject", "passes", "ratio", "verdict"):
        table.add_column(Text(column), overflow="fold")
    for i, s in enumerate(result.steps, 1):
        r = s.ratio()
        table.add_row(str(i), s.commit.short, Text(s.commit.subject[:48]), str(s.passes),
                      f"{r[0]:.3f}x [{r[1]:.3f}, {r[2]:.3f}]" if r else "-", s.verdict)
    console.print(table)
    if result.outcome == "found":
        line = (f"first slower commit: {result.first_slower.short} {result.first_slower.subject!r} "
                f"({len(result.steps)} steps, {result.seconds / 60:.1f} min)")
    elif result.outcome == "BAD is not slower":
        line = (f"BAD {result.bad.short} is not measurably slower than GOOD {result.good.short}: nothing to bisect "
                f"({result.seconds / 60:.1f} min)")
    else:
        lo, hi = result.narrowed
        where = (f"the first slower commit is after {lo.short} and at or before {hi.short} "
                 f"({len(result.steps)} steps, {result.seconds / 60:.1f} min)")
        if result.outcome == "could not finish":
            line = f"could not finish: {result.reason}; {where}"
        elif result.reason:
            line = f"undecided: {result.reason}; {where}"
        else:
            line = f"undecided: {where}; raise --budget or --passes to narrow it"
    console.print(Text(line))
    return buffer.getvalue()


def main(args) -> int:
    from cifar.tuning.search import TuneError, parse_budget

    try:
        budget = parse_budget(args.budget)
    except TuneError as err:
        raise GateError(f"bisect: {err}") from None
    result = bisect(args.good, args.bad, args.case, budget=budget, passes=args.passes, out=Path(args.out),
                    after=args.after)
    print(render(result), end="")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=1))
        print(f"written: {args.json}")
    return result.exit_code
