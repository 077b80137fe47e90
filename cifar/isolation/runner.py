"""Run one workload under one thread configuration in its own process, and get plain JSON back.

Two modes:

``zygote`` (default)
    A long-lived process imports TensorFlow once, never runs an op, and forks a fresh child per request
    (a few ms instead of a ~2.3 s interpreter start). Forking is only safe because the zygote never runs
    an op: TensorFlow's thread pools start with the first op, and forking a process with live pools
    hangs or crashes the child (TF issues #2448, #51832).
``spawn``
    ``python -m cifar.isolation.child SPEC.json`` per request: slower, but nothing is shared. For comparison and as a
    fallback.

Every wait has a timeout; a hung child is killed (SIGKILL) and `ChildTimeout` raised. The caller's process
never imports TensorFlow.

>>> from cifar.isolation.runner import Runner
>>> from cifar.training.threads import ThreadConfig, check_thread_config
>>> with Runner() as runner:                                   # doctest: +SKIP
...     result = runner.run("cifar.workloads:matmul", {"rounds": 5}, ThreadConfig(1, 1))
>>> result["threads_applied"]                                  # doctest: +SKIP
{'intra_op_parallelism_threads': 1, 'inter_op_parallelism_threads': 1, 'os_threads': 9}
"""

from __future__ import annotations

import json
import logging
import os
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cifar.training.threads import ThreadConfig, check_thread_config

log = logging.getLogger(__name__)

MODES = ("zygote", "spawn")
DEFAULT_TIMEOUT_SECONDS = 600.0
#: How long the zygote may take to import its preloads before it is considered broken.
ZYGOTE_START_TIMEOUT_SECONDS = 120.0
#: How long the zygote may take to confirm a fork (it forks at once: a few ms) before it is considered broken.
FORK_TIMEOUT_SECONDS = 30.0
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
            full += f"\n  last lines of stderr:\n{_indent(stderr_tail)}"
        super().__init__(full)


class ChildFailed(ChildError):
    """The child raised; ``traceback`` is the child's own traceback text."""

    def __init__(self, error: dict, command: str = "", stderr_tail: str = ""):
        self.error_type = error.get("type", "")
        self.traceback = error.get("traceback", "")
        super().__init__(f"child raised {self.error_type}: {error.get('message', '')}\n{_indent(self.traceback)}", command, stderr_tail)


class ChildCrashed(ChildError):
    """The child exited non-zero without reporting an error, or was killed by a signal."""

    def __init__(self, returncode: int, command: str = "", stderr_tail: str = ""):
        self.returncode = returncode
        self.signal_name = signal.Signals(-returncode).name if returncode < 0 else None
        how = f"was killed by {self.signal_name}" if self.signal_name else f"exited with code {returncode}"
        super().__init__(f"child {how} without a result", command, stderr_tail)


class ChildTimeout(ChildError, TimeoutError):
    """The child ran past its timeout and was killed."""


class ZygoteError(ChildError):
    """The zygote process failed to start, died, or stopped answering; the next `Runner.run` starts a new one."""


class _ZygoteGone(Exception):
    """The zygote's stdout reached end of file: the zygote exited or was killed."""


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


def _tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:  # missing, or not a file: no tail to show
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def child_env(base: dict | None = None, tree: str | os.PathLike | None = None, unset: tuple[str, ...] = ()) -> dict:
    """The environment children run in: the parent's, plus the parent's import path.

    ``tree``: a checkout whose ``cifar`` package the children import instead of ours (the baseline arm of
    a paired run); ``unset``: variables the children must not see.
    """
    env = dict(os.environ if base is None else base)
    for name in unset:
        env.pop(name, None)
    path = [p for p in sys.path if p]
    if tree is not None:
        path.insert(0, str(Path(tree).resolve()))
    env["PYTHONPATH"] = os.pathsep.join(path)
    # numpy's OpenBLAS would start its own thread pool in every child and compete with TensorFlow's
    # pools, blurring what the thread settings under test do. TensorFlow does not use OpenBLAS.
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    return env


