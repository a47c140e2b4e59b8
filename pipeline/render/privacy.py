"""Privacy: what every image that leaves the process hides, decided once per frame, and the mosaic.

The decision (:func:`decide`, ``privacy.mode``) is made once per result at the end of
postprocessing (:class:`~pipeline.postprocess.stage.Postprocessor`), carried on
:attr:`Result.privacy <pipeline.frames.Result>` and written into its record (``privacy``:
``head``, ``frame`` or ``none``); every renderer of an output applies exactly that decision
(:func:`protect`), so the record says what the recordings, ``frame.*`` messages and the window's
first view got. ``fail_closed`` (the default) hides the whole image unless the model found a head it
is sure of: if the head cannot be found, nothing of the frame leaves clear.

With a pose model the face has a second witness: the *head points* of the frame's keypoints that are
``observed`` with a confidence of at least ``privacy.min_keypoint_score``. Which points mark the head
is the keypoint set's call (:attr:`Result.keypoint_set <pipeline.frames.Result>`, the pose model's
own: its ``facial`` ids and its head point, :attr:`~pipeline.contract.keypoints.KeypointSet.head_ids`);
only keypoints without a set fall back to their names (:func:`is_head_point`). The region pixelated is the union of
the head class's cells and the box of those points (grown on every side by ``privacy.keypoint_pad``
× its longer side, then by ``margin_px`` like the cells). The points only ever widen what is hidden:
whether a head was found at all is the segmentation's call alone (:func:`decide`), so without a
confident head class the whole image is hidden, with or without keypoints.

Pure functions on RGB (H, W, 3) uint8 images. The mosaic grid is aligned to the frame origin
(cell ``(i, j)`` covers rows ``i*block .. i*block+block-1``), so the blocks do not shimmer as the
head moves; a cell's value is the mean of the whole cell. Only the head's bounding box (grown by
the margin and rounded out to whole cells) is ever touched, and the class map is blown up to
frame pixels over that box only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import cv2
import numpy as np

from pipeline.config import PrivacyApplied, PrivacyConfig, PrivacyMode
from pipeline.contract.classes import HEAD
from pipeline.contract.keypoints import FACE_WORDS, KNOWN_SETS, KeypointSet, name_words
from pipeline.frames import ClassSummary, Keypoint, Result

Box = tuple[int, int, int, int]

FRAME_CELLS: Final = 32
"""A whole image (``frame``) is hidden as a mosaic of at most this many cells along its longer side
(cells never finer than ``privacy.block_px``): 60 px cells at 1920x1080, 16 px at 512x512."""


MIN_HEAD_POINTS: Final = 2
"""Confident head points needed before their box means anything (one point says nothing of the face's
extent: its box would be a few pixels)."""
HEAD_POINT_NAMES: Final[frozenset[str]] = frozenset(
    {s.names[i] for s in KNOWN_SETS.values() for i in s.facial} | {"Head"}
)
"""The known sets' facial points (NYCU eyes, nose, lips; COCO nose, eyes, ears) and NYCU's head."""
HEAD_WORDS: Final[frozenset[str]] = FACE_WORDS | {"head"}
"""Words that make a keypoint without a set a head point (``left_ear``, ``Mouth-Center``, ``head_top``)."""


def is_head_point(name: str) -> bool:
    """Whether keypoint ``name`` marks the head by its name alone (keypoints without a set): a known
    set's facial point or head, or a name with a word of :data:`HEAD_WORDS` (words split at ``_``,
    ``-``, spaces and dots, any case)."""
    return name in HEAD_POINT_NAMES or any(w in HEAD_WORDS for w in name_words(name))


def confident_head_points(
    keypoints: Sequence[Keypoint], cfg: PrivacyConfig, keypoint_set: KeypointSet | None = None
) -> list[Keypoint]:
    """The keypoints that mark the head (``keypoint_set``'s
    :attr:`~pipeline.contract.keypoints.KeypointSet.head_ids` by id; without a set
    :func:`is_head_point` by name), ``observed``, with ``score`` at least ``cfg.min_keypoint_score``."""
    ids = None if keypoint_set is None else frozenset(keypoint_set.head_ids)
    return [
        kp
        for kp in keypoints
        if kp.state == "observed"
        and kp.x is not None
        and kp.y is not None
        and kp.score >= cfg.min_keypoint_score
        and (is_head_point(kp.name) if ids is None else kp.id in ids)
    ]


def head_points(
    keypoints: Sequence[Keypoint], cfg: PrivacyConfig, keypoint_set: KeypointSet | None = None
) -> list[tuple[float, float]]:
    """(x, y) px of the :func:`confident_head_points`; each gives its measured and its smoothed
    position."""
    out: list[tuple[float, float]] = []
    for kp in confident_head_points(keypoints, cfg, keypoint_set):
        assert kp.x is not None and kp.y is not None
        out.append((kp.x, kp.y))
        if kp.smoothed is not None:
            out.append(kp.smoothed)
    return out


def _head_point_count(
    keypoints: Sequence[Keypoint], cfg: PrivacyConfig, keypoint_set: KeypointSet | None
) -> int:
    return len({(kp.id, kp.name) for kp in confident_head_points(keypoints, cfg, keypoint_set)})


def face_box(
    keypoints: Sequence[Keypoint],
    cfg: PrivacyConfig,
    hw: tuple[int, int],
    keypoint_set: KeypointSet | None = None,
) -> Box | None:
    """The frame-pixel box (x0, y0, x1, y1 exclusive) the confident head points (of ``keypoint_set``,
    :func:`confident_head_points`) ask to hide: their bounding box grown on every side by
    ``cfg.keypoint_pad`` × its longer side (px), rounded out to whole pixels and cut at the frame
    (``hw``: height, width); None with fewer than :data:`MIN_HEAD_POINTS` such points."""
    if _head_point_count(keypoints, cfg, keypoint_set) < MIN_HEAD_POINTS:
        return None
    pts = head_points(keypoints, cfg, keypoint_set)
    xy = np.asarray(pts, np.float64)
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    pad = cfg.keypoint_pad * max(x1 - x0, y1 - y0)
    box = (
        max(0, math.floor(x0 - pad)),
        max(0, math.floor(y0 - pad)),
        min(hw[1], math.floor(x1 + pad) + 1),
        min(hw[0], math.floor(y1 + pad) + 1),
    )
    return box if box[0] < box[2] and box[1] < box[3] else None


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


def head_region(
    result: Result, class_id: int = HEAD, cfg: PrivacyConfig | None = None
) -> tuple[Box, np.ndarray] | None:
    """The head's frame-pixel bounding box and its mask over that box.

    This is the one definition of the region ``head`` pixelates: every cell of the head class (from
    the model-resolution map), and with ``cfg`` also the :func:`face_box` of the result's confident
    head points (of its ``keypoint_set``; their box joins the region whole).

    Returns:
        ((x0, y0, x1, y1), mask (y1-y0, x1-x0) bool), or None when neither shows a head.
        Only the box is blown up to frame pixels (exactly as :meth:`Result.full_class_map`).
    """
    cells = _class_region(result, class_id)
    hw = result.image.shape[:2]
    face = None if cfg is None else face_box(result.keypoints, cfg, hw, result.keypoint_set)
    if face is None:
        return cells
    if cells is None:
        fx0, fy0, fx1, fy1 = face
        return face, np.ones((fy1 - fy0, fx1 - fx0), bool)
    (cx0, cy0, cx1, cy1), cell_mask = cells
    x0, y0 = min(cx0, face[0]), min(cy0, face[1])
    x1, y1 = max(cx1, face[2]), max(cy1, face[3])
    mask = np.zeros((y1 - y0, x1 - x0), bool)
    mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = cell_mask
    mask[face[1] - y0 : face[3] - y0, face[0] - x0 : face[2] - x0] = True
    return (x0, y0, x1, y1), mask


def _class_region(result: Result, class_id: int) -> tuple[Box, np.ndarray] | None:
    """The box and mask of every cell of ``class_id`` blown up to frame pixels (None: no cell)."""
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


def decide(
    classes: Sequence[ClassSummary],
    cfg: PrivacyConfig,
    mode: PrivacyMode | None = None,
    keypoints: Sequence[Keypoint] = (),
    keypoint_set: KeypointSet | None = None,
) -> PrivacyApplied:
    """The privacy decision of one frame: what every image of it that leaves the process gets.

    The confidence rule (``fail_closed``): the head class's pixels, as summarised in the record's
    ``classes`` entry of ``head``, must number at least ``cfg.min_head_area_px`` and have a mean
    softmax probability of at least ``cfg.min_head_score``; then only the head region is pixelated
    (grown to cover the confident facial keypoints, :func:`head_region`), otherwise (no head, a small
    one, an unsure model) the whole image is. Keypoints never count as a head found: a pose model
    trained on synthetic infants is confidently wrong on other images (an adult's photo gets "facial
    points" beside the face), so they may only widen what is hidden, never let more out.

    Args:
        classes: the frame's class summaries (:attr:`Result.classes <pipeline.frames.Result>`).
        cfg: the thresholds, and the mode unless ``mode`` is given.
        mode: decide under this mode instead of ``cfg.mode`` (the window's ``b`` key).
        keypoints: the frame's keypoints (:attr:`Result.keypoints <pipeline.frames.Result>`).
        keypoint_set: their set (:attr:`Result.keypoint_set <pipeline.frames.Result>`): which of
            them mark the head (:func:`confident_head_points`).

    Returns:
        ``head`` (the head region; ``head`` mode with a head in view, or ``fail_closed`` with a
        confident one), ``frame`` (the whole image) or ``none`` (``off``, or ``head`` mode with no
        head in view).
    """
    mode = cfg.mode if mode is None else mode
    if mode == "off":
        return "none"
    if mode == "frame":
        return "frame"
    head = next((c for c in classes if c.class_id == HEAD and c.area_px > 0), None)
    if mode == "head":
        points = _head_point_count(keypoints, cfg, keypoint_set)
        return "none" if head is None and points < MIN_HEAD_POINTS else "head"
    confident = head is not None and head.area_px >= cfg.min_head_area_px and head.score >= cfg.min_head_score
    return "head" if confident else "frame"


def pixelate_frame(image_rgb: np.ndarray, block_px: int) -> np.ndarray:
    """A copy of ``image_rgb`` as a mosaic, whole: cells of ``block_px``, or coarser so that the longer
    side has at most :data:`FRAME_CELLS` cells; aligned to the origin, each the mean of its cell."""
    h, w = image_rgb.shape[:2]
    block = max(block_px, -(-max(h, w) // FRAME_CELLS))
    ph, pw = -(-h // block) * block, -(-w // block) * block
    # cells cut by the right/bottom edge: replicate the edge so the mean stays inside the frame
    padded = (
        cv2.copyMakeBorder(image_rgb, 0, ph - h, 0, pw - w, cv2.BORDER_REPLICATE)
        if (ph, pw) != (h, w)
        else image_rgb
    )
    small = cv2.resize(padded, (pw // block, ph // block), interpolation=cv2.INTER_AREA)
    mosaic = cv2.resize(small, (pw, ph), interpolation=cv2.INTER_NEAREST)
    return mosaic if (ph, pw) == (h, w) else np.ascontiguousarray(mosaic[:h, :w])


def protect(result: Result, cfg: PrivacyConfig, applied: PrivacyApplied | None = None) -> np.ndarray:
    """The frame as it may leave the process: ``applied`` (default: ``result.privacy``, the decision
    made once for this frame and written into its record) with ``cfg``'s mosaic cell and margin.

    Returns:
        ``head``/``frame``: a new (H, W, 3) uint8 RGB array (``head`` also when no head region shows,
        so the caller may draw on it); ``none``: ``result.image`` itself (shared: do not write into it).
    """
    applied = result.privacy if applied is None else applied
    if applied == "none":
        return result.image
    if applied == "frame":
        return pixelate_frame(result.image, cfg.block_px)
    out = result.image.copy()
    found = head_region(result, HEAD, cfg)
    if found is not None:
        box, mask = found
        _pixelate_into(out, mask, box, cfg.block_px, cfg.margin_px)
    return out
