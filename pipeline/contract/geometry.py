"""Pure geometry between original frames and the model's letterboxed canvas.

Conventions: images are (H, W, C) or (H, W) numpy arrays; points are (x, y) in pixels with
the origin at the top-left corner of the top-left pixel; a box is [x0, y0, x1, y1] with x1/y1
exclusive. The trainer and the pipeline both use these functions, so training, evaluation and
inference see exactly the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from pipeline.contract.model_meta import LetterboxAlign


@dataclass(frozen=True)
class Letterbox:
    """How a (src_h, src_w) frame sits inside a (dst_h, dst_w) canvas.

    The frame is resized by ``scale`` to (new_h, new_w) (long side fills the canvas) and placed
    at (pad_x, pad_y); the rest of the canvas is padding.
    """

    src_h: int
    src_w: int
    dst_h: int
    dst_w: int
    new_h: int
    new_w: int
    pad_y: int
    pad_x: int

    @property
    def scale_x(self) -> float:
        """Canvas pixels per source pixel along x."""
        return self.new_w / self.src_w

    @property
    def scale_y(self) -> float:
        """Canvas pixels per source pixel along y."""
        return self.new_h / self.src_h


def compute_letterbox(src_hw: tuple[int, int], dst_hw: tuple[int, int], align: LetterboxAlign) -> Letterbox:
    """Fit ``src_hw`` into ``dst_hw`` keeping aspect ratio (no upscaling limit).

    Args:
        src_hw: (height, width) of the original frame, > 0.
        dst_hw: (height, width) of the canvas, > 0.
        align: ``center`` (equal padding both sides, extra pixel right/bottom) or ``topleft``.
    """
    sh, sw = src_hw
    dh, dw = dst_hw
    scale = min(dh / sh, dw / sw)
    nh = min(dh, max(1, round(sh * scale)))
    nw = min(dw, max(1, round(sw * scale)))
    if align == "center":
        py, px = (dh - nh) // 2, (dw - nw) // 2
    else:
        py, px = 0, 0
    return Letterbox(src_h=sh, src_w=sw, dst_h=dh, dst_w=dw, new_h=nh, new_w=nw, pad_y=py, pad_x=px)


def letterbox_image(
    image: np.ndarray, box: Letterbox, pad_value: int = 0, interpolation: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """Resize ``image`` (H, W[, C]) into its canvas (dst_h, dst_w[, C]), same dtype.

    Use ``interpolation=cv2.INTER_NEAREST`` for label masks.
    """
    resized = cv2.resize(image, (box.new_w, box.new_h), interpolation=interpolation)
    if resized.ndim == 2 and image.ndim == 3:  # cv2 drops a trailing channel axis of 1
        resized = resized[:, :, None]
    canvas = np.full((box.dst_h, box.dst_w, *image.shape[2:]), pad_value, dtype=image.dtype)
    canvas[box.pad_y : box.pad_y + box.new_h, box.pad_x : box.pad_x + box.new_w] = resized
    return canvas


def content_slice(box: Letterbox, out_hw: tuple[int, int]) -> tuple[slice, slice]:
    """Rows and columns of a (out_h, out_w) model output that cover the frame (not padding).

    The model output may be smaller than the canvas (a strided head); the content region is
    scaled accordingly and rounded outwards to whole output pixels.
    """
    oh, ow = out_hw
    fy, fx = oh / box.dst_h, ow / box.dst_w
    y0, x0 = int(np.floor(box.pad_y * fy)), int(np.floor(box.pad_x * fx))
    y1 = int(np.ceil((box.pad_y + box.new_h) * fy))
    x1 = int(np.ceil((box.pad_x + box.new_w) * fx))
    return slice(y0, max(y1, y0 + 1)), slice(x0, max(x1, x0 + 1))


@dataclass(frozen=True)
class CellGrid:
    """Which source-frame pixels each cell of a (h, w) map covers when it is blown up to (src_h, src_w).

    Source column ``x`` belongs to cell ``floor(x * w / src_w)`` (rows likewise), so every cell covers a
    contiguous run of source pixels: columns ``x_start[j] .. x_start[j] + x_count[j] - 1``. A count is 0
    where the map is finer than the frame (that cell is not shown).

    Attributes:
        x_start, x_count: (w,) int64; y_start, y_count: (h,) int64.
    """

    x_start: np.ndarray
    x_count: np.ndarray
    y_start: np.ndarray
    y_count: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(h, w) of the coarse map."""
        return len(self.y_count), len(self.x_count)

    @property
    def src_hw(self) -> tuple[int, int]:
        """(src_h, src_w) of the frame."""
        return int(self.y_count.sum()), int(self.x_count.sum())

    @property
    def covers_every_cell(self) -> bool:
        """True when no cell is skipped (the map is not finer than the frame)."""
        return bool(self.x_count.all() and self.y_count.all())

    @cached_property
    def weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per cell (h, w) float64: frame pixels covered, and their sums of x and of y.

        Dividing the sums of a region by its pixel count gives its mean frame position.
        """
        yc, xc = self.y_count.astype(np.float64), self.x_count.astype(np.float64)
        x_mid = self.x_start + (xc - 1.0) / 2.0  # mean frame x of each column's run
        y_mid = self.y_start + (yc - 1.0) / 2.0
        area = yc[:, None] * xc[None, :]
        return area, area * x_mid[None, :], area * y_mid[:, None]

    def upsample(self, cells: np.ndarray) -> np.ndarray:
        """Blow a (h, w[, ...]) map up to (src_h, src_w[, ...]): nearest neighbour, exact."""
        return np.repeat(np.repeat(cells, self.y_count, axis=0), self.x_count, axis=1)


def _runs(cells: int, src: int) -> tuple[np.ndarray, np.ndarray]:
    owner = (np.arange(src, dtype=np.int64) * cells) // src
    count = np.bincount(owner, minlength=cells).astype(np.int64)
    start = np.concatenate(([0], np.cumsum(count)[:-1])).astype(np.int64)
    return start, count


def cell_grid(cells_hw: tuple[int, int], src_hw: tuple[int, int]) -> CellGrid:
    """The :class:`CellGrid` of a (h, w) map over a (src_h, src_w) frame."""
    xs, xc = _runs(cells_hw[1], src_hw[1])
    ys, yc = _runs(cells_hw[0], src_hw[0])
    return CellGrid(x_start=xs, x_count=xc, y_start=ys, y_count=yc)


class CellGrids:
    """The cell grids of one stage's maps, made once per (map size, frame size): a stream's frames
    share a size, so its maps share one :class:`CellGrid` (the pose stage and the postprocessor each
    keep one of these). Used by several threads (the pose workers) without a lock: a dict lookup and
    store are atomic, and a race only computes the same grid twice and keeps either. The grids are
    shared, never written."""

    def __init__(self) -> None:
        self._grids: dict[tuple[int, int, int, int], CellGrid] = {}

    def __call__(self, map_hw: tuple[int, ...], box: Letterbox) -> CellGrid:
        """The grid of a (h, w, ...) map (``map_hw``, e.g. a class map's ``shape``) over the frame of
        ``box`` (its ``src_h``, ``src_w``)."""
        key = (map_hw[0], map_hw[1], box.src_h, box.src_w)
        grid = self._grids.get(key)
        if grid is None:
            grid = self._grids[key] = cell_grid((map_hw[0], map_hw[1]), (box.src_h, box.src_w))
        return grid


def unletterbox_map(canvas_map: np.ndarray, box: Letterbox) -> np.ndarray:
    """Map a per-pixel map (out_h, out_w) of the canvas back to the frame (src_h, src_w).

    Crops the padding, then nearest-neighbour as :meth:`CellGrid.upsample`, so class ids stay class ids.
    """
    ys, xs = content_slice(box, canvas_map.shape[:2])
    crop = canvas_map[ys, xs]
    return cell_grid(crop.shape[:2], (box.src_h, box.src_w)).upsample(crop)


def canvas_to_source(points: np.ndarray, box: Letterbox) -> np.ndarray:
    """Map points (N, 2) of (x, y) canvas pixels to source-frame pixels (N, 2) float64."""
    pts = np.asarray(points, dtype=np.float64)
    return np.stack(((pts[:, 0] - box.pad_x) / box.scale_x, (pts[:, 1] - box.pad_y) / box.scale_y), axis=1)


def source_to_canvas(points: np.ndarray, box: Letterbox) -> np.ndarray:
    """Map points (N, 2) of (x, y) source-frame pixels to canvas pixels (N, 2) float64."""
    pts = np.asarray(points, dtype=np.float64)
    return np.stack((pts[:, 0] * box.scale_x + box.pad_x, pts[:, 1] * box.scale_y + box.pad_y), axis=1)


def foreground_box(class_map: np.ndarray, grid: CellGrid) -> tuple[int, int, int, int] | None:
    """Frame-pixel box (x0, y0, x1, y1 exclusive) of every non-background cell of ``class_map`` ((h, w)
    class ids, 0 = background) blown up over the frame by ``grid``, or None (no foreground, or only
    cells finer than the frame, none of which is shown). The overlay draws it; the pose stage crops it."""
    fg = class_map > 0
    rows, cols = np.flatnonzero(fg.any(axis=1)), np.flatnonzero(fg.any(axis=0))
    if len(rows) == 0:
        return None
    r1, c1 = int(rows[-1]), int(cols[-1])
    x0, y0 = int(grid.x_start[cols[0]]), int(grid.y_start[rows[0]])
    x1, y1 = int(grid.x_start[c1] + grid.x_count[c1]), int(grid.y_start[r1] + grid.y_count[r1])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None
