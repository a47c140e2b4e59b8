"""The overlay: class colours over the frame, part boxes with labels, centroids, motion trails and
the infant's skeleton.

Everything is drawn in RGB on a new array (``result.image`` is shared and never written).
Drawing order: privacy (the frame's decision: head or whole image pixelated) → class colours
blended with ``alpha`` → trails → boxes, labels and centroids → skeleton (joints and edges coloured
by side: :mod:`pipeline.render.skeleton`). Colours: :mod:`pipeline.render.palette`.

Observed parts: solid box, raw centroid as a small hollow circle, smoothed centroid as a filled
dot. Predicted parts (Kalman coasting, no region this frame): dashed box and dot in a dimmed colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.config import PrivacyConfig, PrivacyMode
from pipeline.contract.geometry import CellGrid, foreground_box
from pipeline.frames import PartInstance, Result
from pipeline.render.palette import RGB, class_colour, class_colours, class_name, dimmed
from pipeline.render.privacy import decide, protect
from pipeline.render.skeleton import draw_skeleton
from pipeline.render.trails import TrailPath, Trails

FONT = cv2.FONT_HERSHEY_SIMPLEX
SUBPIXEL_SHIFT = 2
"""Fractional bits for cv2 drawing of float points (anti-aliased, quarter-pixel precise)."""


@dataclass(frozen=True)
class OverlayStyle:
    """What the overlay draws. ``alpha``: opacity of the class colours, 0..1; ``keypoints``: the
    skeleton (the window's ``k`` key)."""

    alpha: float = 0.45
    mask: bool = True
    boxes: bool = True
    centroids: bool = True
    trails: bool = True
    keypoints: bool = True


def line_scale(height: int, width: int) -> int:
    """Line thickness unit in pixels for a frame of this size (1 up to ~640x480, 2 at 720p/1080p)."""
    return max(1, round(min(height, width) / 480))


class BlendScratch:
    """Reusable full-frame buffers for :func:`blend_classes` (fresh multi-MB arrays every frame
    cost more in page faults than the blend itself: 4.1 vs 1.2 ms at 1280x720)."""

    def __init__(self) -> None:
        self._bufs: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def get(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(colours (h, w, 3), fg (h, w), mixed (h, w, 3)) uint8 buffers for a frame of this size."""
        bufs = self._bufs.get((h, w))
        if bufs is None:
            self._bufs.clear()  # one frame size at a time
            bufs = self._bufs[(h, w)] = (
                np.empty((h, w, 3), np.uint8),
                np.empty((h, w), np.uint8),
                np.empty((h, w, 3), np.uint8),
            )
        return bufs


def blend_classes(
    out: np.ndarray, class_map: np.ndarray, grid: CellGrid, alpha: float, scratch: BlendScratch | None = None
) -> None:
    """Blend class colours over ``out`` in place: ``out = out·(1-alpha) + colour·alpha`` where class > 0.

    The colour layer is built at model resolution and blown up (nearest neighbour, which is
    exactly the cells of ``grid``: tested); only the box around the foreground is blended.

    Args:
        out: (H, W, 3) uint8 RGB, written.
        class_map: (h, w) uint8 class ids at model resolution.
        grid: the cells of ``class_map`` over ``out``.
        alpha: opacity of the class colours, 0..1.
        scratch: buffers reused between calls (one owner thread), or None.
    """
    box = foreground_box(class_map, grid)
    if box is None or alpha <= 0:
        return
    h, w = out.shape[:2]
    colours, fg, mixed = (scratch or BlendScratch()).get(h, w)
    # cv2 writes into dst= when it fits and returns it; the returned array is used either way
    colours = cv2.resize(class_colours()[class_map], (w, h), dst=colours, interpolation=cv2.INTER_NEAREST)
    fg = cv2.resize((class_map > 0).view(np.uint8), (w, h), dst=fg, interpolation=cv2.INTER_NEAREST)
    x0, y0, x1, y1 = box
    view = out[y0:y1, x0:x1]
    mix = cv2.addWeighted(view, 1.0 - alpha, colours[y0:y1, x0:x1], alpha, 0.0, dst=mixed[y0:y1, x0:x1])
    if cv2.copyTo(mix, fg[y0:y1, x0:x1], view) is not view:
        np.copyto(view, mix, where=fg[y0:y1, x0:x1, None].astype(bool))


def _fixed(points: np.ndarray) -> np.ndarray:
    """(N, 2) float px → (N, 1, 2) int32 in cv2 fixed point (``SUBPIXEL_SHIFT`` fractional bits)."""
    return np.round(np.asarray(points, np.float64) * (1 << SUBPIXEL_SHIFT)).astype(np.int32).reshape(-1, 1, 2)


def dashed_rectangle(
    out: np.ndarray, box: tuple[int, int, int, int], colour: RGB, thickness: int, dash: int = 8
) -> None:
    """Draw the outline of ``box`` (x0, y0, x1, y1 exclusive) as dashes of ``dash`` px, in place."""
    x0, y0, x1, y1 = box[0], box[1], box[2] - 1, box[3] - 1
    for (ax, ay), (bx, by) in (
        ((x0, y0), (x1, y0)),
        ((x1, y0), (x1, y1)),
        ((x1, y1), (x0, y1)),
        ((x0, y1), (x0, y0)),
    ):
        length = max(abs(bx - ax), abs(by - ay))
        for s in range(0, length + 1, 2 * dash):
            e = min(s + dash, length)
            p = (ax + (bx - ax) * s // max(length, 1), ay + (by - ay) * s // max(length, 1))
            q = (ax + (bx - ax) * e // max(length, 1), ay + (by - ay) * e // max(length, 1))
            cv2.line(out, p, q, colour, thickness)


def part_label(part: PartInstance) -> str:
    """``name #track_id`` (just the name without a tracker)."""
    return part.name if part.track_id is None else f"{part.name} #{part.track_id}"


def draw_label(out: np.ndarray, text: str, anchor: tuple[int, int], colour: RGB, scale: int) -> None:
    """``text`` on a filled ``colour`` tab whose bottom-left is ``anchor`` (moved inside the frame)."""
    font_scale, thick = 0.45 * scale, max(1, scale)
    (tw, th), base = cv2.getTextSize(text, FONT, font_scale, thick)
    h, w = out.shape[:2]
    x = min(max(0, anchor[0]), max(0, w - tw - 4))
    y = anchor[1] if anchor[1] - th - base - 2 >= 0 else anchor[1] + th + base + 2
    y = min(y, h - 1)
    cv2.rectangle(out, (x, y - th - base - 2), (x + tw + 4, y), colour, cv2.FILLED)
    ink = (0, 0, 0) if sum(colour) > 3 * 140 else (255, 255, 255)
    cv2.putText(out, text, (x + 2, y - base - 1), FONT, font_scale, ink, thick, cv2.LINE_AA)


def draw_part(out: np.ndarray, part: PartInstance, style: OverlayStyle, scale: int) -> None:
    """Box + label and centroids of one part, in place (predicted parts dashed and dimmed)."""
    predicted = part.state == "predicted"
    colour = dimmed(class_colour(part.class_id)) if predicted else class_colour(part.class_id)
    if style.boxes:
        x0, y0, x1, y1 = part.box
        if predicted:
            dashed_rectangle(out, part.box, colour, scale, dash=6 * scale)
        else:
            cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), colour, scale)
        draw_label(out, part_label(part), (x0, y0), colour, scale)
    if style.centroids:
        one = 1 << SUBPIXEL_SHIFT
        if part.centroid is not None:
            cx, cy = _fixed(np.array([part.centroid]))[0, 0]
            cv2.circle(out, (int(cx), int(cy)), 5 * scale * one, colour, scale, cv2.LINE_AA, SUBPIXEL_SHIFT)
        if part.smoothed is not None:
            sx, sy = _fixed(np.array([part.smoothed]))[0, 0]
            cv2.circle(
                out, (int(sx), int(sy)), 3 * scale * one, colour, cv2.FILLED, cv2.LINE_AA, SUBPIXEL_SHIFT
            )


