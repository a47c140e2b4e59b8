"""Domain randomisation of the synthetic infant (trainer/synth: wardrobe, body, render, paint): clothing and
accessory labels, the swaddle cover and its occluded keypoints, older infants' joints, families, seeds.

Label checks render a flat scene: every material gets its own saturated colour, shading, noise, blur and
JPEG are off and the light is uniform, so a pixel's colour says which material is on top there; the test
then checks that pixel's label. Canonical set-up: head up, torso centre (160, 128) px, 4 px/cm.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pipeline.contract.keypoints import NYCU22, OCCLUDED, VISIBLE
from pipeline.errors import ConfigError
from trainer.synth.body import (
    LARM_I,
    LLEG_I,
    RARM_I,
    RLEG_I,
    BodyShape,
    Pose,
    age_norms,
    build_body,
    sample_shape,
)
from trainer.synth.joints import frame_keypoints
from trainer.synth.motion import sample_pose
from trainer.synth.prints import PRINT_FAMILIES, Print, print_family
from trainer.synth.render import Rendered, Scene, make_scene, render, sample_appearance
from trainer.synth.wardrobe import CLOTHING_FAMILIES, Clothing, Patch, clothing_family, sample_clothing

W, H = 320, 256
CX, CY, S = 160.0, 128.0, 4.0
POSE = Pose(center_x=CX, center_y=CY, orientation=0.0, scale=S)
COLOURS: dict[str, tuple[float, float, float]] = {
    "skin": (200.0, 150.0, 120.0),
    "garment": (40.0, 90.0, 200.0),
    "hat": (0.0, 200.0, 0.0),
    "mitten": (200.0, 0.0, 200.0),
    "band": (255.0, 255.0, 0.0),
    "sensor": (0.0, 255.0, 255.0),
    "swaddle": (255.0, 120.0, 0.0),
    "sock": (120.0, 60.0, 0.0),
    "diaper": (250.0, 250.0, 250.0),
}
TAPE = (0.7 * 250 + 0.3 * 200, 0.7 * 20 + 0.3 * 150, 0.7 * 20 + 0.3 * 120)  # tape (250, 20, 20) over skin


def _solid(name: str) -> Print:
    return Print("solid", 1.0, 0.0, COLOURS[name], COLOURS[name])


def _flat_scene(clothing: Clothing, shape: BodyShape | None = None) -> Scene:
    scene = make_scene(np.random.default_rng(0), W, H, None, occluders=False)
    f = COLOURS
    look = dataclasses.replace(
        scene.appearance, skin=f["skin"], hair=f["skin"], garment_a=f["garment"], garment_b=f["garment"],
        pattern="solid", diaper=f["diaper"], sock=f["sock"], hat_print=_solid("hat"), swaddle_print=_solid("swaddle"),
        band=f["band"], mitten=f["mitten"], sensor=f["sensor"], tape=(250.0, 20.0, 20.0), shade_strength=0.0,
        relief=0.0, noise_sigma=0.0, blur_sigma=0.0, jpeg_quality=0, eyes_open=False,
    )  # fmt: skip
    return dataclasses.replace(
        scene,
        appearance=look,
        shape=BodyShape() if shape is None else shape,
        clothing=clothing,
        background=np.full((H, W, 3), 128.0, np.float32),
        light=np.ones((H, W, 3), np.float32),
    )


def _render(clothing: Clothing, pose: Pose = POSE, shape: BodyShape | None = None) -> tuple[Scene, Rendered]:
    scene = _flat_scene(clothing, shape)
    return scene, render(scene, pose, np.random.default_rng(0))


def _painted(r: Rendered, colour: tuple[float, ...]) -> np.ndarray:
    """(H, W) bool: pixels painted ``colour`` (within 2 grey levels per channel)."""
    return np.all(np.abs(r.image.astype(np.float32) - np.array(colour, np.float32)) <= 2.0, axis=2)


def _point(r: Rendered, shape: BodyShape, name: str, pose: Pose = POSE) -> tuple[int, int, int]:
    nycu, _ = frame_keypoints(pose, shape, r.instances, r.occluder_mask)
    i = NYCU22.index(name)
    x, y = nycu.xy[i]
    return int(np.floor(x + 0.5)), int(np.floor(y + 0.5)), int(nycu.visibility[i])


# ---------------------------------------------------------------- labels under every factor


@pytest.mark.parametrize("style", ["cap", "knit", "bobble"])
def test_hat_pixels_are_head(style: str) -> None:
    _, bare = _render(Clothing())
    _, r = _render(Clothing(hat=style, hat_depth=0.7))
    hat = _painted(r, COLOURS["hat"])
    assert np.count_nonzero(hat) > 150
    assert np.all(r.labels[hat] == 1)
    assert np.count_nonzero(hat & (bare.labels != 1)) > 10  # the hat reaches past the bare skull: still head
    x, y, v = _point(r, BodyShape(), "Head")
    assert hat[y, x] and v == VISIBLE  # the vertex under the hat is the head's own point


def test_mittens_are_arm_and_cover_the_hands() -> None:
    _, r = _render(Clothing(mittens=True))
    mitten = _painted(r, COLOURS["mitten"])
    assert np.count_nonzero(mitten) > 100
    assert np.all(r.labels[mitten] == 2)
    assert set(np.unique(r.instances[mitten])) == {LARM_I, RARM_I}
    for name in ("MP_joint_L", "MP_joint_R"):
        x, y, v = _point(r, BodyShape(), name)
        assert mitten[y, x] and v == VISIBLE, name
    hands = _painted(_render(Clothing())[1], COLOURS["skin"]) & mitten
    assert np.count_nonzero(hands) > 50  # they sit where the bare hands were


def test_footed_sleeper_feet_are_leg() -> None:
    scene, r = _render(Clothing(onesie=True, sleeve=2.0, trouser=2.0, footed=True))
    garment = _painted(r, COLOURS["garment"])
    assert not _painted(r, COLOURS["skin"])[r.labels == 4].any()  # no bare skin left on the legs
    for name in ("MTP_joint_L", "MTP_joint_R", "Ankle_L", "Ankle_R"):
        x, y, v = _point(r, scene.shape, name)
        assert garment[y, x] and r.labels[y, x] == 4 and v == VISIBLE, name
        near = garment.copy()
        yy, xx = np.mgrid[0:H, 0:W]
        near &= (xx - x) ** 2 + (yy - y) ** 2 <= (2.5 * S) ** 2
        assert np.count_nonzero(near) > 40
        assert np.all(r.labels[near] == 4), name


@pytest.mark.parametrize(
    ("site", "class_id", "instance"),
    [
        ("left_wrist", 2, LARM_I),
        ("right_wrist", 2, RARM_I),
        ("left_ankle", 4, LLEG_I),
        ("right_ankle", 4, RLEG_I),
    ],
)
def test_band_belongs_to_its_limb(site: str, class_id: int, instance: int) -> None:
    _, r = _render(Clothing(trouser=0.0, bands=(site,)))
    band = _painted(r, COLOURS["band"])
    assert np.count_nonzero(band) > 15
    assert np.all(r.labels[band] == class_id)
    assert np.all(r.instances[band] == instance)


def test_sensors_and_tape_belong_to_torso_and_foot() -> None:
    patches = (
        Patch("sensor", "torso", -2.0, -3.0, 2.0, 2.0, 0.0),
        Patch("tape", "torso", 2.5, 1.0, 3.0, 1.2, 0.5),
        Patch("sensor", "left_foot", 0.0, 0.2, 1.4, 1.0, 0.0),
    )
    _, r = _render(Clothing(onesie=False, sleeve=0.0, trouser=0.0, patches=patches))
    sensor, tape = _painted(r, COLOURS["sensor"]), _painted(r, TAPE)
    on_torso = np.mgrid[0:H, 0:W][0] < CY + 6 * S
    assert np.count_nonzero(sensor & on_torso) > 3 and np.count_nonzero(tape & on_torso) > 40
    assert np.all(r.labels[(sensor | tape) & on_torso] == 3)
    foot = (sensor | tape) & ~on_torso
    assert np.count_nonzero(foot) > 20
    assert np.all(r.instances[foot] == LLEG_I)


@pytest.mark.parametrize(
    ("kind", "hidden", "shown"),
    [
        ("arms", {"Shoulder", "Elbow", "Wrist", "MP_joint"}, {"Head", "Knee", "Ankle", "MTP_joint"}),
        ("legs", {"Hip", "Knee", "Ankle", "MTP_joint"}, {"Head", "Elbow", "Wrist"}),
    ],
)
def test_swaddle_is_background_and_hides_the_joints_under_it(
    kind: str, hidden: set[str], shown: set[str]
) -> None:
    pose = dataclasses.replace(POSE, left_shoulder=0.5, right_shoulder=0.5) if kind == "arms" else POSE
    scene, r = _render(Clothing(swaddle=kind, swaddle_top=-4.0), pose)
    wrap = _painted(r, COLOURS["swaddle"])
    assert np.count_nonzero(wrap) > 2000
    assert np.all(r.labels[wrap] == 0) and np.all(r.instances[wrap] == 0)
    assert r.occluder_mask is not None and np.array_equal(r.occluder_mask, wrap)
    assert 1 in r.labels  # the head shows above the wrap
    nycu, _ = frame_keypoints(pose, scene.shape, r.instances, r.occluder_mask)
    without, _ = frame_keypoints(pose, scene.shape, r.instances)  # rule (a) is what hides them
    for i, name in enumerate(NYCU22.names):
        base = name[:-2] if name[-2:] in ("_L", "_R") else name
        if base in hidden:
            assert nycu.visibility[i] == OCCLUDED and without.visibility[i] == VISIBLE, name
        if base in shown:
            assert nycu.visibility[i] == VISIBLE, name


def test_no_cover_keeps_the_scene_mask() -> None:
    _, r = _render(Clothing())
    assert r.occluder_mask is None
    occ = np.zeros((H, W), bool)
    occ[200:, :] = True
    scene = dataclasses.replace(_flat_scene(Clothing(swaddle="legs")), occluder_mask=occ)
    r = render(scene, POSE, np.random.default_rng(0))
    assert r.occluder_mask is not None
    assert np.all(r.occluder_mask[occ]) and np.count_nonzero(r.occluder_mask & ~occ) > 1000


# ---------------------------------------------------------------- random infants: keypoints on their parts

_OWN_CLASS = {"Shoulder": {2, 3}, "Elbow": {2}, "Wrist": {2}, "MP_joint": {2}, "Hip": {3, 4}}
_OWN_CLASS |= {"Knee": {4}, "Ankle": {4}, "MTP_joint": {4}}


@pytest.mark.parametrize("family", CLOTHING_FAMILIES)
def test_visible_keypoints_sit_on_their_own_part(family: str) -> None:
    for seed in range(6):
        rng = np.random.default_rng(seed)
        pose = sample_pose(rng, W, H)
        scene = make_scene(rng, W, H, pose, clothing_families=(family,))
        assert clothing_family(scene.clothing) == family
        r = render(scene, pose, rng)
        nycu, _ = frame_keypoints(pose, scene.shape, r.instances, r.occluder_mask)
        for name, (x, y), v in zip(NYCU22.names, nycu.xy, nycu.visibility, strict=True):
            if v != VISIBLE:
                continue
            base = name[:-2] if name[-2:] in ("_L", "_R") else name
            px, py = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
            around = r.labels[max(0, py - 1) : py + 2, max(0, px - 1) : px + 2]
            assert _OWN_CLASS.get(base, {1}) & set(np.unique(around).tolist()), (seed, name)


@pytest.mark.parametrize("age", [0.0, 3.0, 6.0])
def test_older_infants_joints_sit_inside_their_own_limbs(age: float) -> None:
    shape = BodyShape(age_months=age, girth=1.1, limb_length=1.05)
    poses = [
        POSE,
        dataclasses.replace(POSE, left_shoulder=2.2, right_elbow=0.2, left_knee=1.2, orientation=0.6),
    ]
    for pose in poses:
        _, r = _render(Clothing(sleeve=2.0, trouser=2.0), pose, shape)
        nycu, _ = frame_keypoints(pose, shape, r.instances)
        for name, (x, y) in zip(NYCU22.names, nycu.xy, strict=True):
            base = name[:-2] if name[-2:] in ("_L", "_R") else name
            side = {"_L": (LARM_I, LLEG_I), "_R": (RARM_I, RLEG_I)}.get(name[-2:], (0, 0))
            own = {"Elbow": {side[0]}, "Wrist": {side[0]}, "Knee": {side[1]}, "Ankle": {side[1]}}.get(base)
            if own is not None:
                assert r.instances[int(np.floor(y + 0.5)), int(np.floor(x + 0.5))] in own, (age, name)


def test_age_shrinks_the_head_and_lengthens_the_limbs() -> None:
    assert age_norms(0.0) == (1.0, 1.0, 1.0, 1.0)
    head6, limb6, girth6, width6 = age_norms(6.0)
    assert head6 < 0.95 and limb6 > 1.03 and girth6 > 1.03 and width6 > 1.0
    assert age_norms(40.0) == age_norms(12.0)
    ratios, reach = [], []
    for age in (0.0, 6.0):
        _, r = _render(Clothing(sleeve=0.0, trouser=0.0), shape=BodyShape(age_months=age))
        ys, head_ys = np.nonzero(r.labels > 0)[0], np.nonzero(r.labels == 1)[0]
        ratios.append((head_ys.max() - head_ys.min()) / (ys.max() - ys.min()))
        nycu, _ = frame_keypoints(POSE, BodyShape(age_months=age), r.instances)
        reach.append(np.linalg.norm(nycu.xy[NYCU22.index("Wrist_L")] - nycu.xy[NYCU22.index("Shoulder_L")]))
    assert 0.22 < ratios[0] < 0.26 and 0.19 < ratios[1] < ratios[0] - 0.01  # ~1/4 at birth, less at 6 months
    assert reach[1] == pytest.approx(reach[0] * age_norms(6.0)[1])


# ---------------------------------------------------------------- families and seeds


def test_clothing_families_are_respected_and_the_default_draws_them_all() -> None:
    rng = np.random.default_rng(0)
    held_in = ("bare", "sleeper")
    assert {clothing_family(sample_clothing(rng, held_in)) for _ in range(200)} == set(held_in)
    drawn = [sample_clothing(rng) for _ in range(400)]
    assert {clothing_family(c) for c in drawn} == set(CLOTHING_FAMILIES)
    assert {c.hat for c in drawn} == {"", "cap", "knit", "bobble"}
    assert {c.swaddle for c in drawn} == {"", "arms", "legs"}
    assert any(c.mittens for c in drawn) and any(c.bands for c in drawn) and any(c.patches for c in drawn)
    assert 0.05 < np.mean([bool(c.swaddle) for c in drawn]) < 0.16


def test_print_families_are_respected_and_the_default_draws_them_all() -> None:
    rng = np.random.default_rng(1)
    shape = BodyShape()
    held_in = ("floral", "knit")
    for _ in range(100):
        look = sample_appearance(rng, shape, print_families=held_in)
        assert print_family(look.pattern) in held_in
        assert print_family(look.swaddle_print.kind) in held_in
    kinds = {sample_appearance(rng, shape).pattern for _ in range(300)}
    assert {print_family(k) for k in kinds} == set(PRINT_FAMILIES)
    assert len(kinds) >= 10


@pytest.mark.parametrize(
    ("families", "message"),
    [
        (("bare", "cape"), "clothing families: unknown 'cape' \\(known: bare, onesie, sleeper, swaddle\\)"),
        ((), "clothing families: empty"),
    ],
)
def test_unknown_family_is_a_one_line_config_error(families: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sample_clothing(np.random.default_rng(0), families)
    with pytest.raises(ConfigError, match="print families: unknown 'tartan'"):
        make_scene(np.random.default_rng(0), W, H, print_families=("tartan",))


def test_every_factor_is_reproducible_per_seed() -> None:
    def draw(seed: int) -> tuple[object, ...]:
        rng = np.random.default_rng(seed)
        shape = sample_shape(rng)
        clothing = sample_clothing(rng)
        return shape, clothing, sample_appearance(rng, shape, clothing)

    assert draw(5) == draw(5)
    assert draw(5) != draw(6)
    for family in CLOTHING_FAMILIES:
        frames = []
        for _ in range(2):
            rng = np.random.default_rng(9)
            pose = sample_pose(rng, W, H)
            scene = make_scene(rng, W, H, pose, clothing_families=(family,))
            frames.append(render(scene, pose, rng))
        assert np.array_equal(frames[0].image, frames[1].image), family
        assert np.array_equal(frames[0].labels, frames[1].labels), family


def test_legacy_clothing_still_builds_the_same_geometry() -> None:
    """The original four fields, positional, give the primitives they always did (no accessories)."""
    prims = build_body(POSE, BodyShape(), Clothing(True, 0.5, 0.3, False))
    assert [p.material for p in prims].count(
        "garment"
    ) == 2 + 2 + 2  # torso, pelvis, 2 sleeves, 2 trouser legs
    assert {p.material for p in prims} == {"skin", "garment", "eye", "nose", "lip", "hair"}
    assert all(p.instance != 0 for p in prims)
