"""A recording as arrays: the JSONL records of one source (from ``run``, ``subscribe`` or a web job) turned into
per-frame times and one track per joint and per body part.

A *track* is a point over the recording's frames: ``xy`` (T, 2) frame pixels, NaN where the point was not
*observed* in that frame; ``state`` says which frames were observed, predicted (a Kalman filter coasting
over a miss: kept out of ``xy``, the analysis fills short gaps itself) or missing; ``score`` is the model's
confidence (0 where missing).

Joints are named by side and kind, whatever the model's keypoint set (``Wrist_L`` of NYCU-22 and
``left_wrist`` of COCO-17 are both ``wrist_l``): :func:`joint_key`. Body parts give the fallback when a
recording has no joints: ``head`` and ``torso`` (the largest instance's centroid) and, for arms and legs,
``arm_l``/``arm_r``/``leg_l``/``leg_r``: two instances put on the infant's left or right of the trunk
axis (torso → head) as a supine infant facing the camera shows them (its left on the viewer's right when
the head is up).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from pipeline.errors import ConfigError

MISSING: Final = 0
OBSERVED: Final = 1
PREDICTED: Final = 2
STATE_NAMES: Final = {MISSING: "missing", OBSERVED: "observed", PREDICTED: "predicted"}


@dataclass(frozen=True)
class Track:
    """One point over the recording.

    Attributes:
        key: ``wrist_l``, ``knee_r``, ``shoulder_l``, ... for joints; ``head``, ``torso``, ``arm_l``, ...
            for body parts.
        xy: (T, 2) float64 frame pixels; NaN where not observed.
        state: (T,) uint8: :data:`OBSERVED`, :data:`PREDICTED` or :data:`MISSING`.
        score: (T,) float32 confidence 0..1 (0 where missing).
    """

    key: str
    xy: np.ndarray
    state: np.ndarray
    score: np.ndarray

    def share(self, state: int) -> float:
        """Share of frames in ``state`` (0..1; 0 for an empty recording)."""
        return float(np.mean(self.state == state)) if len(self.state) else 0.0


@dataclass(frozen=True)
class Recording:
    """One source's records as arrays, in record order.

    Attributes:
        source: the records' ``source``.
        path: where they were read from.
        capture_ts: (T,) Unix seconds each frame was captured (wall clock).
        pts_s: (T,) the stream's presentation time, seconds; NaN where the record has none.
        seq: (T,) frame numbers as the source counted them.
        dropped: (T,) frames dropped just before each one (``dropped_since_last``).
        width, height: frame size of the first record, pixels.
        joints: joint key → track (empty when no record has keypoints).
        parts: part key → track (``head``, ``torso``, ``arm_l``, ``arm_r``, ``leg_l``, ``leg_r``).
        keypoint_names: the model's own keypoint names, in its order.
    """

    source: str
    path: str
    capture_ts: np.ndarray
    pts_s: np.ndarray
    seq: np.ndarray
    dropped: np.ndarray
    width: int
    height: int
    joints: dict[str, Track] = field(default_factory=dict)
    parts: dict[str, Track] = field(default_factory=dict)
    keypoint_names: tuple[str, ...] = ()

    @property
    def frames(self) -> int:
        return len(self.capture_ts)

    def track(self, key: str) -> Track | None:
        """The joint ``key`` if the recording has joints, else the part ``key``; None if neither."""
        return self.joints.get(key) or self.parts.get(key)


_SIDE = re.compile(r"^(left|right)_(.+)$|^(.+)_([lr])$", re.IGNORECASE)


def joint_key(name: str) -> str:
    """A keypoint name → ``kind_side`` in lower case (``Wrist_L``, ``left_wrist`` → ``wrist_l``); names
    without a side are lower-cased (``Nose`` → ``nose``)."""
    m = _SIDE.match(name.strip())
    if m is None:
        return name.strip().lower()
    if m.group(1):
        return f"{m.group(2).lower()}_{m.group(1)[0].lower()}"
    return f"{m.group(3).lower()}_{m.group(4).lower()}"


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON records of a JSONL file, in order; status records and blank lines skipped.

    Raises:
        ConfigError: the file is missing or a line is not a JSON object (names the file and line).
    """
    if not path.is_file():
        raise ConfigError(f"{path}: recording not found")
    with path.open("r", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                if number > 1 and not line.endswith("\n"):
                    return  # a last line cut short (the writer was killed): keep what came before
                raise ConfigError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise ConfigError(f"{path}:{number}: not a JSON object")
            if "parts" in record and "capture_ts" in record:
                yield record


def records_by_source(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The frame records of a JSONL file grouped by ``source``, in order of first appearance.

    Raises:
        ConfigError: not readable, or no frame records in it.
    """
    by_source: dict[str, list[dict[str, Any]]] = {}
    for record in read_records(path):
        by_source.setdefault(str(record.get("source", "")), []).append(record)
    if not by_source:
        raise ConfigError(f"{path}: no frame records (JSONL from run --jsonl, subscribe or a web job)")
    return by_source


def load_recordings(path: Path) -> list[Recording]:
    """Every source's :class:`Recording` of a JSONL file, in order of first appearance.

    Raises:
        ConfigError: not readable, or no frame records in it.
    """
    return [from_records(records, str(path)) for records in records_by_source(path).values()]


def keypoint_names_by_id(records: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """Keypoint id → name over all ``records`` (a joint without a track yet is absent from a record, so
    no one record need name them all)."""
    named: dict[int, str] = {}
    for record in records:
        for kp in record.get("keypoints") or ():
            named.setdefault(int(kp.get("id", 0)), str(kp.get("name", "")))
    return named


def from_records(
    records: list[dict[str, Any]], path: str = "", names: Sequence[str] | None = None
) -> Recording:
    """The :class:`Recording` of one source's records (in order); ``names``: the keypoint names in id
    order (default: every name the records use, :func:`keypoint_names_by_id`)."""
    n = len(records)
    capture = np.array([float(r["capture_ts"]) for r in records], np.float64)
    pts = np.array([_num(r.get("pts_s")) for r in records], np.float64)
    seq = np.array([int(r.get("seq", i)) for i, r in enumerate(records)], np.int64)
    dropped = np.array([int(r.get("dropped_since_last", 0) or 0) for r in records], np.int64)
    if names is None:
        named = keypoint_names_by_id(records)
        names = [named[i] for i in sorted(named)]
    joints = {joint_key(name): _empty(joint_key(name), n) for name in names}
    index = {name: joint_key(name) for name in names}
    for i, r in enumerate(records):
        for kp in r.get("keypoints") or ():
            key = index.get(kp.get("name", ""))
            if key is None:
                continue
            _put(joints[key], i, kp.get("x"), kp.get("y"), kp.get("state"), kp.get("score", 0.0))
    parts = _parts(records)
    first = records[0] if records else {}
    return Recording(
        source=str(first.get("source", "")),
        path=path,
        capture_ts=capture,
        pts_s=pts,
        seq=seq,
        dropped=dropped,
        width=int(first.get("width", 0)),
        height=int(first.get("height", 0)),
        joints=joints,
        parts=parts,
        keypoint_names=tuple(names),
    )


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _empty(key: str, n: int) -> Track:
    return Track(key, np.full((n, 2), np.nan), np.full(n, MISSING, np.uint8), np.zeros(n, np.float32))


def _put(track: Track, i: int, x: Any, y: Any, state: Any, score: Any) -> None:
    """Frame ``i`` of ``track``: observed points get their position, predicted ones only their state."""
    if state == "predicted":
        track.state[i] = PREDICTED
        track.score[i] = float(score or 0.0)
    elif x is not None and y is not None and state not in ("missing", "lost"):
        track.xy[i] = (float(x), float(y))
        track.state[i] = OBSERVED
        track.score[i] = float(score or 0.0)


PART_KEYS: Final = ("head", "torso", "arm_l", "arm_r", "leg_l", "leg_r")


def _parts(records: list[dict[str, Any]]) -> dict[str, Track]:
    """Body-part tracks (module docstring): head and torso from the largest instance; two arm and two leg
    instances sided by the trunk axis."""
    n = len(records)
    tracks = {key: _empty(key, n) for key in PART_KEYS}
    for i, r in enumerate(records):
        by_name: dict[str, list[dict[str, Any]]] = {}
        for p in r.get("parts") or ():
            by_name.setdefault(str(p.get("name", "")), []).append(p)
        centre: dict[str, tuple[float, float]] = {}
        for name in ("head", "torso"):
            found = _largest(by_name.get(name, []))
            if found is not None:
                point, state, score = found
                _put(tracks[name], i, point[0], point[1], state, score)
                if state != "predicted":
                    centre[name] = point
        axis = None
        if "head" in centre and "torso" in centre:
            axis = (centre["head"][0] - centre["torso"][0], centre["head"][1] - centre["torso"][1])
        for name, prefix in (("arm", "arm"), ("leg", "leg")):
            limbs = [p for p in by_name.get(name, []) if _point(p) is not None]
            limbs = sorted(limbs, key=lambda p: -int(p.get("area_px", 0)))[:2]
            if axis is None or "torso" not in centre:
                continue
            for p in limbs:
                at = _point(p)
                assert at is not None
                rel = (at[0] - centre["torso"][0], at[1] - centre["torso"][1])
                # image y points down: with the head up (axis (0, -1)), the viewer's right (+x) is the
                # infant's left, and the cross product axis × rel is positive there
                side = "l" if axis[0] * rel[1] - axis[1] * rel[0] > 0 else "r"
                key = f"{prefix}_{side}"
                if tracks[key].state[i] == MISSING:
                    _put(tracks[key], i, at[0], at[1], p.get("state"), p.get("score", 0.0))
    return tracks


def _point(part: Mapping[str, Any]) -> tuple[float, float] | None:
    c = part.get("centroid")
    return None if c is None else (float(c[0]), float(c[1]))


def _largest(parts: list[dict[str, Any]]) -> tuple[tuple[float, float], str, float] | None:
    with_point = [p for p in parts if _point(p) is not None]
    if not with_point:
        return None
    p = max(with_point, key=lambda q: int(q.get("area_px", 0)))
    point = _point(p)
    assert point is not None
    return point, str(p.get("state", "")), float(p.get("score", 0.0))
