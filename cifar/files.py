"""Writing JSON so that a reader never sees half a file: the child's result, baselines, reports.

Written to a temporary file in the same folder, flushed to disk (fsync), then renamed over the target: the
target holds either the old content or the complete new content, even after Ctrl-C or SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path


def write_json_atomic(path: str | os.PathLike, data, indent: int | None = 2) -> None:
    """Write `data` as JSON to `path` atomically (see the module docstring); creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=indent)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
