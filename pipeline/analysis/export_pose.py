"""The joints of a recording in the formats pose-analysis tools read: DeepLabCut CSV, COCO keypoints JSON
and NWB with the ndx-pose extension (``docs/export-pose.md``).

:func:`pose_table` reads one source of a JSONL recording through :mod:`pipeline.analysis.recording` into
a :class:`PoseTable`: K keypoints over T frames as arrays. One pure function per format turns the table
into what the file holds: :func:`to_dlc_csv` (text), :func:`to_coco` (a JSON-ready dict) and
:func:`to_nwb` (the bytes of an HDF5 file); :func:`encode` picks one by its format name.

What a frame's keypoint becomes: *observed* (a confident decoder point that frame) is its position and
score; *predicted* (its Kalman track coasting: the record has no measured position) and *missing* (no
track that frame) have no position (NaN, or COCO's ``0, 0, v=0``), and their confidence is the record's
score, which is 0 for both. Positions are original-frame pixels, x right, y down, (0, 0) the top-left
corner; times are seconds.
"""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from pipeline import __version__
from pipeline.analysis.recording import (
    OBSERVED,
    from_records,
    joint_key,
    keypoint_names_by_id,
    records_by_source,
)
from pipeline.contract.keypoints import KNOWN_SETS, KeypointSet
from pipeline.errors import ConfigError, DatasetError

FORMATS: Final[tuple[str, ...]] = ("dlc", "coco", "nwb")
"""The format names :func:`encode` (and ``export-pose --format``) take."""
DEFAULT_SCORER: Final = "infant-stream"
"""The DeepLabCut ``scorer`` header and the NWB ``PoseEstimation.scorer`` unless another is given."""
COCO_CATEGORY: Final = "infant"
REFERENCE_FRAME: Final = "(0,0) is the top-left corner of the video frame"
CONFIDENCE_DEFINITION: Final = (
    "the pose model decoder's confidence (0..1) of the observed position; 0 where the joint was "
    "predicted (its Kalman track coasting, no position) or missing"
)
NWB_MISSING: Final = "--format nwb: needs pynwb and ndx-pose (pip install 'infant-stream[nwb]')"
SCORE_DECIMALS: Final = 6
"""Scores are float32 in a :class:`~pipeline.analysis.recording.Track`; rounding to this many decimals
gives back the record's value (3 decimals) instead of float32 noise (0.91 → 0.9100000262)."""


@dataclass(frozen=True)
class PoseTable:
    """One source's keypoints, frame by frame, in record order: what every format writes.

    Attributes:
        source: the records' ``source``.
        path: the recording file they were read from.
        names: (K,) the model's keypoint names, in id order.
        keypoint_set: the known set (NYCU-22, COCO-17) with exactly these names, else None (no skeleton).
        seq: (T,) int64 frame numbers as the source counted them.
        pts_s: (T,) float64 the stream's presentation time, s; NaN where the record has none.
        capture_ts: (T,) float64 Unix time each frame was captured, s.
        size: (T, 2) int64 each frame's (width, height), px.
        xy: (T, K, 2) float64 frame pixels; NaN where the keypoint was not observed.
        state: (T, K) uint8 ``OBSERVED``, ``PREDICTED`` or ``MISSING`` (:mod:`~pipeline.analysis.recording`).
        score: (T, K) float64 confidence 0..1; 0 where missing or predicted.
    """

    source: str
    path: str
    names: tuple[str, ...]
    keypoint_set: KeypointSet | None
    seq: np.ndarray
    pts_s: np.ndarray
    capture_ts: np.ndarray
    size: np.ndarray
    xy: np.ndarray
    state: np.ndarray
    score: np.ndarray

    @property
    def frames(self) -> int:
        """T."""
        return len(self.seq)

    @property
    def observed(self) -> np.ndarray:
        """(T, K) bool: the keypoint has a measured position in the frame."""
        return np.asarray(self.state == OBSERVED)

    @property
    def time_s(self) -> np.ndarray:
        """(T,) float64 seconds since the first frame, by capture time (microsecond resolution)."""
        return np.round(self.capture_ts - self.capture_ts[0], 6)

    @property
    def skeleton(self) -> tuple[tuple[int, int], ...]:
        """Edges as 0-based (i, j) keypoint index pairs; () for a keypoint set that is not known."""
        return self.keypoint_set.skeleton if self.keypoint_set is not None else ()


