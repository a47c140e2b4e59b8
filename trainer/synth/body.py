"""Articulated 2-D infant lying on its back, seen from above (the General Movements Assessment view).

Units and frames:

* The body is modelled in centimetres in a *body-local* frame: origin at the torso centre, +y from the
  head towards the feet, +x to the image right when ``Pose.orientation == 0``. The infant faces the camera,
  so its LEFT side appears on the image RIGHT (+x) and its right side on the image left.
* Image coordinates are pixels, x right, y down, pixel centres at integer coordinates (pixel (i, j)
  covers [i - 0.5, i + 0.5) x [j - 0.5, j + 0.5); ``cv2.fillPoly`` fills the pixels a polygon covers).
  ``p_img = (center_x, center_y) + scale * R(orientation) @ p_local`` with
  ``R(a) = [[cos a, -sin a], [sin a, cos a]]`` (positive orientation turns the body clockwise on screen).
* Limb angles are measured in the body-local frame from +y (pointing at the feet), positive turning
  *outwards* (away from the midline) on both sides: 0 = along the body towards the feet, pi/2 = straight out
  sideways, pi = up past the head. Child segments add their joint angle to the parent's angle.
* ``*_lift`` (radians) tilts the limb's proximal segment towards the camera; its projected length shrinks by
  ``cos(lift)``. This is how kicks and reaches look from above.

Every landmark (joints, hands, feet, facial features) comes from :func:`trainer.synth.skeleton.skeleton`;
the primitives are drawn around those points and :mod:`trainer.synth.joints` reuses them as keypoints.

Proportions follow a newborn (~50 cm long): the head is ~1/4 of the body length and limbs are short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.contract.classes import BACKGROUND
from trainer.synth.skeleton import (
    LIP_HALF_H,
    SKULL_A,
    SKULL_B,
    Face,
    Limb,
    Skeleton,
    direction,
    rotation,
    skeleton,
    to_image,
)

FloatArray = npt.NDArray[np.float64]

# Instances: one id per drawable body part instance; 0 = not the infant.
INSTANCE_NAMES: Final[tuple[str, ...]] = (
    "none",
    "head",
    "left_arm",
    "right_arm",
    "torso",
    "left_leg",
    "right_leg",
)
INSTANCE_CLASS: Final[tuple[int, ...]] = (BACKGROUND, 1, 2, 2, 3, 4, 4)
"""Instance id → class id (pipeline.contract.classes)."""
INSTANCE_SIDE: Final[tuple[str, ...]] = ("", "", "left", "right", "", "left", "right")
HEAD_I, LARM_I, RARM_I, TORSO_I, LLEG_I, RLEG_I = 1, 2, 3, 4, 5, 6

JOINT_RANGES: Final[dict[str, tuple[float, float]]] = {
    "head_tilt": (-0.35, 0.35),
    "head_turn": (-0.8, 0.8),
    "left_shoulder": (0.3, 2.6),
    "left_arm_lift": (0.0, 1.0),
    "left_elbow": (0.0, 2.2),
    "left_wrist": (-0.7, 0.7),
    "right_shoulder": (0.3, 2.6),
    "right_arm_lift": (0.0, 1.0),
    "right_elbow": (0.0, 2.2),
    "right_wrist": (-0.7, 0.7),
    "left_hip": (0.0, 1.0),
    "left_leg_lift": (0.0, 1.05),
    "left_knee": (-0.1, 1.4),
    "left_ankle": (-0.5, 0.7),
    "right_hip": (0.0, 1.0),
    "right_leg_lift": (0.0, 1.05),
    "right_knee": (-0.1, 1.4),
    "right_ankle": (-0.5, 0.7),
}
"""Animated joint → (low, high) in radians (``head_turn`` is unitless, -1 = face fully to image left)."""
JOINTS: Final[tuple[str, ...]] = tuple(JOINT_RANGES)


@dataclass(frozen=True)
class Pose:
    """Where the infant is and how its joints are bent (one video frame).

    ``center_x``/``center_y``: torso centre in image pixels; ``orientation``: body rotation in radians;
    ``scale``: pixels per centimetre. Every other field is a joint angle (radians) named in
    :data:`JOINT_RANGES`.
    """

    center_x: float
    center_y: float
    orientation: float
    scale: float
    head_tilt: float = 0.0
    head_turn: float = 0.0
    left_shoulder: float = 1.2
    left_arm_lift: float = 0.2
    left_elbow: float = 1.0
    left_wrist: float = 0.0
    right_shoulder: float = 1.2
    right_arm_lift: float = 0.2
    right_elbow: float = 1.0
    right_wrist: float = 0.0
    left_hip: float = 0.35
    left_leg_lift: float = 0.3
    left_knee: float = 0.5
    left_ankle: float = 0.2
    right_hip: float = 0.35
    right_leg_lift: float = 0.3
    right_knee: float = 0.5
    right_ankle: float = 0.2

    def joints(self) -> FloatArray:
        """Joint angles as a (len(JOINTS),) float64 vector in :data:`JOINTS` order."""
        return np.array([getattr(self, name) for name in JOINTS], dtype=np.float64)

    def with_joints(self, values: FloatArray) -> Pose:
        """A copy with the joints replaced by ``values`` ((len(JOINTS),), :data:`JOINTS` order)."""
        return replace(self, **{name: float(v) for name, v in zip(JOINTS, values, strict=True)})


@dataclass(frozen=True)
class BodyShape:
    """Per-infant proportions (multipliers around a newborn, 1.0 = average) and hair cover (0 bald .. 1)."""

    head_scale: float = 1.0
    girth: float = 1.0
    limb_length: float = 1.0
    torso_width: float = 1.0
    hair: float = 0.5
    eyes_open: bool = False


@dataclass(frozen=True)
class Clothing:
    """What garments cover (geometry only; colours live in the renderer).

    ``sleeve``/``trouser`` in [0, 2]: 0 bare, 1 covers the upper arm / thigh, 2 covers the whole arm / leg
    down to the wrist / ankle (fractions in between). Covered pixels keep their body-part label.
    """

    onesie: bool = True
    sleeve: float = 0.5
    trouser: float = 0.3
    socks: bool = False


@dataclass(frozen=True)
class Primitive:
    """One filled polygon of the infant, drawn in list order (later ones on top).

    ``points``: (N, 2) float64 image pixels (x, y); ``instance``: index into :data:`INSTANCE_NAMES`;
    ``material``: what colour the renderer paints it (skin, garment, diaper, sock, hair, eye, lip, nose).
    """

    points: FloatArray
    instance: int
    material: str


def sample_shape(rng: np.random.Generator) -> BodyShape:
    """Random per-infant proportions and hair."""
    return BodyShape(
        head_scale=float(rng.uniform(0.93, 1.08)),
        girth=float(rng.uniform(0.88, 1.18)),
        limb_length=float(rng.uniform(0.92, 1.08)),
        torso_width=float(rng.uniform(0.92, 1.1)),
        hair=float(rng.choice([0.0, rng.uniform(0.15, 0.45)], p=[0.25, 0.75])),
        eyes_open=bool(rng.random() < 0.4),
    )


def sample_clothing(rng: np.random.Generator) -> Clothing:
    """Random garments: bodysuit or bare with diaper, sleeves and trouser legs of random length."""
    onesie = bool(rng.random() < 0.75)
    return Clothing(
        onesie=onesie,
        sleeve=float(rng.choice([0.0, rng.uniform(0.3, 1.0), rng.uniform(1.0, 2.0)])) if onesie else 0.0,
        trouser=float(rng.choice([0.0, 0.0, rng.uniform(0.2, 1.0), 2.0])) if onesie else 0.0,
        socks=bool(rng.random() < 0.3),
    )


# ---------------------------------------------------------------- geometry helpers (local cm)


def _unit_circle(n: int) -> FloatArray:
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], axis=1)


_CIRCLE12: Final = _unit_circle(12)


def capsule(p0: FloatArray, p1: FloatArray, r0: float, r1: float) -> FloatArray:
    """Tapered capsule (convex hull of two discs), (N, 2) points."""
    pts = np.concatenate([p0 + r0 * _CIRCLE12, p1 + r1 * _CIRCLE12]).astype(np.float32)
    hull = cv2.convexHull(pts)
    return np.asarray(hull, dtype=np.float64).reshape(-1, 2)


def ellipse(center: FloatArray, half_x: float, half_y: float, angle: float = 0.0, n: int = 28) -> FloatArray:
    """Ellipse with half-axes along its own x/y, rotated by ``angle``; (n, 2) points."""
    pts = _unit_circle(n) * np.array([half_x, half_y])
    out: FloatArray = center + pts @ rotation(angle).T
    return out


def superellipse(half_widths: FloatArray, half_y: float, power: float, n: int = 48) -> FloatArray:
    """Rounded box centred at 0: ``|x/w(y)|^p + |y/h|^p = 1`` with w linearly interpolated over
    ``half_widths`` = (3,) widths at y = -h, 0, +h; (n, 2) points."""
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    y = -np.sign(c) * np.abs(c) ** (2.0 / power) * half_y
    w = np.interp(y, [-half_y, 0.0, half_y], half_widths)
    x = np.sign(s) * np.abs(s) ** (2.0 / power) * w
    return np.stack([x, y], axis=1)


# ---------------------------------------------------------------- the body


def _arm(limb: Limb, shape: BodyShape, clothing: Clothing, inst: int) -> list[tuple[FloatArray, int, str]]:
    side, sh, el, wr, hand_c = limb.side, limb.root, limb.mid, limb.end, limb.extremity
    a3 = limb.angles[2]
    g, ll = shape.girth, shape.limb_length
    r_sh, r_el, r_wr = 2.2 * g, 1.75 * g, 1.35 * g
    out = [
        (capsule(sh, el, r_sh, r_el), inst, "skin"),
        (capsule(el, wr, r_el, r_wr), inst, "skin"),
        (ellipse(hand_c, 1.45 * g, 2.15 * ll, -side * a3), inst, "skin"),
    ]
    cover = clothing.sleeve
    if cover > 0.0:
        end = sh + (el - sh) * min(cover, 1.0)
        out.append(
            (capsule(sh, end, r_sh + 0.25, r_sh + 0.25 - (r_sh - r_el) * min(cover, 1.0)), inst, "garment")
        )
        if cover > 1.0:
            end2 = el + (wr - el) * (cover - 1.0)
            out.append(
                (capsule(el, end2, r_el + 0.25, r_el + 0.25 - (r_el - r_wr) * (cover - 1.0)), inst, "garment")
            )
    return out


def _leg(limb: Limb, shape: BodyShape, clothing: Clothing, inst: int) -> list[tuple[FloatArray, int, str]]:
    side, hip, kn, an, foot_c = limb.side, limb.root, limb.mid, limb.end, limb.extremity
    b1, _, b3 = limb.angles
    g, ll = shape.girth, shape.limb_length
    r_hip, r_kn, r_an = 3.3 * g, 2.4 * g, 1.6 * g
    foot = ellipse(foot_c, 1.7 * g, 2.7 * ll, -side * b3)
    out = [
        (capsule(kn, an, r_kn, r_an), inst, "skin"),
        (capsule(hip + direction(b1, side) * 1.6, kn, r_hip, r_kn), inst, "skin"),
        (foot, inst, "sock" if clothing.socks else "skin"),
    ]
    cover = clothing.trouser
    if cover > 0.0:
        end = hip + (kn - hip) * min(cover, 1.0)
        out.append(
            (
                capsule(hip, end, r_hip + 0.25, r_hip + 0.25 - (r_hip - r_kn) * min(cover, 1.0)),
                inst,
                "garment",
            )
        )
        if cover > 1.0:
            end2 = kn + (an - kn) * (cover - 1.0)
            out.append(
                (capsule(kn, end2, r_kn + 0.25, r_kn + 0.25 - (r_kn - r_an) * (cover - 1.0)), inst, "garment")
            )
    return out


def _head(face: Face, pose: Pose, shape: BodyShape) -> list[tuple[FloatArray, int, str]]:
    hs = shape.head_scale
    a, b = SKULL_A * hs, SKULL_B * hs
    centre, rot = face.centre, face.rot
    out: list[tuple[FloatArray, int, str]] = []
    for ear, ear_scale in ((face.ear_right, face.ear_scale_right), (face.ear_left, face.ear_scale_left)):
        out.append((ellipse(ear, 0.8 * ear_scale, 1.4 * hs, pose.head_tilt), HEAD_I, "skin"))
    out.append((ellipse(centre, a, b, pose.head_tilt, n=36), HEAD_I, "skin"))
    if shape.hair > 0.0:
        # Arc of the skull above a hairline that is lower at the temples, closed along that hairline.
        t = np.linspace(-math.pi, math.pi, 73)
        u, v = 0.985 * a * np.sin(t), -0.985 * b * np.cos(t)
        v_line = -b + shape.hair * 1.5 * b
        keep = v < v_line + 0.3 * b * (u / a) ** 2
        if int(keep.sum()) >= 3:
            arc = np.stack([u[keep], v[keep]], axis=1)
            hu = np.linspace(arc[-1, 0], arc[0, 0], 9)[1:-1]
            hairline = np.stack([hu, v_line + 0.3 * b * (hu / a) ** 2], axis=1)
            out.append((centre + np.concatenate([arc, hairline]) @ rot.T, HEAD_I, "hair"))
    eye_h = 0.42 if shape.eyes_open else 0.2
    for eye in (face.eye_right, face.eye_left):
        out.append((ellipse(eye, 0.75 * hs, eye_h * hs, pose.head_tilt), HEAD_I, "eye"))
    out.append((ellipse(face.nose, 0.6 * hs, 0.45 * hs, pose.head_tilt), HEAD_I, "nose"))
    out.append((ellipse(face.mouth, 1.05 * hs, LIP_HALF_H * hs, pose.head_tilt), HEAD_I, "lip"))
    return out


def build_body(
    pose: Pose, shape: BodyShape, clothing: Clothing, bones: Skeleton | None = None
) -> list[Primitive]:
    """The infant as an ordered list of primitives in image pixels (draw in order; later on top).

    Order: torso, legs (lifted legs after the diaper), diaper/crotch, head (ears, skull, hair, face), arms
    (the more lifted arm last). ``bones``: :func:`skeleton` of (``pose``, ``shape``) when already computed.
    """
    bones = skeleton(pose, shape) if bones is None else bones
    limbs = {LARM_I: bones.left_arm, RARM_I: bones.right_arm, LLEG_I: bones.left_leg, RLEG_I: bones.right_leg}
    local: list[tuple[FloatArray, int, str]] = []
    widths = np.array([7.3, 7.1, 6.1]) * shape.torso_width * (0.9 + 0.1 * shape.girth)
    torso_mat = "garment" if clothing.onesie else "skin"
    local.append((superellipse(widths, 10.2, 2.7), TORSO_I, torso_mat))
    legs = sorted(((LLEG_I, pose.left_leg_lift), (RLEG_I, pose.right_leg_lift)), key=lambda leg: leg[1])
    for inst, lift in legs:
        if lift <= 0.7:
            local.extend(_leg(limbs[inst], shape, clothing, inst))
    pelvis = superellipse(widths[[2, 2, 2]] * np.array([1.0, 1.06, 0.62]) + 0.3, 3.9, 3.2) + np.array(
        [0.0, 7.6]
    )
    local.append((pelvis, TORSO_I, "garment" if clothing.onesie else "diaper"))
    for inst, lift in legs:
        if lift > 0.7:
            local.extend(_leg(limbs[inst], shape, clothing, inst))
    local.extend(_head(bones.face, pose, shape))
    arms = sorted(((LARM_I, pose.left_arm_lift), (RARM_I, pose.right_arm_lift)), key=lambda arm: arm[1])
    for inst, _ in arms:
        local.extend(_arm(limbs[inst], shape, clothing, inst))
    return [Primitive(points=to_image(pose, pts), instance=inst, material=mat) for pts, inst, mat in local]
