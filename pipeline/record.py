"""The published record, schema 1 (README "Records"): one JSON object per processed frame.

Also the JSONL line and the source of the CSV rows. Coordinates are original-frame pixels; times
are milliseconds; ``capture_ts`` is Unix seconds. The record never contains pixels.

One record per result: :func:`sealed` builds the record and its JSON once, when postprocessing
ends (the publish time, stamped once), and every output (JSONL, CSV, ZeroMQ, the web) sends those
same bytes. :data:`BUILDS` counts the records built, so a test can check that.

``privacy``: what every image of this frame that leaves the process got (``head``, ``frame`` or
``none``), the decision carried on the result (:attr:`pipeline.frames.Result.privacy`).

Keypoints (additive, schema 1): with a pose model, ``pose`` ``{"box": [x0, y0, x1, y1], "model"}``
(the crop the pose model saw, float frame px; null when it had no answer for this frame) and
``keypoints`` ``[{"id", "name", "x", "y", "score", "state", "smoothed", "velocity", "uncertainty"}]``
(frame px, velocity px/s; ``x``/``y`` null when ``predicted``). Both keys are written only when the
frame has a pose or a keypoint: absent means none (a run without a pose model writes the records it
always wrote). ``docs/record.schema.json`` is the JSON Schema of every record (and of status records).

Latencies (``latency_ms``): ``preprocess``, ``inference`` (a batch's time divided by its size),
``postprocess`` (parts + tracking), ``pose`` (the pose stage: the class/score maps, the crop, a share of
the pose model's batch, decoding; 0 without a pose model), each the stage's own time for this frame;
``capture_to_publish``
from the frame leaving the decoder to its record being built (includes queue waits and batching).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from pipeline.frames import ClassSummary, Keypoint, PartInstance, PoseEstimate, Result
from pipeline.lifecycle import HealthStatus

SCHEMA: Final = 1
BUILDS = itertools.count()
"""``next(BUILDS)`` is called once per record built by :func:`sealed` (a thread-safe counter)."""


def _r(value: float, digits: int = 2) -> float:
    return round(float(value), digits)


def _pair(value: tuple[float, float] | None) -> list[float] | None:
    return None if value is None else [_r(value[0]), _r(value[1])]


def part_record(part: PartInstance) -> dict[str, Any]:
    """One entry of ``parts``."""
    return {
        "class_id": part.class_id,
        "name": part.name,
        "instance": part.instance,
        "track_id": part.track_id,
        "state": part.state,
        "box": list(part.box),
        "centroid": _pair(part.centroid),
        "smoothed": _pair(part.smoothed),
        "velocity": _pair(part.velocity),
        "uncertainty": _pair(part.uncertainty),
        "area_px": part.area_px,
        "score": _r(part.score, 3),
    }


def class_record(summary: ClassSummary) -> dict[str, Any]:
    """One entry of ``classes``: all pixels of a class, whatever their regions."""
    return {
        "class_id": summary.class_id,
        "name": summary.name,
        "box": list(summary.box),
        "centroid": _pair(summary.centroid),
        "area_px": summary.area_px,
        "score": _r(summary.score, 3),
        "instances": summary.instances,
    }


def keypoint_record(kp: Keypoint) -> dict[str, Any]:
    """One entry of ``keypoints``: positions px (2 decimals), velocity px/s, score 0..1 (3 decimals)."""
    return {
        "id": kp.id,
        "name": kp.name,
        "x": None if kp.x is None else _r(kp.x),
        "y": None if kp.y is None else _r(kp.y),
        "score": _r(kp.score, 3),
        "state": kp.state,
        "smoothed": _pair(kp.smoothed),
        "velocity": _pair(kp.velocity),
        "uncertainty": _pair(kp.uncertainty),
    }


def pose_record(pose: PoseEstimate | None) -> dict[str, Any] | None:
    """``pose``: the crop the pose model saw (float frame px, 2 decimals) and the model's name."""
    return None if pose is None else {"box": [_r(v) for v in pose.box], "model": pose.model}


