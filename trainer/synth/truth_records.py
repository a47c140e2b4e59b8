"""A synthetic clip's ground truth as pipeline records, so movement analysis runs on the truth exactly as on
the pipeline's output (``run --jsonl``).

:func:`truth_records` turns the truth JSON :func:`trainer.synth.video.write_video` writes next to a clip into
one schema-1 frame record per frame (README "Records", :mod:`pipeline.record`), with ``source`` ``"truth"``:

* ``seq`` the frame index, ``pts_s`` the truth's (seconds), ``capture_ts`` = ``start_ts`` (Unix seconds,
  default :data:`TRUTH_START_TS`) + ``pts_s``, ``width``/``height`` the clip's (pixels),
  ``dropped_since_last`` 0, ``privacy`` ``"none"``, every ``latency_ms`` 0.
* ``parts``: the head and the torso from the truth's ``classes``, each arm and leg from its ``instances``
  (``instance``: index among the class's parts of the frame, largest area first), all ``observed`` with
  score 1.0; ``track_id`` is the body part's instance id (:data:`trainer.synth.body.INSTANCE_NAMES`:
  1 head, 2 left arm, 3 right arm, 4 torso, 5 left leg, 6 right leg), stable over the clip. Centroids and
  boxes are the truth's (the mean pixel of all the part's pixels, even when the part is split in two).
* ``classes``: the truth's per-class statistics, score 1.0, ``instances`` the number of parts.
* ``keypoints``: the truth's ``keypoint_set`` (default ``nycu22``), one entry per point in id order:
  ``{"id", "name", "x", "y", "score": 1.0, "state": "observed"}`` for a point inside the frame (visible or
  occluded, v > 0), ``{"state": "missing", "x": None, "y": None, "score": 0.0}`` for one outside it (v = 0);
  ``smoothed``, ``velocity`` and ``uncertainty`` are None (no tracker).

The records match ``docs/record.schema.json`` except for ``missing`` keypoints, a state the pipeline does not
write (it leaves such points out) but :func:`pipeline.analysis.recording.from_records` reads as not observed.
Positions are pixels, times seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from pipeline.contract.classes import CLASS_NAMES
from pipeline.contract.keypoints import KNOWN_SETS
from pipeline.errors import ConfigError
from pipeline.record import SCHEMA, encode
from trainer.synth.body import INSTANCE_NAMES

TRUTH_START_TS: Final[float] = 1_700_000_000.0
"""Unix seconds the truth's first frame is said to be captured at (``capture_ts = TRUTH_START_TS + pts_s``)."""

TRUTH_SOURCE: Final[str] = "truth"

_WHOLE_PARTS: Final[tuple[str, ...]] = ("head", "torso")
"""Classes whose truth statistics are one part each; arms and legs come per side from ``instances``."""


def _part(name: str, instance: int, track_id: int, stats: dict[str, Any]) -> dict[str, Any]:
    """One ``parts`` entry (:func:`pipeline.record.part_record` layout) from a truth statistic."""
    return {
        "class_id": CLASS_NAMES.index(name),
        "name": name,
        "instance": instance,
        "track_id": track_id,
        "state": "observed",
        "box": list(stats["box"]),
        "centroid": list(stats["centroid"]),
        "smoothed": None,
        "velocity": None,
        "uncertainty": None,
        "area_px": int(stats["area_px"]),
        "score": 1.0,
    }


