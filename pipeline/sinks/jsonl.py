"""JSON Lines sink: one schema-1 record per line, each line written whole and flushed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO

from pipeline.errors import ConfigError
from pipeline.frames import Result
from pipeline.queues import Policy
from pipeline.record import encode, to_record


class JsonlSink:
    """Appends records to ``path`` (created with its folder; ``-`` = stdout is not supported)."""

    name = "jsonl"
    policy: Policy = "lossless"
    capacity = 256

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] = self.path.open("w", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--jsonl {self.path}: cannot write ({exc.strerror})") from None
        self.records = 0

    def write(self, result: Result) -> None:
        self._file.write(encode(to_record(result, time.monotonic())) + "\n")
        self._file.flush()
        self.records += 1

    def close(self) -> None:
        self._file.close()
