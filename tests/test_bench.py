"""Recording child timings into pytest-benchmark, merging passes, interleaving, options, the suite."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cifar.suite.campaign import Campaign, merge_results
from cifar.suite.record import paired_info
from cifar.isolation.errors import ChildCrashed
from cifar.suite.settings import Case, SuiteSettings, build_cases, pytest_args
from cifar.training.threads import ThreadConfig
from cifar.tuning import report as reporting
from cifar.tuning.space import Setting

ROOT = Path(__file__).resolve().parent.parent

RECORDING_TEST = """
from cifar.suite.record import record

DURATIONS = {durations!r}

def test_child(benchmark):
    benchmark.group = "g"
    record(benchmark, DURATIONS, {{"threads": "intra1-inter1", "images_per_s_median": 123.0}})
"""


def _run_recording(pytester, durations, *args):
    pytester.makepyfile(test_rec=RECORDING_TEST.format(durations=durations))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_saved_json_holds_exactly_the_child_durations(pytester):
    durations = [0.5, 0.25, 0.125, 0.375]
    result = _run_recording(pytester, durations, "--benchmark-json=out.json")
    result.assert_outcomes(passed=1)
    bench = json.loads((pytester.path / "out.json").read_text())["benchmarks"][0]
    assert bench["stats"]["data"] == durations
    assert bench["stats"]["rounds"] == 4 and bench["stats"]["iterations"] == 1
    assert bench["stats"]["min"] == 0.125 and bench["stats"]["max"] == 0.5
    assert bench["stats"]["median"] == pytest.approx(0.3125)
    assert bench["stats"]["ops"] == pytest.approx(1 / 0.3125)  # github-action-benchmark reads ops
    assert bench["fullname"] == "test_rec.py::test_child"
    assert bench["extra_info"] == {"threads": "intra1-inter1", "images_per_s_median": 123.0}
    assert bench["group"] == "g"


def test_compare_fail_sees_recorded_durations(pytester):
    _run_recording(pytester, [0.1, 0.1, 0.1], "--benchmark-autosave").assert_outcomes(passed=1)
    same = _run_recording(pytester, [0.1, 0.1, 0.1], "--benchmark-compare", "--benchmark-compare-fail=median:5%")
    assert same.ret == 0
    slower = _run_recording(pytester, [0.2, 0.2, 0.2], "--benchmark-compare", "--benchmark-compare-fail=median:5%")
    assert slower.ret != 0
    assert "Performance has regressed" in slower.stdout.str() + slower.stderr.str()


def test_record_rejects_nonsense(pytester):
    pytester.makepyfile(test_bad="""
import pytest
from cifar.suite.record import record

def test_empty(benchmark):
    with pytest.raises(ValueError, match="no durations"):
        record(benchmark, [], {})

def test_negative(benchmark):
    with pytest.raises(ValueError, match="positive"):
        record(benchmark, [0.1, -1.0], {})