def _parts(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """The frame's parts in class-id order, each class's parts largest first."""
    out: list[dict[str, Any]] = []
    classes: dict[str, Any] = frame.get("classes", {})
    sided: dict[str, list[dict[str, Any]]] = frame.get("instances", {})
    for name in CLASS_NAMES[1:]:
        if name in _WHOLE_PARTS:
            if name in classes:
                out.append(_part(name, 0, INSTANCE_NAMES.index(name), classes[name]))
            continue
        limbs = sorted(sided.get(name, []), key=lambda s: -int(s["area_px"]))
        for i, s in enumerate(limbs):
            out.append(_part(name, i, INSTANCE_NAMES.index(f"{s['side']}_{name}"), s))
    return out


def _classes(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """``classes`` entries (:func:`pipeline.record.class_record` layout), in class-id order."""
    sided: dict[str, list[dict[str, Any]]] = frame.get("instances", {})
    return [
        {
            "class_id": CLASS_NAMES.index(name),
            "name": name,
            "box": list(stats["box"]),
            "centroid": list(stats["centroid"]),
            "area_px": int(stats["area_px"]),
            "score": 1.0,
            "instances": 1 if name in _WHOLE_PARTS else len(sided.get(name, [])),
        }
        for name, stats in frame.get("classes", {}).items()
    ]


def _keypoints(triples: list[list[float]], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """``keypoints`` entries from the truth's [[x, y, v], ...] (module doc)."""
    out: list[dict[str, Any]] = []
    for k, ((x, y, v), name) in enumerate(zip(triples, names, strict=True)):
        inside = v > 0
        out.append(
            {
                "id": k,
                "name": name,
                "x": x if inside else None,
                "y": y if inside else None,
                "score": 1.0 if inside else 0.0,
                "state": "observed" if inside else "missing",
                "smoothed": None,
                "velocity": None,
                "uncertainty": None,
            }
        )
    return out


def truth_records(
    truth_json_path: Path,
    *,
    keypoint_set: str = "nycu22",
    start_ts: float = TRUTH_START_TS,
    source: str = TRUTH_SOURCE,
) -> list[dict[str, Any]]:
    """The ground truth of a clip (its ``.json`` from :func:`trainer.synth.video.write_video`) as one
    pipeline-style record per frame, in frame order (module doc); ``keypoint_set``: ``nycu22`` or
    ``coco17``; ``start_ts``: Unix seconds of the first frame.

    Raises:
        ConfigError: the file is missing, not a truth JSON, or lacks ``keypoint_set`` (names the file).
    """
    if keypoint_set not in KNOWN_SETS:
        raise ConfigError(f"keypoint set must be one of {', '.join(KNOWN_SETS)}, got {keypoint_set!r}")
    names = KNOWN_SETS[keypoint_set].names
    try:
        truth = json.loads(truth_json_path.read_text(encoding="utf-8"))
        width, height, frames = int(truth["width"]), int(truth["height"]), truth["frames"]
        records = []
        for frame in frames:
            pts_s = float(frame["pts_s"])
            records.append(
                {
                    "schema": SCHEMA,
                    "source": source,
                    "seq": int(frame["index"]),
                    "pts_s": pts_s,
                    "capture_ts": round(start_ts + pts_s, 6),
                    "width": width,
                    "height": height,
                    "dropped_since_last": 0,
                    "privacy": "none",
                    "latency_ms": {
                        "preprocess": 0.0,
                        "inference": 0.0,
                        "postprocess": 0.0,
                        "pose": 0.0,
                        "capture_to_publish": 0.0,
                    },
                    "parts": _parts(frame),
                    "classes": _classes(frame),
                    "keypoints": _keypoints(frame["keypoints"][keypoint_set], names),
                }
            )
    except OSError as exc:
        raise ConfigError(f"{truth_json_path}: cannot read the truth ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{truth_json_path}: not JSON ({exc.msg})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{truth_json_path}: not a synth video truth ({type(exc).__name__}: {exc})"
        ) from None
    return records


def write_jsonl(records: list[dict[str, Any]], out_path: Path) -> Path:
    """Write ``records`` (e.g. :func:`truth_records`) to ``out_path`` as JSONL, one compact record a line as
    ``run --jsonl`` writes them (:func:`pipeline.analysis.recording.load_recordings` reads it). Returns
    ``out_path``."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("".join(encode(r) + "\n" for r in records), encoding="utf-8")
    return out_path
