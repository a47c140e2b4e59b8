"""Tests of the scene props (trainer/synth/props.py, hand.py, layers.py): determinism, the kinds, and the
compositing/labelling contract with the renderer."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest
from skimage.morphology import skeletonize

from pipeline.errors import ConfigError
from trainer.synth.layers import Layer
from trainer.synth.props import PROP_KINDS, composite, covered, make_prop, sample_props
from trainer.synth.props import _spline as spline

H, W = 96, 128
UNIT = min(H, W) / 60.0


def _infant() -> np.ndarray:
    """(H, W) bool: a grey-blob infant, body ellipse and head."""
    m = np.zeros((H, W), np.uint8)
    cv2.ellipse(m, (W // 2, H // 2 + 6), (15, 27), 10, 0, 360, 1, -1)
    cv2.circle(m, (W // 2 - 3, H // 2 - 24), 11, 1, -1)
    return m.astype(bool)


INFANT = _infant()


def _same(a: list[Layer], b: list[Layer]) -> bool:
    return len(a) == len(b) and all(
        x.kind == y.kind
        and x.over_infant == y.over_infant
        and np.array_equal(x.mask, y.mask)
        and np.array_equal(x.image, y.image)
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("kind", PROP_KINDS)
def test_each_kind_alone_is_a_valid_layer(kind: str) -> None:
    for seed in range(6):
        layers = sample_props(np.random.default_rng(seed), H, W, UNIT, INFANT, (kind,), count=2)
        assert layers and all(lay.kind == kind for lay in layers)
        for lay in layers:
            assert lay.mask.shape == (H, W) and lay.mask.dtype == bool and lay.mask.any()
            assert lay.image.shape == (H, W, 3) and lay.image.dtype == np.float32
            assert np.isfinite(lay.image).all() and lay.image.min() >= 0 and lay.image.max() <= 255
            assert not lay.image[~lay.mask].any(), "image must be zero outside the mask"
            assert lay.image[lay.mask].max() > 0


@pytest.mark.parametrize("kind", PROP_KINDS)
def test_same_seed_same_layers_other_seed_other_layers(kind: str) -> None:
    def draw(seed: int) -> list[Layer]:
        return sample_props(np.random.default_rng(seed), H, W, UNIT, INFANT, (kind,), count=2)

    assert _same(draw(4), draw(4))
    assert not _same(draw(4), draw(5))


def test_sampler_draws_only_the_kinds_asked_for() -> None:
    seen: Counter[str] = Counter()
    counts: Counter[int] = Counter()
    for seed in range(200):
        layers = sample_props(np.random.default_rng(seed), H, W, UNIT, INFANT, ("wire", "card"))
        seen.update(lay.kind for lay in layers)
        counts[len(layers)] += 1
    assert set(seen) == {"wire", "card"}
    assert set(counts) == {0, 1, 2, 3}  # the default count: 0–3 props
    every: Counter[str] = Counter()
    for seed in range(100):
        every.update(
            lay.kind for lay in sample_props(np.random.default_rng(seed), 48, 64, 0.8, INFANT[::2, ::2])
        )
    assert set(every) == set(PROP_KINDS)


def test_props_come_in_drawing_order() -> None:
    order = {"card": 0, "toy": 1, "wire": 2, "blanket_edge": 3, "hand": 4}
    for seed in range(30):
        layers = sample_props(np.random.default_rng(seed), H, W, UNIT, INFANT, count=4)
        ranks = [order[lay.kind] for lay in layers]
        assert ranks == sorted(ranks)


@pytest.mark.parametrize(("kinds", "message"), [(("sofa",), "unknown 'sofa'"), ((), "empty")])
def test_bad_kinds_are_one_line_config_errors(kinds: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        sample_props(np.random.default_rng(0), H, W, UNIT, INFANT, kinds, count=1)
    assert "\n" not in str(err.value)


def test_hand_enters_from_a_frame_edge_and_reaches_the_infant() -> None:
    for seed in range(20):
        hand = make_prop("hand", np.random.default_rng(seed), H, W, UNIT, INFANT)
        m = hand.mask
        assert m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any()
        grown = cv2.dilate(INFANT.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        assert (m & grown).any(), "the hand reaches towards the infant"


def test_hand_takes_the_skin_tone_given() -> None:
    skin = (60.0, 200.0, 40.0)  # no real skin: easy to find
    hits = 0
    for seed in range(10):
        hand = make_prop("hand", np.random.default_rng(seed), H, W, UNIT, INFANT, skin=skin)
        px = hand.image[hand.mask]
        hits += bool(
            (np.abs(px / px.max(axis=1, keepdims=True) - np.array(skin) / 200.0).max(axis=1) < 0.06).any()
        )
    assert hits >= 6  # gloved hands (20 %) do not show the skin


def test_wires_are_thin() -> None:
    for seed in range(20):
        wire = make_prop("wire", np.random.default_rng(seed), H, W, UNIT, INFANT)
        length = skeletonize(wire.mask).sum()
        # A diagonal w-px line has about w·√2 pixels per skeleton pixel: < 7 for w ≤ 4 (plus sensor patches).
        assert wire.mask.sum() / max(1, length) < 7.0, "wires are 1–4 px wide"
        depth = cv2.distanceTransform(wire.mask.astype(np.uint8), cv2.DIST_L2, 5)
        assert (depth > 2.5).mean() / wire.mask.mean() < 0.25, "only patches and crossings are thicker"
        assert wire.mask.mean() < 0.25


def test_spline_runs_through_its_points() -> None:
    pts = np.array([[0.0, 0.0], [10.0, 5.0], [20.0, 0.0], [30.0, 8.0]])
    curve = spline(pts, per_segment=8)
    assert len(curve) == 3 * 8 + 1
    assert np.allclose(curve[[0, 8, 16, 24]], pts)
    assert np.allclose(curve[4], [5.0, 2.5 + 0.625])  # p1 + (p2 - p0) / 4 tangent term, hand-computed


def test_blanket_edge_covers_part_of_the_infant() -> None:
    for seed in range(12):
        lay = make_prop("blanket_edge", np.random.default_rng(seed), H, W, UNIT, INFANT)
        assert lay.over_infant
        frac = (lay.mask & INFANT).sum() / INFANT.sum()
        assert 0.0 < frac < 1.0


def test_cards_lie_beside_the_infant() -> None:
    for seed in range(12):
        lay = make_prop("card", np.random.default_rng(seed), H, W, UNIT, INFANT)
        assert not lay.over_infant
        assert (lay.mask & INFANT).sum() < 0.5 * lay.mask.sum()


# ---------------------------------------------------------------- the contract with the renderer


def _layer(mask: list[list[int]], value: float, over: bool) -> Layer:
    m = np.array(mask, bool)
    image = np.where(m[:, :, None], np.float32(value), np.float32(0.0)).repeat(3, axis=2)
    return Layer(m, image.astype(np.float32), "toy", over)


A = _layer([[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], 10.0, True)
B = _layer([[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]], 20.0, False)
C = _layer([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]], 30.0, True)


def test_composite_puts_layer_pixels_exactly_where_the_masks_are() -> None:
    base = np.full((3, 4, 3), 5.0, np.float32)
    out = composite(base, [A, B, C])
    expected = np.array([[10, 20, 20, 5], [5, 20, 20, 5], [5, 5, 30, 30]], np.float32)
    assert np.array_equal(out, np.repeat(expected[:, :, None], 3, axis=2))
    assert (base == 5.0).all(), "composite is pure"
    assert np.array_equal(composite(base, [B, A])[0, 1], [10, 10, 10])  # list order: the last one on top


def test_composite_of_sampled_props() -> None:
    base = np.full((H, W, 3), 128.0, np.float32)
    layers = sample_props(np.random.default_rng(2), H, W, UNIT, INFANT, count=3)
    out = composite(base, layers)
    union = np.zeros((H, W), bool)
    for lay in layers:
        union |= lay.mask
    assert np.array_equal(out[~union], base[~union])
    assert np.array_equal(out[layers[-1].mask], layers[-1].image[layers[-1].mask])


def test_covered_is_the_union_of_over_infant_masks_only() -> None:
    expected = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]], bool)
    assert np.array_equal(covered([A, B, C]), expected)
    assert not covered([B]).any()
    assert np.array_equal(covered([], (3, 4)), np.zeros((3, 4), bool))
    with pytest.raises(ValueError, match="no shape"):
        covered([])


def test_composite_rejects_a_layer_of_another_size() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        composite(np.zeros((5, 5, 3), np.float32), [A])