""")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def fake_result(durations, items=100, contended=False, other=0.01, rss=1000, os_threads=5):
    return {
        "durations_seconds": list(durations),
        "rounds": len(durations),
        "warmup_rounds": 1,
        "items_per_round": items,
        "unit": "images",
        "items_per_s_median": items / sorted(durations)[len(durations) // 2],
        "cpu_seconds_per_1000_items": 2.0,
        "contention": {"other_fraction": other, "steal_fraction": 0.0, "contended": contended},
        "process": {"peak_rss_bytes": rss, "cpu_seconds": 1.0},
        "threads_applied": {"intra_op_parallelism_threads": 1, "inter_op_parallelism_threads": 1,
                            "os_threads": os_threads},
        "runner": {"mode": "zygote", "isolation_overhead_seconds": 0.01},
        "workload": {"name": "matmul"},
    }


def test_merge_results_concatenates_passes_and_keeps_worst_case_facts():
    merged = merge_results([fake_result([1.0, 2.0], rss=10, other=0.02),
                            fake_result([3.0], contended=True, rss=30, other=0.2, os_threads=6)])
    assert merged["durations_seconds"] == [1.0, 2.0, 3.0]
    assert merged["passes"] == 2 and merged["rounds"] == 3
    assert merged["items_per_s_median"] == pytest.approx(100 / 2.0)
    assert merged["process"]["peak_rss_bytes"] == 30
    assert merged["contention"]["contended"] is True and merged["contention"]["other_fraction"] == 0.2
    assert merged["os_threads_per_pass"] == [5, 6]
    assert [c["other_fraction"] for c in merged["contention_per_process"]] == [0.02, 0.2]
    assert [c["contended"] for c in merged["contention_per_process"]] == [False, True]


class FakeRunner:
    def __init__(self, fail_for=()):
        self.calls = []
        self.fail_for = set(fail_for)

    def run(self, target, params, config):
        self.calls.append((params.get("rounds"), config.id if config else None))
        if config is not None and config.id in self.fail_for:
            raise ChildCrashed(-11, "python -m cifar.isolation.child ...", "segfault")
        return fake_result([0.1] * params.get("rounds", 1))

    def close(self):
        pass


GRID = (ThreadConfig(1, 1), ThreadConfig(2, 2), ThreadConfig())


def test_campaign_interleaves_configurations_in_alternating_order():
    runner = FakeRunner()
    campaign = Campaign(SuiteSettings(grid=GRID), interleave=True, runner=runner)
    case = Case("matmul", "matmul", {"rounds": 4}, passes=3)
    result = campaign.result(case, ThreadConfig(2, 2))
    order = [config for _, config in runner.calls]
    assert order == ["intra1-inter1", "intra2-inter2", "default", "default", "intra2-inter2", "intra1-inter1",
                     "intra1-inter1", "intra2-inter2", "default"]
    assert result["passes"] == 3 and len(result["durations_seconds"]) == 12
    campaign.result(case, ThreadConfig())  # cached: no new children
    assert len(runner.calls) == 9


class NoisyRunner(FakeRunner):
    """intra2-inter2 is 1.5x faster than default, each process off by a factor of its own (`spread`)."""

    def __init__(self, spread, seed=0):
        super().__init__()
        import random

        self.spread, self.random = spread, random.Random(seed)

    def run(self, target, params, config):
        self.calls.append((params.get("rounds"), config.id))
        if config.id in self.fail_for:
            raise ChildCrashed(-11, "python -m cifar.isolation.child ...", "segfault")
        base = {"intra1-inter1": 2.0, "intra2-inter2": 0.667, "default": 1.0}[config.id]
        factor = base * (1.0 + self.random.uniform(-self.spread, self.spread))
        return fake_result([factor * (1.0 + 0.001 * i) for i in range(params["rounds"])])


class Counting:
    def __init__(self):
        self.total, self.children = 0, 0

    def __call__(self, case):
        self.children += 1

    def grow(self, processes):
        self.total += processes


def test_adaptive_effort_adds_passes_only_where_a_pass_can_settle_the_answer():
    """Issue 18, item 2, and issue 39, item 3: a case whose processes agree stops at its 3 passes; one whose processes
    differ by up to ±5 % gets passes until its interval is within ±5 %, and the progress line's total grows with
    them; an extra pass runs only the two configurations the interval compares (the best, intra2-inter2, and
    default), alternating their order, so their pairs stay whole; one whose processes differ by ±30 % would need
    far more than the cap of 10, so it stops at 5, the first pass its interval is trimmed (one slow process
    stretches a 3-pass interval that 5 trimmed ones would not), instead of spending passes that cannot settle it."""
    case = Case("matmul", "matmul", {"rounds": 3}, passes=3, max_passes=10)
    runners = {"steady": NoisyRunner(spread=0.0005), "moderate": NoisyRunner(spread=0.05, seed=1),
               "hopeless": NoisyRunner(spread=0.30, seed=1)}
    counts = {}
    for name, runner in runners.items():
        progress = Counting()
        campaign = Campaign(SuiteSettings(grid=GRID), interleave=True, runner=runner, progress=progress)
        result = campaign.result(case, ThreadConfig())
        counts[name] = (result["passes"], progress.total, progress.children, result["effort"]["stopped"])
    assert counts == {"steady": (3, 0, 9, "settled"), "moderate": (7, 8, 17, "settled"),
                      "hopeless": (5, 4, 13, "futile")}
    order = [c for _, c in runners["moderate"].calls]
    assert order[9:13] == ["default", "intra2-inter2", "intra2-inter2", "default"]  # passes 3 and 4 alternate
    assert "intra1-inter1" not in order[9:]  # the slowest configuration gets no extra process
    from cifar.suite.campaign import effort

    assert effort(case, {"default": [fake_result([1.0, 1.0])] * 3}) == ("no interval", None)
    crashing = NoisyRunner(spread=0.03, seed=3)
    crashing.fail_for = {"intra1-inter1"}
    result = Campaign(SuiteSettings(grid=GRID), interleave=True, runner=crashing).result(case, ThreadConfig())
    assert result["passes"] == 3 and result["effort"]["stopped"] == "failed"
    one = Case("matmul", "matmul", {"rounds": 3}, passes=1, max_passes=4)  # --quick --max-passes 4
    result = Campaign(SuiteSettings(grid=GRID), interleave=True, runner=NoisyRunner(spread=0.0005)).result(
        one, ThreadConfig())
    assert (result["passes"], result["effort"]["stopped"]) == (2, "settled")  # 2 processes agreeing to 0.05 %


def test_paired_runs_and_fixed_passes_get_no_adaptive_effort():
    """The paired gate's error rates were measured with fixed passes: a baseline arm turns adaptive effort off."""
    case = Case("matmul", "matmul", {"rounds": 3}, passes=3, max_passes=6)
    runner, baseline = NoisyRunner(spread=0.10), NoisyRunner(spread=0.10, seed=1)
    campaign = Campaign(SuiteSettings(grid=GRID), interleave=True, runner=runner, baseline=baseline)
    result = campaign.result(case, ThreadConfig())
    assert result["passes"] == 3 and result["effort"]["stopped"] == "fixed"
    assert len(runner.calls) == len(baseline.calls) == 9


