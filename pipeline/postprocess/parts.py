"""Pure, vectorised mask geometry: logits → class map → per-part instances and class summaries.

The class map stays at the model's resolution (the frame region of its output, padding cropped):
connected components are found there, and every statistic is weighted by how many frame pixels
each cell covers (:class:`~pipeline.contract.geometry.CellGrid`). The numbers are therefore exactly those
of the nearest-neighbour blow-up of the map to the frame, at a fraction of the cost.

All results are original-frame pixels. Centroids are mean pixel positions (x, y) (as
``cv2.connectedComponentsWithStats`` reports them); boxes are [x0, y0, x1, y1], x1/y1 exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from pipeline.contract.geometry import CellGrid, Letterbox, cell_grid, content_slice
from pipeline.frames import ClassSummary, PartInstance


def logits_to_maps(logits: np.ndarray, box: Letterbox) -> tuple[np.ndarray, np.ndarray]:
    """Model logits → (class map, score map) over the frame region of the output.

    Args:
        logits: (C, out_h, out_w) float32 over the letterboxed canvas.
        box: how the frame sits in the canvas.
    Returns:
        classes: (h, w) uint8 arg-max class ids, padding cropped.
        scores: (h, w) float32 softmax probability of the chosen class, 0..1.
    """
    ys, xs = content_slice(box, logits.shape[1:])
    crop = logits[:, ys, xs]
    top = crop.max(axis=0)
    classes = crop.argmax(axis=0).astype(np.uint8)
    scores = (1.0 / np.exp(crop - top[None]).sum(axis=0)).astype(np.float32)
    return classes, scores


def extract_parts(
    classes: np.ndarray,
    scores: np.ndarray,
    names: Sequence[str],
    min_area_px: int,
    grid: CellGrid | None = None,
    background: int = 0,
) -> tuple[tuple[PartInstance, ...], tuple[ClassSummary, ...]]:
    """Connected regions (8-connected) of every non-background class, in frame pixels.

    Args:
        classes: (h, w) uint8 class ids.
        scores: (h, w) float32 probability of the chosen class.
        names: class names, index = class id.
        min_area_px: regions smaller than this (frame pixels) are not instances; they still count
            in the class summary.
        grid: frame pixels covered by each cell; None = the map is the frame (one pixel per cell).
    Returns:
        instances (per class, largest first; ``instance`` numbers them) and one summary per class
        present.
    """
    if grid is None:
        grid = cell_grid(classes.shape[:2], classes.shape[:2])
    elif not grid.covers_every_cell:  # map finer than the frame: blow up first, then count exactly
        classes, scores = grid.upsample(classes), grid.upsample(scores)
        grid = cell_grid(classes.shape[:2], classes.shape[:2])
    # Everything below runs on the box around the foreground only (the infant is a fraction of the
    # frame): the same regions and sums, offset by the box's corner (r0, c0).
    fg = classes != background
    rows, cols = np.flatnonzero(fg.any(axis=1)), np.flatnonzero(fg.any(axis=0))
    if rows.size == 0:
        return (), ()
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    classes, scores = classes[r0:r1, c0:c1], scores[r0:r1, c0:c1]
    weight, weight_x, weight_y = (w[r0:r1, c0:c1] for w in grid.weights)
    # One connected-components pass per class; labels are then numbered globally so that every
    # statistic of every region is one bincount over the box.
    present = [int(c) for c in np.flatnonzero(np.bincount(classes.ravel(), minlength=len(names)))]
    present = [c for c in present if c != background and c < len(names)]
    glabels = np.zeros(classes.shape, np.int32)
    blocks: list[tuple[int, int, np.ndarray]] = []  # (class id, first global label, CC stats)
    offset = 0
    for cls in present:
        mask = classes == cls
        n, labels, stats, _ = cv2.connectedComponentsWithStats(
            mask.view(np.uint8), connectivity=8, ltype=cv2.CV_32S
        )
        if offset:
            labels += mask * np.int32(offset)
        glabels += labels
        blocks.append((cls, offset, stats[1:]))
        offset += n - 1
    flat = glabels.ravel()
    count = offset + 1
    area_all = np.bincount(flat, weights=weight.ravel(), minlength=count)
    sx_all = np.bincount(flat, weights=weight_x.ravel(), minlength=count)
    sy_all = np.bincount(flat, weights=weight_y.ravel(), minlength=count)
    ss_all = np.bincount(flat, weights=(weight * scores).ravel(), minlength=count)
    parts: list[PartInstance] = []
    summaries: list[ClassSummary] = []
    for cls, first, stats in blocks:
        sel = slice(first + 1, first + 1 + len(stats))
        area, sum_x, sum_y, sum_s = area_all[sel], sx_all[sel], sy_all[sel], ss_all[sel]
        left, top = stats[:, cv2.CC_STAT_LEFT] + c0, stats[:, cv2.CC_STAT_TOP] + r0
        right = left + stats[:, cv2.CC_STAT_WIDTH] - 1
        bottom = top + stats[:, cv2.CC_STAT_HEIGHT] - 1
        x0, x1 = grid.x_start[left], grid.x_start[right] + grid.x_count[right]
        y0, y1 = grid.y_start[top], grid.y_start[bottom] + grid.y_count[bottom]
        areas = np.rint(area).astype(np.int64)
        name = names[cls]
        keep = np.flatnonzero(areas >= min_area_px)
        keep = keep[np.argsort(-areas[keep], kind="stable")]
        for idx, k in enumerate(keep):
            parts.append(
                PartInstance(
                    class_id=cls,
                    name=name,
                    instance=idx,
                    box=(int(x0[k]), int(y0[k]), int(x1[k]), int(y1[k])),
                    centroid=(float(sum_x[k] / area[k]), float(sum_y[k] / area[k])),
                    area_px=int(areas[k]),
                    score=float(sum_s[k] / area[k]),
                )
            )
        total = float(area.sum())
        summaries.append(
            ClassSummary(
                class_id=cls,
                name=name,
                box=(int(x0.min()), int(y0.min()), int(x1.max()), int(y1.max())),
                centroid=(float(sum_x.sum() / total), float(sum_y.sum() / total)),
                area_px=round(total),
                score=float(sum_s.sum() / total),
                instances=len(keep),
            )
        )
    return tuple(parts), tuple(summaries)
