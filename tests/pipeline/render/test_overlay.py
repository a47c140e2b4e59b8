"""The overlay renderer on tiny synthetic results: blended colours, boxes, predicted parts, privacy first."""

import itertools

import numpy as np
import pytest

from pipeline.config import PrivacyConfig
from pipeline.contract.geometry import cell_grid, foreground_box
from pipeline.frames import PartInstance, Result
from pipeline.render.hud import banner_for, draw_hud, hud_lines
from pipeline.render.overlay import OverlayRenderer, OverlayStyle, blend_classes
from pipeline.render.palette import blended, class_colour, class_colours, dimmed
from pipeline.render.privacy import protect
from tests.helpers.media import make_result

GREY = (100, 100, 100)
PLAIN = OverlayStyle(alpha=0.5, mask=True, boxes=False, centroids=False, trails=False)


def grey_scene() -> Result:
    """120x160 grey frame; 12x16 map: head cells rows 2-5 cols 3-6, torso rows 6-9 cols 8-13 (10 px cells)."""
    img = np.full((120, 160, 3), GREY, np.uint8)
    cm = np.zeros((12, 16), np.uint8)
    cm[2:6, 3:7] = 1
    cm[6:10, 8:14] = 3
    return make_result(img, cm)


def test_palette_classes_are_distinct_strong_colours():
    pal = class_colours().astype(int)
    assert pal.shape == (5, 3) and tuple(pal[0]) == (0, 0, 0)
    for a, b in itertools.combinations(range(1, 5), 2):
        assert np.abs(pal[a] - pal[b]).sum() >= 150, (a, b)
    for c in range(1, 5):
        assert pal[c].max() - pal[c].min() >= 100, f"class {c} is not saturated"


def test_class_regions_have_the_blended_colour_and_the_rest_is_untouched():
    r = grey_scene()
    before = r.image.copy()
    out = OverlayRenderer(PLAIN, trail_s=1.0)(r)
    assert out.shape == r.image.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, r.image) and np.array_equal(r.image, before)
    head = out[20:60, 30:70].reshape(-1, 3).astype(int)
    torso = out[60:100, 80:140].reshape(-1, 3).astype(int)
    assert np.abs(head - blended(GREY, class_colour(1), 0.5)).max() <= 1
    assert np.abs(torso - blended(GREY, class_colour(3), 0.5)).max() <= 1
    fg = r.full_class_map() > 0
    assert (out[~fg] == GREY).all()


@pytest.mark.parametrize(
    ("cells", "src"), [((12, 16), (37, 53)), ((9, 20), (100, 61)), ((48, 64), (480, 640))]
)
def test_colour_layer_follows_the_cell_grid_exactly(cells, src):
    rng = np.random.default_rng(cells[1])
    cm = (rng.random(cells) * 5).astype(np.uint8)
    img = np.zeros((*src, 3), np.uint8)
    blend_classes(img, cm, cell_grid(cells, src), alpha=1.0)
    full = cell_grid(cells, src).upsample(cm)
    assert np.array_equal(img, class_colours()[full])


def test_foreground_box():
    r = grey_scene()
    assert foreground_box(r.class_map, r.grid) == (30, 20, 140, 100)
    assert foreground_box(np.zeros((3, 3), np.uint8), cell_grid((3, 3), (9, 9))) is None


def test_box_drawn_at_the_part_box():
    r = grey_scene()
    arm = PartInstance(
        2, "arm", 0, (10, 30, 60, 90), (35.0, 60.0), 100, 0.9, track_id=4, smoothed=(35.0, 60.0)
    )
    r = make_result(r.image, np.zeros((12, 16), np.uint8), [arm])
    style = OverlayStyle(alpha=0.5, mask=False, boxes=True, centroids=False, trails=False)
    out = OverlayRenderer(style, 1.0)(r)
    colour = class_colour(2)
    for x, y in [(10, 60), (59, 60), (35, 89), (30, 30)]:  # left, right, bottom, top edges
        assert tuple(out[y, x]) == colour, (x, y)
    assert tuple(out[60, 35]) == GREY and tuple(out[60, 61]) == GREY
    assert (out[20:30, 10:60] != GREY).any(), "no label tab above the box"


