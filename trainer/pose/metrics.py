"""Keypoint metrics in NYCU's protocol: PCKsh at several thresholds, mKS, the per-joint-group PCK table.

Definitions (all distances in pixels of the same image the points were labelled on):

- Body size of a frame ``S = sqrt(d(Shoulder_R, Shoulder_L) · d(Head, midpoint(Hip_R, Hip_L)))``; NaN when one
  of those five points is unlabelled (v == 0). For COCO-17 "Head" is the ``nose`` and the shoulders/hips are
  COCO's ``right_/left_shoulder`` and ``right_/left_hip`` (COCO has no vertex point).
- Scored points: labelled points (v > 0: visible or occluded) of frames whose S is finite and > 0, optionally
  restricted to a subset of keypoint ids. A predicted point that is NaN counts as a miss (PCK) and scores 0 (mKS).
- ``PCKsh@β`` = fraction of scored points with ``d < β·S`` (:data:`PCK_BETAS` = 0.1 … 0.02).
- ``mKS`` = mean over scored points of ``exp(−d² / (2·S²·λ))``, λ = :data:`MKS_LAMBDA` ≈ 0.00721, so a point
  ``0.1·S`` away scores exactly 0.5 and a perfect point 1.
- Every metric is reported over all K points and over the non-facial ones (``kset.non_facial``; 17 for NYCU-22,
  12 for COCO-17), the latter keyed ``…/17`` (``…/12``).
- Group PCK (NYCU's table, at β = 0.1): PCK over the scored points of each group in :data:`PCK_GROUPS` (vertex,
  shoulder, elbow, wrist, palm, hip, knee, ankle, sole). COCO-17 has the groups whose points exist there, vertex
  being the nose.
- Per-joint mean error: mean ``d`` (px) over the labelled points of each joint in all frames (S not needed),
  non-finite predictions left out; NaN for a joint never labelled.

A metric with no scored point is NaN (``null`` in :meth:`KeypointReport.to_dict`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.contract.keypoints import COCO17, MKS_LAMBDA, NYCU_TO_COCO, PCK_BETAS, PCK_GROUPS, KeypointSet

GROUP_BETA = 0.1
"""The threshold of the group table (NYCU reports the groups at PCKsh@0.1)."""

_SIZE_NAMES = ("Shoulder_R", "Shoulder_L", "Head", "Hip_R", "Hip_L")


def _coco_name(nycu_name: str) -> str | None:
    """The COCO-17 twin of an NYCU-22 name (Head → nose), or None."""
    return COCO17.names[0] if nycu_name == "Head" else NYCU_TO_COCO.get(nycu_name)


def _lookup(kset: KeypointSet, nycu_name: str) -> int | None:
    """The id in ``kset`` of an NYCU-22 point: by its own name, else its COCO twin; None when absent."""
    if nycu_name in kset.names:
        return kset.index(nycu_name)
    twin = _coco_name(nycu_name)
    return kset.index(twin) if twin is not None and twin in kset.names else None


def _size_ids(kset: KeypointSet) -> tuple[int, int, int, int, int]:
    """Ids of (right shoulder, left shoulder, head, right hip, left hip) in ``kset``."""
    ids = [_lookup(kset, n) for n in _SIZE_NAMES]
    if any(i is None for i in ids):
        raise ValueError(f"keypoint set {kset.name}: needs shoulders, head/nose and hips for the body size")
    r_sh, l_sh, head, r_hip, l_hip = (int(i) for i in ids if i is not None)
    return r_sh, l_sh, head, r_hip, l_hip


def _check(pred: np.ndarray, gt: np.ndarray, size: np.ndarray) -> None:
    if gt.ndim != 3 or gt.shape[2] != 3:
        raise ValueError(f"ground truth must be (N, K, 3), got {gt.shape}")
    if pred.shape[:2] != gt.shape[:2] or pred.ndim != 3 or pred.shape[2] < 2:
        raise ValueError(f"prediction shape {pred.shape} does not match ground truth {gt.shape}")
    if size.shape != (gt.shape[0],):
        raise ValueError(f"body size must be ({gt.shape[0]},), got {size.shape}")


def body_size(gt: np.ndarray, kset: KeypointSet) -> np.ndarray:
    """Per-frame body size S (px).

    Args:
        gt: (N, K, 3) ground truth ``[x, y, v]`` in px, K = ``kset.num_keypoints``.
        kset: the keypoint set (NYCU-22, COCO-17 or any set naming those five points).

    Returns:
        (N,) float64 ``sqrt(d(Shoulder_R, Shoulder_L) · d(Head, midpoint(Hip_R, Hip_L)))``; NaN for a frame
        where one of the five points is unlabelled (v == 0). COCO-17: nose for Head.
    """
    g = np.asarray(gt, dtype=np.float64)
    if g.ndim != 3 or g.shape[1:] != (kset.num_keypoints, 3):
        raise ValueError(f"ground truth must be (N, {kset.num_keypoints}, 3), got {g.shape}")
    r_sh, l_sh, head, r_hip, l_hip = _size_ids(kset)
    xy = g[..., :2]
    shoulders = np.linalg.norm(xy[:, r_sh] - xy[:, l_sh], axis=-1)
    trunk = np.linalg.norm(xy[:, head] - 0.5 * (xy[:, r_hip] + xy[:, l_hip]), axis=-1)
    s = np.sqrt(shoulders * trunk)
    labelled = (g[:, [r_sh, l_sh, head, r_hip, l_hip], 2] > 0).all(axis=1)
    return np.where(labelled, s, np.nan)


def _scored(
    pred: np.ndarray, gt: np.ndarray, size: np.ndarray, ids: Sequence[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(d, S) over the scored points, flat (M,) each; d is NaN where the prediction is."""
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    s = np.asarray(size, dtype=np.float64)
    _check(p, g, s)
    cols = np.arange(g.shape[1]) if ids is None else np.asarray(list(ids), dtype=np.int64)
    p, g = p[:, cols, :2], g[:, cols]
    ok_size = np.isfinite(s) & (s > 0)
    mask = (g[..., 2] > 0) & ok_size[:, None]
    d = np.linalg.norm(p - g[..., :2], axis=-1)
    return d[mask], np.broadcast_to(s[:, None], mask.shape)[mask]


