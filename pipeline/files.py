"""Writing a file whole: a reader (or a crash) never sees half of it, and its permissions are what
``open()`` would give (``0666`` less the umask; a plain temporary file would be ``0600``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_whole(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write`` with a binary file in ``path``'s folder, then rename it to ``path``.

    The folder must exist. On any error the temporary file is removed and the error re-raised;
    ``path`` is then untouched.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
