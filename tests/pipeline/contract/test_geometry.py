import numpy as np
import pytest

from pipeline.contract.geometry import (
    CellGrids,
    canvas_to_source,
    compute_letterbox,
    content_slice,
    letterbox_image,
    source_to_canvas,
    unletterbox_map,
)


@pytest.mark.parametrize(
    ("src", "dst", "align", "new_hw", "pad_yx"),
    [
        ((64, 128), (64, 64), "center", (32, 64), (16, 0)),
        ((64, 128), (64, 64), "topleft", (32, 64), (0, 0)),
        ((128, 64), (64, 64), "center", (64, 32), (0, 16)),
        ((720, 1280), (256, 256), "center", (144, 256), (56, 0)),
        ((576, 768), (256, 256), "topleft", (192, 256), (0, 0)),
        ((100, 100), (50, 80), "center", (50, 50), (0, 15)),
        ((10, 10), (40, 40), "center", (40, 40), (0, 0)),
    ],
)
def test_compute_letterbox(src, dst, align, new_hw, pad_yx):
    box = compute_letterbox(src, dst, align)
    assert (box.new_h, box.new_w) == new_hw
    assert (box.pad_y, box.pad_x) == pad_yx


def test_letterbox_image_places_content_and_pads():
    img = np.full((4, 8, 3), 200, np.uint8)
    box = compute_letterbox((4, 8), (8, 8), "center")
    out = letterbox_image(img, box, pad_value=7)
    assert out.shape == (8, 8, 3)
    assert (out[:2] == 7).all() and (out[6:] == 7).all()
    assert (out[2:6] == 200).all()


def test_letterbox_mask_nearest_keeps_ids():
    mask = np.array([[0, 1, 2, 3], [4, 4, 1, 1]], np.uint8)
    box = compute_letterbox((2, 4), (8, 8), "topleft")
    out = letterbox_image(mask, box, 0, interpolation=0)
    assert set(np.unique(out)) <= {0, 1, 2, 3, 4}
    assert out.shape == (8, 8)
    assert (out[4:] == 0).all()
    assert out[0, 0] == 0 and out[0, 2] == 1 and out[3, 0] == 4


def test_unletterbox_roundtrip_with_strided_output():
    box = compute_letterbox((64, 128), (64, 64), "center")
    canvas = np.zeros((32, 32), np.uint8)  # a stride-2 head
    canvas[8:24, 0:16] = 5  # content rows are 8..24 at stride 2; left half of the frame
    back = unletterbox_map(canvas, box)
    assert back.shape == (64, 128)
    assert (back[:, :64] == 5).all() and (back[:, 64:] == 0).all()
    assert content_slice(box, (32, 32)) == (slice(8, 24), slice(0, 32))


def test_point_mapping_inverse():
    box = compute_letterbox((720, 1280), (256, 256), "center")
    pts = np.array([[0.0, 0.0], [1279.0, 719.0], [640.5, 360.25]])
    assert np.allclose(canvas_to_source(source_to_canvas(pts, box), box), pts)
    assert np.allclose(source_to_canvas(np.array([[0.0, 0.0]]), box), [[0.0, 56.0]])


def test_cell_grids_make_each_size_once():
    """A (2, 3) map over a 4x7 frame: columns 0-2 | 3-4 | 5-6, rows 0-1 | 2-3 (hand-computed)."""
    grids = CellGrids()
    g = grids((2, 3), compute_letterbox((4, 7), (8, 8), "center"))
    assert g.x_start.tolist() == [0, 3, 5] and g.x_count.tolist() == [3, 2, 2]
    assert g.y_start.tolist() == [0, 2] and g.y_count.tolist() == [2, 2]
    assert grids((2, 3, 5), compute_letterbox((4, 7), (16, 16), "topleft")) is g  # same map and frame size
    other = grids((2, 3), compute_letterbox((8, 7), (8, 8), "center"))
    assert other is not g and other.y_count.tolist() == [4, 4]
