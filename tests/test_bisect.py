"""``python -m cifar bisect``: bad input answers in one line before anything runs; the search narrows as the
steps' verdicts say (a fake step, no measurement); and, for real, a temporary repository of 8 commits of this
suite, one of which makes conv2d slower, is bisected to that commit by paired sessions."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cifar.gate import bisect as bisect_module
from cifar.gate.bisect import bisect, render

ROOT = Path(__file__).resolve().parent.parent
#: The commit of the 8 (1-based) that makes the suite's workloads 50 % slower.
SLOW_AT = 5


def _git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def suite_repo(path: Path, commits: int = 8, slow_at: int = SLOW_AT) -> list[str]:
    """A git repository holding this suite (its tracked files as they are now) and `commits` commits; commit
    `slow_at` sets $CIFAR_BENCH_INJECT_SLOWDOWN's default to 0.5 (every measured round 50 % longer, as real
    slower code would be; the calibration kernel is exempt). Returns the commits' hashes, oldest first."""
    path.mkdir()
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, path / name)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.email", "bisect@test")
    _git(path, "config", "user.name", "bisect test")
    hashes = []
    for i in range(1, commits + 1):
        if i == slow_at:
            timing = path / "cifar/workloads/timing.py"
            text = timing.read_text()
            assert 'os.environ.get(INJECT_ENV, "")' in text
            timing.write_text(text.replace('os.environ.get(INJECT_ENV, "")', 'os.environ.get(INJECT_ENV, "0.5")'))
            subject = "Rounds 50 % slower (the slowdown bisect has to find)"
        else:
            with open(path / "CHANGES.txt", "a") as f:
                f.write(f"change {i}\n")
            subject = f"Change {i}, not touching the code measured"
        _git(path, "add", "-A")
        _git(path, "commit", "-q", "-m", subject)
        hashes.append(_git(path, "rev-parse", "HEAD"))
    return hashes