class Runner:
    """Runs ``module:function`` targets in isolated child processes; see the module docstring.

    ``preload``: modules the zygote imports before forking (``("tensorflow",)`` for real workloads,
    ``()`` for tests that must not pay for TensorFlow). ``warm``: ``(target, params)`` calls the zygote
    makes once before forking, to fill caches children inherit; they must not run a TensorFlow op.
    ``tree``: run the ``cifar`` package of another checkout (e.g. ``git worktree add ../base main``) instead
    of this one; ``unset``: environment variables its children must not inherit.
    """

    def __init__(
        self,
        mode: str = "zygote",
        preload: tuple[str, ...] = ("tensorflow",),
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        workdir: str | os.PathLike | None = None,
        warm: tuple[tuple[str, dict], ...] = (),
        tree: str | os.PathLike | None = None,
        unset: tuple[str, ...] = (),
        fork_timeout: float = FORK_TIMEOUT_SECONDS,
    ):
        if mode not in MODES:
            raise ValueError(f"runner mode must be one of {MODES}, got {mode!r}")
        if tree is not None and not (Path(tree) / "cifar" / "__init__.py").is_file():
            raise ValueError(f"{tree}: not a checkout of this project (no cifar/__init__.py)")
        self.tree = None if tree is None else str(Path(tree).resolve())
        self.unset = tuple(unset)
        self.mode = mode
        self.preload = tuple(preload)
        self.warm = tuple(warm)
        self.timeout = float(timeout)
        self.fork_timeout = float(fork_timeout)
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="cifar-runner-")
        self.workdir = Path(workdir or self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._zygote: subprocess.Popen | None = None
        self._pending = b""  # bytes read from the zygote, not yet a whole line
        self._zygote_log: Path | None = None
        self._count = 0
        self.zygote_starts = 0
        self._running: int | None = None  # pid of the child now running, so every exit path can kill it

    # -- public ---------------------------------------------------------------------------------------
    def run(self, target: str, params: dict | None = None, threads: ThreadConfig | None = None,
            timeout: float | None = None) -> dict:
        """Run ``target(**params)`` in a fresh child under `threads`; return its JSON-able result dict.

        Adds ``runner`` (mode, isolation overhead in seconds). Raises `ChildFailed`, `ChildCrashed`,
        `ChildTimeout` or `ZygoteError`; `ThreadCountError` at once, before any process starts, for a thread
        count far beyond this machine's cores.
        """
        if threads is not None:
            check_thread_config(threads)
        self._count += 1
        stem = self.workdir / f"child-{self._count:05d}"
        spec = {
            "target": target,
            "params": params or {},
            "threads": threads.to_dict() if threads is not None else None,
            "result_path": str(stem) + ".result.json",
        }
        # A reused work folder may hold an earlier Runner's files of the same name: a crashed child must not
        # be credited with their result.
        Path(f"{stem}.result.json").unlink(missing_ok=True)
        spec_path = Path(str(stem) + ".spec.json")
        spec_path.write_text(json.dumps(spec))
        log_path = Path(str(stem) + ".stderr.log")
        # Self-contained (inline spec, result printed) so it still works after the workdir is gone.
        rerun = {k: v for k, v in spec.items() if k != "result_path"}
        command = shlex.join([sys.executable, "-m", "cifar.isolation.child", json.dumps(rerun)])
        if self.tree:
            command = f"cd {shlex.quote(self.tree)} && PYTHONPATH=. {command}"
        limit = self.timeout if timeout is None else float(timeout)
        started = time.perf_counter()
        try:
            if self.mode == "zygote":
                returncode = self._run_forked(spec, log_path, limit, command)
            else:
                returncode = self._run_spawned(spec_path, log_path, limit, command)
            elapsed = time.perf_counter() - started
            return self._collect(spec, returncode, log_path, command, elapsed)
        except ChildError:
            log.warning("child failed; rerun by hand: %s", command)
            raise

    def start(self) -> None:
        """Start the zygote now (otherwise the first `run` does); no-op in spawn mode."""
        if self.mode == "zygote" and not self._zygote_alive():
            self._start_zygote()

    def close(self) -> None:
        """Stop the zygote and any child still running (after an interrupted `run`), then remove the work folder."""
        self._kill_running()
        if self._zygote is not None:
            try:
                self._zygote.stdin.close()
                self._zygote.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._zygote.kill()
                self._zygote.wait()
            self._zygote.stdout.close()
            self._zygote = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _kill_running(self) -> None:
        pid, self._running = self._running, None
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if self.mode == "spawn":  # our own child: reap it (a zygote child is reaped by the zygote)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    # -- collecting ------------------------------------------------------------------------------------
    def _collect(self, spec: dict, returncode: int, log_path: Path, command: str, elapsed: float) -> dict:
        result_path = Path(spec["result_path"])
        payload = None
        if result_path.exists():
            try:
                payload = json.loads(result_path.read_text())
            except json.JSONDecodeError:
                payload = None
        if payload and "error" in payload:
            raise ChildFailed(payload["error"], command, _tail(log_path))
        if returncode != 0 or payload is None or "result" not in payload:
            raise ChildCrashed(returncode, command, _tail(log_path))
        result = payload["result"]
        child_wall = result.get("process", {}).get("child_wall_seconds", 0.0)
        result["runner"] = {
            "mode": self.mode,
            "parent_wall_seconds": elapsed,
            # Time the parent waited beyond what the child itself spent running: fork or interpreter
            # start, imports not preloaded, writing and reading the result.
            "isolation_overhead_seconds": max(0.0, elapsed - child_wall),
        }
        return result

    # -- spawn -----------------------------------------------------------------------------------------
    def _run_spawned(self, spec_path: Path, log_path: Path, limit: float, command: str) -> int:
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cifar.isolation.child", str(spec_path)],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, cwd=self.tree,
                env=child_env(tree=self.tree, unset=self.unset),
            )
            self._running = proc.pid
            try:
                returncode = proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise ChildTimeout(f"child ran past its {limit:g} s timeout and was killed", command, _tail(log_path)) from None
            except BaseException:  # Ctrl-C or any other error while waiting: never leave the child running
                proc.kill()
                proc.wait()
                raise
            finally:
                self._running = None
            return returncode

    # -- zygote ----------------------------------------------------------------------------------------
    def _zygote_alive(self) -> bool:
        return self._zygote is not None and self._zygote.poll() is None

    def _start_zygote(self) -> None:
        if self._zygote is not None:
            self._discard_zygote()
        self.zygote_starts += 1
        self._zygote_log = self.workdir / f"zygote-{self.zygote_starts}.stderr.log"
        self._pending = b""
        with open(self._zygote_log, "wb") as log_file:
            self._zygote = subprocess.Popen(
                [sys.executable, "-m", "cifar.isolation.zygote",
                 json.dumps({"preload": list(self.preload), "warm": [list(w) for w in self.warm]})],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file, cwd=self.tree,
                env=child_env(tree=self.tree, unset=self.unset),
            )
        try:
            message = self._read_message(ZYGOTE_START_TIMEOUT_SECONDS)
            how = (f"did not answer within {ZYGOTE_START_TIMEOUT_SECONDS:g} s" if message is None
                   else f"answered {message!r} instead of ready")
        except _ZygoteGone:
            message, how = None, "exited"
        if message is None or not message.get("ready"):
            tail = _tail(self._zygote_log)
            self._discard_zygote()
            raise ZygoteError(f"zygote did not start: it {how} (preload={list(self.preload)})", "", tail)

    def _discard_zygote(self) -> None:
        proc, self._zygote = self._zygote, None
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

    def _read_message(self, limit: float) -> dict | None:
        """One JSON line from the zygote within `limit` seconds; None on timeout; `_ZygoteGone` at end of file.

        Reads the pipe with os.read into our own buffer: a buffered file's readline() could swallow two
        replies at once, and select() would then wait for data that already arrived.
        """
        fd = self._zygote.stdout.fileno()
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
                raise _ZygoteGone()
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return json.loads(line)

    def _run_forked(self, spec: dict, log_path: Path, limit: float, command: str) -> int:
        if not self._zygote_alive():
            self._start_zygote()
        try:
            self._zygote.stdin.write((json.dumps({"spec": spec, "log_path": str(log_path)}) + "\n").encode())
            self._zygote.stdin.flush()
        except BrokenPipeError:
            self._discard_zygote()
            raise ZygoteError("zygote died before the request was sent; it restarts on the next run", command) from None
        deadline = time.monotonic() + limit
        # The zygote forks at once: waiting the child's whole limit for that would hide a dead or stuck zygote.
        try:
            started = self._read_message(min(self.fork_timeout, limit))
        except _ZygoteGone:
            started = None
        if started is None:
            self._zygote_failed(f"zygote did not confirm the fork within {min(self.fork_timeout, limit):g} s "
                                "(died or stopped answering)", command)
        pid = self._running = started["pid"]
        try:
            done = self._read_message(max(0.0, deadline - time.monotonic()))
        except _ZygoteGone:
            # The zygote died while its child ran: the child is an orphan now, and its result cannot be trusted.
            self._kill_running()
            self._zygote_failed(f"zygote died while child pid {pid} ran; the child was killed", command, log_path)
        except BaseException:
            # E.g. Ctrl-C while waiting: the child must not outlive the run, and the zygote's report of it would
            # be read as the next fork's reply, so the zygote goes too (the next run starts a new one).
            self._kill_running()
            self._discard_zygote()
            raise
        if done is None:
            self._kill_running()
            # The zygote reaps the killed child and reports it; wait briefly so it stays usable.
            try:
                reaped = self._read_message(10.0)
            except _ZygoteGone:
                reaped = None
            if reaped is None:
                self._discard_zygote()
            raise ChildTimeout(f"child pid {pid} ran past its {limit:g} s timeout and was killed", command, _tail(log_path))
        self._running = None
        return done["returncode"]

    def _zygote_failed(self, message: str, command: str, log_path: Path | None = None):
        tail = _tail(log_path) if log_path else ""
        if self._zygote_log:
            tail = "\n".join(t for t in (tail, _tail(self._zygote_log)) if t)
        self._discard_zygote()
        raise ZygoteError(message, command, tail)


def measure_isolation_overhead(children: int = 20, modes: tuple[str, ...] = MODES, timeout: float = 120.0) -> dict:
    """Wall time to get one fresh, configured, TensorFlow-ready child per mode, interleaved across modes.

    Each child applies a thread configuration and imports TensorFlow (free in a zygote child, paid by a
    spawned one) and returns; the parent's wall time per child is the per-configuration isolation cost.
    The zygote's own start (once per session) is reported separately.
    """
    configs = [ThreadConfig(1, 1), ThreadConfig(2, 1)]
    runners = {mode: Runner(mode=mode, timeout=timeout) for mode in modes}
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    try:
        zygote_start = None
        if "zygote" in runners:
            started = time.perf_counter()
            runners["zygote"].start()
            zygote_start = time.perf_counter() - started
        for i in range(children):
            for mode in (modes if i % 2 == 0 else modes[::-1]):
                result = runners[mode].run("cifar.workloads:environment", {}, configs[i % len(configs)])
                seconds[mode].append(result["runner"]["parent_wall_seconds"])
    finally:
        for runner in runners.values():
            runner.close()
    return {"children": children, "zygote_start_seconds": zygote_start, "seconds": seconds}
