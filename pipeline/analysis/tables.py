"""The analysis as CSV: ``features.csv`` (one row per recording), ``windows.csv`` (one row per window),
``qc.csv`` (quality per joint/part, the recording's counts and every feature's verdict).

Values are plain numbers in the units of :data:`pipeline.analysis.features.FEATURES`; a feature whose
data is too thin is left empty (its verdict in ``qc.csv`` says why). Files are written whole or not at
all (:func:`pipeline.files.write_whole`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any

from pipeline.analysis.analyze import Analysis

ID_COLUMNS = ("recording", "source", "points_from", "duration_s", "frames")


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else round(value, 4)
    return value


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV text with a header; missing and non-finite values empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c, "")) for c in columns])
    return out.getvalue()


def _ids(a: Analysis) -> dict[str, Any]:
    return {
        "recording": a.recording.path,
        "source": a.recording.source,
        "points_from": a.points_from or "none",
        "duration_s": round(a.cleaned.duration_s, 2),
        "frames": a.recording.frames,
    }


def feature_rows(analyses: Iterable[Analysis]) -> tuple[list[dict[str, Any]], list[str]]:
    """(one row per recording, the columns)."""
    rows, columns = [], list(ID_COLUMNS)
    for a in analyses:
        rows.append(_ids(a) | a.features)
        columns += [k for k in a.features if k not in columns]
    return rows, columns


def window_rows(analyses: Iterable[Analysis]) -> tuple[list[dict[str, Any]], list[str]]:
    rows, columns = [], ["recording", "source", "segment", "start_s", "end_s"]
    for a in analyses:
        for w in a.windows:
            rows.append({"recording": a.recording.path, "source": a.recording.source} | w)
            columns += [k for k in w if k not in columns]
    return rows, columns


def qc_rows(analyses: Iterable[Analysis]) -> tuple[list[dict[str, Any]], list[str]]:
    columns = [
        "recording",
        "source",
        "item",
        "observed",
        "predicted",
        "missing",
        "filled",
        "spikes",
        "value",
        "verdict",
    ]
    rows: list[dict[str, Any]] = []
    for a in analyses:
        ids = {"recording": a.recording.path, "source": a.recording.source}
        rows += [ids | row for row in a.qc]
        rows += [ids | {"item": f"feature:{k}", "verdict": v} for k, v in a.verdicts.items()]
    return rows, columns


def _write(data: bytes, f: IO[bytes]) -> None:
    f.write(data)


def write_tables(out: Path, analyses: Sequence[Analysis]) -> list[Path]:
    """``features.csv``, ``windows.csv`` and ``qc.csv`` in ``out``; returns their paths."""
    from pipeline.files import write_whole

    written = []
    for name, (rows, columns) in (
        ("features.csv", feature_rows(analyses)),
        ("windows.csv", window_rows(analyses)),
        ("qc.csv", qc_rows(analyses)),
    ):
        path = out / name
        write_whole(path, partial(_write, csv_text(rows, columns).encode("utf-8")))
        written.append(path)
    return written
