"""The CSV layout for analysis: one row per part instance per frame, from a schema-1 record.

Shared by the ``--csv`` sink of ``run`` and ``infant-stream subscribe --csv`` so both write the
same file. Units as in the record (pipeline/publish/record.py): pixels of the original frame, velocity in
px/s, ``pts_s`` stream seconds, ``capture_ts`` Unix seconds. A value the record does not have
(``None``: a ``predicted`` part has no centroid and no instance; no tracker → no track id,
smoothed position or velocity) is an empty cell. A frame without parts has no row.

Records of image sources name their file (``image``); a CSV of such records has one more column,
:data:`IMAGE_COLUMN`, after :data:`COLUMNS` (a CSV of video frames keeps exactly :data:`COLUMNS`).

Keypoints go to a second file beside it, :func:`keypoints_path` (``out.csv`` → ``out.keypoints.csv``):
one row per keypoint per frame, :data:`KEYPOINT_COLUMNS` (+ :data:`IMAGE_COLUMN`), from the record's
``keypoints``. A second file, not a ``kind`` column in the first: parts and joints have different
fields (a shared header would leave half of every row empty), the parts file stays exactly what
it was for every existing reader, and each file loads as one typed table. It is created with the
first record that has a keypoint, so a run without a pose model writes no second file.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final

from pipeline.sinks.outfile import open_output, prepare_output

_FRAME: Final = ("source", "seq", "pts_s", "capture_ts")
"""The record's frame keys, the first columns of both files."""

_FILTER_PAIRS: Final = (
    (("sx", "sy"), "smoothed"),
    (("vx", "vy"), "velocity"),
    (("sigma_x", "sigma_y"), "uncertainty"),
)
"""Column pair → the key of a part or keypoint holding the tracker's [x, y]: smoothed position, velocity
(px/s), position std (px)."""

_FILTER_COLUMNS: Final = tuple(c for names, _ in _FILTER_PAIRS for c in names)

COLUMNS: Final[tuple[str, ...]] = (
    *_FRAME,
    "class_id",
    "name",
    "instance",
    "track_id",
    "state",
    "cx",
    "cy",
    *_FILTER_COLUMNS,
    "x0",
    "y0",
    "x1",
    "y1",
    "area_px",
    "score",
)
"""Column order of the CSV file (the header)."""
KEYPOINT_COLUMNS: Final[tuple[str, ...]] = (
    *_FRAME,
    "model",
    "id",
    "name",
    "state",
    "x",
    "y",
    "score",
    *_FILTER_COLUMNS,
)
"""Column order of the keypoints CSV: the frame, the pose model (``pose.model``; empty when the
frame had no pose), the joint (``id``, ``name``, ``state``), its measured position (``x``, ``y``;
empty when predicted) and confidence, smoothed position, velocity (px/s) and position std (px)."""
IMAGE_COLUMN: Final = "image"
"""The last column of a CSV of image records: the image file the row's part was found in."""

# column pair → the record's part key holding [x, y] (or [x0, y0, x1, y1] for the box)
_PAIRS: Final = (
    (("cx", "cy"), "centroid"),
    *_FILTER_PAIRS,
    (("x0", "y0", "x1", "y1"), "box"),
)


def _spread(names: Sequence[str], value: Sequence[Any] | None) -> dict[str, Any]:
    if value is None:
        return dict.fromkeys(names)
    if not isinstance(value, list | tuple):
        raise TypeError(f"expected a list of numbers for {'/'.join(names)}, got {type(value).__name__}")
    if len(value) != len(names):
        raise ValueError(f"expected {len(names)} numbers for {'/'.join(names)}, got {len(value)}")
    return dict(zip(names, value, strict=True))


def _rows(
    record: Mapping[str, Any],
    key: str,
    frame: Mapping[str, Any],
    columns: tuple[str, ...],
    pairs: Sequence[tuple[tuple[str, ...], str]],
) -> list[dict[str, Any]]:
    """One row per object of ``record[key]`` (a list of objects), keys in ``columns`` order: ``frame``'s
    values, each ``pairs`` entry's [x, y, ...] spread over its columns, the object's value of every
    other column (``None`` where missing), then :data:`IMAGE_COLUMN` when the record names an image.

    Raises:
        TypeError, ValueError: ``record[key]`` is not a list of objects, or a pair is malformed.
    """
    items = record[key]
    if not isinstance(items, list | tuple):
        raise TypeError(f"{key}: expected a list, got {type(items).__name__}")
    rows = []
    for item in items:
        if not isinstance(item, Mapping):
            raise TypeError(f"{key}: expected objects, got {type(item).__name__}")
        values = dict(frame)
        for names, field in pairs:
            values.update(_spread(names, item.get(field)))
        row = {c: values[c] if c in values else item.get(c) for c in columns}
        if IMAGE_COLUMN in record:
            row[IMAGE_COLUMN] = record[IMAGE_COLUMN]
        rows.append(row)
    return rows


