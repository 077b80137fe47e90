"""Run one workload under one thread configuration in its own process, and get plain JSON back.

Two modes:

``zygote`` (default)
    A long-lived process imports TensorFlow once, never runs an op, and forks a fresh child per request
    (a few ms instead of a ~2.3 s interpreter start). Forking is only safe because the zygote never runs
    an op: TensorFlow's thread pools start with the first op, and forking a process with live pools
    hangs or crashes the child (TF issues #2448, #51832). See `cifar.isolation.forkserver`.
``spawn``
    ``python -m cifar.isolation.child SPEC.json`` per request: slower, but nothing is shared. For comparison
    and as a fallback.

Every wait has a timeout; a hung child is killed (SIGKILL) and `ChildTimeout` raised; no child outlives
a run, whatever ends it. The caller's process never imports TensorFlow.

>>> from cifar import Runner, ThreadConfig
>>> with Runner() as runner:                                   # doctest: +SKIP
...     result = runner.run("cifar.workloads:matmul", {"rounds": 5}, ThreadConfig(1, 1))
>>> result["threads_applied"]                                  # doctest: +SKIP
{'intra_op_parallelism_threads': 1, 'inter_op_parallelism_threads': 1, 'os_threads': 9}
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cifar.isolation.errors import ChildCrashed, ChildError, ChildFailed, ChildTimeout, tail
from cifar.isolation.forkserver import FORK_TIMEOUT_SECONDS, ForkServer
from cifar.isolation.lifetime import PARENT_ENV
from cifar.isolation.schedule import alternating
from cifar.training.data import WARM_TARGET
from cifar.training.threads import ThreadConfig, check_thread_config

log = logging.getLogger(__name__)

MODES = ("zygote", "spawn")
DEFAULT_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class Layout:
    """Where a checkout keeps the modules the runner starts. A baseline tree from before the package was
    reorganised into subpackages (the paired gate compares with older code) keeps them at the top."""

    zygote: str = "cifar.isolation.zygote"
    child: str = "cifar.isolation.child"
    renamed: tuple[tuple[str, str], ...] = ()  # (target here, the same target there)

    @classmethod
    def of(cls, tree: str | os.PathLike | None) -> "Layout":
        if tree is None or (Path(tree) / "cifar" / "isolation" / "zygote.py").is_file():
            return cls()
        return cls("cifar.zygote", "cifar.child", ((WARM_TARGET, "cifar.data:warm_cache"),))

    def target(self, target: str) -> str:
        return dict(self.renamed).get(target, target)


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
    of this one; ``unset``: environment variables its children must not inherit; ``env``: variables set for the
    zygote and its children — settings TensorFlow reads only at import (``TF_ENABLE_ONEDNN_OPTS``) need a Runner
    of their own per value.
    """

    def __init__(self, mode: str = "zygote", preload: tuple[str, ...] = ("tensorflow",),
                 timeout: float = DEFAULT_TIMEOUT_SECONDS, workdir: str | os.PathLike | None = None,
                 warm: tuple[tuple[str, dict], ...] = (), tree: str | os.PathLike | None = None,
                 unset: tuple[str, ...] = (), fork_timeout: float = FORK_TIMEOUT_SECONDS, env: dict | None = None):
        if mode not in MODES:
            raise ValueError(f"runner mode must be one of {MODES}, got {mode!r}")
        if tree is not None and not (Path(tree) / "cifar" / "__init__.py").is_file():
            raise ValueError(f"{tree}: not a checkout of this project (no cifar/__init__.py)")
        self.tree = None if tree is None else str(Path(tree).resolve())
        self.layout = Layout.of(self.tree)
        self.unset = tuple(unset)
        self.env = dict(env or {})
        self.mode = mode
        self.preload = tuple(preload)
        self.warm = tuple((self.layout.target(target), params) for target, params in warm)
        self.timeout = float(timeout)
        self.fork_timeout = float(fork_timeout)
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="cifar-runner-")
        self.workdir = Path(workdir or self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._server: ForkServer | None = None
        self._spawned: subprocess.Popen | None = None  # the spawned child now running
        self._count = 0
        self.zygote_starts = 0
        self.zygote_start_seconds = 0.0  # spent starting zygotes (importing TensorFlow once each)

    # -- public ---------------------------------------------------------------------------------------
    def run(self, target: str, params: dict | None = None, threads: ThreadConfig | None = None,
            timeout: float | None = None, cpus: tuple[int, ...] | None = None) -> dict:
        """Run ``target(**params)`` in a fresh child under `threads`; return its JSON-able result dict.

        ``cpus``: the CPUs the child may run on (its affinity, set in the child before TensorFlow starts a
        thread). Adds ``runner`` (mode, isolation overhead in seconds). Raises `ChildFailed`, `ChildCrashed`,
        `ChildTimeout` or `ZygoteError`; `ThreadCountError` at once, before any process starts, for a thread
        count far beyond this machine's cores; `ValueError` for CPUs this process may not use.
        """
        if threads is not None:
            check_thread_config(threads)
        if cpus is not None:
            allowed = os.sched_getaffinity(0)
            if not cpus or not set(cpus) <= allowed:
                raise ValueError(f"cpus={sorted(cpus)} is not a non-empty subset of this process's CPUs "
                                 f"{sorted(allowed)}")
        self._count += 1
        stem = self.workdir / f"child-{self._count:05d}"
        result_path = Path(f"{stem}.result.json")
        spec = {"target": self.layout.target(target), "params": params or {},
                "threads": threads.to_dict() if threads is not None else None, "result_path": str(result_path)}
        if cpus is not None:
            spec["cpus"] = sorted(cpus)
        # A reused work folder may hold an earlier Runner's files of the same name: a crashed child must not
        # be credited with their result.
        result_path.unlink(missing_ok=True)
        spec_path = Path(f"{stem}.spec.json")
        spec_path.write_text(json.dumps(spec))
        log_path = Path(f"{stem}.stderr.log")
        command = self.rerun_command(spec)
        limit = self.timeout if timeout is None else float(timeout)
        try:
            # The zygote's start (once per session) is not this child's isolation cost: it is counted apart.
            server = self._zygote() if self.mode == "zygote" else None
            started = time.perf_counter()
            if server is not None:
                returncode = server.run(spec, log_path, limit, command)
            else:
                returncode = self._run_spawned(spec_path, log_path, limit, command)
            return self._collect(result_path, returncode, log_path, command, time.perf_counter() - started)
        except ChildError:
            log.warning("child failed; rerun by hand: %s", command)
            raise

    def rerun_command(self, spec: dict) -> str:
        """The shell command that runs `spec` again by hand, self-contained (inline spec, result printed), so it
        still works after the work folder is gone."""
        rerun = {k: v for k, v in spec.items() if k != "result_path"}
        command = shlex.join([sys.executable, "-m", self.layout.child, json.dumps(rerun)])
        if self.env:
            command = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items())) + " " + command
        return f"cd {shlex.quote(self.tree)} && PYTHONPATH=. {command}" if self.tree else command

    def start(self) -> None:
        """Start the zygote now and wait until it is ready (otherwise the first `run` does); no-op in spawn mode."""
        if self.mode == "zygote":
            self._zygote()

    def launch(self) -> None:
        """Start the zygote's process without waiting for its imports (`start` or the first `run` waits); no-op in
        spawn mode or while a zygote is alive. The time until it is ready counts in `zygote_start_seconds`."""
        if self.mode != "zygote" or self._server is not None and (self._server.alive() or self._starting()):
            return
        if self._server is not None:
            self._server.discard()
        self.zygote_starts += 1
        self._server = ForkServer(self.layout.zygote, self.preload, self.warm, self._child_env(), self.tree,
                                  self.workdir / f"zygote-{self.zygote_starts}.stderr.log", self.fork_timeout)
        started = time.perf_counter()
        self._server.launch()
        self.zygote_start_seconds += time.perf_counter() - started

    @property
    def zygote_pid(self) -> int | None:
        return self._server.process.pid if self._server is not None and self._server.alive() else None

    def close(self) -> None:
        """Stop the zygote and any child still running (after an interrupted `run`), then remove the work folder."""
        if self._spawned is not None:
            self._spawned.kill()
            self._spawned.wait()
            self._spawned = None
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the two modes ---------------------------------------------------------------------------------
    def _child_env(self) -> dict:
        return {**child_env(tree=self.tree, unset=self.unset), **self.env}

    def _starting(self) -> bool:
        """Launched and not yet waited for, even if it has died since: `start` must report why it did not start."""
        return self._server.process is not None and not self._server.ready

    def _zygote(self) -> ForkServer:
        self.launch()
        if not self._server.ready:
            started = time.perf_counter()
            try:
                self._server.wait_ready()
            finally:
                self.zygote_start_seconds += time.perf_counter() - started
        return self._server

    def _run_spawned(self, spec_path: Path, log_path: Path, limit: float, command: str) -> int:
        with open(log_path, "wb") as log_file:
            proc = self._spawned = subprocess.Popen(
                [sys.executable, "-m", self.layout.child, str(spec_path)],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, cwd=self.tree,
                env={**self._child_env(), PARENT_ENV: str(os.getpid())})
            try:
                return proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise ChildTimeout(f"child ran past its {limit:g} s timeout and was killed", command,
                                   tail(log_path)) from None
            except BaseException:  # Ctrl-C or any other error while waiting: never leave the child running
                proc.kill()
                proc.wait()
                raise
            finally:
                self._spawned = None

    def _collect(self, result_path: Path, returncode: int, log_path: Path, command: str, elapsed: float) -> dict:
        payload = None
        if result_path.exists():
            try:
                payload = json.loads(result_path.read_text())
            except json.JSONDecodeError:
                payload = None
        if payload and "error" in payload:
            raise ChildFailed(payload["error"], command, tail(log_path))
        if returncode != 0 or payload is None or "result" not in payload:
            raise ChildCrashed(returncode, command, tail(log_path))
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


def start_together(runners) -> None:
    """Start several runners' zygotes at once and wait for all of them: their imports overlap (a paired session's
    two checkouts import TensorFlow in about the wall time of one), and no child is measured while another
    zygote still imports. Their `zygote_start_seconds` add up to the wall time waited."""
    for runner in runners:
        runner.launch()
    for runner in runners:
        runner.start()


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
        for i, mode in alternating(modes, children):
            result = runners[mode].run("cifar.workloads:environment", {}, configs[i % len(configs)])
            seconds[mode].append(result["runner"]["parent_wall_seconds"])
    finally:
        for runner in runners.values():
            runner.close()
    return {"children": children, "zygote_start_seconds": zygote_start, "seconds": seconds}
