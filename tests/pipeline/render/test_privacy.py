"""Privacy: the one decision per frame (fail_closed, head, frame, off) and the mosaic it applies:
blocky inside the hidden region, untouched outside, input never written."""

import cv2
import numpy as np
import pytest

from pipeline.config import Config, PrivacyConfig
from pipeline.frames import ClassSummary
from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.infer.inference import InferenceStage
from pipeline.infer.preprocess import Preprocessor
from pipeline.postprocess.stage import Postprocessor
from pipeline.render.overlay import OverlayRenderer, OverlayStyle
from pipeline.render.privacy import FRAME_CELLS, decide, head_region, pixelate_frame, pixelate_mask, protect
from pipeline.runtime.pipeline import Pipeline
from pipeline.session.build import overlay_renderer, raw_renderer
from pipeline.sources.images import ImageSource
from tests.helpers.media import BLUE, GREEN, RED, WHITE, ListSink, make_result, run_to_end


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


def test_head_decision_pixelates_the_head_class_exactly_as_before():
    """``head`` (also ``fail_closed`` with a sure head): the head class's cells, grown by the margin, as
    a mosaic; the rest untouched (the pre-fail-closed behaviour, pixel for pixel)."""
    img = noisy(96, 128, seed=3)
    cm = np.zeros((12, 16), np.uint8)
    cm[2:6, 3:7] = 1  # head
    cm[7:10, 8:12] = 3  # torso stays sharp
    r = make_result(img, cm, privacy="head")
    cfg = PrivacyConfig(block_px=8, margin_px=4)
    out = protect(r, cfg)
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


def test_none_returns_the_image_itself():
    img = noisy(16, 16)
    cm = np.ones((4, 4), np.uint8)
    assert protect(make_result(img, cm, privacy="none"), PrivacyConfig()) is img


def test_head_decision_without_a_head_region_is_an_unchanged_copy():
    img = noisy(16, 16)
    cm = np.full((4, 4), 3, np.uint8)
    out = protect(make_result(img, cm, privacy="head"), PrivacyConfig())
    assert np.array_equal(out, img) and not np.shares_memory(out, img)
    assert head_region(make_result(img, cm)) is None