def test_campaign_failure_is_raised_for_its_configuration_only():
    runner = FakeRunner(fail_for={"intra2-inter2"})
    campaign = Campaign(SuiteSettings(grid=GRID), interleave=True, runner=runner)
    case = Case("matmul", "matmul", {"rounds": 2}, passes=2)
    with pytest.raises(ChildCrashed):
        campaign.result(case, ThreadConfig(2, 2))
    assert campaign.result(case, ThreadConfig(1, 1))["passes"] == 2
    assert [c for _, c in runner.calls].count("intra2-inter2") == 1  # not retried after failing


def test_campaign_smoke_mode_runs_only_the_requested_configuration_small():
    runner = FakeRunner()
    campaign = Campaign(SuiteSettings(grid=GRID), interleave=False, runner=runner)
    campaign.result(Case("epoch", "seed_cnn", {"rounds": 5, "steps": 40}, passes=2), ThreadConfig())
    assert runner.calls == [(1, "default")]


def test_suite_cases_have_unique_readable_ids():
    for quick in (True, False):
        cases = build_cases(SuiteSettings(quick=quick))
        names = [c.name for c in cases]
        assert len(set(names)) == len(names)
        assert {c.workload for c in cases} == {"calibration", "matmul", "conv2d", "train_step", "pipeline", "epoch"}
    full = build_cases(SuiteSettings())
    assert len([c for c in full if c.workload == "pipeline"]) == 12  # 2 variants x 3 npc x 2 pools
    epochs = {"seed_cnn-arrays", "seed_cnn-seed-npcAUTO", "seed_cnn-batched-npcAUTO"}
    assert {c.id for c in full if c.workload == "epoch"} == epochs  # ResNet-20 on request only
    both = build_cases(SuiteSettings(models=("seed_cnn", "resnet20")))
    assert {c.id for c in both if c.workload == "epoch"} == epochs | {"resnet20-arrays"}
    assert {c.id for c in build_cases(SuiteSettings(quick=True)) if c.workload == "epoch"} == epochs
    arrays = next(c for c in full if c.id == "seed_cnn-arrays")
    assert arrays.params["pipeline"] == "arrays"  # the article's script: model.fit on arrays, no tf.data


