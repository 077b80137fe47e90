"""The machine's identity, in one place: what it is (CPU model, the cores this process may use, memory, Python,
TensorFlow) and the fingerprint that keys its baselines, histories and tuning studies.

Reading it never imports TensorFlow: the TensorFlow facts come from a child (`cifar.workloads.environment`) or, for
the fingerprint alone, from the installed package's metadata.

>>> fingerprint({"cpu_model": "AMD EPYC 9B14", "physical_cores": 2, "logical_cores": 2,
...              "tensorflow_version": "2.21.0", "python": "3.11.7"})
'amd-epyc-9b14-2c2t-tf2.21.0-py3.11'
"""

from __future__ import annotations

import os
import platform
import re


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def installed_tensorflow() -> str:
    """The installed TensorFlow's version from its package metadata ("none" if it is not installed)."""
    import importlib.metadata

    try:
        return importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def identity(environment: dict | None = None) -> dict:
    """The machine's facts: CPU model, the usable cores (`cifar.training.threads.cpu_budget`), the affinity mask,
    memory, Python, and TensorFlow's version, Keras' and oneDNN's state from `environment` (a child's report; the
    installed TensorFlow's version without one)."""
    import psutil

    from cifar.training.threads import core_counts

    environment = environment or {}
    physical, logical = core_counts()
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "cpu_model": cpu_model(),
        "physical_cores": physical,
        "logical_cores": logical,
        "cpu_affinity": affinity,
        "memory_bytes": psutil.virtual_memory().total,
        "python": platform.python_version(),
        "tensorflow_version": environment.get("tensorflow_version") or installed_tensorflow(),
        "keras_version": environment.get("keras_version"),
        "onednn_enabled": environment.get("onednn_enabled"),
    }


def fingerprint(info: dict) -> str:
    """``amd-epyc-2c2t-tf2.21.0-py3.11``: CPU model, usable core counts, TensorFlow version, Python minor, from
    `identity`'s keys (the patch level of Python is left out: it does not change what is measured)."""
    python = ".".join(str(info.get("python", "?")).split(".")[:2])
    text = (f"{info.get('cpu_model', 'unknown-cpu')}-{info.get('physical_cores')}c{info.get('logical_cores')}t-"
            f"tf{info.get('tensorflow_version')}-py{python}")
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")