@pytest.mark.parametrize(
    ("hw", "block", "cell"), [((96, 128), 8, 8), ((1080, 1920), 16, 60), ((61, 83), 16, 16)]
)
def test_frame_decision_hides_the_whole_image(hw, block, cell):
    """``frame``: every pixel in a mosaic cell of ``block_px``, or coarser (at most FRAME_CELLS cells
    along the longer side); every cell the mean of its pixels; the head decision does not matter."""
    img = noisy(*hw, seed=5)
    before = img.copy()
    cm = np.zeros((12, 16), np.uint8)
    cm[2:6, 3:7] = 1  # a head the frame decision ignores
    out = protect(make_result(img, cm, privacy="frame"), PrivacyConfig(block_px=block))
    assert np.array_equal(img, before) and not np.shares_memory(out, img)
    assert cell == max(block, -(-max(hw) // FRAME_CELLS))
    assert np.array_equal(out, pixelate_frame(img, block))
    assert_blocky(out, np.ones(hw, bool), cell)
    inner = img[:cell, :cell].reshape(-1, 3).mean(axis=0)
    assert np.abs(out[0, 0].astype(float) - inner).max() <= 1.0


def test_an_undecided_result_is_hidden_whole():
    """A result nobody decided for (no postprocessor) fails closed."""
    img = noisy(32, 32)
    r = make_result(img, np.ones((4, 4), np.uint8))
    assert r.privacy == "frame" and np.array_equal(protect(r, PrivacyConfig()), pixelate_frame(img, 16))


def head_summary(area: int, score: float) -> ClassSummary:
    return ClassSummary(1, "head", (0, 0, 10, 10), (5.0, 5.0), area, score, 1)


TORSO = ClassSummary(3, "torso", (0, 0, 50, 50), (25.0, 25.0), 2500, 0.99, 1)
CFG = PrivacyConfig(min_head_score=0.8, min_head_area_px=400)


@pytest.mark.parametrize(
    ("classes", "expected"),
    [
        pytest.param((TORSO,), {"fail_closed": "frame", "head": "none"}, id="no-head"),
        pytest.param((), {"fail_closed": "frame", "head": "none"}, id="nothing-found"),
        pytest.param(
            (head_summary(0, 0.0), TORSO), {"fail_closed": "frame", "head": "none"}, id="empty-head"
        ),
        pytest.param(
            (head_summary(399, 0.99), TORSO), {"fail_closed": "frame", "head": "head"}, id="small-head"
        ),
        pytest.param(
            (head_summary(5000, 0.79), TORSO), {"fail_closed": "frame", "head": "head"}, id="unsure-head"
        ),
        pytest.param(
            (head_summary(400, 0.8), TORSO), {"fail_closed": "head", "head": "head"}, id="sure-head"
        ),
    ],
)
def test_decide_the_confidence_rule(classes, expected):
    for mode, want in {**expected, "frame": "frame", "off": "none"}.items():
        assert decide(classes, CFG, mode) == want, mode
        assert decide(classes, PrivacyConfig(mode=mode, min_head_score=0.8, min_head_area_px=400)) == want


def test_the_default_mode_fails_closed():
    assert PrivacyConfig().mode == "fail_closed"
    assert decide((TORSO,), PrivacyConfig()) == "frame"


def textured(h: int, w: int, rects) -> np.ndarray:
    """Grey noise (background for the colour model) with coloured rectangles (its parts)."""
    img = np.repeat(np.random.default_rng(7).integers(0, 120, (h, w, 1), dtype=np.uint8), 3, axis=2)
    for colour, (x0, y0, x1, y1) in rects:
        img[y0:y1, x0:x1] = colour
    return img


WITH_HEAD = [
    (RED, (48, 16, 96, 64)),
    (BLUE, (40, 64, 104, 128)),
    (GREEN, (104, 72, 136, 96)),
    (WHITE, (48, 128, 96, 160)),
]
PAINTED_OUT = WITH_HEAD[1:]  # the same infant, head painted out with the background
EXPECTED = {  # mode → (decision with a head, decision with the head painted out)
    "fail_closed": ("head", "frame"),
    "head": ("head", "none"),
    "frame": ("frame", "frame"),
    "off": ("none", "none"),
}


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_one_decision_per_frame_in_the_record_and_every_renderer(mode, colour_model_path, tmp_path):
    """Real stages (PNG files, the colour model in ONNX Runtime, the postprocessor): each result carries
    its decision, its record states it, and the renderers of every output (raw recording, overlay
    recording and ``frame.*``) apply exactly it."""
    images = [textured(176, 160, WITH_HEAD), textured(176, 160, PAINTED_OUT)]
    for i, img in enumerate(images):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    cfg = Config(privacy=PrivacyConfig(mode=mode, block_px=8, margin_px=4))
    backend = OrtBackend(colour_model_path)
    sink = ListSink()
    post = Postprocessor(backend.spec, 1, privacy=cfg.privacy)
    run_to_end(
        Pipeline(
            ImageSource(tmp_path, "imgs"), Preprocessor(backend.spec), InferenceStage(backend), post, [sink]
        )
    )
    assert [(r.privacy, r.record and r.record["privacy"]) for r in sink.results] == [
        (want, want) for want in EXPECTED[mode]
    ]
    for r, img in zip(sink.results, images, strict=True):
        expected = {
            "head": pixelate_mask(img, r.full_class_map() == 1, 8, 4),
            "frame": pixelate_frame(img, 8),
            "none": img,
        }[r.privacy]
        assert np.array_equal(raw_renderer(cfg)(r), expected)
        plain = OverlayRenderer(OverlayStyle(alpha=cfg.display.alpha), cfg.display.trail_s, None)
        twin = make_result(expected, r.class_map, parts=r.parts, seq=r.meta.seq)
        assert np.array_equal(overlay_renderer(cfg)(r), plain(twin))