def pose_table(path: Path, source: str | None = None) -> PoseTable:
    """The :class:`PoseTable` of one source of the JSONL recording ``path``.

    Args:
        path: a JSONL file of frame records (``run --jsonl``, ``subscribe --jsonl``, a web job's JSONL).
        source: the source to export; None takes the only one (an error when the file has several).

    Raises:
        ConfigError: the file is missing or unreadable, has no frame records, several sources and no
            ``source``, no such ``source``, or no keypoints (a run without a pose model).
        DatasetError: keypoint names the loader cannot keep apart.
    """
    by_source = records_by_source(path)
    if source is None:
        if len(by_source) > 1:
            raise ConfigError(f"--source: {path} has {len(by_source)} sources ({_ids(by_source)}); pick one")
        source = next(iter(by_source))
    elif source not in by_source:
        raise ConfigError(f"--source {_ids([source])}: not in {path} (sources: {_ids(by_source)})")
    records = by_source[source]
    named = keypoint_names_by_id(records)
    if not named:
        raise ConfigError(f"{path}: no keypoints: run with a pose model (source {_ids([source])})")
    known = known_set_of(named)
    if known is not None:
        named = dict(enumerate(known.names))
    return _table(records, named, known, path)


def known_set_of(named: dict[int, str]) -> KeypointSet | None:
    """The known keypoint set (NYCU-22, COCO-17) in which every id has this name, else None."""
    for known in KNOWN_SETS.values():
        if all(0 <= i < known.num_keypoints and known.names[i] == n for i, n in named.items()):
            return known
    return None


def _table(
    records: list[dict[str, Any]], named: dict[int, str], known: KeypointSet | None, path: Path
) -> PoseTable:
    """The table of one source's ``records`` with the keypoints ``named`` (id → name, all of them)."""
    names = tuple(named[i] for i in sorted(named))
    keys = [joint_key(n) for n in names]
    if len(set(keys)) != len(keys):
        same = sorted({n for n, k in zip(names, keys, strict=True) if keys.count(k) > 1})
        raise DatasetError(f"{path}: keypoint names {', '.join(same)} name the same joint; cannot export")
    recording = from_records(records, str(path), names)
    assert recording.keypoint_names == names
    tracks = [recording.joints[k] for k in keys]
    return PoseTable(
        source=recording.source,
        path=str(path),
        names=names,
        keypoint_set=known,
        seq=recording.seq,
        pts_s=recording.pts_s,
        capture_ts=recording.capture_ts,
        size=np.array([[int(r.get("width", 0)), int(r.get("height", 0))] for r in records], np.int64),
        xy=np.stack([t.xy for t in tracks], axis=1),
        state=np.stack([t.state for t in tracks], axis=1),
        score=np.round(np.stack([t.score for t in tracks], axis=1).astype(np.float64), SCORE_DECIMALS),
    )


def _ids(sources: Iterable[str]) -> str:
    """Source ids for a one-line message (an id with control characters shown escaped)."""
    return ", ".join(s if s.isprintable() and s else repr(s) for s in sources)


def _num(value: float) -> str:
    """A CSV cell: the float's shortest repr, empty for NaN."""
    return "" if math.isnan(value) else repr(float(value))