def pck(
    pred: np.ndarray, gt: np.ndarray, size: np.ndarray, beta: float, ids: Sequence[int] | None = None
) -> float:
    """PCKsh@β: fraction of scored points with ``d < β·S``.

    Args:
        pred: (N, K, 2) predicted ``[x, y]`` px (NaN = missing → a miss).
        gt: (N, K, 3) ground truth ``[x, y, v]`` px.
        size: (N,) body size S px (:func:`body_size`); frames with a non-finite or zero S are left out.
        beta: threshold as a fraction of S.
        ids: keypoint ids to score (default all).

    Returns:
        The fraction in [0, 1]; NaN when no point is scored.
    """
    d, s = _scored(pred, gt, size, ids)
    if d.size == 0:
        return math.nan
    with np.errstate(invalid="ignore"):
        return float(np.mean(d < beta * s))


def mks(
    pred: np.ndarray,
    gt: np.ndarray,
    size: np.ndarray,
    lam: float = MKS_LAMBDA,
    ids: Sequence[int] | None = None,
) -> float:
    """mKS: mean ``exp(−d² / (2·S²·λ))`` over the scored points (same points and shapes as :func:`pck`).

    A missing (NaN) prediction scores 0; NaN when no point is scored.
    """
    d, s = _scored(pred, gt, size, ids)
    if d.size == 0:
        return math.nan
    ks = np.exp(-(d**2) / (2.0 * s**2 * lam))
    return float(np.mean(np.nan_to_num(ks, nan=0.0)))


def group_ids(kset: KeypointSet) -> dict[str, tuple[int, ...]]:
    """The groups of :data:`PCK_GROUPS` that exist in ``kset`` → their keypoint ids (COCO: vertex = nose)."""
    out: dict[str, tuple[int, ...]] = {}
    for group, names in PCK_GROUPS:
        ids = tuple(i for i in (_lookup(kset, n) for n in names) if i is not None)
        if ids:
            out[group] = ids
    return out


def group_pck(
    pred: np.ndarray, gt: np.ndarray, size: np.ndarray, kset: KeypointSet, beta: float = GROUP_BETA
) -> dict[str, float]:
    """NYCU's per-joint-group PCK table: group name → PCKsh@β over that group's points (NaN when none scored).

    NYCU-22: vertex, shoulder, elbow, wrist, palm, hip, knee, ankle, sole. COCO-17: vertex (the nose), shoulder,
    elbow, wrist, hip, knee, ankle. Shapes as in :func:`pck`.
    """
    return {g: pck(pred, gt, size, beta, ids) for g, ids in group_ids(kset).items()}


def per_joint_mean_error(pred: np.ndarray, gt: np.ndarray, kset: KeypointSet) -> dict[str, float]:
    """Keypoint name → mean pixel distance over its labelled (v > 0) points with a finite prediction; NaN if none."""
    p = np.asarray(pred, dtype=np.float64)[..., :2]
    g = np.asarray(gt, dtype=np.float64)
    d = np.linalg.norm(p - g[..., :2], axis=-1)
    ok = (g[..., 2] > 0) & np.isfinite(d)
    out = {}
    for k, name in enumerate(kset.names):
        col = d[ok[:, k], k]
        out[name] = float(col.mean()) if col.size else math.nan
    return out


def _json_float(v: float) -> float | None:
    return None if not math.isfinite(v) else float(v)


def _beta_key(beta: float) -> str:
    return f"PCKsh@{beta:g}"


