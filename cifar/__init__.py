"""CIFAR-10 thread benchmarks for TensorFlow on CPU.

Importing ``cifar`` never imports TensorFlow: TensorFlow is imported only inside the isolated child
processes that `cifar.isolation.runner.Runner` starts, so each thread configuration gets a fresh runtime.
"""

from cifar.isolation.errors import ChildCrashed, ChildError, ChildFailed, ChildTimeout, ZygoteError
from cifar.isolation.runner import Runner
from cifar.training.threads import ThreadConfig, ThreadConfigError, parse_grid, thread_grid

__all__ = [
    "ChildCrashed",
    "ChildError",
    "ChildFailed",
    "ChildTimeout",
    "Runner",
    "ThreadConfig",
    "ThreadConfigError",
    "ZygoteError",
    "parse_grid",
    "thread_grid",
]
__version__ = "0.1.0"
