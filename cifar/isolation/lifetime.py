"""No process of a run outlives it: the zygote and every child ask the kernel to kill them when their parent dies.

Ending the parent politely (EOF on the zygote's stdin) is not enough: the zygote reads it only between children,
so a SIGTERM or SIGKILL to ``pytest`` left the zygote, and the child it was waiting for, running until that child
finished. ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` makes the kernel send SIGKILL the moment the parent exits, however
it exits. The parent may already have died before the call: the parent's pid is checked right after it.
"""

from __future__ import annotations

import os
import signal
import sys

#: From <linux/prctl.h>.
PR_SET_PDEATHSIG = 1
#: The variable that carries the runner's pid to a spawned child (``python -m cifar.isolation.child``).
PARENT_ENV = "CIFAR_ISOLATION_PARENT"


def die_with_parent(parent_pid: int) -> bool:
    """Be killed (SIGKILL) when the parent exits, and exit at once if `parent_pid` is no longer the parent (it died
    before this call; the kernel only signals deaths that happen after it). False where the kernel has no such
    call (not Linux): then the parent's own clean-up is all there is."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    if os.getppid() != parent_pid:
        os._exit(1)
    return True
