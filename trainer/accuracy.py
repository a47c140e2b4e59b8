"""Pipeline records vs synthetic ground truth: per-part detection rate, centroid error and tracking.

:func:`compare` checks the whole-class summaries (``classes`` of each schema-1 record) against the
``classes`` of the ground-truth JSON that ``infant-stream synth video`` writes, frame by frame (record
``seq`` = ground-truth ``index``). Errors are in pixels and in % of the frame diagonal.

:func:`compare_tracks` checks the tracked part instances (``parts`` with ``smoothed``) against the
ground-truth instances (``instances`` for arm/leg, left and right; ``classes`` for head/torso): raw
vs Kalman-smoothed centroid error and frame-to-frame jitter.

``python -m trainer.accuracy RECORDS.jsonl TRUTH.json`` prints both tables.
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class PartAccuracy:
    """One class over a video.

    Attributes:
        frames_visible: frames where the class is in the ground truth.
        detection_rate: share of those frames where the pipeline reported the class.
        median_err_px, mean_err_px, p95_err_px: centroid error over detected frames (pixels).
        mean_err_pct: mean error as % of the frame diagonal.
    """

    name: str
    frames_visible: int
    detection_rate: float
    median_err_px: float
    mean_err_px: float
    p95_err_px: float
    mean_err_pct: float


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON Lines file."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def compare(records: list[dict[str, Any]], truth: dict[str, Any]) -> list[PartAccuracy]:
    """Per-class accuracy of ``records`` against a synth ground-truth document."""
    diag = math.hypot(truth["width"], truth["height"])
    by_seq = {r["seq"]: r for r in records}
    names = sorted({n for f in truth["frames"] for n in f["classes"]})
    report = []
    for name in names:
        visible = [f for f in truth["frames"] if name in f["classes"] and f["index"] in by_seq]
        errors = []
        for f in visible:
            got = next((c for c in by_seq[f["index"]]["classes"] if c["name"] == name), None)
            if got is not None:
                errors.append(math.dist(got["centroid"], f["classes"][name]["centroid"]))
        err = np.asarray(errors, dtype=np.float64)
        nan = float("nan")
        report.append(
            PartAccuracy(
                name=name,
                frames_visible=len(visible),
                detection_rate=len(errors) / len(visible) if visible else nan,
                median_err_px=float(np.median(err)) if len(err) else nan,
                mean_err_px=float(err.mean()) if len(err) else nan,
                p95_err_px=float(np.percentile(err, 95)) if len(err) else nan,
                mean_err_pct=float(100 * err.mean() / diag) if len(err) else nan,
            )
        )
    return report


def format_report(report: list[PartAccuracy]) -> str:
    """A small table, one row per class."""
    lines = [
        f"{'part':<8}{'visible':>8}{'detected':>10}{'median px':>11}{'mean px':>9}{'p95 px':>8}{'mean %diag':>12}"
    ]
    for r in report:
        lines.append(
            f"{r.name:<8}{r.frames_visible:>8}{100 * r.detection_rate:>9.1f}%{r.median_err_px:>11.1f}"
            f"{r.mean_err_px:>9.1f}{r.p95_err_px:>8.1f}{r.mean_err_pct:>11.2f}%"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class TrackAccuracy:
    """One part (all its ground-truth instances together) over a video, tracked.

    Each frame's ``observed`` parts of the class are matched to the frame's ground-truth instances by
    nearest raw centroid (minimum total distance; extra parts or instances stay unmatched). For arm
    and leg the candidates are left, right and, when both are visible, ``merged`` (the whole class:
    one region covering both limbs is compared with the centroid of both).

    Attributes:
        instances: ground-truth instance keys matched at least once (arm: left, right, merged → ≤ 3).
        matched: part-frames matched to a ground-truth instance.
        raw_err_px, smoothed_err_px: mean distance of the measured centroid / the Kalman ``smoothed``
            position from the true centroid, px.
        raw_rmse_px, smoothed_rmse_px: root mean square of the same distances, px.
        raw_jitter_px, smoothed_jitter_px, truth_jitter_px: frame-to-frame jitter, the RMS length of
            the second difference ``p[i+1] − 2 p[i] + p[i−1]`` (px) along each ground-truth
            instance, over frames i−1, i, i+1 all matched; the truth's own value is what the real
            motion contributes at this frame rate.
        track_ids: distinct track ids matched to each instance key, summed (= ``instances`` when
            no track was ever lost or swapped).
        predicted: ``predicted`` (coasting) parts of the class in the records.
    """

    name: str
    instances: int
    matched: int
    raw_err_px: float
    smoothed_err_px: float
    raw_rmse_px: float
    smoothed_rmse_px: float
    raw_jitter_px: float
    smoothed_jitter_px: float
    truth_jitter_px: float
    track_ids: int
    predicted: int


def _truth_instances(frame: dict[str, Any], name: str) -> list[tuple[str, list[float]]]:
    """(instance key, true centroid) candidates of ``name`` in one ground-truth frame.

    Arm/leg: one per side, plus ``merged`` (the whole class) when both sides are visible, since
    touching limbs come out of a segmentation as one region. Head/torso: the class.
    """
    sided = frame.get("instances", {}).get(name)
    if sided:
        out = [(inst["side"], inst["centroid"]) for inst in sided]
        if len(out) > 1:
            out.append(("merged", frame["classes"][name]["centroid"]))
        return out
    cls = frame["classes"].get(name)
    return [("", cls["centroid"])] if cls is not None else []


def second_differences(series: dict[int, np.ndarray]) -> list[float]:
    """Squared norms (px²) of the second differences ``p[i+1] − 2 p[i] + p[i−1]`` of a position (or error)
    series keyed by frame index, over the frames i whose neighbours i−1 and i+1 are both in it."""
    return [
        float(np.sum((series[i + 1] - 2 * series[i] + series[i - 1]) ** 2))
        for i in series
        if i - 1 in series and i + 1 in series
    ]


def mean_or_nan(v: Sequence[float]) -> float:
    """The mean of ``v``; NaN when empty."""
    return float(np.mean(v)) if len(v) else float("nan")


def rms_of_squares(v: Sequence[float]) -> float:
    """``sqrt(mean(v))`` of squared values ``v`` (a root mean square); NaN when empty."""
    return float(np.sqrt(np.mean(v))) if len(v) else float("nan")


def compare_tracks(records: list[dict[str, Any]], truth: dict[str, Any]) -> list[TrackAccuracy]:
    """Per-part raw vs smoothed accuracy of tracked ``records``; empty when no record has tracks."""
    if not any(p.get("smoothed") is not None for r in records for p in r.get("parts", [])):
        return []
    by_seq = {r["seq"]: r for r in records}
    names = sorted({n for f in truth["frames"] for n in f["classes"]})
    nan = float("nan")
    report = []
    for name in names:
        # (instance key) → frame index → position; and the track ids each instance got
        raw: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
        smooth: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
        true: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
        ids: dict[str, set[int]] = defaultdict(set)
        keys: set[str] = set()
        predicted = 0
        for f in truth["frames"]:
            rec = by_seq.get(f["index"])
            if rec is None:
                continue
            gt = _truth_instances(f, name)
            parts = [p for p in rec["parts"] if p["name"] == name]
            predicted += sum(p["state"] == "predicted" for p in parts)
            seen = [p for p in parts if p["state"] == "observed" and p.get("smoothed") is not None]
            if not gt or not seen:
                continue
            cost = np.array([[math.dist(p["centroid"], c) for _, c in gt] for p in seen])
            for r, c in zip(*linear_sum_assignment(cost), strict=True):
                key, i = gt[c][0], f["index"]
                keys.add(key)
                raw[key][i] = np.asarray(seen[r]["centroid"], dtype=np.float64)
                smooth[key][i] = np.asarray(seen[r]["smoothed"], dtype=np.float64)
                true[key][i] = np.asarray(gt[c][1], dtype=np.float64)
                if seen[r].get("track_id") is not None:
                    ids[key].add(int(seen[r]["track_id"]))
        raw_err = [float(np.linalg.norm(raw[k][i] - true[k][i])) for k in raw for i in raw[k]]
        sm_err = [float(np.linalg.norm(smooth[k][i] - true[k][i])) for k in smooth for i in smooth[k]]
        jit = {
            label: [v for k in store for v in second_differences(store[k])]
            for label, store in (("raw", raw), ("smoothed", smooth), ("truth", true))
        }

        def rms(v: Sequence[float]) -> float:
            return float(np.sqrt(np.mean(np.square(v)))) if len(v) else nan

        report.append(
            TrackAccuracy(
                name=name,
                instances=len(keys),
                matched=len(raw_err),
                raw_err_px=mean_or_nan(raw_err),
                smoothed_err_px=mean_or_nan(sm_err),
                raw_rmse_px=rms(raw_err),
                smoothed_rmse_px=rms(sm_err),
                raw_jitter_px=rms_of_squares(jit["raw"]),
                smoothed_jitter_px=rms_of_squares(jit["smoothed"]),
                truth_jitter_px=rms_of_squares(jit["truth"]),
                track_ids=sum(len(v) for v in ids.values()),
                predicted=predicted,
            )
        )
    return report


def format_track_report(report: list[TrackAccuracy]) -> str:
    """A small table, one row per part: raw → smoothed error and jitter (px)."""
    lines = [
        f"{'part':<7}{'inst':>5}{'matched':>8}{'err raw':>9}{'smooth':>8}{'rmse raw':>10}{'smooth':>8}"
        f"{'jitter raw':>12}{'smooth':>8}{'truth':>7}{'ids':>5}{'coast':>7}"
    ]
    for r in report:
        lines.append(
            f"{r.name:<7}{r.instances:>5}{r.matched:>8}{r.raw_err_px:>9.2f}{r.smoothed_err_px:>8.2f}"
            f"{r.raw_rmse_px:>10.2f}{r.smoothed_rmse_px:>8.2f}{r.raw_jitter_px:>12.2f}"
            f"{r.smoothed_jitter_px:>8.2f}{r.truth_jitter_px:>7.2f}{r.track_ids:>5}{r.predicted:>7}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m trainer.accuracy RECORDS.jsonl TRUTH.json``: print the class and track tables."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m trainer.accuracy RECORDS.jsonl TRUTH.json", file=sys.stderr)
        return 2
    records = load_jsonl(Path(args[0]))
    truth = json.loads(Path(args[1]).read_text(encoding="utf-8"))
    print(format_report(compare(records, truth)))
    tracks = compare_tracks(records, truth)
    if tracks:
        print()
        print(format_track_report(tracks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
