"""The infant's skeleton: every landmark of a pose (joints, hand and foot, facial features) computed once.

:func:`trainer.synth.body.build_body` draws its primitives around these points and
:mod:`trainer.synth.joints` maps the same points to image pixels as keypoints, so drawing and keypoints
always agree. Units and angle conventions are :mod:`trainer.synth.body`'s: body-local centimetres, origin at
the torso centre, +y towards the feet, +x towards the infant's LEFT (the image right at orientation 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # body imports this module; the types are only needed for annotations
    from trainer.synth.body import BodyShape, Pose

FloatArray = npt.NDArray[np.float64]


def rotation(angle: float) -> FloatArray:
    """(2, 2) rotation matrix for image coordinates (y down)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]], dtype=np.float64)


def direction(angle: float, side: float) -> FloatArray:
    """Unit vector at limb ``angle`` (:mod:`trainer.synth.body` convention) for ``side`` +1 (left, image +x) or -1 (right)."""
    return np.array([side * math.sin(angle), math.cos(angle)])


@dataclass(frozen=True)
class Limb:
    """One arm or leg in body-local centimetres; every point is a (2,) float64 vector.

    ``root`` shoulder / hip joint, ``mid`` elbow / knee, ``end`` wrist / ankle, ``extremity`` centre of the
    drawn hand / foot ellipse, ``knuckle`` the MP joint (knuckles) / MTP joint (ball of the foot).
    ``angles``: the (proximal, middle, distal) segment directions in radians (module-doc convention).
    """

    side: float
    root: FloatArray
    mid: FloatArray
    end: FloatArray
    extremity: FloatArray
    knuckle: FloatArray
    angles: tuple[float, float, float]


@dataclass(frozen=True)
class Face:
    """The head in body-local centimetres; points are (2,) float64, ``rot`` the (2, 2) head-tilt rotation.

    ``centre`` skull-ellipse centre, ``vertex`` top of the skull (the end of its long axis away from the
    neck), ``eye_*`` eye-ellipse centres, ``nose`` nose-ellipse centre, ``mouth`` lip-ellipse centre,
    ``upper_lip``/``lower_lip`` the middles of its upper and lower halves, ``ear_*`` ear-ellipse centres.
    ``ear_scale_*``: how big :func:`build_body` draws each ear (1 at ``head_turn = 0``; the turn shrinks one
    ear and enlarges the other).
    """

    centre: FloatArray
    rot: FloatArray
    vertex: FloatArray
    eye_left: FloatArray
    eye_right: FloatArray
    nose: FloatArray
    mouth: FloatArray
    upper_lip: FloatArray
    lower_lip: FloatArray
    ear_left: FloatArray
    ear_right: FloatArray
    ear_scale_left: float
    ear_scale_right: float


@dataclass(frozen=True)
class Skeleton:
    """Every landmark of one pose in body-local centimetres, computed once by :func:`skeleton`.

    :func:`build_body` draws its primitives around these points and :mod:`trainer.synth.joints` maps them
    to image pixels as keypoints, so the two always agree.
    """

    face: Face
    left_arm: Limb
    right_arm: Limb
    left_leg: Limb
    right_leg: Limb


# Face geometry (cm at head factor 1): skull half-axes, eye/nose/mouth offsets in the head frame.
SKULL_A: Final = 4.9
SKULL_B: Final = 6.0
LIP_HALF_H: Final = 0.38


def _ear_scale(side: float, turn: float) -> float:
    return float(np.clip(1.0 + 0.8 * side * turn, 0.25, 1.4))


def _face(pose: Pose, shape: BodyShape) -> Face:
    hs = shape.head_factor
    a, b = SKULL_A * hs, SKULL_B * hs
    neck = np.array([0.0, -10.0])
    rot = rotation(pose.head_tilt)
    centre = neck + rot @ np.array([0.0, -4.9 * hs])

    def local(u: float, v: float) -> FloatArray:
        p: FloatArray = centre + rot @ np.array([u, v])
        return p

    turn = pose.head_turn
    off = 1.6 * hs * turn
    ears = {s: local(s * (a - 0.3 * _ear_scale(s, turn)), 0.6 * hs) for s in (-1.0, 1.0)}
    return Face(
        centre=centre,
        rot=rot,
        vertex=local(0.0, -b),
        eye_left=local(1.75 * hs + off, 0.9 * hs),
        eye_right=local(-1.0 * 1.75 * hs + off, 0.9 * hs),
        nose=local(off * 1.1, 2.5 * hs),
        mouth=local(off * 1.05, 3.8 * hs),
        upper_lip=local(off * 1.05, (3.8 - 0.5 * LIP_HALF_H) * hs),
        lower_lip=local(off * 1.05, (3.8 + 0.5 * LIP_HALF_H) * hs),
        ear_left=ears[1.0],
        ear_right=ears[-1.0],
        ear_scale_left=_ear_scale(1.0, turn),
        ear_scale_right=_ear_scale(-1.0, turn),
    )


def _arm_limb(pose: Pose, shape: BodyShape, side: float) -> Limb:
    name = "left" if side > 0 else "right"
    shoulder_a = getattr(pose, f"{name}_shoulder")
    lift = getattr(pose, f"{name}_arm_lift")
    a2 = shoulder_a + getattr(pose, f"{name}_elbow")
    a3 = a2 + getattr(pose, f"{name}_wrist")
    ll = shape.limb_factor
    sh = np.array([side * 5.8 * shape.width_factor, -7.0])
    el = sh + direction(shoulder_a, side) * 7.6 * ll * math.cos(lift)
    wr = el + direction(a2, side) * 7.0 * ll * math.cos(0.45 * lift)
    hand_c = wr + direction(a3, side) * 1.8 * ll
    knuckle = wr + direction(a3, side) * 2.6 * ll
    return Limb(side, sh, el, wr, hand_c, knuckle, (shoulder_a, a2, a3))


def _leg_limb(pose: Pose, shape: BodyShape, side: float) -> Limb:
    name = "left" if side > 0 else "right"
    b1 = getattr(pose, f"{name}_hip")
    lift = getattr(pose, f"{name}_leg_lift")
    b2 = b1 - getattr(pose, f"{name}_knee")
    b3 = b2 + getattr(pose, f"{name}_ankle")
    ll = shape.limb_factor
    hip = np.array([side * 3.7 * shape.width_factor, 7.0])
    kn = hip + direction(b1, side) * 9.6 * ll * math.cos(lift)
    an = kn + direction(b2, side) * 9.0 * ll * math.cos(0.3 * lift)
    foot_c = an + direction(b3, side) * 2.0 * ll
    knuckle = an + direction(b3, side) * 3.3 * ll
    return Limb(side, hip, kn, an, foot_c, knuckle, (b1, b2, b3))


def skeleton(pose: Pose, shape: BodyShape) -> Skeleton:
    """The landmarks of ``pose`` for an infant of ``shape``, in body-local centimetres."""
    return Skeleton(
        face=_face(pose, shape),
        left_arm=_arm_limb(pose, shape, 1.0),
        right_arm=_arm_limb(pose, shape, -1.0),
        left_leg=_leg_limb(pose, shape, 1.0),
        right_leg=_leg_limb(pose, shape, -1.0),
    )


def to_image(pose: Pose, points: FloatArray) -> FloatArray:
    """Body-local centimetres (..., 2) → image pixels (..., 2) (x right, y down; see the module doc)."""
    rot = rotation(pose.orientation) * pose.scale
    out: FloatArray = np.array([pose.center_x, pose.center_y]) + points @ rot.T
    return out
