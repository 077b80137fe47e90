"""The article's claims: which arms each needs, and each verdict judged from fake per-process results."""

import json
import subprocess
import sys

import numpy as np
import pytest

from cifar import claims
from cifar.claims import claim_arms as arms_for, judge_claim as judge, markdown


def processes(seconds_per_round, n=5, items=3200, spread=0.01, seed=0):
    """`n` fake process results whose rounds take about `seconds_per_round`."""
    rng = np.random.default_rng(seed)
    return [{"durations_seconds": list(seconds_per_round * (1 + spread * rng.standard_normal(4))),
             "items_per_round": items} for _ in range(n)]


def test_every_claim_has_its_arms_and_shared_arms_run_once():
    arms = arms_for(list("abcdef"), logical=2)
    names = [a.name for a in arms]
    assert len(names) == len(set(names))
    # b needs 2x and 4x the cores; c the article's (4, 2); f the TF1 path and the legacy session.
    for name in ("epoch arrays intra2-inter2", "epoch arrays intra4-inter4", "epoch arrays intra8-inter8",
                 "epoch arrays intra4-inter2", "epoch arrays default", "matmul graph intra1-inter1-v1",
                 "epoch arrays legacy-session-intra1-inter1", "epoch heavy-npc1 default", "train_step default"):
        assert name in names
    legacy = next(a for a in arms if a.name == "epoch arrays legacy-session-intra1-inter1")
    assert legacy.threads is None and legacy.params["intra"] == 1 and legacy.params["target"] == "cifar.workloads:epoch"
    assert [a.name for a in arms_for(["a"], logical=2)] == ["setting after the runtime started"]


def test_epoch_steps_reach_every_epoch_arm_and_its_words():
    """--epoch-steps 390 (whole CIFAR-10 epochs): every epoch arm of b-f times 390-step epochs, 2 a process, claim
    e's tf.data inputs and claim f's legacy-session epoch included; the other arms keep their own parameters."""
    arms = arms_for(list("abcdef"), logical=2, epoch_steps=390)
    epochs = [a.params.get("params", a.params) for a in arms if a.name.startswith("epoch ")]
    assert len(epochs) == len(claims._grid(2)) + 6 + 1, epochs
    assert all((p["steps"], p["rounds"]) == (390, 2) for p in epochs), epochs
    assert {p["pipeline"]["variant"] for p in epochs if p["pipeline"] != "arrays"} == {"seed", "heavy"}
    matmul = next(a for a in arms if a.name == "matmul default")
    assert matmul.params == claims.MATMUL
    assert all(a.params["steps"] == 20 for a in arms_for(["b"], logical=2))  # the default: short epochs
    results = _grid_results(GRID)
    for arm in results.values():
        for r in arm:
            r["workload"] = {"steps": 390}
    (b, c) = judge(["b", "c"], results, logical=2, epoch_steps=390)
    assert b.measured.startswith("the article's script (whole 390-step epochs):")
    assert b.command == "python -m cifar claims b --epoch-steps 390"  # the table's "reproduce" column
    assert judge(["b"], results, logical=2)[0].command == "python -m cifar claims b"
    assert c.measured.startswith("epoch (whole 390-step epochs): (4, 2)")
    for r in results["epoch arrays default"]:
        r["workload"] = {"steps": 20}
    assert claims.epoch_words({"epoch arrays default": results["epoch arrays default"]}) == "20-step epochs"


def _grid_results(epoch_seconds: dict, matmul_seconds: dict | None = None):
    results = {f"epoch arrays {config}": processes(s, seed=i) for i, (config, s) in enumerate(epoch_seconds.items())}
    for i, (config, s) in enumerate((matmul_seconds or {}).items()):
        results[f"matmul {config}"] = processes(s, items=30, seed=100 + i)
    return results


GRID = {"intra1-inter1": 1.0, "intra2-inter2": 0.6, "intra4-inter4": 0.66, "intra4-inter2": 0.62,
        "intra8-inter8": 0.9, "default": 0.6}


