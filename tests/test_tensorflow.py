"""The few real-TensorFlow tests; each runs in a runner child, never in pytest's process."""

import json
import subprocess
import sys

import pytest

from cifar.runner import ChildFailed
from cifar.threads import ThreadConfig

pytestmark = pytest.mark.slow


def test_thread_settings_read_back_differently(tf_runner):
    results = {}
    for config in (ThreadConfig(1, 1), ThreadConfig(2, 2)):
        results[config.id] = tf_runner.run("cifar.workloads:matmul", {"rounds": 1, "warmup_rounds": 1}, config)
    one, two = results["intra1-inter1"], results["intra2-inter2"]
    assert one["threads_applied"]["intra_op_parallelism_threads"] == 1
    assert one["threads_applied"]["inter_op_parallelism_threads"] == 1
    assert two["threads_applied"]["intra_op_parallelism_threads"] == 2
    assert two["threads_applied"]["inter_op_parallelism_threads"] == 2
    # More pool threads really exist as OS threads in the child.
    assert two["threads_applied"]["os_threads"] > one["threads_applied"]["os_threads"]
    assert one["threads_requested"] == ThreadConfig(1, 1).to_dict()
    for result in results.values():
        assert len(result["durations_seconds"]) == 1 and result["durations_seconds"][0] > 0
        assert result["items_per_round"] == 30 and result["unit"] == "products"


def test_compat_v1_session_applies_config_proto(tf_runner):
    result = tf_runner.run("cifar.workloads:matmul", {"rounds": 1, "warmup_rounds": 0, "products": 2},
                           ThreadConfig(1, 2, api="compat_v1"))
    assert result["threads_applied"]["intra_op_parallelism_threads"] == 1
    assert result["threads_applied"]["inter_op_parallelism_threads"] == 2


def test_applying_after_an_op_names_the_pitfall(tf_runner):
    with pytest.raises(ChildFailed) as info:
        tf_runner.run("tests.tf_workers:op_then_configure")
    assert info.value.error_type == "ThreadConfigError"
    assert "before the first op" in str(info.value)
    assert "cannot be modified after initialization" in str(info.value)


def test_synthetic_data_is_learnable(tf_runner):
    result = tf_runner.run("tests.tf_workers:learn_synthetic", {"steps": 300})
    assert result["loss_after"] < 0.8 * result["loss_before"]
    assert result["accuracy"] > 0.3  # chance is 0.1


@pytest.mark.parametrize("variant", ["seed", "batched"])
def test_pipeline_variants_agree(tf_runner, variant):
    stats = tf_runner.run("tests.tf_workers:pipeline_stats", {"variant": variant, "n": 1024})
    assert stats["n"] == 1024
    assert stats["shapes"] == [[32, 32, 3]]
    assert stats["dtypes"] == [["float32", "uint8"]]
    assert 0.0 <= stats["min"] and stats["max"] <= 1.0 and stats["max"] > 0.5
    assert stats["other"] == 0  # every image is its original or its mirror image
    assert 0.4 < stats["flipped"] / stats["n"] < 0.6
    assert stats["labels_match"]


def test_pipeline_thread_options_keep_the_output(tf_runner):
    stats = tf_runner.run("tests.tf_workers:pipeline_stats",
                          {"variant": "batched", "n": 256, "num_parallel_calls": 2, "private_threadpool_size": 2})
    assert stats["n"] == 256 and stats["other"] == 0


@pytest.mark.parametrize("model,params", [("seed_cnn", 167_562), ("resnet20", 271_098)])
def test_models_match_their_definitions(tf_runner, model, params):
    result = tf_runner.run("tests.tf_workers:model_facts", {"name": model})
    assert result["params"] == params
    assert result["output_shape"] == [None, 10]
    assert result["loss"] == "sparse_categorical_crossentropy" and result["optimizer"] == "adam"


def test_cli_trains_on_synthetic_data(tmp_path):
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "cifar", "train", "--intra", "1", "--inter", "1", "--epochs", "2", "--batch-size", "64",
         "--data", "synthetic", "--n-train", "2000", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "source: synthetic" in proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and "images/s" in lines[0] and "val_accuracy" in lines[0]
    report = json.loads(out.read_text())
    assert report["threads_applied"]["intra_op_parallelism_threads"] == 1
    assert report["threads_applied"]["inter_op_parallelism_threads"] == 1
    assert [e["epoch"] for e in report["epochs"]] == [1, 2]
    assert all(e["images_per_s"] > 0 and 0 <= e["val_accuracy"] <= 1 for e in report["epochs"])


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--intra", "-1"], "--intra: must be >= 0, got -1"),
     (["--epochs", "two"], "--epochs: expected an integer, got 'two'"),
     (["--data", "/no/such/cifar"], "/no/such/cifar: no such file or directory"),
     (["--validation-split", "1.5"], "validation_split must be in [0, 1), got 1.5")],
    ids=["negative-intra", "non-int-epochs", "missing-data", "bad-split"],
)
def test_cli_bad_input_is_one_clear_line(args, message):
    proc = subprocess.run([sys.executable, "-m", "cifar", "train", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_pipeline_injection_spins_inside_every_recorded_round(tf_runner):
    # The same busy-wait as the other workloads: one spin per recorded round (none in the warm-up round),
    # lasting `inject` x the round's own work, inside the timed region; no extra batches are pulled.
    result = tf_runner.run("tests.tf_workers:pipeline_injected", {"inject": "0.10", "batches": 20})
    assert result["injected_slowdown"] == pytest.approx(0.10)
    assert result["items_per_round"] == 20 * 16
    assert len(result["spins"]) == len(result["durations"]) == 3
    for recorded, spin in zip(result["durations"], result["spins"]):
        assert spin > 0
        assert recorded >= spin * 1.10 / 0.10  # the round's work (spin / 0.10) plus the spin itself


def test_paired_run_end_to_end(tmp_path):
    """pytest benchmarks/ --baseline-tree: both arms measured, saved in pytest-benchmark's JSON, gated."""
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    tree = tmp_path / "base"
    shutil.copytree(root / "cifar", tree / "cifar", ignore=shutil.ignore_patterns("__pycache__"))
    # A real checkout has its own conftest.py registering the same options: it must not be loaded.
    shutil.copy(root / "conftest.py", tree / "conftest.py")
    out = tmp_path / "paired.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks/", "--quick", "--thread-grid", "default",
                           "--passes", "2", f"--baseline-tree={tree}", "-k", "test_matmul", "-q",
                           "-p", "no:cacheprovider", f"--benchmark-json={out}"],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (bench,) = json.loads(out.read_text())["benchmarks"]
    paired = bench["extra_info"]["paired_baseline"]
    assert paired["tree"] == str(tree) and paired["passes"] == 2
    assert len(paired["durations_per_process"]) == 2 and all(d > 0 for p in paired["durations_per_process"] for d in p)
    assert len(bench["extra_info"]["durations_per_process"]) == 2
    assert bench["extra_info"]["definition"] == {"name": "matmul", "products": 30}  # what the gate matches on
    gate = subprocess.run([sys.executable, "-m", "cifar", "gate", str(out), "--no-remeasure"],
                          cwd=root, capture_output=True, text=True, timeout=120)
    # 2 processes a side can never reach p < alpha, and the gate says so instead of pretending.
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "against the baseline arm" in gate.stdout and "2 processes per arm" in gate.stdout
    assert "use more --passes" in gate.stdout
