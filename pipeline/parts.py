"""Pure, vectorised mask geometry: logits → class map → per-part instances and class summaries.

All coordinates are original-frame pixels. Centroids are mean pixel indices (x, y), as
``cv2.connectedComponentsWithStats`` reports them; boxes are [x0, y0, x1, y1] with x1/y1 exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from pipeline.frames import ClassSummary, PartInstance
from pipeline.geometry import Letterbox, content_slice


def logits_to_maps(logits: np.ndarray, box: Letterbox) -> tuple[np.ndarray, np.ndarray]:
    """Model logits → (class map, score map) in original-frame pixels.

    Args:
        logits: (C, out_h, out_w) float32 over the letterboxed canvas.
        box: how the frame sits in the canvas.
    Returns:
        class_map: (src_h, src_w) uint8 argmax class ids.
        score_map: (src_h, src_w) float32 softmax probability of the chosen class, 0..1.
    The padding is cropped first, then both maps are resized with nearest neighbour.
    """
    ys, xs = content_slice(box, logits.shape[1:])
    crop = logits[:, ys, xs]
    top = crop.max(axis=0)
    classes = crop.argmax(axis=0).astype(np.uint8)
    score = (1.0 / np.exp(crop - top[None]).sum(axis=0)).astype(np.float32)
    size = (box.src_w, box.src_h)
    class_map = cv2.resize(classes, size, interpolation=cv2.INTER_NEAREST)
    score_map = cv2.resize(score, size, interpolation=cv2.INTER_NEAREST)
    return class_map, score_map


def extract_parts(
    class_map: np.ndarray,
    score_map: np.ndarray,
    names: Sequence[str],
    min_area_px: int,
    background: int = 0,
) -> tuple[tuple[PartInstance, ...], tuple[ClassSummary, ...]]:
    """Connected regions of every non-background class.

    Args:
        class_map: (H, W) uint8 class ids.
        score_map: (H, W) float32 probability of the chosen class.
        names: class names, index = class id.
        min_area_px: regions smaller than this (pixels) are not reported as instances; they
            still count in the class summary.
    Returns:
        instances (per class, largest first; ``instance`` numbers them) and one summary per
        class present in the map.
    """
    parts: list[PartInstance] = []
    summaries: list[ClassSummary] = []
    present = np.flatnonzero(np.bincount(class_map.ravel(), minlength=len(names)))
    for cls in (int(c) for c in present):
        if cls == background or cls >= len(names):
            continue
        mask = (class_map == cls).view(np.uint8)
        n, labels, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_32S)
        inside = mask.astype(bool)
        score_sum = np.bincount(labels[inside], weights=score_map[inside], minlength=n)[1:]
        stats, cents = stats[1:], cents[1:]
        areas = stats[:, cv2.CC_STAT_AREA].astype(np.int64)
        x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
        x1, y1 = x0 + stats[:, cv2.CC_STAT_WIDTH], y0 + stats[:, cv2.CC_STAT_HEIGHT]
        total = int(areas.sum())
        name = names[cls]
        keep = np.flatnonzero(areas >= min_area_px)
        keep = keep[np.argsort(-areas[keep], kind="stable")]
        for idx, k in enumerate(keep):
            parts.append(
                PartInstance(
                    class_id=int(cls),
                    name=name,
                    instance=idx,
                    box=(int(x0[k]), int(y0[k]), int(x1[k]), int(y1[k])),
                    centroid=(float(cents[k, 0]), float(cents[k, 1])),
                    area_px=int(areas[k]),
                    score=float(score_sum[k] / areas[k]),
                )
            )
        weights = areas / total
        summaries.append(
            ClassSummary(
                class_id=int(cls),
                name=name,
                box=(int(x0.min()), int(y0.min()), int(x1.max()), int(y1.max())),
                centroid=(float(weights @ cents[:, 0]), float(weights @ cents[:, 1])),
                area_px=total,
                score=float(score_sum.sum() / total),
                instances=len(keep),
            )
        )
    return tuple(parts), tuple(summaries)