def _cli(repo, *args, timeout=1800):
    return subprocess.run([sys.executable, "-m", "cifar", "bisect", *args], cwd=repo, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = tmp_path_factory.mktemp("bisect") / "suite"
    return path, suite_repo(path)


@pytest.mark.parametrize("good, bad, message", [
    ("nosuchref", "HEAD", "'nosuchref' is not a commit of this repository"),
    ("HEAD", "HEAD~7", "is not an ancestor of BAD"),
    ("HEAD", "HEAD", "nothing between GOOD"),
], ids=["unknown-ref", "good-after-bad", "nothing-between"])
def test_bad_refs_are_one_line_and_exit_2_before_anything_runs(repo, good, bad, message):
    path, _ = repo
    started = time.monotonic()
    proc = _cli(path, good, bad, "-k", "conv2d", "--out", "reports/bisect-bad", timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not (path / "reports/bisect-bad").exists()  # no worktree, no session
    assert time.monotonic() - started < 30


def test_a_case_that_selects_nothing_is_one_line_and_exit_2(repo):
    path, hashes = repo
    proc = _cli(path, hashes[0], hashes[-1], "-k", "vgg19", "--out", "reports/bisect-bad", timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stdout + proc.stderr
    assert "-k 'vgg19' selects no benchmark the paired gate judges" in proc.stderr
    assert not (path / "reports/bisect-bad").exists()


@pytest.mark.parametrize("budget", ["soon", "0m"])
def test_a_bad_budget_is_one_line_and_exit_2(repo, budget):
    path, hashes = repo
    proc = _cli(path, hashes[0], hashes[-1], "-k", "conv2d", "--budget", budget, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--budget" in proc.stderr, proc.stderr


def _fake_steps(monkeypatch, repo_hashes, verdict_of):
    """Replace the measurement and the gate: each step's verdict is verdict_of(commit index, passes)."""
    index = {h: i for i, h in enumerate(repo_hashes)}
    measured = []

    def measure(tree, base, run_path, passes):
        sha = _git(tree, "rev-parse", "HEAD")
        measured.append((index[sha], passes))
        run_path.write_text(json.dumps({"commit": sha, "passes": passes}))
        return 0

    def judge(run_path, names):
        run = json.loads(Path(run_path).read_text())
        verdict = verdict_of(index[run["commit"]], run["passes"])
        verdict, why = verdict if isinstance(verdict, tuple) else (verdict, None)
        ratio = {"slower": [1.5, 1.4, 1.6], "not slower": [1.0, 0.97, 1.03]}.get(verdict)
        return verdict, {names[0]: {"verdict": verdict, "ratio": ratio, "p_slower": None}}, why

    monkeypatch.setattr(bisect_module, "judge", judge)
    return measure, measured


def test_the_search_measures_bad_first_then_halves_toward_the_first_slower_commit(repo, monkeypatch, tmp_path):
    path, hashes = repo
    measure, measured = _fake_steps(monkeypatch, hashes, lambda i, n: "slower" if i >= SLOW_AT - 1 else "not slower")
    lines = []
    result = bisect(hashes[0], hashes[-1], "conv2d", budget=3600, passes=8, out=tmp_path / "out", after=[],
                    say=lines.append, cwd=path, measure=measure)
    assert result.outcome == "found" and result.first_slower.sha == hashes[SLOW_AT - 1] and result.exit_code == 0
    # Commits after GOOD: indexes 1..7 of the 8. BAD (7) first, then midpoints: 3 (not slower), 5, 4.
    assert [i for i, _ in measured] == [7, 3, 5, 4]
    assert not list((tmp_path / "out" / "trees").iterdir())  # worktrees removed
    text = render(result)
    assert f"first slower commit: {hashes[SLOW_AT - 1][:7]}" in text and "Rounds 50 % slower" in text
    assert "1.500x [1.400, 1.600]" in text and "not slower" in text
    assert any(line.startswith("step 1: ") for line in lines)


def test_an_undecided_step_measures_more_then_stops_with_the_range_it_narrowed_to(repo, monkeypatch, tmp_path):
    path, hashes = repo
    # Commit index 3 never decides; the budget allows one re-measurement with twice the passes, then not a third.
    def verdict_of(i, n):
        return "undecided" if i == 3 else ("slower" if i >= SLOW_AT - 1 else "not slower")

    measure, measured = _fake_steps(monkeypatch, hashes, verdict_of)
    clock = iter(range(0, 10_000, 100))  # each step "takes" 100 s
    monkeypatch.setattr(bisect_module.time, "monotonic", lambda: float(next(clock)))
    result = bisect(hashes[0], hashes[-1], "conv2d", budget=950, passes=8, out=tmp_path / "out", after=[],
                    say=lambda line: None, cwd=path, measure=measure)
    assert measured == [(7, 8), (3, 8), (3, 16)]
    assert result.outcome == "undecided" and result.exit_code == 3
    assert [c.sha for c in result.narrowed] == [hashes[0], hashes[-1]]
    assert "undecided: the first slower commit is after" in render(result)


def test_bad_not_slower_than_good_ends_at_once_with_exit_1(repo, monkeypatch, tmp_path):
    path, hashes = repo
    measure, measured = _fake_steps(monkeypatch, hashes, lambda i, n: "not slower")
    result = bisect(hashes[0], hashes[-1], "conv2d", budget=3600, passes=8, out=tmp_path / "out", after=[],
                    say=lambda line: None, cwd=path, measure=measure)
    assert measured == [(7, 8)] and result.outcome == "BAD is not slower" and result.exit_code == 1


def test_a_step_whose_session_fails_keeps_the_finished_steps_and_exits_4(repo, monkeypatch, tmp_path, capsys):
    """Issue 38, item 5: a failed step's session raised GateError: exit 2 ("bad input") and no JSON of the steps
    already measured. Now: the range they narrowed to, the JSON written, exit 4 (could not finish)."""
    from cifar import cli

    path, hashes = repo
    measure, measured = _fake_steps(monkeypatch, hashes, lambda i, n: "slower" if i >= SLOW_AT - 1 else "not slower")

    def session(tree, base, run_path, case, passes, after):
        if _git(tree, "rev-parse", "HEAD") == hashes[5]:  # the second midpoint's session dies
            return 1
        return measure(tree, base, run_path, passes)

    monkeypatch.setattr(bisect_module, "paired_session", session)
    monkeypatch.chdir(path)
    out = tmp_path / "bisect.json"
    code = cli.main(["bisect", hashes[0], hashes[-1], "-k", "conv2d", "--out", str(tmp_path / "out"),
                     "--json", str(out)])
    text = " ".join(capsys.readouterr().out.split())  # rich wraps the conclusion at 120 columns
    assert code == 4, text
    assert [i for i, _ in measured] == [7, 3]
    saved = json.loads(out.read_text())
    assert saved["outcome"] == "could not finish" and saved["exit_code"] == 4 and len(saved["steps"]) == 2
    assert "paired session of " + hashes[5][:7] + " failed (exit 1)" in saved["reason"]
    assert [c["sha"] for c in saved["narrowed_to"]] == [hashes[3], hashes[7]]
    assert "could not finish" in text and f"after {hashes[3][:7]} and at or before {hashes[7][:7]}" in text


def test_a_step_more_passes_cannot_decide_stops_at_once(repo, monkeypatch, tmp_path):
    """Issue 38, item 5: a benchmark `new` or `redefined` in a step's run (or absent from it) was re-measured with
    twice the passes until the budget was gone; more passes cannot compare what is not comparable."""
    path, hashes = repo
    why = "not comparable with GOOD's: test_conv2d[conv2d-default] redefined (more passes cannot change that)"
    measure, measured = _fake_steps(monkeypatch, hashes,
                                    lambda i, n: ("undecided", why) if i == 3 else
                                    ("slower" if i >= SLOW_AT - 1 else "not slower"))
    result = bisect(hashes[0], hashes[-1], "conv2d", budget=36_000, passes=8, out=tmp_path / "out", after=[],
                    say=lambda line: None, cwd=path, measure=measure)
    assert measured == [(7, 8), (3, 8)]  # no (3, 16), (3, 32), ...
    assert result.outcome == "undecided" and result.exit_code == 3 and "redefined" in result.reason
    assert "more passes cannot change that" in render(result)


def test_judge_says_when_more_passes_cannot_decide(tmp_path):
    from cifar.gate.bisect import judge
    from tests.runs import make_paired_run, processes

    conv = "benchmarks/test_micro.py::test_conv2d[conv2d-default]"
    run = make_paired_run({conv: (processes(1.0, n=8, seed=1), processes(1.0, n=8, seed=2))})
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run))
    verdict, _, why = judge(path, ["test_conv2d[conv2d-default]", "test_conv2d[conv2d-intra1-inter1]"])
    assert verdict == "undecided" and "not in the run: test_conv2d[conv2d-intra1-inter1]" in why
    assert judge(path, ["test_conv2d[conv2d-default]"])[2] is None


def test_a_step_whose_slowdown_was_not_ruled_out_is_undecided_not_not_slower(tmp_path):
    """Issue 40, item 1: the paired gate's "unresolved" (no regression, but a slowdown above the tolerance not
    ruled out) is a step more passes can decide, not "not slower"; the same pairs at a quiet spread are."""
    from cifar.gate.bisect import judge
    from tests.runs import make_paired_run, processes

    conv = "benchmarks/test_micro.py::test_conv2d[conv2d-default]"
    for cv, expected in ((0.15, "undecided"), (0.005, "not slower")):
        run = make_paired_run({conv: (processes(1.0, n=8, cv=cv, seed=1), processes(1.0, n=8, cv=cv, seed=2))})
        path = tmp_path / f"run-{cv}.json"
        path.write_text(json.dumps(run))
        verdict, benchmarks, why = judge(path, ["test_conv2d[conv2d-default]"])
        assert (verdict, why) == (expected, None), benchmarks
        assert benchmarks["test_conv2d[conv2d-default]"]["verdict"] == ("unresolved" if cv > 0.1 else "unchanged")


@pytest.mark.long
def test_bisect_finds_the_commit_that_made_conv2d_slower_for_real(repo, tmp_path):
    """Real paired sessions in git worktrees of the temporary repository: 8 pairs a step, conv2d."""
    path, hashes = repo
    report = tmp_path / "bisect.json"
    proc = _cli(path, hashes[0], hashes[-1], "-k", "conv2d", "--passes", "8", "--budget", "40m",
                "--json", str(report))
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(report.read_text())
    assert result["first_slower"]["sha"] == hashes[SLOW_AT - 1], result
    steps = result["steps"]
    # BAD first. A step may be undecided (too few quiet pairs on a busy machine, as in one CI run): then the same
    # commit is measured again with twice the passes, and that decides.
    assert steps[0]["commit"]["sha"] == hashes[-1]
    for s, after in zip(steps, steps[1:] + [None]):
        if s["verdict"] == "undecided":
            assert after is not None and after["commit"] == s["commit"] and after["passes"] == 2 * s["passes"]
            continue
        # Every decision came from a real measurement: a ratio near 1.5 where slower, near 1 where not.
        (bench,) = s["benchmarks"].values()
        low, high = bench["ratio"][1], bench["ratio"][2]
        assert (s["verdict"] == "slower") == (s["commit"]["sha"] in hashes[SLOW_AT - 1:])
        assert (low > 1.2) if s["verdict"] == "slower" else (high < 1.2)
    assert "first slower commit: " + hashes[SLOW_AT - 1][:7] in proc.stdout
    assert _git(path, "worktree", "list").count("\n") == 0  # only the repository itself is left