def to_record(result: Result, publish_mono: float) -> dict[str, Any]:
    """The schema-1 record of ``result``, published at ``publish_mono`` (``time.monotonic()`` s; it
    gives ``capture_to_publish``).

    Frames read from image files also carry ``image``: the file, as the source names it (an
    additive key: only image sources have it; schema-1 readers ignore keys they do not know).
    Frames with a pose or keypoints also carry ``pose`` and ``keypoints`` (module docstring).
    """
    m, t = result.meta, result.timings
    image = {} if m.image_file is None else {"image": m.image_file}
    joints: dict[str, Any] = {}
    if result.pose is not None or result.keypoints:
        joints = {
            "pose": pose_record(result.pose),
            "keypoints": [keypoint_record(k) for k in result.keypoints],
        }
    return {
        "schema": SCHEMA,
        "source": m.source_id,
        "seq": m.seq,
        **image,
        "pts_s": None if m.pts_s is None else round(m.pts_s, 4),
        "capture_ts": round(m.capture_wall, 4),
        "width": m.width,
        "height": m.height,
        "dropped_since_last": result.dropped_since_last,
        "privacy": result.privacy,
        "latency_ms": {
            "preprocess": _r(t.preprocess_ms),
            "inference": _r(t.inference_ms),
            "postprocess": _r(t.postprocess_ms),
            "pose": _r(t.pose_ms),
            "capture_to_publish": _r((publish_mono - m.capture_mono) * 1000.0),
        },
        "parts": [part_record(p) for p in result.parts],
        "classes": [class_record(c) for c in result.classes],
        **joints,
    }


def sealed(result: Result, publish_mono: float | None = None) -> Result:
    """``result`` stamped with its publish time (now, by default) and carrying its record and JSON.

    Called once per result, at the end of postprocessing; outputs read ``result.record`` (a dict:
    treat as read-only) and ``result.record_json`` (UTF-8 bytes, no newline).
    """
    now = time.monotonic() if publish_mono is None else publish_mono
    record = to_record(result, now)
    next(BUILDS)
    return replace(result, publish_mono=now, record=record, record_json=encode(record).encode("utf-8"))


def record_of(result: Result) -> tuple[Mapping[str, Any], bytes]:
    """(record, JSON bytes) of a sealed result; a result that was never sealed is a bug."""
    if result.record is None:
        raise ValueError(
            f"result {result.meta.source_id}#{result.meta.seq} has no record (use record.sealed)"
        )
    return result.record, result.record_json


def status_record(status: HealthStatus, wall_ts: float, **extra: Any) -> dict[str, Any]:
    """The heartbeat record of topic ``status.<source>`` (docs/architecture.md), at Unix time ``wall_ts``.

    ``fps``: items per second per stage over the last interval; ``dropped``: frames dropped
    between stages since the start; ``reconnects``: times the source was reopened;
    ``timestamp_repairs``: the source's frames whose timestamp was missing or out of order and was
    repaired; ``extra``: more counters (e.g. the publisher's own drops).
    """
    lat = status.latency_p50_ms
    return {
        "schema": SCHEMA,
        "type": "status",
        "source": status.source_id,
        "ts": round(wall_ts, 4),
        "state": status.state,
        "fps": {k: _r(v, 1) for k, v in status.fps.items()},
        "dropped": status.dropped,
        "frames_out": status.frames_out,
        "latency_p50_ms": None if lat != lat else _r(lat),
        "reconnects": status.reconnects,
        "timestamp_repairs": status.timestamp_repairs,
        "failed_outputs": list(status.failed_outputs),
        **extra,
    }


def encode(record: dict[str, Any]) -> str:
    """Compact JSON text of a record (no trailing newline)."""
    return json.dumps(record, separators=(",", ":"), allow_nan=False)
