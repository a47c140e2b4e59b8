"""Keypoint accuracy against synthetic truth: hand-computed errors, jitter and coverage."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pipeline.contract.keypoints import NYCU22
from trainer.pose.accuracy import compare_keypoints, summary


def _truth(points: list[list[list[float]]]) -> dict[str, Any]:
    """A 300×400 clip whose frame i has NYCU-22 truth points[i] (22 × [x, y, v])."""
    return {
        "width": 400,
        "height": 300,
        "frames": [{"index": i, "keypoints": {"nycu22": p}} for i, p in enumerate(points)],
    }


def _record(
    seq: int, xy: dict[str, tuple[float, float]], smoothed: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    kps = []
    for i, name in enumerate(NYCU22.names):
        if name not in xy:
            continue
        kps.append(
            {
                "id": i,
                "name": name,
                "x": xy[name][0],
                "y": xy[name][1],
                "score": 0.9,
                "state": "observed",
                "smoothed": list(smoothed[name]),
                "velocity": [0, 0],
                "uncertainty": [1, 1],
            }
        )
    return {"seq": seq, "keypoints": kps}


def test_errors_jitter_and_coverage_by_hand() -> None:
    # Wrist_R moves right 10 px/frame; truth labelled in all 4 frames, Knee_L never labelled.
    k = len(NYCU22.names)
    wr = NYCU22.index("Wrist_R")
    frames = []
    for i in range(4):
        pts = [[0.0, 0.0, 0.0] for _ in range(k)]
        pts[wr] = [100.0 + 10 * i, 50.0, 2.0]
        frames.append(pts)
    truth = _truth(frames)
    # measured errors (x): +3, -3, +3 (frame 3 missing); smoothed errors: +1, 0, +1, 0
    raw_dx = [3.0, -3.0, 3.0]
    sm_dx = [1.0, 0.0, 1.0, 0.0]
    records = [
        _record(
            i, {"Wrist_R": (100 + 10 * i + raw_dx[i], 50.0)}, {"Wrist_R": (100 + 10 * i + sm_dx[i], 50.0)}
        )
        for i in range(3)
    ]
    report = {r.name: r for r in compare_keypoints(records, truth)}
    w = report["Wrist_R"]
    assert w.labelled == 4 and w.coverage == pytest.approx(0.75)
    assert w.raw_err_px == pytest.approx(3.0)
    assert w.smoothed_err_px == pytest.approx(2.0 / 3.0)
    assert w.raw_err_pct == pytest.approx(300.0 / 500.0)  # diagonal of 400×300 is 500
    # one triple (0, 1, 2): raw second difference 3 - 2·(-3) + 3 = 12; smoothed 1 - 0 + 1 = 2
    assert w.raw_jitter_px == pytest.approx(12.0)
    assert w.smoothed_jitter_px == pytest.approx(2.0)
    assert report["Knee_L"].labelled == 0 and math.isnan(report["Knee_L"].raw_err_px)
    s = summary(list(report.values()))
    assert s["worst_joint"] == "Wrist_R" and s["jitter_ratio"] == pytest.approx(2.0 / 12.0)


def test_no_keypoints_in_records_gives_an_empty_report() -> None:
    truth = _truth([[[1.0, 1.0, 2.0]] * len(NYCU22.names)])
    assert compare_keypoints([{"seq": 0, "parts": []}], truth) == []