def test_centroids_hollow_raw_filled_smoothed():
    img = np.full((100, 100, 3), GREY, np.uint8)
    part = PartInstance(
        4, "leg", 0, (0, 0, 100, 100), (30.0, 50.0), 100, 0.9, track_id=1, smoothed=(70.0, 50.0)
    )
    style = OverlayStyle(alpha=0.5, mask=False, boxes=False, centroids=True, trails=False)
    out = OverlayRenderer(style, 1.0)(make_result(img, np.zeros((10, 10), np.uint8), [part]))
    assert tuple(out[50, 30]) == GREY, "raw centroid circle should be hollow"
    assert tuple(out[50, 25]) != GREY
    assert tuple(out[50, 70]) == class_colour(4)


def test_predicted_part_is_dashed_and_dimmed_without_centroid():
    img = np.full((100, 100, 3), GREY, np.uint8)
    part = PartInstance(3, "torso", None, (10, 40, 90, 80), None, 0, 0.0, track_id=2, state="predicted",
                        smoothed=(50.0, 60.0))  # fmt: skip
    out = OverlayRenderer(OverlayStyle(mask=False), 1.0)(
        make_result(img, np.zeros((10, 10), np.uint8), [part])
    )
    bottom = out[79, 10:90]
    on = (bottom == dimmed(class_colour(3))).all(axis=1)
    assert 0.3 < on.mean() < 0.8, "bottom edge should be dashed"
    assert tuple(out[60, 50]) == dimmed(class_colour(3))


def test_trails_drawn_and_not_duplicated_by_rerendering():
    img = np.full((100, 100, 3), GREY, np.uint8)
    renderer = OverlayRenderer(OverlayStyle(mask=False, boxes=False, centroids=False), trail_s=10.0)
    cm = np.zeros((10, 10), np.uint8)
    out = None
    for i in range(5):
        p = PartInstance(1, "head", 0, (0, 0, 1, 1), (10.0 + 15 * i, 50.0), 1, 1.0, track_id=9,
                         smoothed=(10.0 + 15 * i, 50.0))  # fmt: skip
        r = make_result(img, cm, [p], seq=i, pts_s=i * 0.1, mono=i * 0.1)
        out = renderer(r)
        renderer(r)  # the same result again (a paused view after a toggle)
    assert renderer.trails.point_count() == 5
    assert out is not None  # anti-aliased line along y = 50
    near = np.abs(out[50, 20:70].astype(int) - class_colour(1)).max(axis=1) <= 16
    assert near.mean() > 0.8


@pytest.mark.parametrize("applied", ["head", "frame", "none"])
def test_privacy_comes_first(applied):
    """The overlay starts from the frame hidden as its decision says, then draws on it."""
    r = grey_scene()
    noisy = np.random.default_rng(0).integers(0, 256, r.image.shape, dtype=np.uint8)
    r = make_result(noisy, r.class_map, privacy=applied)
    cfg = PrivacyConfig(block_px=8, margin_px=2)
    out = OverlayRenderer(PLAIN, 1.0, cfg)(r)
    expected = protect(r, cfg).copy()
    blend_classes(expected, r.class_map, r.grid, 0.5)
    assert np.array_equal(out, expected)
    clear = OverlayRenderer(PLAIN, 1.0, None)(r)
    assert np.array_equal(out, clear) == (applied == "none")


def test_view_override_decides_again():
    """The window's ``b`` key: a view mode decides again under that mode (outputs keep theirs)."""
    r = grey_scene()
    noisy = np.random.default_rng(1).integers(0, 256, r.image.shape, dtype=np.uint8)
    r = make_result(noisy, r.class_map, privacy="frame")
    renderer = OverlayRenderer(PLAIN, 1.0, PrivacyConfig(block_px=8))
    hidden = renderer(r)
    renderer.view = "off"
    assert np.array_equal(renderer(r), OverlayRenderer(PLAIN, 1.0, None)(r))
    renderer.view = None
    assert np.array_equal(renderer(r), hidden)


def test_hud_draws_text_and_banner():
    img = np.full((240, 320, 3), GREY, np.uint8)
    lines = hud_lines(None, 12.0, paused=True, toggles={"mask": True, "blur": False})
    assert "PAUSED" in lines[-2] and "mask on" in lines[-2] and "blur off" in lines[-2]
    draw_hud(img, lines, "STALLED")
    assert (img[0:10, :] == (200, 0, 0)).all(axis=2).sum() > 1000
    assert (img[30:120, 0:150] >= 240).all(axis=2).sum() > 100
    assert banner_for(None) is None
