"""The parent's side of the zygote (`cifar.isolation.zygote`): start it, ask it to fork, wait for the child.

The protocol is JSON lines over the zygote's stdin/stdout: ``{"ready": true}`` once; then per request
``{"spec": …, "log_path": …}`` the zygote forks and answers ``{"pid": N}``, then ``{"pid": N, "returncode": R}``
when the child ends. Every wait has a limit; end of file (the zygote died) is told apart from a timeout.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from cifar.isolation.errors import ChildTimeout, ZygoteError, tail

#: How long the zygote may take to import its preloads before it is considered broken.
ZYGOTE_START_TIMEOUT_SECONDS = 120.0
#: How long the zygote may take to confirm a fork (it forks at once: a few ms) before it is considered broken.
FORK_TIMEOUT_SECONDS = 30.0


class ZygoteGone(Exception):
    """The zygote's stdout reached end of file: the zygote exited or was killed."""


class ForkServer:
    """One zygote process: `start` it, then `run` one child at a time in it; `discard` kills it.

    ``module``: the zygote's module (a baseline tree from before the package was reorganised has its own).
    """

    def __init__(self, module: str, preload: tuple[str, ...], warm: tuple, env: dict, cwd: str | None, log: Path,
                 fork_timeout: float = FORK_TIMEOUT_SECONDS):
        self.module, self.preload, self.warm, self.env, self.cwd, self.log = module, preload, warm, env, cwd, log
        self.fork_timeout = fork_timeout
        self.process: subprocess.Popen | None = None
        self.running: int | None = None  # the pid of the child now running
        self._pending = b""  # bytes read from the zygote, not yet a whole line
        self.ready = False  # the zygote said it is ready to fork

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """`launch` and `wait_ready`."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the zygote's process (it imports its preloads) and return at once."""
        self._pending = b""
        self.ready = False
        with open(self.log, "wb") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module,
                 json.dumps({"preload": list(self.preload), "warm": [list(w) for w in self.warm],
                             "parent_pid": os.getpid()})],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file, cwd=self.cwd, env=self.env)

    def wait_ready(self) -> None:
        """Wait for a launched zygote's ready line; `ZygoteError` (the zygote discarded) if it does not come."""
        try:
            message = self.read(ZYGOTE_START_TIMEOUT_SECONDS)
            how = (f"did not answer within {ZYGOTE_START_TIMEOUT_SECONDS:g} s" if message is None
                   else f"answered {message!r} instead of ready")
        except ZygoteGone:
            message, how = None, "exited"
        if message is None or not message.get("ready"):
            self.discard()
            raise ZygoteError(f"zygote did not start: it {how} (preload={list(self.preload)})", "", tail(self.log))
        self.ready = True

    def run(self, spec: dict, log_path: Path, limit: float, command: str) -> int:
        """Fork one child for `spec` and wait for it; its exit code. Raises `ZygoteError`, `ChildTimeout`."""
        try:
            self.process.stdin.write((json.dumps({"spec": spec, "log_path": str(log_path)}) + "\n").encode())
            self.process.stdin.flush()
        except BrokenPipeError:
            self.discard()
            raise ZygoteError("zygote died before the request was sent; it restarts on the next run", command) from None
        deadline = time.monotonic() + limit
        # The zygote forks at once: waiting the child's whole limit for that would hide a dead or stuck zygote.
        fork_limit = min(self.fork_timeout, limit)
        try:
            started = self.read(fork_limit)
        except ZygoteGone:
            started = None
        if started is None:
            self._fail(f"zygote did not confirm the fork within {fork_limit:g} s (died or stopped answering)", command)
        pid = self.running = started["pid"]
        try:
            done = self.read(max(0.0, deadline - time.monotonic()))
        except ZygoteGone:
            # The zygote died while its child ran: the child is an orphan now, and its result cannot be trusted.
            self.kill_running()
            self._fail(f"zygote died while child pid {pid} ran; the child was killed", command, log_path)
        except BaseException:
            # E.g. Ctrl-C while waiting: the child must not outlive the run, and the zygote's report of it would
            # be read as the next fork's reply, so the zygote goes too (the next run starts a new one).
            self.kill_running()
            self.discard()
            raise
        if done is None:
            self.kill_running()
            try:  # the zygote reaps the killed child and reports it; wait briefly so it stays usable
                reaped = self.read(10.0)
            except ZygoteGone:
                reaped = None
            if reaped is None:
                self.discard()
            raise ChildTimeout(f"child pid {pid} ran past its {limit:g} s timeout and was killed", command,
                               tail(log_path))
        self.running = None
        return done["returncode"]

    def read(self, limit: float) -> dict | None:
        """One JSON line from the zygote within `limit` seconds; None on timeout; `ZygoteGone` at end of file.

        Reads the pipe with os.read into our own buffer: a buffered file's readline() could swallow two
        replies at once, and select() would then wait for data that already arrived.
        """
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + limit
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise ZygoteGone()
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return json.loads(line)

    def kill_running(self) -> None:
        """SIGKILL the child now running, if any (the zygote reaps it)."""
        pid, self.running = self.running, None
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def discard(self) -> None:
        """Kill the zygote (and its running child) at once."""
        self.kill_running()
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def close(self) -> None:
        """End the zygote politely (EOF on its stdin), killing it after 10 s; kill a child still running."""
        self.kill_running()
        if self.process is None:
            return
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process = None

    def _fail(self, message: str, command: str, log_path: Path | None = None):
        text = "\n".join(t for t in (tail(log_path), tail(self.log)) if t)
        self.discard()
        raise ZygoteError(message, command, text)
