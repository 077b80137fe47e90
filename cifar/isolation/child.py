"""The child side of the isolated runner: apply a thread configuration, run one workload, write JSON.

Runs either inside a process forked from the zygote or as ``python -m cifar.isolation.child SPEC`` (SPEC: a JSON
file or inline JSON); the second form is also how to rerun any child by hand — the runner logs that
command for every failure. Without ``result_path`` the result is printed to stdout.

A spec is plain JSON::

    {"target": "cifar.workloads:matmul", "params": {"rounds": 5},
     "threads": {"intra_op_parallelism_threads": 1, "inter_op_parallelism_threads": 1, "api": "tf2"},
     "result_path": "/tmp/x/result.json"}

An optional ``"cpus": [0]`` sets the child's CPU affinity first, before TensorFlow starts any thread (threads
inherit the mask of the thread that creates them).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import resource
import sys
import time
import traceback

from cifar.files import write_json_atomic
from cifar.isolation.lifetime import PARENT_ENV, die_with_parent


def load_target(target: str):
    """``"package.module:function"`` -> the function."""
    module_name, _, func_name = target.partition(":")
    if not module_name or not func_name:
        raise ValueError(f"target must look like 'module:function', got {target!r}")
    return getattr(importlib.import_module(module_name), func_name)


def execute(spec: dict) -> dict:
    """Apply the spec's threads (if any), run its target, return the target's dict plus process facts.

    For ``api="compat_v1"`` the target gets the Session as ``session=`` (graph code runs in it); a target
    without that parameter cannot run TF1 code, which is an error naming it."""
    from cifar.training import threads

    wall_start = time.perf_counter()
    if spec.get("cpus") is not None:
        os.sched_setaffinity(0, spec["cpus"])
    legacy = None
    config = None
    target = load_target(spec["target"])
    params = dict(spec.get("params", {}))
    if spec.get("threads") is not None:
        config = threads.ThreadConfig.from_dict(spec["threads"])
        if config.api == "compat_v1" and "session" not in inspect.signature(target).parameters:
            raise ValueError(f"{spec['target']} runs eager TF2 code only: api='compat_v1' needs a workload that "
                             "takes session= (cifar.workloads:matmul)")
        legacy = threads.apply_thread_config(config)
        if legacy is not None:
            params["session"] = legacy.session
    result = dict(target(**params))
    if spec.get("cpus") is not None:
        result["cpus"] = sorted(os.sched_getaffinity(0))
    # Read at TensorFlow's import (the zygote's): what this child's TensorFlow runs with, for the read-back: the
    # variable as set, and whether TensorFlow did turn oneDNN on (None: TensorFlow not imported).
    result["environment_applied"] = {"TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}
    result["onednn_applied"] = threads.onednn_enabled()
    if config is not None:
        result["threads_requested"] = config.to_dict()
        result["threads_applied"] = threads.read_back(legacy)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.setdefault("process", {}).update(
        {
            "pid": os.getpid(),
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_bytes": usage.ru_maxrss * 1024,  # Linux reports KiB
            "child_wall_seconds": time.perf_counter() - wall_start,
        }
    )
    return result


def _report(spec: dict, payload: dict) -> None:
    if spec.get("result_path"):
        write_json_atomic(spec["result_path"], payload, indent=None)
    else:
        print(json.dumps(payload, indent=2))


def main(spec: dict) -> int:
    """Run `spec`, write its result (or the traceback) to ``spec["result_path"]``; return the exit code."""
    try:
        result = execute(spec)
    except BaseException as err:  # noqa: BLE001 - everything must reach the parent as text
        error = {"type": type(err).__name__, "message": str(err), "traceback": traceback.format_exc()}
        _report(spec, {"error": error})
        return 1
    _report(spec, {"result": result})
    return 0


def _load_spec(arg: str) -> dict:
    if arg.lstrip().startswith("{"):
        return json.loads(arg)
    with open(arg) as f:
        return json.load(f)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m cifar.isolation.child SPEC  (a JSON file, or inline JSON)")
    if os.environ.get(PARENT_ENV):  # spawned by a Runner (not rerun by hand): die with it
        die_with_parent(int(os.environ[PARENT_ENV]))
    sys.exit(main(_load_spec(sys.argv[1])))
