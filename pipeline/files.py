"""Writing a file whole: a reader (or a crash) never sees half of it, and its permissions are what
``open()`` would give (``0666`` less the umask; a plain temporary file would be ``0600``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _folder_mode() -> int:
    """``0777`` less the umask: what ``mkdir`` gives (a temporary folder would be ``0700``)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


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


def check_out_folder(out: Path, force: bool, flag: str = "--out") -> None:
    """Raise ConfigError (one line naming ``flag``) when ``out`` is a file, or a non-empty folder and
    ``force`` is off: a command checks this before its work, :func:`whole_folder` again before writing."""
    from pipeline.errors import ConfigError

    if out.is_file():
        raise ConfigError(f"{flag} {out}: is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ConfigError(f"{flag} {out}: exists and is not empty (--force replaces it)")


@contextlib.contextmanager
def whole_folder(out: Path, force: bool, flag: str = "--out") -> Iterator[Path]:
    """A new folder to fill, put in place of ``out`` only when the block ends without an error (a
    failure leaves nothing, and an existing ``out`` untouched); its permissions are ``mkdir``'s.

    Raises:
        ConfigError: ``out`` is a file, or a non-empty folder and ``force`` is off (names ``flag``).
    """
    check_out_folder(out, force, flag)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        os.chmod(staging, _folder_mode())
        yield staging
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