def test_rounds_per_process_follow_the_table_and_the_paired_gate_keeps_its_validated_rounds():
    from cifar.suite.settings import PAIRED, ROUNDS
    from cifar.workloads import KINDS, WORKLOADS

    assert set(ROUNDS) == set(KINDS) - {"calibration"}  # every kind but the yardstick has its row
    for settings, mode in ((SuiteSettings(), "full"), (SuiteSettings(quick=True), "quick"), (PAIRED, "paired")):
        for case in build_cases(settings):
            kind = WORKLOADS[case.workload].kind
            if kind != "calibration":
                assert case.params["rounds"] == ROUNDS[kind][mode], (mode, case.test_id)
    # The paired gate's compute cases run the rounds its error rates were measured at (docs/gate.md), more than
    # the other runs' r*-based 2.
    assert ROUNDS["compute"]["paired"] == 3 and ROUNDS["compute"]["quick"] == ROUNDS["compute"]["full"] == 2


def test_the_tf_data_epochs_run_under_the_default_only():
    for quick in (True, False):
        epochs = {c.id: c for c in build_cases(SuiteSettings(quick=quick)) if c.workload == "epoch"}
        assert epochs["seed_cnn-arrays"].threads is None  # the article's script: every configuration of the grid
        tf_data = (epochs["seed_cnn-seed-npcAUTO"].threads, epochs["seed_cnn-batched-npcAUTO"].threads)
        assert tf_data == ((ThreadConfig(),), (ThreadConfig(),))


def test_compute_cases_get_adaptive_effort_outside_quick_and_fixed_passes():
    """Issue 18, item 2: 3 processes a configuration, up to 10 while the interval is wider than ±5 %; --passes
    fixes the passes (the gate's sessions are validated with fixed ones); --max-passes sets the cap."""
    full = {c.name: c for c in build_cases(SuiteSettings())}
    for name in ("matmul", "conv2d", "train_step-seed_cnn", "epoch-seed_cnn-arrays"):
        assert (full[name].passes, full[name].max_passes) == (3, 10)
    assert full["pipeline-seed-npc1"].max_passes is None and full["calibration"].passes == 2
    assert all(c.max_passes is None for c in build_cases(SuiteSettings(quick=True)))
    assert all(c.max_passes is None for c in build_cases(SuiteSettings(passes=4)))
    capped = {c.name: c for c in build_cases(SuiteSettings(passes=2, max_passes=10))}
    assert (capped["conv2d"].passes, capped["conv2d"].max_passes) == (2, 10)
    assert pytest_args(SuiteSettings(max_passes=10))[-2:] == ["--max-passes", "10"]
    with pytest.raises(ValueError, match="--max-passes must be >= 1"):
        SuiteSettings(max_passes=0)


def test_passes_option_sets_processes_per_case():
    assert {c.passes for c in build_cases(SuiteSettings(quick=True))} == {1}
    assert {c.passes for c in build_cases(SuiteSettings(quick=True, passes=3))} == {3}


def test_passes_for_sets_processes_for_matching_cases_only():
    settings = SuiteSettings(quick=True, passes=16, passes_for=(("*seed-npc*", 32), ("*seed-npcAUTO*", 24)))
    passes = {c.test_id: c.passes for c in build_cases(settings)}
    assert passes["test_pipeline[seed-npc1]"] == 32 and passes["test_pipeline[seed-npcAUTO]"] == 24  # last wins
    assert passes["test_pipeline[batched-npc1]"] == 16 and passes["test_epoch[seed_cnn-arrays]"] == 16
    with pytest.raises(ValueError, match=r"--passes-for \*resnet\*=4: the pattern matches no case"):
        build_cases(SuiteSettings(quick=True, passes_for=(("*resnet*", 4),)))


