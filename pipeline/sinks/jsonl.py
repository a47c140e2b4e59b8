"""JSON Lines sink: one schema-1 record per line, each line written whole and flushed."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO

from pipeline.errors import ConfigError
from pipeline.frames import Result
from pipeline.queues import Policy
from pipeline.record import encode, to_record


class JsonlSink:
    """Writes records to ``path``; the file is created with the first record (a run that fails
    before producing anything leaves no file), its folder at construction."""

    name = "jsonl"
    policy: Policy = "lossless"
    capacity = 256

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--jsonl {self.path}: cannot create folder ({exc.strerror})") from None
        if self.path.is_dir() or not os.access(self.path.parent, os.W_OK):
            raise ConfigError(f"--jsonl {self.path}: not a writable file path")
        self._file: IO[str] | None = None
        self.records = 0

    def write(self, result: Result) -> None:
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8")
        self._file.write(encode(to_record(result, time.monotonic())) + "\n")
        self._file.flush()
        self.records += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
