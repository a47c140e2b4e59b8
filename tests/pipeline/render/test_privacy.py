"""Head pixelation: blocky inside the grown region, untouched outside, input never written."""

import cv2
import numpy as np
import pytest

from pipeline.config import PrivacyConfig
from pipeline.render.privacy import blur_head, head_region, pixelate_mask
from tests.helpers.media import make_result


def noisy(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def grown(mask: np.ndarray, margin: int) -> np.ndarray:
    if margin == 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def assert_blocky(out: np.ndarray, region: np.ndarray, block: int) -> None:
    """Every block-aligned cell is one colour over the part of it inside ``region``."""
    h, w = region.shape
    for y in range(0, h, block):
        for x in range(0, w, block):
            sel = region[y : y + block, x : x + block]
            if sel.any():
                px = out[y : y + block, x : x + block][sel]
                assert (px == px[0]).all(), f"cell at ({x}, {y}) is not constant"


@pytest.mark.parametrize(
    ("hw", "box", "block", "margin"),
    [
        ((60, 80), (20, 10, 45, 30), 8, 4),
        ((61, 83), (70, 40, 83, 61), 8, 3),  # touches the right/bottom edge, sizes not multiples of block
        ((48, 64), (0, 0, 10, 12), 5, 0),
        ((100, 100), (40, 40, 41, 41), 16, 8),  # one pixel grows to a disc
    ],
)
def test_pixelate_mask_blocky_inside_identical_outside(hw, box, block, margin):
    img = noisy(*hw)
    before = img.copy()
    mask = np.zeros(hw, bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    out = pixelate_mask(img, mask, block, margin)
    region = grown(mask, margin)
    assert not np.shares_memory(out, img)
    assert np.array_equal(img, before), "input modified"
    assert np.array_equal(out[~region], img[~region])
    assert not np.array_equal(out[region], img[region])
    assert_blocky(out, region, block)


def test_pixelate_cell_is_the_mean_of_the_cell():
    img = noisy(32, 32)
    mask = np.zeros((32, 32), bool)
    mask[8:16, 8:16] = True
    out = pixelate_mask(img, mask, 8, 0)
    expected = img[8:16, 8:16].reshape(-1, 3).mean(axis=0)
    assert np.abs(out[8, 8].astype(float) - expected).max() <= 1.0


def test_pixelate_empty_mask_is_a_copy():
    img = noisy(20, 30)
    out = pixelate_mask(img, np.zeros((20, 30), bool), 4, 2)
    assert np.array_equal(out, img) and not np.shares_memory(out, img)


def test_blur_head_from_coarse_map_matches_full_map():
    img = noisy(96, 128, seed=3)
    cm = np.zeros((12, 16), np.uint8)
    cm[2:6, 3:7] = 1  # head
    cm[7:10, 8:12] = 3  # torso stays sharp
    r = make_result(img, cm)
    cfg = PrivacyConfig(blur_head=True, block_px=8, margin_px=4)
    out = blur_head(r, cfg)
    reference = pixelate_mask(img, r.full_class_map() == 1, 8, 4)
    assert np.array_equal(out, reference)
    region = grown(r.full_class_map() == 1, 4)
    assert np.array_equal(out[~region], img[~region])
    assert_blocky(out, region, 8)
    assert not np.shares_memory(out, img)


@pytest.mark.parametrize(("cells", "src"), [((12, 16), (37, 53)), ((9, 20), (100, 61)), ((20, 20), (13, 11))])
def test_head_region_equals_blown_up_map(cells, src):
    rng = np.random.default_rng(cells[0] + src[1])
    cm = np.zeros(cells, np.uint8)
    cm[2:5, 3:9] = 1
    cm[rng.random(cells) < 0.1] = 2
    r = make_result(noisy(*src), cm)
    box, mask = head_region(r)
    full = r.full_class_map() == 1
    ys, xs = np.nonzero(full)
    assert box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    x0, y0, x1, y1 = box
    assert np.array_equal(mask, full[y0:y1, x0:x1])


def test_blur_off_returns_the_image_itself():
    img = noisy(16, 16)
    cm = np.ones((4, 4), np.uint8)
    assert blur_head(make_result(img, cm), PrivacyConfig(blur_head=False)) is img


def test_no_head_unchanged():
    img = noisy(16, 16)
    cm = np.full((4, 4), 3, np.uint8)
    out = blur_head(make_result(img, cm), PrivacyConfig(blur_head=True))
    assert np.array_equal(out, img) and not np.shares_memory(out, img)
    assert head_region(make_result(img, cm)) is None
