"""Atomic file writes that concurrent writers cannot break.

Every write goes to a temporary file with a unique name in the target's own
folder (so the final rename never crosses file systems), is flushed to disk,
then moved into place with ``os.replace``. A reader sees the old file or the
new one, never half of one; two writers of the same path each rename their
own complete file; a crash leaves at most a stray ``.<name>.<random>.tmp``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TMP_SUFFIX = ".tmp"


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(file)`` on a fresh temporary file next to ``path``, then move it to ``path``.

    Raises the ``OSError`` of a failed write (disk full, no permission) after
    removing the temporary file; ``path`` is then unchanged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write ``data`` as JSON (no NaN/inf) to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write_text(path, json.dumps(data, indent=1, allow_nan=False))


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is a temporary file left by :func:`atomic_write` (e.g. after a crash)."""
    return path.name.startswith(".") and path.name.endswith(TMP_SUFFIX)
