"""The zygote: imports the preloads, never runs a TensorFlow op, forks one child per request.

Protocol (JSON lines): the zygote writes ``{"ready": true}`` once; then for each request line
``{"spec": {...}, "log_path": "..."}`` on stdin it forks, writes ``{"pid": N}``, waits for the child and
writes ``{"pid": N, "returncode": R}`` (negative R: killed by signal -R). EOF on stdin ends it.
Started by `cifar.isolation.runner.Runner`; not meant to be run by hand (rerun a child with
``python -m cifar.isolation.child``).
The zygote dies with the runner's process, and each child with the zygote (`cifar.isolation.lifetime`).
"""

from __future__ import annotations

import importlib
import json
import os
import sys

from cifar.isolation.lifetime import die_with_parent


def _child(spec: dict, log_path: str, protocol_fds: tuple[int, ...], zygote_pid: int) -> None:
    """Everything the forked child does, and it never returns: whatever fails (even opening its log), it ends
    in ``os._exit`` — an exception escaping here would run the zygote's own request loop inside the child."""
    code = 1
    try:
        die_with_parent(zygote_pid)
        for fd in protocol_fds:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        from cifar.isolation import child

        code = child.main(spec)
    except BaseException:  # noqa: BLE001 - reported by the exit code; the runner names it ChildCrashed
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            # Skip atexit handlers and buffers inherited from the zygote: they belong to the zygote.
            os._exit(code)


def main(preload: list[str], warm: list | None = None, parent_pid: int | None = None) -> None:
    die_with_parent(os.getppid() if parent_pid is None else parent_pid)
    # Replies go to the real stdout; anything else printed (imports, warnings) goes to stderr so it cannot
    # corrupt the protocol.
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    for name in preload:
        importlib.import_module(name)
    from cifar.isolation import child

    # Warm-up calls fill caches that children inherit copy-on-write (e.g. the CIFAR-10 arrays). They must
    # not run a TensorFlow op: that would start its thread pools and make forking unsafe.
    for target, params in warm or []:
        child.load_target(target)(**params)

    reply.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in requests:
        request = json.loads(line)
        zygote_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            _child(request["spec"], request["log_path"], (reply.fileno(), requests.fileno()), zygote_pid)
        reply.write(json.dumps({"pid": pid}) + "\n")
        _, status = os.waitpid(pid, 0)
        reply.write(json.dumps({"pid": pid, "returncode": os.waitstatus_to_exitcode(status)}) + "\n")


if __name__ == "__main__":
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    main(config.get("preload", []), config.get("warm", []), config.get("parent_pid"))