def test_oversubscription_slower_is_confirmed():
    (b,) = judge(["b"], _grid_results(GRID), logical=2)
    assert b.verdict == "confirmed: oversubscribing is slower here"
    assert "4x the 2 cores: 0.667x" in b.measured
    assert b.details["4x"]["config"] == "intra8-inter8"


def test_oversubscription_not_seen_is_said_plainly():
    flat = {k: 0.6 for k in GRID}
    (b,) = judge(["b"], _grid_results(flat), logical=2)
    assert b.verdict == "not seen here: no measurable difference"


def test_article_setting_against_default_and_best():
    (c,) = judge(["c"], _grid_results({**GRID, "intra2-inter2": 0.5}), logical=2)
    assert c.details["best"] == "intra2-inter2"
    assert c.verdict == "confirmed: (4, 2) is not the best setting here"
    (c,) = judge(["c"], _grid_results({**GRID, "intra4-inter2": 0.5}), logical=2)
    assert c.verdict.startswith("not seen here: (4, 2) is within noise of the best")
    assert "(4, 2) is the best" in c.measured and "of the best" not in c.measured


def test_an_arm_against_itself_is_named_not_shown_as_measured():
    """When default is both the epoch's best and the matmul's pick, claims c and d name it; they used to print an
    arm's ratio to itself ("the grid's best, default, 1.000x [1.000, 1.000] of default") as if it were measured."""
    grid = {**GRID, "default": 0.5}
    (c, d) = judge(["c", "d"], _grid_results(grid, {k: 2 * v for k, v in grid.items()}), logical=2)
    assert "the grid's best is default itself" in c.measured and "[1.000, 1.000]" not in c.measured
    assert c.measured.count("of default") == 1 and "of the best" not in c.measured
    assert d.details["matmul_best"] == d.details["epoch_best"] == "default"
    assert d.measured.endswith("the matmul's pick is the epoch's best") and "[1.000, 1.000]" not in d.measured


def test_matmul_pick_against_the_epoch_pick():
    matmul = {k: 1.0 for k in GRID} | {"intra8-inter8": 0.5}  # the matmul likes 8 threads, the epoch does not
    (d,) = judge(["d"], _grid_results(GRID, matmul), logical=2)
    assert d.details["matmul_best"] == "intra8-inter8"
    assert d.verdict == "confirmed: the matmul picks a configuration the epoch runs measurably slower"
    (d,) = judge(["d"], _grid_results(GRID, {k: 2 * v for k, v in GRID.items()}), logical=2)
    assert d.verdict == "here the matmul picks a configuration as good as the epoch's best"


def test_matmul_pick_ignores_claim_f_graph_mode_arms():
    # Run together with claim f, its `matmul graph intra2-inter2-v1` arm was the fastest matmul and claim d looked
    # for an epoch arm of that name: "could not be judged: KeyError".
    results = _grid_results(GRID, {k: 2 * v for k, v in GRID.items()})
    results["matmul graph intra2-inter2-v1"] = processes(0.3, items=30, seed=50)
    results["matmul legacy-session-intra1-inter1"] = processes(0.3, items=30, seed=51)
    (d,) = judge(["d"], results, logical=2)
    assert d.verdict == "here the matmul picks a configuration as good as the epoch's best"
    assert d.details["matmul_best"] in GRID


def _input_results(alone: dict, epoch_default: dict, epoch_one: dict, step_seconds=0.2):
    results = {"train_step default": processes(step_seconds, items=1280)}
    for name in claims.INPUTS:
        results[f"pipeline {name} default"] = processes(alone[name], items=2560)
        results[f"epoch {name} default"] = processes(epoch_default[name])
        results[f"epoch {name} intra1-inter1"] = processes(epoch_one[name], seed=7)
    return results


