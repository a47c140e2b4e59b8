"""Head pixelation: a mosaic over the head region, for every image that leaves the process.

Pure functions on RGB (H, W, 3) uint8 images. The mosaic grid is aligned to the frame origin
(cell ``(i, j)`` covers rows ``i*block .. i*block+block-1``), so the blocks do not shimmer as the
head moves; a cell's value is the mean of the whole cell. Only the head's bounding box (grown by
the margin and rounded out to whole cells) is ever touched, and the class map is blown up to
frame pixels over that box only.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.config import PrivacyConfig
from pipeline.contract.classes import HEAD
from pipeline.frames import Result

Box = tuple[int, int, int, int]


def _grow(box: Box, by: int, hw: tuple[int, int]) -> Box:
    x0, y0, x1, y1 = box
    return max(0, x0 - by), max(0, y0 - by), min(hw[1], x1 + by), min(hw[0], y1 + by)


def _pixelate_into(out: np.ndarray, mask: np.ndarray, box: Box, block_px: int, margin_px: int) -> None:
    """Pixelate ``out`` in place where ``mask`` grown by ``margin_px`` is set.

    Args:
        out: (H, W, 3) uint8 RGB, written.
        mask: (y1-y0, x1-x0) bool, the region inside ``box`` (x0, y0, x1, y1 exclusive); nothing
            outside ``box`` is part of the region.
    """
    h, w = out.shape[:2]
    gx0, gy0, gx1, gy1 = _grow(box, margin_px, (h, w))
    # round out to whole mosaic cells (the grid is aligned to the frame origin)
    cx0, cy0 = (gx0 // block_px) * block_px, (gy0 // block_px) * block_px
    cx1, cy1 = min(w, -(-gx1 // block_px) * block_px), min(h, -(-gy1 // block_px) * block_px)
    region = np.zeros((cy1 - cy0, cx1 - cx0), np.uint8)
    x0, y0, x1, y1 = box
    region[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] = mask
    if margin_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin_px + 1, 2 * margin_px + 1))
        region = cv2.dilate(region, kernel)
    crop = out[cy0:cy1, cx0:cx1]
    rh, rw = crop.shape[:2]
    ph, pw = -(-rh // block_px) * block_px, -(-rw // block_px) * block_px
    # cells cut by the frame's right/bottom edge: replicate the edge so the mean stays inside the frame
    padded = (
        cv2.copyMakeBorder(crop, 0, ph - rh, 0, pw - rw, cv2.BORDER_REPLICATE)
        if (ph, pw) != (rh, rw)
        else crop
    )
    small = cv2.resize(padded, (pw // block_px, ph // block_px), interpolation=cv2.INTER_AREA)
    mosaic = cv2.resize(small, (pw, ph), interpolation=cv2.INTER_NEAREST)[:rh, :rw]
    np.copyto(crop, mosaic, where=region.astype(bool)[:, :, None])


def pixelate_mask(image_rgb: np.ndarray, mask_bool: np.ndarray, block_px: int, margin_px: int) -> np.ndarray:
    """A copy of ``image_rgb`` with the region ``mask_bool`` grown by ``margin_px`` turned into a mosaic.

    Args:
        image_rgb: (H, W, 3) uint8 RGB; not modified.
        mask_bool: (H, W) bool, the region to hide.
        block_px: mosaic cell size in pixels (>= 1), cells aligned to the frame origin.
        margin_px: the region is dilated by this many pixels (elliptic kernel) first.

    Returns:
        (H, W, 3) uint8, a new array; pixels outside the grown region are unchanged.
    """
    out = image_rgb.copy()
    x, y, w, h = cv2.boundingRect(mask_bool.astype(np.uint8))
    if w == 0 or h == 0:
        return out
    _pixelate_into(out, mask_bool[y : y + h, x : x + w], (x, y, x + w, y + h), block_px, margin_px)
    return out


def head_region(result: Result, class_id: int = HEAD) -> tuple[Box, np.ndarray] | None:
    """The head's frame-pixel bounding box and its mask over that box, from the model-resolution map.

    Returns:
        ((x0, y0, x1, y1), mask (y1-y0, x1-x0) bool), or None when no cell shows ``class_id``.
        Only the box is blown up to frame pixels (exactly as :meth:`Result.full_class_map`).
    """
    cells = result.class_map == class_id
    rows, cols = np.flatnonzero(cells.any(axis=1)), np.flatnonzero(cells.any(axis=0))
    if len(rows) == 0:
        return None
    g = result.grid
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    y_count, x_count = g.y_count[r0:r1], g.x_count[c0:c1]
    y0, x0 = int(g.y_start[r0]), int(g.x_start[c0])
    y1, x1 = y0 + int(y_count.sum()), x0 + int(x_count.sum())
    if y1 <= y0 or x1 <= x0:  # only cells finer than the frame (not shown)
        return None
    mask = np.repeat(np.repeat(cells[r0:r1, c0:c1], y_count, axis=0), x_count, axis=1)
    return (x0, y0, x1, y1), mask


def blur_head(result: Result, cfg: PrivacyConfig) -> np.ndarray:
    """The frame with the head pixelated as ``cfg`` says.

    Returns:
        when ``cfg.blur_head``: a new (H, W, 3) uint8 RGB array (also when no head is visible, so
        the caller may draw on it); otherwise ``result.image`` itself (shared: do not write into it).
    """
    if not cfg.blur_head:
        return result.image
    out = result.image.copy()
    found = head_region(result)
    if found is not None:
        box, mask = found
        _pixelate_into(out, mask, box, cfg.block_px, cfg.margin_px)
    return out
