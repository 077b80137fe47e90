"""Tiny non-TensorFlow child targets for testing the runner: return, raise, hang, exit, crash."""

import os
import signal
import sys
import time


def returns(value=1):
    return {"value": value, "pid": os.getpid(), "tensorflow_imported": "tensorflow" in sys.modules}


def raises(message="boom"):
    raise ValueError(message)


def hangs(seconds=3600):
    time.sleep(seconds)
    return {}


def exits(code=3):
    print("about to exit", file=sys.stderr, flush=True)
    os._exit(code)


def segfaults():
    print("about to segfault", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(10)
    return {}


def kills_its_parent_then_hangs(pid_file, seconds=3600):
    """Kill the process that forked us (the zygote), then hang: an orphan the runner must kill."""
    with open(pid_file, "w") as f:
        f.write(str(os.getpid()))
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(seconds)
    return {}


def writes_pid_then_hangs(pid_file, seconds=3600):
    with open(pid_file, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)
    return {}


def affinity():
    return {"affinity": sorted(os.sched_getaffinity(0))}


def getenv(name):
    return {"value": os.environ.get(name)}
