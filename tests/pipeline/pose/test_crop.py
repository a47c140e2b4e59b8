"""Two-stage crop geometry (pipeline/contract/crop.py, pipeline/pose/stage.py): the body box padded to the
model's aspect, frame → crop → frame within half a pixel (also for boxes past the frame's edges), the
foreground box of a class map, and the letterbox as a crop."""

import numpy as np
import pytest

from pipeline.contract.crop import crop_image, mask_box, pose_box, to_crop, to_frame
from pipeline.contract.geometry import cell_grid, compute_letterbox, foreground_box, letterbox_image
from pipeline.pose.stage import letterbox_box
from tests.helpers.pose_models import blob


@pytest.mark.parametrize(
    ("box", "padding", "aspect", "expected"),
    [
        # 100×200 → 130×260 → widened to 0.75·260 = 195 about the centre (60, 120)
        ((10, 20, 110, 220), 0.15, 0.75, (-37.5, -10.0, 157.5, 250.0)),
        # 200×100, no padding, square model: heightened to 200
        ((0, 0, 200, 100), 0.0, 1.0, (0.0, -50.0, 200.0, 150.0)),
        # already at the aspect: only padded
        ((50, 50, 80, 90), 0.5, 0.75, (35.0, 30.0, 95.0, 110.0)),
        # an empty box still crops min_side (8 px) padded by 0.25 → 12 × 12, then 12 wide / 16 high
        ((40, 40, 40, 40), 0.25, 0.75, (34.0, 32.0, 46.0, 48.0)),
    ],
)
def test_pose_box(box, padding, aspect, expected):
    got = pose_box(box, padding, aspect)
    assert got == pytest.approx(expected)
    assert (got[2] - got[0]) / (got[3] - got[1]) == pytest.approx(aspect)


def centroid(img: np.ndarray) -> tuple[float, float]:
    """Intensity-weighted mean (x, y) of a (H, W) image, pixel centres at integers."""
    w = img.astype(np.float64)
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    return float((w * xx).sum() / w.sum()), float((w * yy).sum() / w.sum())


FRAME_W, FRAME_H = 160, 120


@pytest.mark.parametrize(
    ("box", "out_hw", "spot"),
    [
        ((40.0, 20.0, 100.0, 100.0), (64, 48), (70.3, 55.8)),  # inside, scaled down
        ((60.5, 30.25, 90.5, 70.25), (64, 48), (75.0, 50.4)),  # inside, scaled up, fractional edges
        ((-30.0, -20.0, 60.0, 100.0), (64, 48), (20.6, 30.2)),  # past the left and top edges
        ((100.0, 50.0, 190.0, 170.0), (64, 48), (130.4, 95.7)),  # past the right and bottom edges
        ((-50.0, -80.0, 210.0, 200.0), (256, 192), (80.0, 60.0)),  # larger than the frame on every side
    ],
)
def test_frame_to_crop_to_frame_within_half_a_pixel(box, out_hw, spot):
    frame = blob(np.zeros((FRAME_H, FRAME_W, 3), np.uint8), 0, spot, sigma=4.0)
    crop = crop_image(frame, box, out_hw)
    assert crop.shape == (*out_hw, 3) and crop.dtype == np.uint8
    back = to_frame(np.array(centroid(crop[..., 0])), box, out_hw)
    assert back == pytest.approx(spot, abs=0.5)
    scale = out_hw[1] / (box[2] - box[0])  # crop px per frame px
    assert to_crop(np.array(spot), box, out_hw) == pytest.approx(centroid(crop[..., 0]), abs=0.5 * scale)


def test_to_crop_and_to_frame_are_inverse():
    pts = np.random.default_rng(0).uniform(-100, 300, (50, 2))
    box = (-12.5, 7.25, 140.0, 210.0)
    assert to_frame(to_crop(pts, box, (256, 192)), box, (256, 192)) == pytest.approx(pts, abs=1e-3)


def test_crop_box_corners_land_on_crop_corners():
    box = (10.0, 20.0, 58.0, 84.0)  # 48 × 64 frame px → 48 × 64 crop: 1 crop px per frame px
    assert to_crop(np.array([[10.0, 20.0], [57.0, 83.0]]), box, (64, 48)) == pytest.approx(
        np.array([[0, 0], [47, 63]])
    )


def test_outside_the_frame_is_the_pad_value():
    white = np.full((FRAME_H, FRAME_W, 3), 255, np.uint8)
    box = (-16.0, -12.0, FRAME_W + 16.0, FRAME_H + 12.0)  # 8 crop px of padding at 0.5 crop px per frame px
    crop = crop_image(white, box, (FRAME_H // 2 + 12, FRAME_W // 2 + 16))
    assert (crop[:5] == 0).all() and (crop[:, :7] == 0).all() and (crop[-5:] == 0).all()
    assert (crop[10:-10, 10:-10] == 255).all()
    assert (crop_image(white, box, (84, 96), pad_value=7)[0, 0] == 7).all()


@pytest.mark.parametrize(
    ("mask_cells", "expected"),
    [([], None), ([(2, 3)], (3.0, 2.0, 4.0, 3.0)), ([(1, 1), (4, 6), (2, 0)], (0.0, 1.0, 7.0, 5.0))],
)
def test_mask_box(mask_cells, expected):
    mask = np.zeros((6, 8), bool)
    for r, c in mask_cells:
        mask[r, c] = True
    assert mask_box(mask) == expected


@pytest.mark.parametrize(
    ("cells_hw", "frame_hw", "fg", "expected"),
    [
        ((3, 4), (6, 8), [(1, 1), (1, 2)], (2.0, 2.0, 6.0, 4.0)),  # 2×2 px per cell
        ((2, 3), (5, 7), [(1, 1)], (3.0, 3.0, 5.0, 5.0)),  # uneven runs: columns 0-2, 3-4, 5-6; rows 0-2, 3-4
        ((2, 3), (5, 7), [(0, 0), (1, 2)], (0.0, 0.0, 7.0, 5.0)),
        ((2, 3), (5, 7), [], None),
    ],
)
def test_foreground_box_in_frame_pixels(cells_hw, frame_hw, fg, expected):
    classes = np.zeros(cells_hw, np.uint8)
    for k, (r, c) in enumerate(fg):
        classes[r, c] = 1 + k % 4  # any part class is foreground
    assert foreground_box(classes, cell_grid(cells_hw, frame_hw)) == expected


@pytest.mark.parametrize(
    ("frame_hw", "canvas_hw", "expected"),
    [
        ((240, 320), (64, 64), (0.0, -40.0, 320.0, 280.0)),  # scale 0.2, 8 rows of padding above and below
        ((200, 100), (64, 48), (-25.0, 0.0, 125.0, 200.0)),  # scale 0.32, 8 columns each side
    ],
)
def test_letterbox_box_is_the_canvas_in_frame_pixels(frame_hw, canvas_hw, expected):
    lb = compute_letterbox(frame_hw, canvas_hw, "center")
    box = letterbox_box(lb)
    assert box == pytest.approx(expected)
    frame = np.random.default_rng(1).integers(0, 256, (*frame_hw, 3), dtype=np.uint8)
    frame = np.ascontiguousarray(
        np.repeat(np.repeat(frame[::8, ::8], 8, 0), 8, 1)[: frame_hw[0], : frame_hw[1]]
    )
    as_crop = crop_image(frame, box, canvas_hw).astype(int)
    letterboxed = letterbox_image(frame, lb).astype(int)
    assert np.abs(as_crop - letterboxed).max() <= 1  # the same pixels (OpenCV's fixed-point rounding aside)
