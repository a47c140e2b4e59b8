"""Prints, cloth frames, skin tones and light (trainer/synth: prints, paint, skin, render's shadow), with
hand-computed values: a print's weight at chosen cloth coordinates, a primitive's print following its frame,
the sleeve's frame following the arm, shading and shadow following the light."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from trainer.synth.body import LARM_I, BodyShape, Pose, Primitive, build_body
from trainer.synth.paint import infant_colours, volume_shade
from trainer.synth.prints import PRINT_KINDS, Print, print_weight
from trainer.synth.render import Appearance, make_scene, render, sample_appearance
from trainer.synth.skeleton import skeleton, to_image
from trainer.synth.skin import SKIN_TONES, sample_skin, tone_at
from trainer.synth.wardrobe import Clothing

T3 = 0.5 + 0.5 * math.tanh(3.0)  # a stripe's weight at the crest of its sine


def _w(
    kind: str,
    period: float,
    u: float,
    v: float,
    *,
    angle: float = 0.0,
    px_cm: float = 0.01,
    limb: bool = False,
) -> float:
    p = Print(kind, period, angle, (0.0, 0.0, 0.0), (255.0, 255.0, 255.0))
    m = print_weight(p, np.array([u], np.float32), np.array([v], np.float32), px_cm, np.array([limb]))
    return float(m[0])


@pytest.mark.parametrize(
    ("kind", "period", "u", "v", "kwargs", "expected"),
    [
        ("solid", 2.0, 0.3, 0.7, {}, 0.0),
        ("stripes", 4.0, 1.0, 0.0, {}, T3),  # sin(2 pi * 1 / 4) = 1
        ("stripes", 4.0, 3.0, 5.0, {}, 1.0 - T3),  # sin = -1, v does not matter
        ("stripes", 4.0, 0.0, 1.0, {"angle": math.pi / 2}, T3),  # turned a quarter: the stripes run across v
        ("checks", 4.0, 1.0, 1.0, {}, 0.25 * (2.0 + 2.0 * math.tanh(3.0))),
        ("dots", 4.0, 0.0, 0.0, {}, 1.0),  # a dot centre
        ("dots", 4.0, 1.0, 0.0, {}, 0.0),  # a quarter period away: cos = 0
        ("gingham", 1.0, 0.25, 0.25, {}, 0.25 * (2.0 + 2.0 * math.tanh(8.0))),  # both bands: darkest
        ("gingham", 1.0, 0.25, 0.75, {}, 0.5),  # one band
        ("gingham", 1.0, 0.25, 0.25, {"px_cm": 0.4}, 0.5),  # 2.5 px per period: fades to its mean
        ("rib", 0.6, 0.15, 0.0, {"px_cm": 0.05}, 1.0),  # 12 px per rib: full contrast at the crest
        ("panels", 2.0, 0.0, -5.0, {}, 1.0),  # the chest yoke
        ("panels", 2.0, 0.0, 0.0, {}, 0.0),  # the body below it
        ("panels", 2.0, 0.0, 0.0, {"limb": True}, 1.0),  # sleeves and legs
    ],
)
def test_print_weight_table(
    kind: str, period: float, u: float, v: float, kwargs: dict, expected: float
) -> None:
    assert _w(kind, period, u, v, **kwargs) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("kind", [k for kinds in PRINT_KINDS.values() for k in kinds if k != "solid"])
def test_every_print_varies_stays_in_range_and_is_seeded(kind: str) -> None:
    vv, uu = (np.mgrid[0:200, 0:200].astype(np.float32) - np.float32(100.0)) * np.float32(
        0.1
    )  # 20 x 20 cm, 10 px/cm
    p = Print(kind, 2.5, 0.3, (0.0, 0.0, 0.0), (255.0, 255.0, 255.0), seed=4)
    m = print_weight(p, uu, vv, 0.1)
    assert m.dtype == np.float32 and m.shape == uu.shape
    assert m.min() >= 0.0 and m.max() <= 1.0
    assert 0.03 < m.mean() < 0.97 and m.std() > 0.1
    assert np.array_equal(m, print_weight(p, uu, vv, 0.1))
    if kind in ("floral", "stars", "hearts", "animals"):  # motifs: turned and nudged per cell by the seed
        assert not np.array_equal(m, print_weight(dataclasses.replace(p, seed=5), uu, vv, 0.1))


def _look(**fields: object) -> Appearance:
    look = make_scene(np.random.default_rng(0), 64, 48, None, occluders=False).appearance
    return dataclasses.replace(look, **fields)  # type: ignore[arg-type]


def test_a_primitive_print_follows_its_cloth_frame() -> None:
    """Scale 2 px/cm, stripes of 4 cm: in a frame at (10, 10) turned 90 degrees, u = (y - 10) / 2 cm."""
    look = _look(
        pattern="stripes",
        pattern_cm=4.0,
        pattern_angle=0.0,
        garment_a=(0.0, 0.0, 0.0),
        garment_b=(200.0, 200.0, 200.0),
    )
    pose = Pose(center_x=100.0, center_y=100.0, orientation=0.0, scale=2.0)
    square = np.array([[0.0, 0.0], [39.0, 0.0], [39.0, 39.0], [0.0, 39.0]])
    sub = np.ones((40, 40), np.uint8)
    turned = infant_colours(
        sub, [Primitive(square, LARM_I, "garment", np.array([10.0, 10.0, math.pi / 2]))], look, pose, (0, 0)
    )
    assert turned[12, 10, 0] == pytest.approx(200.0 * T3, abs=1e-3)  # y - 10 = 2 px = 1 cm: crest
    assert turned[16, 10, 0] == pytest.approx(200.0 * (1 - T3), abs=1e-3)  # 3 cm: trough
    assert turned[10, 12, 0] == pytest.approx(100.0, abs=1e-3)  # along x: u = 0, sin = 0
    torso = infant_colours(sub, [Primitive(square, LARM_I, "garment")], look, pose, (0, 0))
    assert torso[12, 10, 0] != pytest.approx(turned[12, 10, 0], abs=1.0)  # no frame: the pose's torso frame


@pytest.mark.parametrize("shoulder", [0.4, 1.2, 2.4])
def test_sleeve_frame_starts_at_the_shoulder_and_turns_with_the_arm(shoulder: float) -> None:
    pose = Pose(center_x=160.0, center_y=128.0, orientation=0.3, scale=4.0, left_shoulder=shoulder)
    prims = build_body(pose, BodyShape(), Clothing(sleeve=2.0))
    upper = next(p for p in prims if p.instance == LARM_I and p.material == "garment")
    assert upper.frame is not None
    shoulder_px = to_image(pose, skeleton(pose, BodyShape()).left_arm.root)
    assert upper.frame[:2] == pytest.approx(shoulder_px, abs=1e-9)
    # the left arm points along (sin a, cos a): the frame turns by -a from the body's, plus the orientation
    assert math.remainder(upper.frame[2] - (0.3 - shoulder), 2 * math.pi) == pytest.approx(0.0, abs=1e-9)


def test_skin_tones_span_the_human_range() -> None:
    assert tone_at(0.0) == pytest.approx(SKIN_TONES[0])
    assert tone_at(1.0) == pytest.approx(SKIN_TONES[-1])
    rng = np.random.default_rng(0)
    draws = [sample_skin(rng, 3.0) for _ in range(400)]
    lum = np.array([np.mean(rgb) for rgb, _ in draws])
    assert lum.min() < 50 and lum.max() > 225
    assert 0.4 < np.mean([t > 0.5 for _, t in draws]) < 0.6  # dark tones as common as light ones
    red = [
        np.subtract(*sample_skin(np.random.default_rng(s), age)[0][:2])
        for age in (0.0, 6.0)
        for s in range(200)
    ]
    assert np.mean(red[:200]) > np.mean(red[200:]) + 2.0  # newborns are redder
    assert sample_skin(np.random.default_rng(3), 1.0) == sample_skin(np.random.default_rng(3), 1.0)


def test_directional_shading_lights_the_side_facing_the_light() -> None:
    ids = np.zeros((60, 100), np.uint8)
    ids[10:50, 10:90] = 1  # a 80 x 40 px part, scale 2 px/cm: rounded over 4 px at its outline
    look = _look(shade_strength=0.0, relief=0.5, light_azimuth=0.0, light_elevation=0.8)  # light to the right
    shade, dist = volume_shade(ids, look, 2.0)
    assert shade[30, 50] == pytest.approx(1.0, abs=1e-4)  # the flat middle keeps its colour
    assert shade[30, 87] > 1.1 and shade[30, 12] < 0.9  # right edge lit, left edge in shade
    assert dist[30, 50] == pytest.approx(20.0, abs=2.5)  # cv2's 3x3 distance estimate
    flipped, _ = volume_shade(ids, dataclasses.replace(look, light_azimuth=math.pi), 2.0)
    assert flipped[30, 12] == pytest.approx(shade[30, 87], abs=1e-3)


def test_shadow_falls_away_from_the_light() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        look = sample_appearance(rng, BodyShape())
        toward = np.array([math.cos(look.light_azimuth), math.sin(look.light_azimuth)])
        offset = np.array(look.shadow_offset_cm)
        assert offset @ toward < 0.0 and abs(offset[0] * toward[1] - offset[1] * toward[0]) < 1e-9
    for azimuth, side in ((0.0, -1.0), (math.pi, 1.0)):
        scene = make_scene(np.random.default_rng(0), 320, 256, None, occluders=False)
        look = dataclasses.replace(
            scene.appearance, light_azimuth=azimuth, shadow_offset_cm=(-3.0 * math.cos(azimuth), 0.0), shadow_strength=0.5,
            noise_sigma=0.0, blur_sigma=0.0, jpeg_quality=0,
        )  # fmt: skip
        flat = np.full((256, 320, 3), 128.0, np.float32)
        scene = dataclasses.replace(scene, appearance=look, background=flat, light=np.ones_like(flat))
        r = render(
            scene, Pose(center_x=160.0, center_y=128.0, orientation=0.0, scale=4.0), np.random.default_rng(0)
        )
        dark = np.where(r.labels == 0, 128.0 - r.image[:, :, 0].astype(np.float32), 0.0)
        body_x = np.nonzero(r.labels > 0)[1].mean()
        shadow_x = (dark.sum(axis=0) * np.arange(320)).sum() / dark.sum()
        assert (shadow_x - body_x) * side > 1.0, azimuth