def draw_trails(out: np.ndarray, paths: dict[int, TrailPath], scale: int) -> None:
    """Smoothed trails as solid polylines, raw centroids as thin dimmed polylines, in place."""
    for path in paths.values():
        colour = class_colour(path.class_id)
        if len(path.raw) >= 2:
            cv2.polylines(out, [_fixed(path.raw)], False, dimmed(colour), 1, cv2.LINE_AA, SUBPIXEL_SHIFT)
        if len(path.smoothed) >= 2:
            cv2.polylines(out, [_fixed(path.smoothed)], False, colour, scale, cv2.LINE_AA, SUBPIXEL_SHIFT)


class OverlayRenderer:
    """Renders results into overlay images and keeps their trails. One owner thread.

    Args:
        style: what to draw (replace ``self.style`` to toggle layers).
        trail_s: seconds of trail kept.
        privacy: mosaic settings: each result is hidden as its own decision says
            (``result.privacy``, what its record states); None = no pixelation at all (drawing
            only: every renderer of an output passes one).

    Attributes:
        view: None = apply each result's decision (what every output gets); a mode = decide again
            under that mode (the window's ``b`` key: a local view, outputs are unaffected).
    """

    def __init__(self, style: OverlayStyle, trail_s: float, privacy: PrivacyConfig | None = None) -> None:
        self.style = style
        self.privacy = privacy
        self.view: PrivacyMode | None = None
        self.trails = Trails(trail_s)
        self._scratch = BlendScratch()
        self._last: tuple[str, int] | None = None

    def __call__(self, result: Result) -> np.ndarray:
        """The overlay of ``result``: (H, W, 3) uint8 RGB, a new array.

        The trails are updated once per result (rendering the same result again, e.g. a paused
        view after a toggle, does not add points).
        """
        key = (result.meta.source_id, result.meta.seq)
        if key != self._last:
            self.trails.update(result)
            self._last = key
        out = result.image
        if self.privacy is not None:
            applied = (
                None
                if self.view is None
                else decide(result.classes, self.privacy, self.view, result.keypoints, result.keypoint_set)
            )
            out = protect(result, self.privacy, applied)
        if out is result.image:
            out = out.copy()
        style = self.style
        scale = line_scale(*out.shape[:2])
        if style.mask:
            blend_classes(out, result.class_map, result.grid, style.alpha, self._scratch)
        if style.trails:
            draw_trails(out, self.trails.paths(), scale)
        if style.boxes or style.centroids:
            for part in result.parts:
                draw_part(out, part, style, scale)
        if style.keypoints:
            draw_skeleton(out, result.keypoints, scale, result.keypoint_set)
        return out


__all__ = ["OverlayRenderer", "OverlayStyle", "blend_classes", "class_colour", "class_colours", "class_name"]
