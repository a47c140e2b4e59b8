"""Keypoints of the synthetic infant: NYCU-22 and COCO-17 in image pixels, with COCO visibility flags.

Positions (all from :func:`trainer.synth.skeleton.skeleton`, the same points the drawing is built on, mapped
to the image by :func:`trainer.synth.skeleton.to_image`; pixels, x right, y down, pixel centres at integer
coordinates). ``_R``/``_L`` and ``right_``/``left_`` are the infant's OWN sides: it lies on its back facing
the camera, so at ``orientation = 0`` its left points are on the image right.

* Head: the vertex, the top of the skull outline (end of the head ellipse's long axis away from the neck).
* Eye_L/Eye_R (left_eye/right_eye), Nose (nose): centres of the drawn eye and nose ellipses; Upper_Lip /
  Lower_Lip: the middles of the upper and lower halves of the drawn mouth; left_ear/right_ear: centres of the
  drawn ear ellipses. All follow ``head_tilt`` (rotation about the neck) and ``head_turn`` (sideways shift of
  the face, the ears' size) exactly as the drawing does.
* Shoulder, Elbow, Wrist, Hip, Knee, Ankle: the joint centres the limb capsules are drawn between.
* MP_joint: the knuckles, 2.6 cm (x limb length) from the wrist along the hand (2/3 of the way to the tip);
  MTP_joint: the ball of the foot, 3.3 cm (x limb length) from the ankle along the foot.

Visibility of each point in each frame (``v``; the first rule that applies):

* ``0`` outside: the pixel containing the point, ``(floor(x + 0.5), floor(y + 0.5))``, is not in the image.
  Files then carry ``x = y = 0`` (:meth:`BodyKeypoints.triples`).
* ``1`` occluded, when any of:

  a. an external occluder covers that pixel: the blanket edge or toy of :mod:`trainer.synth.render`
     (``Scene.occluder_mask``) or a swaddle wrapped round the infant; ``Rendered.occluder_mask`` holds both;
  b. the rendered instance map at that pixel holds a body instance that is not the point's own, i.e. another
     part is drawn on top of it. Own instances: the head for Head and every facial point; the same-side arm
     for Elbow, Wrist, MP_joint; the same-side arm or the torso for Shoulder; the same-side leg for Knee,
     Ankle, MTP_joint; the same-side leg or the torso (diaper) for Hip. Instance 0 (mattress: a point on the
     silhouette's very edge) counts as own. So a hand over the torso is visible, an elbow under the other
     (more lifted, drawn later) arm is occluded, a foot under the other leg is occluded;
  c. it is an ear the head's turn hides: the ear the drawing shrinks below :data:`EAR_HIDDEN_SCALE` of its
     size (``head_turn`` more than 0.5 towards the other side: the right ear for ``head_turn > 0.5``, the
     left ear for ``head_turn < -0.5``). The flag follows the drawing so labels match the pixels; note that
     the drawing shrinks the ear on the side AWAY from the face's turn, whereas a real head hides the ear
     the face turns towards. Eyes, nose and lips stay on the drawn face at every turn (the turn shifts them
     sideways by at most 1.6 cm x head scale, never past the skull outline), so the turn alone never hides
     them.

* ``2`` visible otherwise.

Not detected: a part hiding a point of its own instance (a hand lying on its own elbow), since one instance
cannot be on top of itself in the instance map. Arrays: ``xy`` (K, 2) float64 pixels, ``visibility`` (K,) uint8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from pipeline.contract.keypoints import (
    COCO17,
    NOT_LABELLED,
    NYCU22,
    NYCU_TO_COCO,
    OCCLUDED,
    VISIBLE,
    KeypointSet,
)
from trainer.synth.body import (
    HEAD_I,
    INSTANCE_NAMES,
    LARM_I,
    LLEG_I,
    RARM_I,
    RLEG_I,
    TORSO_I,
    BodyShape,
    Pose,
)
from trainer.synth.skeleton import Skeleton, skeleton, to_image

FloatArray = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]

EAR_HIDDEN_SCALE: Final[float] = 0.6
"""An ear drawn smaller than this fraction of its size (``Face.ear_scale_*``) is hidden by the head's turn."""

_COCO_TO_OWN: Final[dict[str, str]] = {
    **{coco: nycu for nycu, coco in NYCU_TO_COCO.items()},
    "left_ear": "Ear_L",
    "right_ear": "Ear_R",
}


def _own_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys([*NYCU22.names, *(_COCO_TO_OWN[n] for n in COCO17.names)]))


POINT_NAMES: Final[tuple[str, ...]] = _own_names()
"""Every point this module places: the NYCU-22 names, then Ear_L and Ear_R (COCO's ears)."""


def _owners() -> BoolArray:
    """(len(POINT_NAMES), len(INSTANCE_NAMES)) bool: instance ids that count as the point's own."""
    table = np.zeros((len(POINT_NAMES), len(INSTANCE_NAMES)), bool)
    table[:, 0] = True
    for i, name in enumerate(POINT_NAMES):
        side = name[-1] if name[-2:] in ("_L", "_R") else ""
        arm, leg = (LARM_I, LLEG_I) if side == "L" else (RARM_I, RLEG_I)
        base = name[:-2] if side else name
        if base == "Shoulder":
            table[i, [arm, TORSO_I]] = True
        elif base in ("Elbow", "Wrist", "MP_joint"):
            table[i, arm] = True
        elif base == "Hip":
            table[i, [leg, TORSO_I]] = True
        elif base in ("Knee", "Ankle", "MTP_joint"):
            table[i, leg] = True
        else:  # Head and the facial points
            table[i, HEAD_I] = True
    return table