def test_input_bound_verdict_flips_and_thread_gain_shrinks():
    # train step 6,400 images/s; seed's pipeline alone 25,600 (compute-bound), heavy-npc1 2,560 (input-bound).
    results = _input_results(alone={"seed-npcAUTO": 0.1, "heavy-npc1": 1.0, "heavy-npcAUTO": 0.2},
                             epoch_default={"seed-npcAUTO": 0.6, "heavy-npc1": 1.2, "heavy-npcAUTO": 0.8},
                             epoch_one={"seed-npcAUTO": 0.9, "heavy-npc1": 1.25, "heavy-npcAUTO": 1.1})
    (e,) = judge(["e"], results, logical=2)
    assert e.details["seed-npcAUTO"]["verdict"] == "compute-bound"
    assert e.details["heavy-npc1"]["verdict"] == "input-bound"
    assert e.verdict == "confirmed: the verdict flips, and threads gain less when the input is the bottleneck"
    same = _input_results(alone={k: 0.1 for k in claims.INPUTS}, epoch_default={k: 0.6 for k in claims.INPUTS},
                          epoch_one={k: 0.9 for k in claims.INPUTS})
    (e,) = judge(["e"], same, logical=2)
    assert e.verdict == "not seen here: every input compute-bound"


def test_legacy_config_proto_reach():
    results = {"matmul graph intra1-inter1-v1": processes(1.2, items=30),
               "matmul graph intra2-inter2-v1": processes(0.6, items=30),
               "matmul default": processes(0.6, items=30), "matmul intra1-inter1": processes(1.2, items=30, seed=3),
               "matmul legacy-session-intra1-inter1": processes(1.2, items=30, seed=4),
               "epoch arrays default": processes(0.6), "epoch arrays intra1-inter1": processes(0.9, seed=5),
               "epoch arrays legacy-session-intra1-inter1": [
                   {**p, "legacy_read_back": {"session_config": [1, 1], "tf_config_threading": [0, 0]}}
                   for p in processes(0.9, seed=6)]}
    (f,) = judge(["f"], results, logical=2)
    assert f.verdict.startswith("graph code: reached; eager ops: reached")
    assert "Keras: reached" in f.verdict and "reads back (0, 0)" in f.verdict
    results["epoch arrays legacy-session-intra1-inter1"] = processes(0.6, seed=8)
    (f,) = judge(["f"], results, logical=2)
    assert "Keras: not measurably reached" in f.verdict


def test_a_failed_arm_is_reported_not_measured_and_the_rest_is_judged():
    results = _grid_results(GRID)
    results["epoch arrays intra8-inter8"] = [{"error": "ChildCrashed: killed by SIGKILL"}] * 5
    b, c = judge(["b", "c"], results, logical=2)
    assert b.verdict == "not measured" and "could not be judged" in b.measured
    assert c.details["best"] in ("intra2-inter2", "default")


def test_markdown_table_escapes_pipes_and_names_the_command():
    (b,) = judge(["b"], _grid_results(GRID), logical=2)
    text = markdown([b], "on a test machine")
    assert text.startswith("Measured on a test machine.")
    assert "| b | More threads is not more speed" in text and "`python -m cifar claims b` |" in text


@pytest.mark.parametrize(("args", "message"), [(["z"], "unknown claim(s) z; choose from a b c d e f"),
                                               (["--processes", "1"], "--processes must be >= 2"),
                                               (["--epoch-steps", "0"], "--epoch-steps")])
def test_bad_claims_input_is_one_line(args, message):
    proc = subprocess.run([sys.executable, "-m", "cifar", "claims", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_claim_a_for_real(tmp_path):
    out = tmp_path / "claims.json"
    proc = subprocess.run([sys.executable, "-m", "cifar", "claims", "a", "--processes", "2", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "confirmed: refused, not silently ignored" in proc.stdout
    (a,) = json.loads(out.read_text())["claims"]
    assert "cannot be modified after initialization" in a["details"]["error_after"]
    assert a["details"]["read_back_before"] == a["details"]["read_back_after"] == [1, 1]