@dataclass(frozen=True)
class KeypointReport:
    """The keypoint metrics of one model/decoder on one split.

    Attributes:
        kset_name: the keypoint set's name.
        frames: frames evaluated (N).
        frames_scored: frames with a finite body size (the only ones PCK/mKS count).
        num_non_facial: number of non-facial keypoints (17 for NYCU-22), the suffix of the ``…/17`` keys.
        pck: β → PCKsh@β over all K points (fractions).
        pck_nonfacial: β → PCKsh@β over the non-facial points.
        mks: mKS over all K points.
        mks_nonfacial: mKS over the non-facial points.
        groups: group → PCKsh@:data:`GROUP_BETA` (NYCU's group table).
        per_joint_mean_error_px: keypoint name → mean error (px).
    """

    kset_name: str
    frames: int
    frames_scored: int
    num_non_facial: int
    pck: dict[float, float]
    pck_nonfacial: dict[float, float]
    mks: float
    mks_nonfacial: float
    groups: dict[str, float]
    per_joint_mean_error_px: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        """JSON-able flat summary: ``PCKsh@0.1``, ``PCKsh@0.1/17``, …, ``mKS``, ``mKS/17``, ``groups``,
        ``per_joint_mean_error_px``, counts; NaN → None."""
        nf = f"/{self.num_non_facial}"
        out: dict[str, object] = {
            "keypoint_set": self.kset_name,
            "frames": self.frames,
            "frames_scored": self.frames_scored,
        }
        for b, v in self.pck.items():
            out[_beta_key(b)] = _json_float(v)
        for b, v in self.pck_nonfacial.items():
            out[_beta_key(b) + nf] = _json_float(v)
        out["mKS"] = _json_float(self.mks)
        out["mKS" + nf] = _json_float(self.mks_nonfacial)
        out["group_beta"] = GROUP_BETA
        out["groups"] = {g: _json_float(v) for g, v in self.groups.items()}
        out["per_joint_mean_error_px"] = {n: _json_float(v) for n, v in self.per_joint_mean_error_px.items()}
        return out

    def to_markdown(self, label: str = "model") -> str:
        """NYCU-shaped Markdown tables for this report alone (see :func:`reports_markdown`)."""
        return reports_markdown([(label, self)])


def _pct(v: float) -> str:
    return "–" if not math.isfinite(v) else f"{100.0 * v:.1f}"


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def reports_markdown(rows: Sequence[tuple[str, KeypointReport]]) -> str:
    """Markdown in the shape of NYCU's tables, one row per (label, report) — e.g. per model or decoder.

    Three tables: PCKsh@0.1 … @0.02 and mKS over all K points; the same over the non-facial points; the group
    PCK table at β = 0.1. Values in percent, one decimal; "–" where undefined.
    """
    if not rows:
        return ""
    first = rows[0][1]
    betas = list(first.pck)
    heads = [_beta_key(b) for b in betas] + ["mKS"]
    k_all = len(first.per_joint_mean_error_px)
    nf = first.num_non_facial
    groups = list(first.groups)
    all_rows = [[lbl, *(_pct(r.pck[b]) for b in betas), _pct(r.mks)] for lbl, r in rows]
    nf_rows = [[lbl, *(_pct(r.pck_nonfacial[b]) for b in betas), _pct(r.mks_nonfacial)] for lbl, r in rows]
    group_rows = [[lbl, *(_pct(r.groups.get(g, math.nan)) for g in groups)] for lbl, r in rows]
    out = [f"All {k_all} keypoints (%):", "", *_table(["Model", *heads], all_rows)]
    out += [
        "",
        f"Non-facial {nf} keypoints (%):",
        "",
        *_table(["Model", *(h + f"/{nf}" for h in heads)], nf_rows),
    ]
    out += ["", f"{_beta_key(GROUP_BETA)} per joint group (%):", "", *_table(["Model", *groups], group_rows)]
    return "\n".join(out) + "\n"


def keypoint_report(pred: np.ndarray, gt: np.ndarray, kset: KeypointSet) -> KeypointReport:
    """All keypoint metrics of predictions against ground truth.

    Args:
        pred: (N, K, 2) predicted ``[x, y]`` px (extra trailing columns, e.g. a score, are ignored).
        gt: (N, K, 3) ground truth ``[x, y, v]`` px.
        kset: the keypoint set of both (K = ``kset.num_keypoints``).
    """
    p = np.asarray(pred, dtype=np.float64)[..., :2]
    g = np.asarray(gt, dtype=np.float64)
    size = body_size(g, kset)
    _check(p, g, size)
    nf = kset.non_facial
    return KeypointReport(
        kset_name=kset.name,
        frames=int(g.shape[0]),
        frames_scored=int(np.count_nonzero(np.isfinite(size) & (size > 0))),
        num_non_facial=len(nf),
        pck={b: pck(p, g, size, b) for b in PCK_BETAS},
        pck_nonfacial={b: pck(p, g, size, b, nf) for b in PCK_BETAS},
        mks=mks(p, g, size),
        mks_nonfacial=mks(p, g, size, ids=nf),
        groups=group_pck(p, g, size, kset),
        per_joint_mean_error_px=per_joint_mean_error(p, g, kset),
    )
