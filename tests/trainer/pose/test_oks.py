"""COCO keypoint AP through pycocotools on hand-computed instances.

With every sigma 0.1 and area A = 100·100, shifting all points by d gives OKS = exp(−d² / (2·A·0.2²))
= exp(−d² / 800): d = 15 → 0.7548, d = 16 → 0.7261, d = 23 → 0.5163, d = 24 → 0.4868. One instance matches at
threshold t when OKS ≥ t, so AP = AR = (number of t in 0.50:0.05:0.95 with t ≤ OKS) / 10.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.contract.keypoints import COCO17
from trainer.pose.oks import coco_ap, oks

K = 17
SIG = [0.1] * K
AREA = 100.0 * 100.0


def instance(n: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gt (n, K, 3), bboxes (n, 4), areas (n,)): points on a 100×100 box, all visible."""
    rng = np.random.default_rng(0)
    g = np.zeros((n, K, 3))
    g[..., :2] = 50.0 + rng.uniform(0.0, 100.0, size=(n, K, 2))
    g[..., 2] = 2.0
    return g, np.tile([50.0, 50.0, 100.0, 100.0], (n, 1)), np.full(n, AREA)


def test_perfect_prediction_scores_one(capsys: pytest.CaptureFixture[str]) -> None:
    g, bb, ar = instance(3)
    r = coco_ap(g[..., :2].copy(), np.ones((3, K)), g, bb, ar, COCO17.sigmas)
    assert r == {"AP": 1.0, "AP50": 1.0, "AP75": 1.0, "AR": 1.0}
    assert capsys.readouterr().out == ""  # pycocotools' prints are silenced


@pytest.mark.parametrize(
    ("shift", "ap", "ap50", "ap75"),
    [(15.0, 0.6, 1.0, 1.0), (16.0, 0.5, 1.0, 0.0), (23.0, 0.1, 1.0, 0.0), (24.0, 0.0, 0.0, 0.0)],
)
def test_shift_flips_thresholds(shift: float, ap: float, ap50: float, ap75: float) -> None:
    g, bb, ar = instance()
    p = g[..., :2] + (shift * 0.6, shift * 0.8)  # distance = shift exactly
    assert oks(p[0], g[0], AREA, SIG) == pytest.approx(math.exp(-(shift**2) / 800.0))
    r = coco_ap(p, np.full((1, K), 0.7), g, bb, ar, SIG)
    assert r["AP"] == pytest.approx(ap)
    assert r["AP50"] == pytest.approx(ap50)
    assert r["AP75"] == pytest.approx(ap75)
    assert r["AR"] == pytest.approx(ap)


@pytest.mark.parametrize(
    ("good_score", "bad_score", "ap50"), [(0.9, 0.1, 51 / 101), (0.1, 0.9, 0.5 * 51 / 101)]
)
def test_instance_score_ranks_predictions(good_score: float, bad_score: float, ap50: float) -> None:
    """One perfect, one missed (OKS = exp(−900/800) = 0.32): recall 0.5. Ranked first, precision at recall 0.5
    is 1; ranked second 0.5. COCO's 101-point interpolation counts recalls 0, 0.01, …, 0.50: 51 points."""
    g, bb, ar = instance(2)
    p = g[..., :2].copy()
    p[1] += (0.0, 30.0)
    scores = np.array(
        [[good_score] * K, [bad_score - 0.05, bad_score + 0.05] * 8 + [bad_score]]
    )  # mean = bad_score
    r = coco_ap(p, scores, g, bb, ar, SIG)
    assert r["AP50"] == pytest.approx(ap50)
    assert r["AR"] == pytest.approx(0.5)


def test_one_point_with_coco_sigmas() -> None:
    """Only left_hip (σ = 0.107) is off by d: OKS = (16 + exp(−d² / (2·A·0.214²))) / 17."""
    g, bb, ar = instance()
    hip = COCO17.index("left_hip")
    g[0, COCO17.index("nose"), 2] = 0  # unlabelled: left out of the OKS mean → over 16 points
    d = 50.0
    p = g[..., :2].copy()
    p[0, hip, 0] += d
    expected = (15 + math.exp(-(d**2) / (2 * AREA * 0.214**2))) / 16
    assert oks(p[0], g[0], AREA, COCO17.sigmas) == pytest.approx(expected)
    assert 0.90 < expected < 0.95  # so COCO AP counts t = 0.50 … 0.90: 9 of 10
    r = coco_ap(p, np.ones((1, K)), g, bb, ar, COCO17.sigmas)
    assert r["AP"] == pytest.approx(0.9)


def test_unlabelled_frames_left_out_and_all_unlabelled_is_nan() -> None:
    g, bb, ar = instance(2)
    p = g[..., :2].copy()
    p[1] += 1000.0  # far outside frame 1's box: kept, COCO would count it as a top-ranked false positive
    g[1, :, 2] = 0
    scores = np.array([[0.5] * K, [0.9] * K])
    assert coco_ap(p, scores, g, bb, ar, SIG)["AP"] == pytest.approx(1.0)
    g[0, :, 2] = 0
    assert all(math.isnan(v) for v in coco_ap(p, scores, g, bb, ar, SIG).values())


def test_bad_inputs() -> None:
    g, bb, ar = instance()
    p = g[..., :2].copy()
    with pytest.raises(ValueError, match="sigmas"):
        coco_ap(p, np.ones((1, K)), g, bb, ar, SIG[:-1])
    with pytest.raises(ValueError, match="shapes"):
        coco_ap(p, np.ones((1, K - 1)), g, bb, ar, SIG)
    p[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        coco_ap(p, np.ones((1, K)), g, bb, ar, SIG)