def test_pinned_adds_the_one_cpu_detector_to_the_matching_cases_only():
    from cifar.suite.settings import PINNED

    settings = SuiteSettings(quick=True, pinned=("test_matmul*", "test_pipeline?seed-npcAUTO*"))
    cases = {c.test_id: c for c in build_cases(settings)}
    assert cases["test_matmul[matmul]"].threads == (*settings.thread_configs(), PINNED)
    assert cases["test_pipeline[seed-npcAUTO]"].threads == (ThreadConfig(), PINNED)
    assert cases["test_conv2d[conv2d]"].threads is None and cases["test_pipeline[seed-npc1]"].threads == (
        ThreadConfig(),)
    assert (PINNED.id, PINNED.intra_op_parallelism_threads, PINNED.inter_op_parallelism_threads, PINNED.cpus) == (
        "intra1-inter1-pin1", 1, 1, 1)
    assert pytest_args(settings)[-2:] == ["--pinned=test_matmul*", "--pinned=test_pipeline?seed-npcAUTO*"]
    assert SuiteSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    with pytest.raises(ValueError, match=r"--pinned test_resnet\*: the pattern matches no case"):
        build_cases(SuiteSettings(quick=True, pinned=("test_resnet*",)))


def test_quick_grid_is_a_subset_of_the_full_grid():
    quick, full = SuiteSettings(quick=True).thread_configs(), SuiteSettings().thread_configs()
    assert set(quick) <= set(full) and ThreadConfig() in quick and ThreadConfig(1, 1) in quick


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--thread-grid", "2y"], "bad thread configuration '2y'"),
     (["--runner", "fork"], "--runner must be one of ('zygote', 'spawn'), got 'fork'"),
     (["--models", "vgg"], "unknown model 'vgg'"),
     (["--epoch-steps", "many"], "--epoch-steps must be an integer, got 'many'"),
     (["--epoch-steps", "0"], "--epoch-steps must be >= 1, got 0"),
     (["--data", "/no/such/place"], "got '/no/such/place'"),
     (["--passes", "0"], "--passes must be >= 1, got 0"),
     (["--passes-for", "seed=x"], "--passes-for 'seed=x': N must be an integer, got 'x'"),
     (["--passes-for", "32"], "--passes-for must look like PATTERN=N"),
     (["--passes-for", "*seed-npc*=0"], "--passes-for needs PATTERN=N with N >= 1, got *seed-npc*=0"),
     (["--quick", "--passes-for", "*vgg*=2"], "the pattern matches no case of this suite"),
     (["--baseline-tree", "/tmp"], "--baseline-tree '/tmp' is not a checkout of this project"),
     (["--thread-grid", "99999x1", "--quick", "-k", "matmul"],
      "intra_op_parallelism_threads=99999 is far more threads"),
     (["--thread-grid", "tune:/no/such/tune.json"],
      "--thread-grid tune:/no/such/tune.json: cannot read the tune report"),
     (["--sequential"], "--sequential looks at the pairs of a paired run: it needs --baseline-tree=PATH"),
     (["--budget", "5m"], "--budget spends time on a paired run's unresolved benchmarks: it needs --sequential"),
     (["--budget", "soon"], "--budget 'soon': expected a duration like 10m")],
    ids=["grid", "runner", "models", "steps-text", "steps-zero", "data", "passes", "passes-for-text",
         "passes-for-form", "passes-for-zero", "passes-for-nothing", "baseline-tree", "absurd-threads", "tune-report",
         "sequential-unpaired", "budget-unsequential", "budget-text"],
)
def test_bad_option_is_a_usage_error_naming_the_value(args, message):
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks/", "--collect-only", "-q", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4  # pytest's usage-error exit code
    assert message in proc.stderr


def _tune_report(path, setting, model="seed_cnn"):
    from cifar.tuning import report as reporting

    path.write_text(json.dumps({"model": model, "recommended": setting.to_dict(),
                                "thread_grid": reporting.grid_for(setting if setting != Setting() else None)}))
    return path


