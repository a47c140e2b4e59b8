"""Output files named on the command line: checked before the run, created at the first write.

Every file sink (JSONL, CSV, recordings) and ``subscribe`` follows the same rules: the folder is
created and the path checked at construction (one-line :class:`ConfigError` naming the flag), the
file itself appears only with the first record, so a run that fails before producing anything
leaves no file behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from pipeline.errors import ConfigError


def prepare_output(path: str | Path, flag: str) -> Path:
    """``path`` with its folder created; raises ConfigError (``"<flag> <path>: ..."``) when it
    cannot be a writable file."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{flag} {p}: cannot create folder ({exc.strerror})") from None
    if p.is_dir() or not os.access(p.parent, os.W_OK):
        raise ConfigError(f"{flag} {p}: not a writable file path")
    return p


def open_output(path: Path, flag: str, newline: str | None = None) -> IO[str]:
    """Create (truncate) a prepared output file for writing UTF-8 text."""
    try:
        return path.open("w", encoding="utf-8", newline=newline)
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write ({exc.strerror})") from None


class LineFile:
    """A text file written one whole, flushed line at a time (JSON Lines)."""

    def __init__(self, path: str | Path, flag: str) -> None:
        self.path = prepare_output(path, flag)
        self.flag = flag
        self._file: IO[str] | None = None
        self.lines = 0

    def write_line(self, text: str) -> None:
        """Append ``text`` + newline and flush (a reader or a crash never sees half a line)."""
        if self._file is None:
            self._file = open_output(self.path, self.flag)
        self._file.write(text + "\n")
        self._file.flush()
        self.lines += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
