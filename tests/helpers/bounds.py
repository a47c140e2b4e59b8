"""Every published part lies inside its frame: a check of records (and of the tracker's parts).

A part is inside a ``width`` × ``height`` frame when its points (``centroid``, ``smoothed``: pixel
positions, x right, y down) lie in ``[0, width − 1] × [0, height − 1]`` (pixel indices, as a region's
mean pixel position always does) and its ``box`` ``[x0, y0, x1, y1]`` (x1/y1 exclusive) is a non-empty
box with ``0 ≤ x0 < x1 ≤ width`` and ``0 ≤ y0 < y1 ≤ height``. A missing point (``None``: a
predicted part's centroid, no tracker) is not checked. A keypoint is inside when its measured
``x``, ``y`` and its ``smoothed`` position are (each when not None).

Written independently of the pipeline's own code (it is the oracle the tests hold the pipeline to).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.frames import FrameMeta, Keypoint, PartInstance


def _fields(part: PartInstance | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(part, PartInstance):
        return {
            "name": part.name,
            "track_id": part.track_id,
            "state": part.state,
            "box": part.box,
            "centroid": part.centroid,
            "smoothed": part.smoothed,
        }
    return dict(part)


def outside(parts: Iterable[PartInstance | Mapping[str, Any]], width: int, height: int) -> list[str]:
    """One line per part of ``parts`` (record entries or :class:`PartInstance`) not inside the frame."""
    bad = []
    for part in parts:
        p = _fields(part)
        what = f"{p.get('state')} {p.get('name')}#{p.get('track_id')}"
        for key in ("centroid", "smoothed"):
            xy: Sequence[float] | None = p.get(key)
            if xy is not None and not (0 <= xy[0] <= width - 1 and 0 <= xy[1] <= height - 1):
                bad.append(f"{what}: {key} {list(xy)} outside {width}x{height}")
        x0, y0, x1, y1 = p["box"]
        if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
            bad.append(f"{what}: box {list(p['box'])} outside {width}x{height}")
    return bad


def keypoints_outside(
    keypoints: Iterable[Keypoint | Mapping[str, Any]], width: int, height: int
) -> list[str]:
    """One line per keypoint (record entries or :class:`Keypoint`) with a position outside the frame."""
    bad = []
    for kp in keypoints:
        k = (
            kp
            if isinstance(kp, Mapping)
            else {"name": kp.name, "state": kp.state, "x": kp.x, "y": kp.y, "smoothed": kp.smoothed}
        )
        what = f"{k.get('state')} keypoint {k.get('name')}"
        points = {"x, y": None if k.get("x") is None else (k["x"], k.get("y")), "smoothed": k.get("smoothed")}
        for key, xy in points.items():
            if xy is not None and not (0 <= xy[0] <= width - 1 and 0 <= xy[1] <= height - 1):
                bad.append(f"{what}: {key} {list(xy)} outside {width}x{height}")
    return bad


def assert_parts_in_frame(meta: FrameMeta, parts: Iterable[PartInstance]) -> None:
    """Every part the tracker (or the postprocess stage) returned for the frame ``meta`` is inside it."""
    bad = outside(parts, meta.width, meta.height)
    assert not bad, f"{meta.source_id}#{meta.seq}: " + "; ".join(bad)


def assert_keypoints_in_frame(meta: FrameMeta, keypoints: Iterable[Keypoint]) -> None:
    """Every keypoint the keypoint tracker returned for the frame ``meta`` is inside it."""
    bad = keypoints_outside(keypoints, meta.width, meta.height)
    assert not bad, f"{meta.source_id}#{meta.seq}: " + "; ".join(bad)


def assert_record_in_frame(record: Mapping[str, Any]) -> None:
    """Every part and keypoint of a schema-1 record is inside the record's ``width`` × ``height``."""
    w, h = record["width"], record["height"]
    bad = outside(record["parts"], w, h) + keypoints_outside(record.get("keypoints") or (), w, h)
    assert not bad, f"{record['source']}#{record['seq']}: " + "; ".join(bad)


def assert_records_in_frame(records: Iterable[Mapping[str, Any]]) -> int:
    """:func:`assert_record_in_frame` for each record; returns how many parts were checked."""
    n = 0
    for record in records:
        assert_record_in_frame(record)
        n += len(record["parts"])
    return n


def pipeline_records(path: Path) -> Iterator[Mapping[str, Any]]:
    """The records of a JSONL file that the pipeline wrote (they carry ``latency_ms.capture_to_publish``
    and a frame size); hand-made test records and unreadable lines are passed over."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(record, dict)
            and isinstance(record.get("latency_ms"), dict)
            and "capture_to_publish" in record["latency_ms"]
            and isinstance(record.get("parts"), list)
            and record.get("width")
        ):
            yield record
