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

Proportions follow a newborn (~50 cm long): the head is ~1/4 of the body length and limbs are short;
``BodyShape.age_months`` (0 .. ~6) shrinks the head relative to the body and makes the limbs longer and
chubbier (:func:`age_norms`), through the skeleton, so keypoints and drawing stay together. What the infant
wears is :class:`trainer.synth.wardrobe.Clothing` (re-exported here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt

from pipeline.contract.classes import BACKGROUND
from trainer.synth.shapes import capsule, ellipse, superellipse
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
from trainer.synth.wardrobe import (
    Clothing,
    Piece,
    band,
    hat,
    mitten,
    patch,
    sample_clothing,
    segment_frame,
    swaddle,
)

__all__ = [
    "AGE_RANGE_MONTHS", "HEAD_I", "INSTANCE_CLASS", "INSTANCE_NAMES", "INSTANCE_SIDE", "JOINTS", "JOINT_RANGES",
    "LARM_I", "LLEG_I", "RARM_I", "RLEG_I", "TORSO_I", "BodyShape", "Clothing", "Pose", "Primitive", "age_norms",
    "build_body", "capsule", "ellipse", "rotation", "sample_clothing", "sample_shape", "superellipse",
]  # fmt: skip

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
AGE_RANGE_MONTHS: Final[tuple[float, float]] = (0.0, 6.0)
"""Ages (months) :func:`sample_shape` draws from by default."""


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
    """Per-infant proportions, hair cover (0 bald .. 1) and age.

    ``head_scale``, ``girth``, ``limb_length``, ``torso_width``: multipliers around the average infant of
    ``age_months`` (1.0 = average). The drawing and the skeleton use the ``*_factor`` properties, which apply
    the age norms (:func:`age_norms`) to them, so the joints always sit where the limbs are drawn.
    """

    head_scale: float = 1.0
    girth: float = 1.0
    limb_length: float = 1.0
    torso_width: float = 1.0
    hair: float = 0.5
    eyes_open: bool = False
    age_months: float = 0.0

    @property
    def head_factor(self) -> float:
        """Head size multiplier (``head_scale`` × the age norm)."""
        return self.head_scale * age_norms(self.age_months)[0]

    @property
    def limb_factor(self) -> float:
        """Limb length multiplier (``limb_length`` × the age norm)."""
        return self.limb_length * age_norms(self.age_months)[1]

    @property
    def girth_factor(self) -> float:
        """Limb and body thickness multiplier (``girth`` × the age norm)."""
        return self.girth * age_norms(self.age_months)[2]

    @property
    def width_factor(self) -> float:
        """Shoulder / hip width multiplier (``torso_width`` × the age norm)."""
        return self.torso_width * age_norms(self.age_months)[3]


def age_norms(age_months: float) -> tuple[float, float, float, float]:
    """(head, limb length, girth, torso width) of an average infant of ``age_months`` relative to a newborn
    of the same torso length: the head shrinks relative to the body (its height ~0.24 of the body length at
    birth, ~0.22 at six months), limbs grow longer and chubbier. Ages are clipped to 0..12 months."""
    a = min(max(age_months, 0.0), 12.0)
    return 1.0 - 0.015 * a, 1.0 + 0.01 * a, 1.0 + 0.012 * a, 1.0 + 0.006 * a


@dataclass(frozen=True)
class Primitive:
    """One filled polygon of the infant, drawn in list order (later ones on top).

    ``points``: (N, 2) float64 image pixels (x, y); ``instance``: index into :data:`INSTANCE_NAMES` (0: a
    cover such as a swaddle that is not the infant: its pixels are background and hide keypoints);
    ``material``: what the renderer paints (:data:`trainer.synth.paint.MATERIALS`); ``frame``: (3,) float64
    cloth frame of its print in the image, (origin x px, origin y px, angle radians; the print's +v axis is
    ``R(angle) @ (0, 1)``), or None for the torso's frame (the pose centre and orientation).
    """

    points: FloatArray
    instance: int
    material: str
    frame: FloatArray | None = None


def sample_shape(rng: np.random.Generator, ages: tuple[float, float] = AGE_RANGE_MONTHS) -> BodyShape:
    """Random per-infant proportions, hair and age (uniform in ``ages``, months): older infants have more
    hair and open their eyes more often."""
    age = float(rng.uniform(*ages))
    hairy = min(1.0, age / 6.0)
    return BodyShape(
        head_scale=float(rng.uniform(0.93, 1.08)),
        girth=float(rng.uniform(0.88, 1.15)),
        limb_length=float(rng.uniform(0.92, 1.08)),
        torso_width=float(rng.uniform(0.92, 1.1)),
        hair=float(
            rng.choice(
                [0.0, rng.uniform(0.15, 0.45 + 0.2 * hairy)], p=[0.25 - 0.1 * hairy, 0.75 + 0.1 * hairy]
            )
        ),
        eyes_open=bool(rng.random() < 0.4 + 0.3 * hairy),
        age_months=age,
    )


# ---------------------------------------------------------------- the body

Local = tuple[FloatArray, int, str, FloatArray | None]
"""A primitive in body-local cm: (points (N, 2), instance, material, cloth frame (3,) or None)."""


def _pieces(pieces: list[Piece], inst: int) -> list[Local]:
    return [(pts, inst, mat, frame) for pts, mat, frame in pieces]


def _cover(
    p0: FloatArray, p1: FloatArray, r0: float, r1: float, cover: float
) -> tuple[FloatArray, FloatArray]:
    """The fabric capsule over ``cover`` (0..1) of the segment p0→p1 (radii r0→r1), and its cloth frame."""
    end = p0 + (p1 - p0) * cover
    return capsule(p0, end, r0 + 0.25, r0 + 0.25 - (r0 - r1) * cover), segment_frame(p0, p1)


def _arm(limb: Limb, shape: BodyShape, clothing: Clothing, inst: int) -> list[Local]:
    side, sh, el, wr, hand_c = limb.side, limb.root, limb.mid, limb.end, limb.extremity
    a3 = limb.angles[2]
    g, ll = shape.girth_factor, shape.limb_factor
    r_sh, r_el, r_wr = 2.2 * g, 1.75 * g, 1.35 * g
    out: list[Local] = [
        (capsule(sh, el, r_sh, r_el), inst, "skin", None),
        (capsule(el, wr, r_el, r_wr), inst, "skin", None),
        (ellipse(hand_c, 1.45 * g, 2.15 * ll, -side * a3), inst, "skin", None),
    ]
    if clothing.mittens:
        out += _pieces(mitten(limb, g, ll, r_wr), inst)
    cover = clothing.sleeve
    if cover > 0.0:
        pts, frame = _cover(sh, el, r_sh, r_el, min(cover, 1.0))
        out.append((pts, inst, "garment", frame))
        if cover > 1.0:
            pts, frame = _cover(el, wr, r_el, r_wr, cover - 1.0)
            out.append((pts, inst, "garment", frame))
    if ("left_wrist" if side > 0 else "right_wrist") in clothing.bands:
        out += _pieces([band(limb, r_wr)], inst)
    return out


def _leg(limb: Limb, shape: BodyShape, clothing: Clothing, inst: int) -> list[Local]:
    side, hip, kn, an, foot_c = limb.side, limb.root, limb.mid, limb.end, limb.extremity
    b1, _, b3 = limb.angles
    g, ll = shape.girth_factor, shape.limb_factor
    r_hip, r_kn, r_an = 3.3 * g, 2.4 * g, 1.6 * g
    name = "left" if side > 0 else "right"
    out: list[Local] = [
        (capsule(kn, an, r_kn, r_an), inst, "skin", None),
        (capsule(hip + direction(b1, side) * 1.6, kn, r_hip, r_kn), inst, "skin", None),
    ]
    if clothing.footed:  # the sleeper's foot: a fabric bag over the foot and ankle
        frame = segment_frame(an, foot_c)
        out.append((capsule(an, foot_c, r_an + 0.25, 1.7 * g + 0.3), inst, "garment", frame))
        out.append((ellipse(foot_c, 1.7 * g + 0.3, 2.7 * ll + 0.3, -side * b3), inst, "garment", frame))
    else:
        out.append(
            (ellipse(foot_c, 1.7 * g, 2.7 * ll, -side * b3), inst, "sock" if clothing.socks else "skin", None)
        )
        for p in clothing.patches:
            if p.site == f"{name}_foot":
                foot_dir = direction(b3, side)
                out += _pieces(patch(p, foot_c, math.atan2(-foot_dir[0], foot_dir[1])), inst)
    cover = 2.0 if clothing.footed else clothing.trouser
    if cover > 0.0:
        pts, frame = _cover(hip, kn, r_hip, r_kn, min(cover, 1.0))
        out.append((pts, inst, "garment", frame))
        if cover > 1.0:
            pts, frame = _cover(kn, an, r_kn, r_an, cover - 1.0)
            out.append((pts, inst, "garment", frame))
    if f"{name}_ankle" in clothing.bands:
        out += _pieces([band(limb, r_an)], inst)
    return out


def _head(face: Face, pose: Pose, shape: BodyShape, clothing: Clothing) -> list[Local]:
    hs = shape.head_factor
    a, b = SKULL_A * hs, SKULL_B * hs
    centre, rot = face.centre, face.rot
    out: list[Local] = []
    for ear, ear_scale in ((face.ear_right, face.ear_scale_right), (face.ear_left, face.ear_scale_left)):
        out.append((ellipse(ear, 0.8 * ear_scale, 1.4 * hs, pose.head_tilt), HEAD_I, "skin", None))
    out.append((ellipse(centre, a, b, pose.head_tilt, n=36), HEAD_I, "skin", None))
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
            out.append((centre + np.concatenate([arc, hairline]) @ rot.T, HEAD_I, "hair", None))
    if clothing.hat:
        out += _pieces(hat(face, hs, pose.head_tilt, clothing.hat, clothing.hat_depth), HEAD_I)
    eye_h = 0.42 if shape.eyes_open else 0.2
    for eye in (face.eye_right, face.eye_left):
        out.append((ellipse(eye, 0.75 * hs, eye_h * hs, pose.head_tilt), HEAD_I, "eye", None))
    out.append((ellipse(face.nose, 0.6 * hs, 0.45 * hs, pose.head_tilt), HEAD_I, "nose", None))
    out.append((ellipse(face.mouth, 1.05 * hs, LIP_HALF_H * hs, pose.head_tilt), HEAD_I, "lip", None))
    return out


def _to_image(pose: Pose, item: Local) -> Primitive:
    pts, inst, mat, frame = item
    img_frame = None
    if frame is not None:
        origin = to_image(pose, frame[:2])
        img_frame = np.array([origin[0], origin[1], frame[2] + pose.orientation])
    return Primitive(points=to_image(pose, pts), instance=inst, material=mat, frame=img_frame)


def build_body(
    pose: Pose, shape: BodyShape, clothing: Clothing, bones: Skeleton | None = None
) -> list[Primitive]:
    """The infant as an ordered list of primitives in image pixels (draw in order; later on top).

    Order: torso (with its sensors / tape), legs (lifted legs after the diaper), diaper/crotch, head (ears,
    skull, hair, hat, face), arms (the more lifted arm last). A swaddle (instance 0) goes over the parts it
    wraps and under the head: "arms" after the arms (which come before the head), "legs" after the legs.
    ``bones``: :func:`skeleton` of (``pose``, ``shape``) when already computed.
    """
    bones = skeleton(pose, shape) if bones is None else bones
    limbs = {LARM_I: bones.left_arm, RARM_I: bones.right_arm, LLEG_I: bones.left_leg, RLEG_I: bones.right_leg}
    local: list[Local] = []
    widths = np.array([7.3, 7.1, 6.1]) * shape.width_factor * (0.9 + 0.1 * shape.girth_factor)
    torso = superellipse(widths, 10.2, 2.7)
    local.append((torso, TORSO_I, "garment" if clothing.onesie else "skin", None))
    for p in clothing.patches:
        if p.site == "torso":
            local += _pieces(patch(p, np.zeros(2), 0.0), TORSO_I)
    legs = sorted(((LLEG_I, pose.left_leg_lift), (RLEG_I, pose.right_leg_lift)), key=lambda leg: leg[1])
    for inst, lift in legs:
        if lift <= 0.7:
            local.extend(_leg(limbs[inst], shape, clothing, inst))
    pelvis = superellipse(widths[[2, 2, 2]] * np.array([1.0, 1.06, 0.62]) + 0.3, 3.9, 3.2) + np.array(
        [0.0, 7.6]
    )
    local.append((pelvis, TORSO_I, "garment" if clothing.onesie else "diaper", None))
    for inst, lift in legs:
        if lift > 0.7:
            local.extend(_leg(limbs[inst], shape, clothing, inst))
    arms = sorted(((LARM_I, pose.left_arm_lift), (RARM_I, pose.right_arm_lift)), key=lambda arm: arm[1])
    arm_items = [item for inst, _ in arms for item in _arm(limbs[inst], shape, clothing, inst)]
    if clothing.swaddle:
        wrapped = (LARM_I, RARM_I) if clothing.swaddle == "arms" else (LLEG_I, RLEG_I)
        if clothing.swaddle == "arms":
            local.extend(arm_items)
            arm_items = []
        parts = [np.concatenate([pts for pts, inst, _, _ in local if inst == TORSO_I])]
        parts += [np.concatenate([pts for pts, inst, _, _ in local if inst == limb]) for limb in wrapped]
        local += _pieces(swaddle(parts, clothing.swaddle, clothing.swaddle_top, clothing.swaddle_flap), 0)
    local.extend(_head(bones.face, pose, shape, clothing))
    local.extend(arm_items)
    return [_to_image(pose, item) for item in local]