_OWNERS: Final = _owners()
_NYCU_ROWS: Final = np.array([POINT_NAMES.index(n) for n in NYCU22.names])
_COCO_ROWS: Final = np.array([POINT_NAMES.index(_COCO_TO_OWN[n]) for n in COCO17.names])


@dataclass(frozen=True, eq=False)
class BodyKeypoints:
    """One keypoint set of one frame.

    ``xy``: (K, 2) float64 image pixels, the true positions (also for points outside the image);
    ``visibility``: (K,) uint8, 0 outside / 1 occluded / 2 visible (module doc).
    """

    keypoint_set: KeypointSet
    xy: FloatArray
    visibility: U8

    @property
    def num_labelled(self) -> int:
        """Points with ``v > 0`` (COCO's ``num_keypoints``)."""
        return int(np.count_nonzero(self.visibility))

    def triples(self, decimals: int = 2) -> list[list[float]]:
        """[[x, y, v], ...] (K rows) rounded to ``decimals``; ``x = y = 0`` where ``v == 0``."""
        out: list[list[float]] = []
        for (x, y), v in zip(self.xy.tolist(), self.visibility.tolist(), strict=True):
            out.append([round(x, decimals), round(y, decimals), v] if v else [0, 0, 0])
        return out

    def coco_flat(self, decimals: int = 2) -> list[float]:
        """COCO ``keypoints``: [x1, y1, v1, x2, ...] (3K values), as :meth:`triples`."""
        return [value for row in self.triples(decimals) for value in row]


def local_points(bones: Skeleton) -> FloatArray:
    """(len(POINT_NAMES), 2) float64 body-local centimetres of every point, in :data:`POINT_NAMES` order."""
    f, la, ra, ll, rl = bones.face, bones.left_arm, bones.right_arm, bones.left_leg, bones.right_leg
    by_name = {
        "Head": f.vertex,
        "Eye_L": f.eye_left,
        "Eye_R": f.eye_right,
        "Nose": f.nose,
        "Upper_Lip": f.upper_lip,
        "Lower_Lip": f.lower_lip,
        "Ear_L": f.ear_left,
        "Ear_R": f.ear_right,
    }
    for side, arm, leg in (("L", la, ll), ("R", ra, rl)):
        by_name |= {
            f"Shoulder_{side}": arm.root,
            f"Elbow_{side}": arm.mid,
            f"Wrist_{side}": arm.end,
            f"MP_joint_{side}": arm.knuckle,
            f"Hip_{side}": leg.root,
            f"Knee_{side}": leg.mid,
            f"Ankle_{side}": leg.end,
            f"MTP_joint_{side}": leg.knuckle,
        }
    return np.stack([by_name[n] for n in POINT_NAMES])


def turn_hidden(bones: Skeleton) -> BoolArray:
    """(len(POINT_NAMES),) bool: the points the head's turn hides (rule c of the module doc)."""
    hidden = np.zeros(len(POINT_NAMES), bool)
    hidden[POINT_NAMES.index("Ear_L")] = bones.face.ear_scale_left < EAR_HIDDEN_SCALE
    hidden[POINT_NAMES.index("Ear_R")] = bones.face.ear_scale_right < EAR_HIDDEN_SCALE
    return hidden


def visibility(
    xy: FloatArray,
    owners: BoolArray,
    hidden: BoolArray,
    instances: U8,
    occluder_mask: BoolArray | None,
) -> U8:
    """COCO flags for points ``xy`` (K, 2) pixels: 0 outside, 1 occluded, 2 visible (module doc rules).

    ``owners``: (K, len(INSTANCE_NAMES)) bool, the instance ids that count as each point's own; ``hidden``:
    (K,) bool, hidden whatever the pixels say; ``instances``: (H, W) uint8 rendered instance map;
    ``occluder_mask``: (H, W) bool or None. Returns (K,) uint8.
    """
    h, w = instances.shape
    px = np.floor(xy + 0.5).astype(np.int64)
    inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
    col = np.where(inside, px[:, 0], 0)
    row = np.where(inside, px[:, 1], 0)
    under = instances[row, col]
    covered = ~owners[np.arange(len(xy)), under] | hidden
    if occluder_mask is not None:
        covered |= occluder_mask[row, col]
    v = np.where(covered, OCCLUDED, VISIBLE).astype(np.uint8)
    v[~inside] = NOT_LABELLED
    return v


def frame_keypoints(
    pose: Pose, shape: BodyShape, instances: U8, occluder_mask: BoolArray | None = None
) -> tuple[BodyKeypoints, BodyKeypoints]:
    """(NYCU-22, COCO-17) keypoints of ``pose`` for an infant of ``shape`` as rendered into ``instances``
    ((H, W) uint8, :attr:`trainer.synth.render.Rendered.instances`) with the frame's ``occluder_mask``
    (:attr:`trainer.synth.render.Rendered.occluder_mask`: the scene's occluder and any swaddle)."""
    bones = skeleton(pose, shape)
    xy = to_image(pose, local_points(bones))
    v = visibility(xy, _OWNERS, turn_hidden(bones), instances, occluder_mask)
    return (
        BodyKeypoints(NYCU22, xy[_NYCU_ROWS], v[_NYCU_ROWS]),
        BodyKeypoints(COCO17, xy[_COCO_ROWS], v[_COCO_ROWS]),
    )
