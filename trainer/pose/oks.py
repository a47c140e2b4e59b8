"""COCO keypoint AP/AR (object keypoint similarity) through pycocotools, built in memory.

OKS of a prediction against a ground-truth instance of area A (px²), over its labelled points (v > 0):
``OKS = mean_k exp(−d_k² / (2·A·(2σ_k)²))``, σ_k the keypoint set's COCO sigmas. A prediction matches at
threshold t when OKS ≥ t; AP is COCO's 101-point interpolated precision averaged over t = 0.50:0.05:0.95
(AP50 / AP75 at one t), AR the recall averaged over the same thresholds (20 detections per image, area "all").

pycocotools is an optional dependency (the ``train`` extra); it is imported on first use.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def _coco_document(gt: np.ndarray, bboxes: np.ndarray, areas: np.ndarray, k: int) -> dict[str, Any]:
    """A COCO keypoints ground-truth document: image i+1 holds annotation i+1 (one person each)."""
    images, anns = [], []
    for i in range(gt.shape[0]):
        kp = gt[i].copy()
        kp[kp[:, 2] <= 0] = 0.0  # COCO stores unlabelled points as 0,0,0
        images.append({"id": i + 1, "width": 0, "height": 0, "file_name": f"{i + 1}"})
        anns.append(
            {
                "id": i + 1,  # pycocotools needs ids > 0
                "image_id": i + 1,
                "category_id": 1,
                "iscrowd": 0,
                "keypoints": [float(v) for v in kp.ravel()],
                "num_keypoints": int(np.count_nonzero(gt[i, :, 2] > 0)),
                "bbox": [float(v) for v in bboxes[i]],
                "area": float(areas[i]),
            }
        )
    category = {"id": 1, "name": "person", "keypoints": [str(j) for j in range(k)], "skeleton": []}
    return {"images": images, "annotations": anns, "categories": [category]}


def coco_ap(
    pred: np.ndarray,
    scores: np.ndarray,
    gt: np.ndarray,
    bboxes: np.ndarray,
    areas: np.ndarray,
    sigmas: Sequence[float],
) -> dict[str, float]:
    """COCO keypoint AP, AP50, AP75 and AR (pycocotools COCOeval, iouType "keypoints").

    One prediction per ground-truth image, one person per image.

    Args:
        pred: (N, K, 2) predicted ``[x, y]`` px, finite.
        scores: (N, K) per-keypoint confidences; the instance score is their mean (ranks the predictions).
        gt: (N, K, 3) ground truth ``[x, y, v]`` px; frames with no labelled point are left out (with their
            prediction).
        bboxes: (N, 4) ground-truth boxes ``[x, y, w, h]`` px.
        areas: (N,) ground-truth areas px² (the OKS scale).
        sigmas: K COCO OKS sigmas (``KeypointSet.sigmas``).

    Returns:
        ``{"AP", "AP50", "AP75", "AR"}`` in [0, 1]; NaN when no frame has a labelled point.
    """
    from pycocotools.coco import COCO  # type: ignore[import-untyped]
    from pycocotools.cocoeval import COCOeval  # type: ignore[import-untyped]

    p = np.asarray(pred, dtype=np.float64)[..., :2]
    g = np.asarray(gt, dtype=np.float64)
    sc = np.asarray(scores, dtype=np.float64)
    bb = np.asarray(bboxes, dtype=np.float64)
    ar = np.asarray(areas, dtype=np.float64)
    n, k = g.shape[:2] if g.ndim == 3 else (0, 0)
    if g.ndim != 3 or g.shape[2] != 3 or n == 0:
        raise ValueError(f"ground truth must be (N>0, K, 3), got {g.shape}")
    if p.shape != (n, k, 2) or sc.shape != (n, k) or bb.shape != (n, 4) or ar.shape != (n,):
        raise ValueError(
            f"shapes do not match ground truth {g.shape}: pred {p.shape}, scores {sc.shape}, "
            f"bboxes {bb.shape}, areas {ar.shape}"
        )
    if len(sigmas) != k:
        raise ValueError(f"need {k} OKS sigmas, got {len(sigmas)}")
    if not (np.isfinite(p).all() and np.isfinite(sc).all()):
        raise ValueError("predictions and scores must be finite for COCO AP")

    keep = (g[..., 2] > 0).any(axis=1)
    if not keep.any():
        return dict.fromkeys(("AP", "AP50", "AP75", "AR"), math.nan)
    p, g, sc, bb, ar = p[keep], g[keep], sc[keep], bb[keep], ar[keep]
    n = int(keep.sum())
    results = []
    for i in range(n):
        kp = np.concatenate([p[i], np.ones((k, 1))], axis=1)
        results.append(
            {
                "image_id": i + 1,
                "category_id": 1,
                "keypoints": [float(v) for v in kp.ravel()],
                "score": float(sc[i].mean()),
            }
        )
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = _coco_document(g, bb, ar, k)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(v) for v in ev.stats]
    picked = {"AP": stats[0], "AP50": stats[1], "AP75": stats[2], "AR": stats[5]}
    return {key: (math.nan if v < 0 else v) for key, v in picked.items()}


def oks(pred: np.ndarray, gt: np.ndarray, area: float, sigmas: Sequence[float]) -> float:
    """OKS of one prediction (K, 2) px against one ground truth (K, 3) px of area ``area`` px² (COCO's formula,
    over the labelled points; NaN when none is labelled)."""
    p = np.asarray(pred, dtype=np.float64)[:, :2]
    g = np.asarray(gt, dtype=np.float64)
    s = np.asarray(sigmas, dtype=np.float64)
    lab = g[:, 2] > 0
    if not lab.any():
        return math.nan
    d2 = ((p - g[:, :2]) ** 2).sum(axis=1)
    e = d2 / (2.0 * float(area) * (2.0 * s) ** 2)
    return float(np.mean(np.exp(-e[lab])))