def to_dlc_csv(table: PoseTable, scorer: str = DEFAULT_SCORER) -> str:
    """The DeepLabCut CSV of ``table``: three header rows and one row per frame.

    Rows ``scorer`` (``scorer`` in every column), ``bodyparts`` (each keypoint name three times) and
    ``coords`` (``x, y, likelihood`` per keypoint); then per frame its ``seq`` and, per keypoint, x and y
    (frame px; empty where not observed) and the likelihood (the score, 0..1; 0 where missing or
    predicted). The first header cells are the level names, as ``DataFrame.to_csv`` writes DeepLabCut's
    table, so ``pandas.read_csv(path, header=[0, 1, 2], index_col=0)`` (how DeepLabCut, SLEAP-io and
    ``movement`` read it) gives T rows and 3·K columns.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    k = len(table.names)
    writer.writerow(["scorer", *[scorer] * (3 * k)])
    writer.writerow(["bodyparts", *[name for name in table.names for _ in range(3)]])
    writer.writerow(["coords", *["x", "y", "likelihood"] * k])
    for t in range(table.frames):
        cells = [str(int(table.seq[t]))]
        for j in range(k):
            x, y = table.xy[t, j]
            cells += [_num(x), _num(y), _num(table.score[t, j])]
        writer.writerow(cells)
    return buf.getvalue()


def to_coco(table: PoseTable) -> dict[str, Any]:
    """The COCO keypoints dataset of ``table`` (a dict for :func:`json.dumps`).

    * ``images``: one per frame: ``id`` = ``seq``, ``file_name`` ``"{source}/{seq:06d}.png"``, ``width``,
      ``height`` (px), and ``pts_s`` (s or null) and ``capture_ts`` (Unix s) as extra keys.
    * ``annotations``: one per frame with at least one observed keypoint: ``keypoints`` flat
      ``[x, y, v] * K`` (frame px; v = 2 observed, else ``0, 0, 0``), ``num_keypoints`` (observed),
      ``bbox`` ``[x, y, w, h]`` of the observed points, ``area`` = w·h, ``score`` the mean observed score,
      ``category_id`` 1, ``image_id`` = ``seq``, ``id`` (1, 2, ...) and ``iscrowd`` 0.
    * ``categories``: one, ``infant``, with the keypoint names and the skeleton (1-based pairs, as COCO
      stores it; ``[]`` for a keypoint set that is not known).

    Raises:
        DatasetError: two frames share a ``seq`` (COCO image ids must be unique).
    """
    seqs = [int(s) for s in table.seq]
    if len(set(seqs)) != len(seqs):
        raise DatasetError(f"{table.path}: source {_ids([table.source])} repeats a seq; COCO image ids clash")
    images = [
        {
            "id": seq,
            "file_name": f"{table.source}/{seq:06d}.png",
            "width": int(table.size[t, 0]),
            "height": int(table.size[t, 1]),
            "pts_s": None if math.isnan(table.pts_s[t]) else float(table.pts_s[t]),
            "capture_ts": float(table.capture_ts[t]),
        }
        for t, seq in enumerate(seqs)
    ]
    annotations: list[dict[str, Any]] = []
    observed = table.observed
    for t, seq in enumerate(seqs):
        if observed[t].any():
            fields = coco_annotation(table.xy[t], observed[t], table.score[t])
            annotations.append({"id": len(annotations) + 1, "image_id": seq, **fields})
    category = {
        "id": 1,
        "name": COCO_CATEGORY,
        "supercategory": "person",
        "keypoints": list(table.names),
        "skeleton": [[i + 1, j + 1] for i, j in table.skeleton],
    }
    info = {
        "description": f"infant-stream keypoints of source {table.source} from {Path(table.path).name}",
        "version": __version__,
        "date_created": datetime.fromtimestamp(float(table.capture_ts[0]), UTC).isoformat(),
    }
    return {"info": info, "images": images, "annotations": annotations, "categories": [category]}


def coco_annotation(xy: np.ndarray, seen: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """The COCO annotation fields of one frame's keypoints: ``keypoints``, ``num_keypoints``, ``bbox``,
    ``area``, ``score``, ``category_id`` and ``iscrowd``.

    Args:
        xy: (K, 2) frame px.
        seen: (K,) bool, observed; at least one.
        score: (K,) confidence 0..1.
    """
    flat: list[float] = []
    for (x, y), observed in zip(xy, seen, strict=True):
        flat += [float(x), float(y), 2] if observed else [0, 0, 0]
    pts = xy[seen]
    x0, y0 = (float(v) for v in pts.min(axis=0))
    w, h = (float(v) for v in pts.max(axis=0) - pts.min(axis=0))
    return {
        "category_id": 1,
        "keypoints": flat,
        "num_keypoints": int(seen.sum()),
        "bbox": [x0, y0, w, h],
        "area": w * h,
        "score": round(float(score[seen].mean()), SCORE_DECIMALS),
        "iscrowd": 0,
    }


def to_nwb(table: PoseTable, scorer: str = DEFAULT_SCORER) -> bytes:
    """The NWB file (HDF5 bytes) of ``table``, with the ndx-pose extension.

    An ``NWBFile`` (identifier a new UUID; ``session_start_time`` the first frame's capture time, UTC)
    with a processing module ``behavior`` holding a ``Skeletons`` container (one ``Skeleton`` named after
    the keypoint set, when it is known) and a ``PoseEstimation`` with one ``PoseEstimationSeries`` per
    keypoint, named as the keypoint: ``data`` (T, 2) float64 frame px, NaN where not observed; ``unit``
    ``pixels``; ``confidence`` (T,) the score (0 where missing or predicted); ``timestamps`` (T,) seconds
    since the first frame by capture time (stored once, linked from the other series).

    Raises:
        ConfigError: pynwb or ndx-pose is not installed.
    """
    try:
        import h5py
        from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons
        from pynwb import NWBHDF5IO, NWBFile
    except ImportError:
        raise ConfigError(NWB_MISSING) from None

    name = Path(table.path).name
    nwb = NWBFile(
        session_description=f"infant-stream keypoints of source {table.source} from the recording {name}",
        identifier=str(uuid.uuid4()),
        session_start_time=datetime.fromtimestamp(float(table.capture_ts[0]), UTC),
        session_id=table.source,
    )
    behavior = nwb.create_processing_module(
        name="behavior", description="the infant's joints (infant-stream)"
    )
    skeleton = None
    if table.keypoint_set is not None:
        skeleton = Skeleton(
            name=table.keypoint_set.name,
            nodes=list(table.names),
            edges=np.array(table.skeleton, np.uint8).reshape(-1, 2),
        )
        behavior.add(Skeletons(skeletons=[skeleton]))
    series: list[Any] = []
    for j, keypoint in enumerate(table.names):
        series.append(
            PoseEstimationSeries(
                name=keypoint.replace("/", "_"),
                description=f"keypoint {keypoint} (id {j}) in frame pixels, NaN where not observed",
                data=np.ascontiguousarray(table.xy[:, j, :]),
                unit="pixels",
                reference_frame=REFERENCE_FRAME,
                confidence=np.ascontiguousarray(table.score[:, j]),
                confidence_definition=CONFIDENCE_DEFINITION,
                timestamps=series[0] if series else table.time_s,
            )
        )
    behavior.add(
        PoseEstimation(
            pose_estimation_series=series,
            description=f"infant-stream pose of source {table.source}, {len(table.names)} keypoints",
            scorer=scorer,
            source_software="infant-stream",
            source_software_version=__version__,
            skeleton=skeleton,
        )
    )
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f, NWBHDF5IO(file=f, mode="w") as nwb_io:
        nwb_io.write(nwb)
    return buf.getvalue()


def encode(table: PoseTable, fmt: str, scorer: str = DEFAULT_SCORER) -> bytes:
    """The bytes of the ``fmt`` file (one of :data:`FORMATS`) of ``table``: UTF-8 text for ``dlc`` and
    ``coco``, HDF5 for ``nwb``."""
    if fmt == "dlc":
        return to_dlc_csv(table, scorer).encode("utf-8")
    if fmt == "coco":
        return (json.dumps(to_coco(table), allow_nan=False) + "\n").encode("utf-8")
    if fmt == "nwb":
        return to_nwb(table, scorer)
    raise ConfigError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
