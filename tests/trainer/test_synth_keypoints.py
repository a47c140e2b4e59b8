"""Tests of the synthetic infant's keypoints (trainer/synth/joints.py): positions, sides, head turn/tilt and
the 0/1/2 visibility rule, on hand-built poses with hand-computed expected values.

Canonical set-up: average body (:class:`BodyShape` defaults), head up (orientation 0), torso centre at
(160, 128) px, 4 px/cm, so a body-local point (u, v) cm is at (160 + 4u, 128 + 4v) px.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from pipeline.contract.keypoints import COCO17, NYCU22, NYCU_TO_COCO
from trainer.synth.body import HEAD_I, INSTANCE_NAMES, LARM_I, RARM_I, TORSO_I, BodyShape, Clothing, Pose
from trainer.synth.joints import POINT_NAMES, BodyKeypoints, frame_keypoints, visibility
from trainer.synth.render import Scene, make_scene, render

W, H = 320, 256
CX, CY, S = 160.0, 128.0, 4.0


def _scene(occluder: np.ndarray | None = None) -> Scene:
    scene = make_scene(np.random.default_rng(0), W, H, None, occluders=False)
    return dataclasses.replace(scene, shape=BodyShape(), clothing=Clothing(), occluder_mask=occluder)


def _keypoints(
    scene: Scene | None = None, /, **joints: float
) -> tuple[BodyKeypoints, BodyKeypoints, np.ndarray]:
    """(NYCU, COCO, instance map) of the canonical pose with ``joints`` overridden."""
    scene = _scene() if scene is None else scene
    base = {"center_x": CX, "center_y": CY, "orientation": 0.0, "scale": S}
    pose = Pose(**{**base, **joints})
    r = render(scene, pose, np.random.default_rng(0))
    nycu, coco = frame_keypoints(pose, scene.shape, r.instances, scene.occluder_mask)
    return nycu, coco, r.instances


def _point(kp: BodyKeypoints, name: str) -> tuple[float, float, int]:
    i = kp.keypoint_set.index(name)
    return float(kp.xy[i, 0]), float(kp.xy[i, 1]), int(kp.visibility[i])


def _local(u: float, v: float) -> tuple[float, float]:
    return CX + S * u, CY + S * v


# ---------------------------------------------------------------- positions and sides


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Head", _local(0.0, -10.0 - 4.9 - 6.0)),  # neck, head centre, top of the 6 cm half-axis
        ("Eye_L", _local(1.75, -14.9 + 0.9)),
        ("Eye_R", _local(-1.75, -14.9 + 0.9)),
        ("Nose", _local(0.0, -14.9 + 2.5)),
        ("Upper_Lip", _local(0.0, -14.9 + 3.8 - 0.19)),
        ("Lower_Lip", _local(0.0, -14.9 + 3.8 + 0.19)),
        ("Shoulder_L", _local(5.8, -7.0)),
        ("Shoulder_R", _local(-5.8, -7.0)),
        ("Hip_L", _local(3.7, 7.0)),
        ("Hip_R", _local(-3.7, 7.0)),
        # default left arm: shoulder 1.2 rad, lift 0.2, elbow +1.0 rad
        ("Elbow_L", _local(5.8 + 7.6 * math.cos(0.2) * math.sin(1.2), -7.0 + 7.6 * math.cos(0.2) * math.cos(1.2))),
        ("Elbow_R", _local(-5.8 - 7.6 * math.cos(0.2) * math.sin(1.2), -7.0 + 7.6 * math.cos(0.2) * math.cos(1.2))),
        # default left leg: hip 0.35 rad, lift 0.3
        ("Knee_L", _local(3.7 + 9.6 * math.cos(0.3) * math.sin(0.35), 7.0 + 9.6 * math.cos(0.3) * math.cos(0.35))),
    ],
)  # fmt: skip
def test_canonical_positions(name: str, expected: tuple[float, float]) -> None:
    nycu, _, _ = _keypoints()
    x, y, v = _point(nycu, name)
    assert (x, y) == pytest.approx(expected, abs=1e-9)
    assert v == 2


def test_own_left_is_on_the_image_right_and_flips_with_orientation() -> None:
    nycu, coco, _ = _keypoints()
    for kp in (nycu, coco):
        for i, side in enumerate(kp.keypoint_set.sides):
            if side:
                assert (kp.xy[i, 0] > CX) == (side == "L"), kp.keypoint_set.names[i]
    turned, _, _ = _keypoints(orientation=math.pi)  # head down: the left side is on the image left
    assert _point(turned, "Shoulder_L")[0] == pytest.approx(CX - 5.8 * S)
    assert _point(turned, "Head")[1] == pytest.approx(CY + 20.9 * S)


def test_shared_points_agree_between_nycu_and_coco() -> None:
    nycu, coco, _ = _keypoints(head_turn=0.4, left_elbow=2.0, orientation=0.7)
    for nycu_name, coco_name in NYCU_TO_COCO.items():
        assert _point(nycu, nycu_name) == _point(coco, coco_name)
    assert nycu.xy.shape == (22, 2)
    assert coco.xy.shape == (17, 2)


def test_every_point_lies_on_its_own_drawn_part() -> None:
    """The keypoints come from the same skeleton as the drawing: each pixel under a point is its own part."""
    parts = {"Shoulder": "arm", "Elbow": "arm", "Wrist": "arm", "MP_joint": "arm"}
    parts |= {"Hip": "leg", "Knee": "leg", "Ankle": "leg", "MTP_joint": "leg"}
    nycu, _, instances = _keypoints()
    for name, (x, y) in zip(NYCU22.names, nycu.xy, strict=True):
        side = {"_L": "left_", "_R": "right_"}.get(name[-2:], "")
        base = name[:-2] if side else name
        expected = {side + parts[base]} if base in parts else {"head"}
        if base == "Hip":
            expected.add("torso")  # the diaper is drawn over the top of the thighs
        assert INSTANCE_NAMES[instances[round(y), round(x)]] in expected, name


@pytest.mark.parametrize("turn", [-0.8, -0.3, 0.5, 1.0])
def test_facial_points_move_with_head_turn(turn: float) -> None:
    straight, _, _ = _keypoints()
    turned, turned_coco, _ = _keypoints(head_turn=turn)
    off = 1.6 * turn * S  # the face shifts sideways by 1.6 cm per unit of turn
    for name, factor in (
        ("Eye_L", 1.0),
        ("Eye_R", 1.0),
        ("Nose", 1.1),
        ("Upper_Lip", 1.05),
        ("Lower_Lip", 1.05),
    ):
        (x0, y0, _), (x1, y1, _) = _point(straight, name), _point(turned, name)
        assert (x1 - x0, y1 - y0) == pytest.approx((factor * off, 0.0), abs=1e-9), name
    assert _point(turned, "Head")[:2] == pytest.approx(_point(straight, "Head")[:2])  # the vertex stays
    # ears move inwards as the drawing shrinks or grows them (centre at a - 0.3 * ear scale)
    for name, s in (("left_ear", 1.0), ("right_ear", -1.0)):
        scale = float(np.clip(1.0 + 0.8 * s * turn, 0.25, 1.4))
        assert _point(turned_coco, name)[0] == pytest.approx(CX + s * S * (4.9 - 0.3 * scale))


def test_facial_points_follow_head_tilt() -> None:
    tilt = 0.3
    nycu, _, _ = _keypoints(head_tilt=tilt)
    # rotation about the neck (0, -10): R(tilt) @ (u, v) = (u cos - v sin, u sin + v cos)
    for name, (u, v) in (("Head", (0.0, -10.9)), ("Eye_L", (1.75, -4.0)), ("Nose", (0.0, -2.4))):
        expected = _local(
            u * math.cos(tilt) - v * math.sin(tilt), -10.0 + u * math.sin(tilt) + v * math.cos(tilt)
        )
        assert _point(nycu, name)[:2] == pytest.approx(expected, abs=1e-9), name


# ---------------------------------------------------------------- visibility


@pytest.mark.parametrize(
    ("turn", "left_ear", "right_ear"),
    [(0.0, 2, 2), (0.4, 2, 2), (-0.4, 2, 2), (0.6, 2, 1), (1.0, 2, 1), (-0.6, 1, 2), (-1.0, 1, 2)],
)
def test_head_turn_hides_the_shrunk_ear_only(turn: float, left_ear: int, right_ear: int) -> None:
    nycu, coco, _ = _keypoints(head_turn=turn)
    assert (_point(coco, "left_ear")[2], _point(coco, "right_ear")[2]) == (left_ear, right_ear)
    assert all(_point(coco, n)[2] == 2 for n in ("nose", "left_eye", "right_eye"))
    assert all(_point(nycu, n)[2] == 2 for n in NYCU22.names)  # nothing else hides in this pose


CROSSED = {  # left forearm across the chest, its hand over the right elbow (hand-computed, see below)
    "left_shoulder": -0.6435,  # upper arm towards (-0.6, 0.8): inwards and down
    "left_elbow": -0.776,  # forearm direction -1.419 rad: towards the right elbow at (-8.05, 0.26) cm
    "left_wrist": 0.0,
    "right_shoulder": 0.3,
    "right_elbow": 0.0,
}


def test_crossed_arms_the_arm_on_top_hides_the_other() -> None:
    # left arm more lifted → drawn last → its hand lies on the right elbow
    nycu, _, instances = _keypoints(**CROSSED, left_arm_lift=0.3, right_arm_lift=0.0)
    x, y, v = _point(nycu, "Elbow_R")
    assert v == 1
    assert instances[round(y), round(x)] == LARM_I
    assert _point(nycu, "MP_joint_L")[2] == 2  # the hand on top of the other arm is visible
    assert _point(nycu, "Wrist_L")[2] == 2
    # right arm more lifted → drawn last → now the left knuckles are under the right arm
    nycu, _, instances = _keypoints(**CROSSED, left_arm_lift=0.0, right_arm_lift=0.3)
    assert _point(nycu, "Elbow_R")[2] == 2
    x, y, v = _point(nycu, "MP_joint_L")
    assert v == 1
    assert instances[round(y), round(x)] == RARM_I


def test_arm_over_the_face_hides_one_eye() -> None:
    # left upper arm straight up towards (-0.5, -0.866): the elbow lands at (2.0, -13.6) cm, 0.5 cm from Eye_L
    nycu, _, _ = _keypoints(left_shoulder=-2.618, left_elbow=0.0, left_arm_lift=0.0)
    assert _point(nycu, "Eye_L")[2] == 1
    assert _point(nycu, "Eye_R")[2] == 2  # 3 cm from the arm's axis, wider than the arm


def test_point_outside_the_frame_is_zero_and_written_as_zeros() -> None:
    nycu, coco, _ = _keypoints(center_x=40.0)  # the right wrist at 40 - 4 * 18.38 px < 0
    x, _, v = _point(nycu, "Wrist_R")
    assert x < -0.5
    assert v == 0
    assert _point(coco, "right_wrist")[2] == 0
    row = nycu.triples()[NYCU22.index("Wrist_R")]
    assert row == [0, 0, 0]
    assert _point(nycu, "Wrist_L")[2] == 2
    assert nycu.num_labelled == int(np.count_nonzero(nycu.visibility)) < 22


def test_external_occluder_hides_the_points_under_it() -> None:
    occ = np.zeros((H, W), bool)
    occ[215:, :] = True  # a blanket over everything below y = 214.5: ankles (y 225.9) and soles
    nycu, _, _ = _keypoints(_scene(occ))
    hidden = {n for n, v in zip(NYCU22.names, nycu.visibility.tolist(), strict=True) if v == 1}
    assert hidden == {"Ankle_R", "Ankle_L", "MTP_joint_R", "MTP_joint_L"}


def _owners(*instances: int) -> np.ndarray:
    row = np.zeros((1, len(INSTANCE_NAMES)), bool)
    row[0, [0, *instances]] = True
    return row


# A 4 x 6 instance map: head in columns 0-1, torso 2-3, left arm 4, background 5.
_MAP = np.array([[HEAD_I, HEAD_I, TORSO_I, TORSO_I, LARM_I, 0]] * 4, np.uint8)


@pytest.mark.parametrize(
    ("xy", "owners", "hidden", "occluded_px", "expected"),
    [
        ((0.0, 0.0), (HEAD_I,), False, None, 2),  # on its own part
        ((4.0, 1.0), (HEAD_I,), False, None, 1),  # another part on top
        ((4.0, 1.0), (LARM_I,), False, None, 2),  # a hand over the torso: its own arm's pixel
        ((2.4, 1.0), (LARM_I, TORSO_I), False, None, 2),  # shoulder on the torso
        ((5.0, 3.0), (HEAD_I,), False, None, 2),  # mattress (silhouette edge) counts as own
        ((5.0, 3.0), (HEAD_I,), False, (3, 5), 1),  # external occluder
        ((0.0, 0.0), (HEAD_I,), True, None, 1),  # hidden by the head's turn
        ((-0.5, 0.0), (HEAD_I,), False, None, 2),  # pixel 0 spans [-0.5, 0.5)
        ((-0.51, 0.0), (HEAD_I,), False, None, 0),
        ((5.49, 3.49), (HEAD_I,), False, None, 2),
        ((5.5, 0.0), (HEAD_I,), False, None, 0),  # pixel 6 is outside a 6-wide map
        ((0.0, 3.5), (HEAD_I,), True, None, 0),  # outside beats hidden
    ],
)
def test_visibility_rule_table(
    xy: tuple[float, float],
    owners: tuple[int, ...],
    hidden: bool,
    occluded_px: tuple[int, int] | None,
    expected: int,
) -> None:
    occ = None
    if occluded_px is not None:
        occ = np.zeros(_MAP.shape, bool)
        occ[occluded_px] = True
    v = visibility(np.array([xy], np.float64), _owners(*owners), np.array([hidden]), _MAP, occ)
    assert v.dtype == np.uint8
    assert v.tolist() == [expected]


def test_point_names_cover_both_sets() -> None:
    assert POINT_NAMES[:22] == NYCU22.names
    assert set(POINT_NAMES[22:]) == {"Ear_L", "Ear_R"}
    assert len(COCO17.names) == 17
