"""Keypoint metrics on hand-computed frames.

The base NYCU-22 frame: Shoulder_R (0, 0), Shoulder_L (40, 0), Head (20, 0), Hip_R (10, 100), Hip_L (30, 100),
so d(shoulders) = 40, d(Head, mid-hip (20, 100)) = 100 and S = sqrt(40·100) = 63.2456 px; 0.1·S = 6.3246,
0.08·S = 5.0596, 0.06·S = 3.7947.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pipeline.contract.keypoints import COCO17, MKS_LAMBDA, NYCU22, PCK_GROUPS, KeypointSet
from trainer.pose.metrics import (
    body_size,
    group_pck,
    keypoint_report,
    mks,
    pck,
    per_joint_mean_error,
    reports_markdown,
)

S = math.sqrt(40.0 * 100.0)


def nycu_frame() -> np.ndarray:
    """(22, 3) all labelled (v = 2): the five body-size points as above, the rest on a row at y = 200."""
    g = np.zeros((22, 3))
    g[:, 0] = 100.0 + 7.0 * np.arange(22)
    g[:, 1] = 200.0
    g[:, 2] = 2.0
    for name, xy in {
        "Shoulder_R": (0, 0),
        "Shoulder_L": (40, 0),
        "Head": (20, 0),
        "Hip_R": (10, 100),
        "Hip_L": (30, 100),
    }.items():
        g[NYCU22.index(name), :2] = xy
    return g


def coco_frame() -> np.ndarray:
    """(17, 3): shoulders (0, 0)/(30, 0), nose (15, -20), hips (5, 60)/(25, 60) → S = sqrt(30·80)."""
    g = np.zeros((17, 3))
    g[:, 0] = 100.0 + 5.0 * np.arange(17)
    g[:, 1] = 300.0
    g[:, 2] = 2.0
    for name, xy in {
        "right_shoulder": (0, 0),
        "left_shoulder": (30, 0),
        "nose": (15, -20),
        "right_hip": (5, 60),
        "left_hip": (25, 60),
    }.items():
        g[COCO17.index(name), :2] = xy
    return g


def test_body_size_nycu_and_unlabelled() -> None:
    g = np.stack([nycu_frame(), nycu_frame(), nycu_frame()])
    g[1, NYCU22.index("Hip_L"), 2] = 0  # a needed point unlabelled → NaN
    g[2, NYCU22.index("Shoulder_R"), 2] = 1  # occluded but labelled still counts
    s = body_size(g, NYCU22)
    assert s.shape == (3,)
    assert s[0] == pytest.approx(63.245553, abs=1e-6)
    assert math.isnan(s[1])
    assert s[2] == pytest.approx(S)


def test_body_size_coco_uses_nose() -> None:
    s = body_size(coco_frame()[None], COCO17)
    assert s[0] == pytest.approx(math.sqrt(30.0 * 80.0))


def test_body_size_needs_the_five_points() -> None:
    other = KeypointSet(name="two", names=("a", "b"), skeleton=(), sides=("", ""))
    with pytest.raises(ValueError, match="body size"):
        body_size(np.zeros((1, 2, 3)), other)


@pytest.mark.parametrize(
    ("offset", "beta", "expected"),
    [
        (5.0, 0.1, 1.0),  # 5 < 6.32
        (5.0, 0.08, 1.0),  # 5 < 5.06
        (5.0, 0.06, 0.0),  # 5 > 3.79
        (6.4, 0.1, 0.0),  # 6.4 > 6.32
        (0.0, 0.02, 1.0),
    ],
)
def test_pck_threshold_one_point(offset: float, beta: float, expected: float) -> None:
    g = nycu_frame()[None]
    p = g[..., :2].copy()
    w = NYCU22.index("Wrist_R")
    p[0, w] += (offset * 0.6, offset * 0.8)  # a 3-4-5 direction: distance = offset exactly
    assert pck(p, g, body_size(g, NYCU22), beta, ids=[w]) == expected


def test_pck_over_all_points_and_ids() -> None:
    g = nycu_frame()[None]
    p = g[..., :2].copy()
    p[0, :5, 0] += 10.0  # 5 misses (10 > 6.32)
    s = body_size(g, NYCU22)
    assert pck(p, g, s, 0.1) == pytest.approx(17 / 22)
    assert pck(p, g, s, 0.1, ids=NYCU22.non_facial) == pytest.approx(16 / 17)  # Head (id 0) is non-facial
    assert pck(p, g, s, 0.1, ids=[4, 5]) == pytest.approx(0.5)  # id 4 shifted, id 5 not


def test_unlabelled_points_excluded_occluded_counted() -> None:
    g = nycu_frame()[None]
    p = g[..., :2].copy()
    p[0, 10] += 1000.0
    g[0, 10, 2] = 0  # unlabelled: not scored
    s = body_size(g, NYCU22)
    assert pck(p, g, s, 0.1) == 1.0
    assert mks(p, g, s) == 1.0
    g[0, 10, 2] = 1  # occluded: scored
    assert pck(p, g, s, 0.1) == pytest.approx(21 / 22)


def test_nan_size_frames_excluded() -> None:
    g = np.stack([nycu_frame(), nycu_frame()])
    p = g[..., :2].copy()
    p[1] += 500.0  # all wrong, but frame 1 has no body size
    g[1, NYCU22.index("Hip_R"), 2] = 0
    s = body_size(g, NYCU22)
    assert pck(p, g, s, 0.1) == 1.0
    assert mks(p, g, s) == 1.0
    s[1] = S  # with a size the frame would count
    assert pck(p, g, s, 0.1) == pytest.approx(22 / 43)


def test_nothing_scored_is_nan() -> None:
    g = nycu_frame()[None]
    p = g[..., :2].copy()
    s = np.array([np.nan])
    assert math.isnan(pck(p, g, s, 0.1))
    assert math.isnan(mks(p, g, s))
    g[0, 3, 2] = 0
    assert math.isnan(pck(p, g, body_size(g, NYCU22), 0.1, ids=[3]))


@pytest.mark.parametrize(
    ("dist_over_s", "expected"),
    [(0.0, 1.0), (0.1, 0.5), (0.2, 1 / 16), (0.05, 2 ** (-0.25))],  # exp(-(d/S)²·ln2/0.01)
)
def test_mks_hand_values(dist_over_s: float, expected: float) -> None:
    g = nycu_frame()[None]
    p = g[..., :2].copy()
    w = NYCU22.index("Knee_L")
    p[0, w, 1] += dist_over_s * S
    assert mks(p, g, body_size(g, NYCU22), ids=[w]) == pytest.approx(expected, abs=1e-12)


def test_mks_lambda_default_and_missing_prediction() -> None:
    g = nycu_frame()[None]
    p = g[..., :2].copy()
    p[0, 7] = np.nan  # a missing prediction: a miss, scores 0
    s = body_size(g, NYCU22)
    assert mks(p, g, s) == pytest.approx(21 / 22)
    assert pck(p, g, s, 0.1) == pytest.approx(21 / 22)
    p[0, 7] = g[0, 7, :2] + (0.0, 0.1 * S)
    assert mks(p, g, s, lam=MKS_LAMBDA, ids=[7]) == pytest.approx(0.5)
    assert mks(p, g, s, lam=MKS_LAMBDA / 4, ids=[7]) == pytest.approx(1 / 16)


def test_group_pck_nycu() -> None:
    g = np.stack([nycu_frame(), nycu_frame()])
    p = g[..., :2].copy()
    p[0, NYCU22.index("Elbow_R"), 0] += 10.0  # 1 of 4 elbow points misses
    p[:, NYCU22.index("Head"), 0] += 10.0  # both vertex points miss
    p[:, NYCU22.index("MTP_joint_L"), 0] += 10.0  # half the sole points miss
    p[:, NYCU22.index("Nose"), 0] += 10.0  # facial, in no group
    table = group_pck(p, g, body_size(g, NYCU22), NYCU22)
    assert list(table) == [name for name, _ in PCK_GROUPS]
    expected = dict.fromkeys(table, 1.0) | {"elbow": 0.75, "vertex": 0.0, "sole": 0.5}
    assert table == pytest.approx(expected)


def test_group_pck_coco() -> None:
    g = coco_frame()[None]
    p = g[..., :2].copy()
    p[0, COCO17.index("nose"), 1] += 20.0  # S = 48.99, 0.1·S = 4.9
    p[0, COCO17.index("left_ankle"), 1] += 4.0
    p[0, COCO17.index("right_ankle"), 1] += 6.0
    table = group_pck(p, g, body_size(g, COCO17), COCO17)
    assert list(table) == ["vertex", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"]
    assert table["vertex"] == 0.0
    assert table["ankle"] == 0.5
    assert table["knee"] == 1.0


def test_per_joint_mean_error() -> None:
    g = np.stack([nycu_frame(), nycu_frame()])
    p = g[..., :2].copy()
    w = NYCU22.index("Wrist_R")
    p[0, w, 0] += 3.0
    p[1, w, 1] += 5.0
    g[:, NYCU22.index("Ankle_L"), 2] = 0
    err = per_joint_mean_error(p, g, NYCU22)
    assert err["Wrist_R"] == pytest.approx(4.0)
    assert err["Head"] == 0.0
    assert math.isnan(err["Ankle_L"])


def test_keypoint_report_dict_and_markdown() -> None:
    g = np.stack([nycu_frame(), nycu_frame()])
    p = g[..., :2].copy()
    p[0, NYCU22.index("Eye_L"), 0] += 5.0  # facial: hits @0.1 and @0.08, misses @0.06 and below
    g[:, NYCU22.index("Ankle_L"), 2] = 0  # never labelled → per-joint error NaN → null
    r = keypoint_report(p, g, NYCU22)
    assert (r.frames, r.frames_scored, r.num_non_facial) == (2, 2, 17)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["PCKsh@0.1"] == 1.0
    assert d["PCKsh@0.06"] == pytest.approx(41 / 42)
    assert d["PCKsh@0.06/17"] == 1.0
    assert d["mKS/17"] == 1.0
    assert d["mKS"] == pytest.approx((41 + 2 ** (-((5 / S) ** 2) / 0.01)) / 42)
    assert set(d) >= {f"PCKsh@{b}" for b in ("0.1", "0.08", "0.06", "0.04", "0.02")} | {"mKS"}
    assert d["per_joint_mean_error_px"]["Ankle_L"] is None  # type: ignore[index]
    assert d["groups"]["palm"] == 1.0  # type: ignore[index]
    md = r.to_markdown("hrnet / argmax")
    lines = md.splitlines()
    assert "| Model | PCKsh@0.1 | PCKsh@0.08 | PCKsh@0.06 | PCKsh@0.04 | PCKsh@0.02 | mKS |" in lines
    assert "| Model | vertex | shoulder | elbow | wrist | palm | hip | knee | ankle | sole |" in lines
    assert f"| hrnet / argmax | 100.0 | 100.0 | 97.6 | 97.6 | 97.6 | {100 * d['mKS']:.1f} |" in lines  # type: ignore[operator]


def test_keypoint_report_shape_mismatch() -> None:
    g = nycu_frame()[None]
    with pytest.raises(ValueError, match="prediction shape"):
        keypoint_report(np.zeros((1, 17, 2)), g, NYCU22)


def test_reports_markdown_one_row_per_model() -> None:
    g = coco_frame()[None]
    perfect = keypoint_report(g[..., :2], g, COCO17)
    off = g[..., :2] + (0.0, 100.0)
    missed = keypoint_report(off, g, COCO17)
    md = reports_markdown([("vitpose / simcc", perfect), ("hrnet / dark", missed)])
    lines = md.splitlines()
    assert "| vitpose / simcc | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 |" in lines
    assert "| hrnet / dark | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 |" in lines
    assert (
        "| Model | PCKsh@0.1/12 | PCKsh@0.08/12 | PCKsh@0.06/12 | PCKsh@0.04/12 | PCKsh@0.02/12 | mKS/12 |"
        in lines
    )
    assert "| Model | vertex | shoulder | elbow | wrist | hip | knee | ankle |" in lines
    assert reports_markdown([]) == ""
