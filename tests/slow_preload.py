"""A zygote preload for tests/test_runner.py: takes 1 s to import and appends ``pid start end`` (time.time) to the
file named by $CIFAR_TEST_PRELOAD_LOG, so a test can see whether two zygotes imported at the same time."""

import os
import time

_start = time.time()
time.sleep(1.0)
with open(os.environ["CIFAR_TEST_PRELOAD_LOG"], "a") as _log:
    _log.write(f"{os.getpid()} {_start} {time.time()}\n")
