"""How a child can fail, each with its own name. Every error carries the command that reruns the child by hand
and the last lines of its output."""

from __future__ import annotations

import signal
from pathlib import Path

STDERR_TAIL_LINES = 20


class ChildError(RuntimeError):
    """A child did not return a result. ``command`` reruns it by hand; ``stderr_tail`` is its last output."""

    def __init__(self, message: str, command: str = "", stderr_tail: str = ""):
        self.command = command
        self.stderr_tail = stderr_tail
        full = message
        if command:
            full += f"\n  rerun by hand: {command}"
        if stderr_tail:
            full += f"\n  last lines of stderr:\n{indent(stderr_tail)}"
        super().__init__(full)


class ChildFailed(ChildError):
    """The child raised; ``traceback`` is the child's own traceback text."""

    def __init__(self, error: dict, command: str = "", stderr_tail: str = ""):
        self.error_type = error.get("type", "")
        self.traceback = error.get("traceback", "")
        super().__init__(f"child raised {self.error_type}: {error.get('message', '')}\n{indent(self.traceback)}",
                         command, stderr_tail)


class ChildCrashed(ChildError):
    """The child exited without a result: a non-zero exit code, a signal, or exit 0 having written nothing."""

    def __init__(self, returncode: int, command: str = "", stderr_tail: str = ""):
        self.returncode = returncode
        self.signal_name = signal.Signals(-returncode).name if returncode < 0 else None
        how = f"was killed by {self.signal_name}" if self.signal_name else f"exited with code {returncode}"
        super().__init__(f"child {how} without a result", command, stderr_tail)


class ChildTimeout(ChildError, TimeoutError):
    """The child ran past its timeout and was killed."""


class ZygoteError(ChildError):
    """The zygote process failed to start, died, or stopped answering; the next `Runner.run` starts a new one."""


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


def tail(path: Path | None, lines: int = STDERR_TAIL_LINES) -> str:
    """The last `lines` lines of a log file; empty if there is none (missing, or not a file)."""
    if path is None:
        return ""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
