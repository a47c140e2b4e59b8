"""Pipeline keypoints vs the synthetic clip's ground truth: per-joint error and jitter, raw vs smoothed.

Records are schema-1 JSONL lines with ``keypoints`` (``x``/``y`` measured, ``smoothed`` Kalman); the
truth is the JSON ``infant-stream synth video`` writes, whose frames carry
``keypoints[<set>] = [[x, y, v], ...]`` (record ``seq`` = truth ``index``; the set is the one whose names
match the records', ``nycu22`` or ``coco17``).

* **error**: mean Euclidean distance to the true point over the frames where the joint is labelled
  (v > 0) and reported, in px and in % of the frame diagonal; ``raw`` uses the measurement (observed
  frames only), ``smoothed`` the Kalman position (observed and predicted frames).
* **jitter**: RMS of the second difference of the *error* ``p_t − gt_t`` over runs of three consecutive
  frames (px): the frame-to-frame shake that is not the infant's own motion (the truth's acceleration
  cancels). Smoothing should lower it.
* **coverage**: share of labelled frames where the joint is in the record (observed or predicted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.contract.keypoints import KNOWN_SETS
from trainer.accuracy import mean_or_nan, rms_of_squares, second_differences


@dataclass(frozen=True)
class JointAccuracy:
    """One joint over a clip (px unless stated; NaN when there is nothing to measure)."""

    name: str
    labelled: int
    coverage: float
    raw_err_px: float
    smoothed_err_px: float
    raw_err_pct: float
    smoothed_err_pct: float
    raw_jitter_px: float
    smoothed_jitter_px: float


def _has_truth(truth: dict[str, Any], key: str) -> bool:
    """Whether any truth frame has points of keypoint set ``key``."""
    return any(key in f.get("keypoints", {}) for f in truth["frames"])


def compare_keypoints(records: list[dict[str, Any]], truth: dict[str, Any]) -> list[JointAccuracy]:
    """Per-joint accuracy of ``records`` against ``truth``; empty when no record has keypoints or the truth
    has no keypoints of the records' set."""
    reported = {str(k["name"]) for r in records for k in r.get("keypoints", [])}
    key = next(
        (
            k
            for k, kset in KNOWN_SETS.items()
            if reported and reported <= set(kset.names) and _has_truth(truth, k)
        ),
        None,
    )
    if key is None:
        return []
    names = KNOWN_SETS[key].names
    diag = math.hypot(float(truth["width"]), float(truth["height"]))
    by_seq = {int(r["seq"]): r for r in records}
    report = []
    for j, name in enumerate(names):
        labelled = covered = 0
        raw: dict[int, np.ndarray] = {}
        smooth: dict[int, np.ndarray] = {}
        for f in truth["frames"]:
            gt = f.get("keypoints", {}).get(key)
            if gt is None or gt[j][2] <= 0:
                continue
            labelled += 1
            rec = by_seq.get(int(f["index"]))
            kp = next((k for k in (rec or {}).get("keypoints", []) if k["name"] == name), None)
            if kp is None:
                continue
            covered += 1
            g = np.asarray(gt[j][:2], dtype=np.float64)
            if kp.get("state") == "observed" and kp.get("x") is not None:
                raw[int(f["index"])] = np.array([kp["x"], kp["y"]], dtype=np.float64) - g
            if kp.get("smoothed") is not None:
                smooth[int(f["index"])] = np.asarray(kp["smoothed"], dtype=np.float64) - g
        raw_err = [float(np.linalg.norm(e)) for e in raw.values()]
        sm_err = [float(np.linalg.norm(e)) for e in smooth.values()]
        report.append(
            JointAccuracy(
                name=name,
                labelled=labelled,
                coverage=covered / labelled if labelled else math.nan,
                raw_err_px=mean_or_nan(raw_err),
                smoothed_err_px=mean_or_nan(sm_err),
                raw_err_pct=100.0 * mean_or_nan(raw_err) / diag,
                smoothed_err_pct=100.0 * mean_or_nan(sm_err) / diag,
                raw_jitter_px=rms_of_squares(second_differences(raw)),
                smoothed_jitter_px=rms_of_squares(second_differences(smooth)),
            )
        )
    return report


def format_keypoint_report(report: list[JointAccuracy]) -> str:
    """One row per joint, then the worst joint's error and the overall jitter ratio."""
    lines = [
        f"{'joint':<12}{'labelled':>9}{'cover':>7}{'err raw':>9}{'smooth':>8}{'% diag':>8}"
        f"{'jitter raw':>12}{'smooth':>8}"
    ]
    for r in report:
        lines.append(
            f"{r.name:<12}{r.labelled:>9}{r.coverage:>7.2f}{r.raw_err_px:>9.2f}{r.smoothed_err_px:>8.2f}"
            f"{r.raw_err_pct:>8.2f}{r.raw_jitter_px:>12.2f}{r.smoothed_jitter_px:>8.2f}"
        )
    s = summary(report)
    lines.append(
        f"worst joint mean error {s['worst_err_pct']:.2f} % of the diagonal ({s['worst_joint']}); "
        f"jitter smoothed/raw {s['jitter_ratio']:.2f}"
    )
    return "\n".join(lines)


def summary(report: list[JointAccuracy]) -> dict[str, Any]:
    """Worst joint error (% of diagonal, raw measurement) and the smoothed/raw jitter ratio (RMS over joints)."""
    errs = [(r.raw_err_pct, r.name) for r in report if not math.isnan(r.raw_err_pct)]
    worst = max(errs) if errs else (math.nan, "")
    raw = [r.raw_jitter_px**2 for r in report if not math.isnan(r.raw_jitter_px)]
    sm = [r.smoothed_jitter_px**2 for r in report if not math.isnan(r.smoothed_jitter_px)]
    ratio = math.sqrt(np.mean(sm) / np.mean(raw)) if raw and sm and np.mean(raw) > 0 else math.nan
    return {"worst_err_pct": worst[0], "worst_joint": worst[1], "jitter_ratio": ratio}
