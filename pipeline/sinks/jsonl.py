"""JSON Lines sink: one schema-1 record per line, each line written whole and flushed."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Policy
from pipeline.frames import Result
from pipeline.record import record_of
from pipeline.sinks.outfile import LineFile


class JsonlSink:
    """Writes records to ``path``; the file is created with the first record (a run that fails
    before producing anything leaves no file), its folder at construction."""

    name = "jsonl"
    policy: Policy = "lossless"
    capacity = 256
    critical = True

    def __init__(self, path: str | Path, flag: str = "--jsonl") -> None:
        self._out = LineFile(path, flag)
        self.path = self._out.path

    @property
    def records(self) -> int:
        return self._out.lines

    def write(self, result: Result) -> None:
        self._out.write_line(record_of(result)[1].decode("utf-8"))

    def close(self) -> None:
        self._out.close()