def test_a_tune_report_feeds_the_grid_and_its_whole_setting(tmp_path):
    """Issue 30, item 3: `--thread-grid tune:PATH` kept only the threads, so for `default batched-npcAUTO` it guarded
    nothing. Now the setting as a whole runs as `test_epoch[MODEL-tuned]` beside TensorFlow's default."""
    report = _tune_report(tmp_path / "tune.json", Setting(2, 1, "batched", cpus=1, onednn="off"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks/", "--collect-only", "-q", "--quick",
                           "--thread-grid", f"tune:{report}", "-k", "matmul or tuned"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert ids == ["benchmarks/test_epoch.py::test_epoch[seed_cnn-tuned-default]",
                   "benchmarks/test_epoch.py::test_epoch[seed_cnn-tuned-intra2-inter1_batched-npcAUTO_cpus1_onednn-off]",
                   "benchmarks/test_micro.py::test_matmul[matmul-intra2-inter1]",
                   "benchmarks/test_micro.py::test_matmul[matmul-default]"]
    # Recommending TensorFlow's default itself: nothing beyond the default to guard, no tuned case.
    plain = _tune_report(tmp_path / "default.json", Setting())
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks/", "--collect-only", "-q", "--quick",
                           "--thread-grid", f"tune:{plain}", "-k", "tuned"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert "tuned" not in proc.stdout
    (tmp_path / "search.json").write_text(json.dumps({"thread_grid": "2x1,default"}))  # --phase search: none
    with pytest.raises(ValueError, match="no recommendation in it"):
        reporting.guard_from_report(str(tmp_path / "search.json"))


def test_the_tuned_case_survives_the_round_trip_through_pytest_args(tmp_path):
    """A re-measurement and the paired gate rebuild the suite from `pytest_args`: the tuned case must come back."""
    from cifar.suite.settings import SuiteSettings, build_cases, pytest_args

    guard = reporting.guard_from_report(str(_tune_report(tmp_path / "tune.json", Setting(0, 0, "batched"))))
    settings = SuiteSettings(quick=True, tuned=guard["tuned"])
    args = pytest_args(settings)
    assert args[args.index("--thread-grid") + 1] == f"tune:{(tmp_path / 'tune.json').resolve()}"
    (case,) = [c for c in build_cases(settings) if c.id == "seed_cnn-tuned"]
    default, tuned = case.threads
    assert (default.id, tuned.id) == ("default", "default_batched-npcAUTO")
    assert tuned.params["pipeline"]["variant"] == "batched" and not default.params
    assert SuiteSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


def test_collection_ids_follow_the_grid():
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks/", "--collect-only", "-q", "--quick",
                           "--thread-grid", "1x1,default"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert "benchmarks/test_micro.py::test_matmul[matmul-intra1-inter1]" in ids
    assert "benchmarks/test_pipeline.py::test_pipeline[batched-npc1-default]" in ids
    # Pipelines run on tf.data's own threads: under TensorFlow's default only (docs/performance.md).
    assert not any("test_pipeline" in i and "intra1-inter1" in i for i in ids)
    # The calibration kernel always runs once, on one thread, whatever the grid.
    assert "benchmarks/test_micro.py::test_calibration[calibration-intra1-inter1]" in ids
    assert "benchmarks/test_epoch.py::test_epoch[seed_cnn-arrays-default]" in ids
    # calibration, 4 cases x 2 configurations, 2 tf.data epochs and 4 pipelines under the default only (--quick)
    assert len(ids) == 1 + 2 * 4 + 2 + 4


class ArmRunner(FakeRunner):
    """A FakeRunner that logs into a shared list, so the order across both arms is visible."""

    def __init__(self, name, log, fail_for=(), tree=None):
        super().__init__(fail_for)
        self.name, self.log, self.tree = name, log, tree

    def run(self, target, params, config):
        self.log.append((self.name, config.id))
        return super().run(target, params, config)


def test_paired_campaign_alternates_arms_within_each_configuration():
    log = []
    current, baseline = ArmRunner("A", log), ArmRunner("B", log, tree="/base")
    campaign = Campaign(SuiteSettings(grid=GRID[:2]), interleave=True, runner=current, baseline=baseline)
    case = Case("matmul", "matmul", {"rounds": 3}, passes=2)
    result = campaign.result(case, ThreadConfig(1, 1))
    assert log == [("A", "intra1-inter1"), ("B", "intra1-inter1"), ("A", "intra2-inter2"), ("B", "intra2-inter2"),
                   ("B", "intra2-inter2"), ("A", "intra2-inter2"), ("B", "intra1-inter1"), ("A", "intra1-inter1")]
    assert result["durations_per_process"] == [[0.1] * 3, [0.1] * 3]
    info = paired_info("/base", campaign.baseline_result(case, ThreadConfig(1, 1)))
    assert info["tree"] == "/base" and info["durations_per_process"] == [[0.1] * 3, [0.1] * 3]
    assert info["injected_slowdown"] == 0.0
    assert len(info["contention_per_process"]) == 2 and info["contention_per_process"][0]["other_fraction"] == 0.01


def test_paired_campaign_keeps_a_baseline_failure_as_an_error_for_that_benchmark():
    log = []
    campaign = Campaign(SuiteSettings(grid=GRID[:2]), interleave=True, runner=ArmRunner("A", log),
                        baseline=ArmRunner("B", log, fail_for={"intra2-inter2"}))
    case = Case("matmul", "matmul", {"rounds": 2}, passes=2)
    assert campaign.result(case, ThreadConfig(2, 2))["passes"] == 2  # this tree's result is unaffected
    info = paired_info("/base", campaign.baseline_result(case, ThreadConfig(2, 2)))
    assert "error" in info and "durations_per_process" not in info
    assert "SIGSEGV" in info["error"]



# -- where the time goes, and what a user waiting sees (issue 18) -----------------------------------------------
def test_phases_split_each_childs_wall_time():
    from cifar.suite.campaign import Phases

    phases = Phases()
    result = fake_result([0.1, 0.2])
    result["phases"] = {"warmup_seconds": 0.5, "between_rounds_seconds": 0.05}
    result["process"]["child_wall_seconds"] = 2.0
    result["runner"]["parent_wall_seconds"] = 2.1
    phases.add(result)
    assert phases.seconds == pytest.approx({"isolation": 0.1, "setup": 2.0 - 0.3 - 0.5 - 0.05, "warmup": 0.5,
                                            "between_rounds": 0.05, "timed": 0.3})


def test_campaign_accounts_every_child_and_reports_progress():
    seen = []
    runner = FakeRunner()
    campaign = Campaign(SuiteSettings(grid=GRID), interleave=True, runner=runner, progress=seen.append)
    campaign.result(Case("matmul", "matmul", {"rounds": 2}, passes=2), ThreadConfig())
    assert seen == ["matmul"] * 6
    assert campaign.phase_seconds()["timed"] == pytest.approx(6 * 0.2)


def test_progress_counts_down_in_place_on_a_terminal_and_in_lines_elsewhere():
    from cifar.suite.progress import Progress

    now = [0.0]
    out = []
    tty = Progress(4, out.append, isatty=True, clock=lambda: now[0])
    for case in ("epoch-a", "epoch-a", "matmul", "matmul"):
        now[0] += 10
        tty(case)
    tty.end_case()
    assert out[0].startswith("\r\x1b[2K") and "cifar: 1/4 processes, epoch-a: 1, 0:10 elapsed, ~0:30 left" in out[0]
    assert "4/4 processes" in out[-2] and "left" not in out[-2] and out[-1] == "\r\x1b[2K"
    lines = []
    log = Progress(4, lines.append, isatty=False, clock=lambda: now[0], interval=15)
    for case in ("epoch-a", "epoch-a", "matmul", "matmul"):
        now[0] += 10
        log(case)
    log.end_case()
    assert lines[0] == "cifar: measuring epoch-a\n" and all(line.endswith("\n") for line in lines)
    assert "cifar: epoch-a: 2 processes in 0:20 (2/4 of the session)\n" in lines
    quiet = []
    q = Progress(4, quiet.append, isatty=False, verbosity=-1, clock=lambda: now[0])
    q("matmul")
    q.end_case()
    assert quiet == ["cifar: matmul: 1 processes in 0:00 (1/4 of the session)\n"]
    silent = []
    Progress(4, silent.append, isatty=True, verbosity=-2)("matmul")
    assert silent == []


def test_console_scripts_point_at_functions_whose_module_runs_nothing_on_import():
    """Issue 28, item 6: ``cifar-bench`` named ``cifar.__main__:main``, a module that runs the CLI (and exits) when
    imported. Each script's module must import silently; the installed script must answer --help."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"cifar-bench": "cifar.cli:main"}
    for target in scripts.values():
        module, function = target.split(":")
        proc = subprocess.run([sys.executable, "-c", f"import {module} as m; assert callable(m.{function})"],
                              capture_output=True, text=True, timeout=60, cwd=root)
        assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc.stderr


def test_the_installed_console_script_answers_help():
    installed = Path(sys.executable).parent / "cifar-bench"
    if not installed.exists():
        pytest.skip(f"no {installed}: the project is not installed in this interpreter's environment (make installs "
                    f"it)")
    proc = subprocess.run([str(installed), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "gate-check" in proc.stdout


def test_where_the_time_went_is_kept_per_workload_and_names_each_ones_largest_untimed_phase():
    """Issue 31, items 1 and 4: the phases per workload, and the summary's line naming, for each workload, the largest
    phase that is not measurement."""
    from cifar.suite.campaign import Phases
    from cifar.suite.record import phase_line

    phases = Phases()
    epoch = {"durations_seconds": [1.0, 1.0], "phases": {"warmup_seconds": 3.0, "between_rounds_seconds": 0.0},
             "process": {"child_wall_seconds": 6.0}, "runner": {"parent_wall_seconds": 6.5}}
    matmul = {"durations_seconds": [0.2] * 5, "phases": {"warmup_seconds": 0.2},
              "process": {"child_wall_seconds": 3.2}, "runner": {"parent_wall_seconds": 3.4}}
    for result, workload in ((epoch, "epoch"), (epoch, "epoch"), (matmul, "matmul")):
        phases.add(result, workload)
    assert phases.children == {"epoch": 2, "matmul": 1}
    assert phases.by_workload["epoch"] == pytest.approx({"isolation": 1.0, "setup": 2.0, "warmup": 6.0,
                                                         "between_rounds": 0.0, "timed": 4.0})
    assert phases.seconds["setup"] == pytest.approx(2.0 + 2.0)  # the session's totals still add every workload
    line = phase_line({"wall_seconds": 20.0, "timed_fraction": 0.25, "seconds": phases.seconds,
                       "by_workload": {w: {"children": phases.children[w], "seconds": s}
                                       for w, s in phases.by_workload.items()}})
    assert line.splitlines()[1] == ("largest phase that is not measurement, per workload: epoch warmup 6 s of 13, "
                                    "matmul setup 2 s of 3")


def test_every_registered_workload_has_cases_a_benchmark_test_and_a_smoke_form():
    """Adding a workload is: register it, give it cases, name a benchmark test after it (CONTRIBUTING.md); a
    registered workload missing any of them fails here, not silently in nobody's run."""
    import ast
    from pathlib import Path

    from cifar.workloads import WORKLOADS

    root = Path(__file__).resolve().parents[1] / "benchmarks"
    tests = {node.name.removeprefix("test_") for path in root.glob("test_*.py")
             for node in ast.parse(path.read_text()).body if isinstance(node, ast.FunctionDef)}
    with_cases = {c.workload for c in build_cases(SuiteSettings())}
    for name, workload in WORKLOADS.items():
        assert name in tests, f"benchmarks/ has no test_{name}"
        assert name in with_cases, f"build_cases gives {name} no case"
        assert workload.smoke.get("rounds") == 1, f"{name}'s smoke form is not one round"
    assert tests <= set(WORKLOADS), f"benchmark tests without a workload: {sorted(tests - set(WORKLOADS))}"