def record_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows (column → value, ``None`` for missing) of one schema-1 record, in ``parts`` order:
    :data:`COLUMNS`, and :data:`IMAGE_COLUMN` when the record names an image file.

    Raises:
        KeyError, TypeError, ValueError: the record is not a schema-1 parts record.
    """
    frame = {k: record[k] for k in _FRAME}
    return _rows(record, "parts", frame, COLUMNS, _PAIRS)


def keypoints_path(path: str | Path) -> Path:
    """The keypoints CSV beside the parts CSV ``path``: ``out.csv`` → ``out.keypoints.csv``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.keypoints{p.suffix or '.csv'}")


def keypoint_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The keypoints CSV rows of one schema-1 record, in ``keypoints`` order: :data:`KEYPOINT_COLUMNS`,
    and :data:`IMAGE_COLUMN` when the record names an image file. A record without ``keypoints``
    has none.

    Raises:
        KeyError, TypeError, ValueError: the record's ``keypoints`` are not schema-1 keypoints.
    """
    if record.get("keypoints") is None:
        return []
    pose = record.get("pose")
    frame = {k: record[k] for k in _FRAME}
    frame["model"] = pose.get("model") if isinstance(pose, Mapping) else None
    return _rows(record, "keypoints", frame, KEYPOINT_COLUMNS, _FILTER_PAIRS)


class _Table:
    """One CSV file of rows with a fixed header, created (header first) with its first rows."""

    def __init__(self, path: Path, flag: str, columns: tuple[str, ...], image_column: bool | None) -> None:
        self.path, self.flag, self.columns, self.image_column = path, flag, columns, image_column
        self._file: IO[str] | None = None
        self._writer: csv.DictWriter[str] | None = None

    def write(self, rows: list[dict[str, Any]], record: Mapping[str, Any]) -> None:
        if self._writer is None:
            self._file = open_output(self.path, self.flag, newline="")
            image = IMAGE_COLUMN in record if self.image_column is None else self.image_column
            header = (*self.columns, IMAGE_COLUMN) if image else self.columns
            # RFC 4180: CRLF rows
            self._writer = csv.DictWriter(self._file, fieldnames=header, extrasaction="ignore")
            self._writer.writeheader()
        assert self._file is not None
        self._writer.writerows(rows)  # csv writes None as an empty cell
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class CsvWriter:
    """Writes :func:`record_rows` of each record to ``path`` and its :func:`keypoint_rows` to
    :func:`keypoints_path` (``keypoints_file``), each flushed per record.

    The folder is created at construction (errors name ``flag_name``); the parts file and its header
    are written with the first record, so a run that fails before producing anything leaves no file;
    the keypoints file with the first record that has a keypoint.
    ``image_column``: add :data:`IMAGE_COLUMN` to the headers (True), or not (False), or when the
    first record names an image (None); a record's ``image`` without the column is left out.
    """

    def __init__(self, path: str | Path, flag_name: str = "--csv", image_column: bool | None = None) -> None:
        self.path = prepare_output(path, flag_name)
        self.keypoints_file = keypoints_path(self.path)
        self.flag_name = flag_name
        self.image_column = image_column
        self._parts = _Table(self.path, flag_name, COLUMNS, image_column)
        self._joints = _Table(self.keypoints_file, flag_name, KEYPOINT_COLUMNS, image_column)
        self.records = 0
        self.rows = 0
        self.keypoint_rows = 0

    def write_record(self, record: Mapping[str, Any]) -> None:
        """Append the rows of one schema-1 record (header first if the file is new)."""
        rows = record_rows(record)
        joints = keypoint_rows(record)
        if self._parts.image_column is None:  # both files decide by the first record
            self._parts.image_column = self._joints.image_column = IMAGE_COLUMN in record
        self._parts.write(rows, record)
        if joints:
            self._joints.write(joints, record)
        self.records += 1
        self.rows += len(rows)
        self.keypoint_rows += len(joints)

    def close(self) -> None:
        self._parts.close()
        self._joints.close()
