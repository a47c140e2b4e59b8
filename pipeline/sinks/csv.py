"""CSV sink: one row per part instance per frame (layout in :mod:`pipeline.sinks.table`), every record kept."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Policy
from pipeline.frames import Result
from pipeline.record import record_of
from pipeline.sinks.table import CsvWriter


class CsvSink:
    """Writes the rows of each result's schema-1 record to ``path`` (``--csv``); lossless.

    ``image_column``: the run reads image files; the CSV gets the ``image`` column
    (:data:`pipeline.sinks.table.IMAGE_COLUMN`).

    The folder is created (or refused with a ConfigError naming ``flag_name``) at construction,
    the file with the first record.
    """

    name = "csv"
    policy: Policy = "lossless"
    capacity = 256
    critical = True

    def __init__(self, path: str | Path, flag_name: str = "--csv", image_column: bool = False) -> None:
        self.writer = CsvWriter(path, flag_name, image_column)
        self.path = self.writer.path

    def write(self, result: Result) -> None:
        self.writer.write_record(record_of(result)[0])

    def close(self) -> None:
        self.writer.close()
