"""Keypoint sets: names, order, skeleton, sides and metric constants the trainer and the pipeline share.

Two sets are known by name:

* :data:`NYCU22` — the NYCU infant keypoints (22 points, LabelMe labels, the infant's own right/left).
* :data:`COCO17` — COCO person keypoints (17 points, as SyRIP and every COCO-format pose model use).

Index = keypoint id everywhere (heatmap channel, record ``id``, COCO ``keypoints`` triple index).
Skeleton edges are 0-based index pairs here; COCO JSON files store them 1-based
(:meth:`KeypointSet.coco_skeleton`). ``side`` is the infant's own side: ``"R"``, ``"L"`` or ``""``
(midline); the overlay colours by it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class KeypointSet:
    """An ordered set of named keypoints.

    Attributes:
        name: ``nycu22``, ``coco17`` or a third-party model's own label.
        names: keypoint names; index = keypoint id.
        skeleton: edges as 0-based (i, j) index pairs.
        sides: ``"R"`` / ``"L"`` / ``""`` per keypoint (the subject's own side).
        facial: ids of the facial points (hidden by face occlusion, used by head privacy).
        sigmas: COCO OKS per-keypoint sigmas, or () when the set has none.
    """

    name: str
    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    sides: tuple[str, ...]
    facial: tuple[int, ...] = ()
    sigmas: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        k = len(self.names)
        if len(set(self.names)) != k:
            raise ValueError(f"keypoint set {self.name}: duplicate names")
        if len(self.sides) != k or any(s not in ("R", "L", "") for s in self.sides):
            raise ValueError(f"keypoint set {self.name}: need one side R/L/'' per keypoint")
        if any(not (0 <= i < k and 0 <= j < k and i != j) for i, j in self.skeleton):
            raise ValueError(f"keypoint set {self.name}: skeleton edge out of range")
        if any(not 0 <= i < k for i in self.facial):
            raise ValueError(f"keypoint set {self.name}: facial id out of range")
        if self.sigmas and len(self.sigmas) != k:
            raise ValueError(f"keypoint set {self.name}: need one sigma per keypoint")

    @property
    def num_keypoints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """The id of keypoint ``name`` (ValueError when absent)."""
        return self.names.index(name)

    @property
    def head_ids(self) -> tuple[int, ...]:
        """Ids of the points that mark the head, in order: the facial points and the head point(s), a
        name with the word ``head`` (NYCU's ``Head``, a third-party ``head_top``). Head privacy hides
        their box."""
        return tuple(i for i, n in enumerate(self.names) if i in self.facial or "head" in name_words(n))

    @property
    def non_facial(self) -> tuple[int, ...]:
        """Ids of the keypoints that are not facial, in order."""
        return tuple(i for i in range(self.num_keypoints) if i not in self.facial)

    def coco_skeleton(self) -> list[list[int]]:
        """The skeleton as COCO JSON stores it (1-based pairs)."""
        return [[i + 1, j + 1] for i, j in self.skeleton]

    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        """(right id, left id) pairs that swap under a horizontal flip, matched by name."""
        pairs = []
        for i, n in enumerate(self.names):
            if self.sides[i] != "R":
                continue
            for cand in _mirror_names(n):
                if cand in self.names:
                    pairs.append((i, self.index(cand)))
                    break
        return tuple(pairs)


def _mirror_names(name: str) -> tuple[str, ...]:
    """Candidate names of the other side's twin (``Wrist_R`` → ``Wrist_L``, ``right_eye`` → ``left_eye``)."""
    out = []
    if name.endswith("_R"):
        out.append(name[:-2] + "_L")
    if name.startswith("right_"):
        out.append("left_" + name[6:])
    return tuple(out)


NYCU22: Final = KeypointSet(
    name="nycu22",
    names=(
        "Head",
        "Eye_L",
        "Eye_R",
        "Nose",
        "Upper_Lip",
        "Lower_Lip",
        "Shoulder_R",
        "Shoulder_L",
        "Elbow_R",
        "Elbow_L",
        "Wrist_R",
        "Wrist_L",
        "MP_joint_R",
        "MP_joint_L",
        "Hip_R",
        "Hip_L",
        "Knee_R",
        "Knee_L",
        "Ankle_R",
        "Ankle_L",
        "MTP_joint_R",
        "MTP_joint_L",
    ),
    skeleton=(
        (0, 3),  # head - nose
        (1, 3),
        (2, 3),
        (3, 4),
        (4, 5),
        (0, 6),  # head - shoulders
        (0, 7),
        (6, 7),
        (6, 8),  # right arm
        (8, 10),
        (10, 12),
        (7, 9),  # left arm
        (9, 11),
        (11, 13),
        (6, 14),  # trunk
        (7, 15),
        (14, 15),
        (14, 16),  # right leg
        (16, 18),
        (18, 20),
        (15, 17),  # left leg
        (17, 19),
        (19, 21),
    ),
    sides=(
        "",
        "L",
        "R",
        "",
        "",
        "",
        "R",
        "L",
        "R",
        "L",
        "R",
        "L",
        "R",
        "L",
        "R",
        "L",
        "R",
        "L",
        "R",
        "L",
        "R",
        "L",
    ),
    facial=(1, 2, 3, 4, 5),
)
"""The NYCU infant keypoints, in the LabelMe label order of the dataset (MP = palm, MTP = sole)."""

COCO17: Final = KeypointSet(
    name="coco17",
    names=(
        "nose",
        "left_eye",
        "right_eye",
        "left_ear",
        "right_ear",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    ),
    skeleton=tuple(
        (i - 1, j - 1)
        for i, j in (
            (16, 14),
            (14, 12),
            (17, 15),
            (15, 13),
            (12, 13),
            (6, 12),
            (7, 13),
            (6, 7),
            (6, 8),
            (7, 9),
            (8, 10),
            (9, 11),
            (2, 3),
            (1, 2),
            (1, 3),
            (2, 4),
            (3, 5),
            (4, 6),
            (5, 7),
        )
    ),
    sides=("", "L", "R", "L", "R", "L", "R", "L", "R", "L", "R", "L", "R", "L", "R", "L", "R"),
    facial=(0, 1, 2, 3, 4),
    sigmas=tuple(
        s / 10.0
        for s in (
            0.26,
            0.25,
            0.25,
            0.35,
            0.35,
            0.79,
            0.79,
            0.72,
            0.72,
            0.62,
            0.62,
            1.07,
            1.07,
            0.87,
            0.87,
            0.89,
            0.89,
        )
    ),
)
"""COCO person keypoints (SyRIP's format) with the standard OKS sigmas."""

KNOWN_SETS: Final[dict[str, KeypointSet]] = {NYCU22.name: NYCU22, COCO17.name: COCO17}

NYCU_TO_COCO: Final[dict[str, str]] = {
    "Nose": "nose",
    "Eye_L": "left_eye",
    "Eye_R": "right_eye",
    "Shoulder_L": "left_shoulder",
    "Shoulder_R": "right_shoulder",
    "Elbow_L": "left_elbow",
    "Elbow_R": "right_elbow",
    "Wrist_L": "left_wrist",
    "Wrist_R": "right_wrist",
    "Hip_L": "left_hip",
    "Hip_R": "right_hip",
    "Knee_L": "left_knee",
    "Knee_R": "right_knee",
    "Ankle_L": "left_ankle",
    "Ankle_R": "right_ankle",
}
"""The points both sets share, by name (COCO's ears and NYCU's head, lips, palms and soles have no twin)."""

PCK_GROUPS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("vertex", ("Head",)),
    ("shoulder", ("Shoulder_R", "Shoulder_L")),
    ("elbow", ("Elbow_R", "Elbow_L")),
    ("wrist", ("Wrist_R", "Wrist_L")),
    ("palm", ("MP_joint_R", "MP_joint_L")),
    ("hip", ("Hip_R", "Hip_L")),
    ("knee", ("Knee_R", "Knee_L")),
    ("ankle", ("Ankle_R", "Ankle_L")),
    ("sole", ("MTP_joint_R", "MTP_joint_L")),
)
"""NYCU's per-joint-group PCK table: column name → the NYCU-22 names it averages."""

PCK_BETAS: Final[tuple[float, ...]] = (0.1, 0.08, 0.06, 0.04, 0.02)
"""The PCKsh thresholds reported (fractions of the body size S, see :func:`body_size`)."""

MKS_LAMBDA: Final[float] = 0.01 / (2.0 * math.log(2.0))
"""mKS's λ ≈ 0.00721: a point ``0.1·S`` away scores exp(−0.01 / (2λ)) = 0.5."""

VISIBLE: Final[int] = 2
OCCLUDED: Final[int] = 1
NOT_LABELLED: Final[int] = 0
"""COCO visibility flags: 2 labelled and visible, 1 labelled but hidden, 0 not labelled/outside."""


def side_of(name: str) -> str:
    """``R``/``L``/``""`` from a keypoint name alone (``*_R``, ``*_L``, ``right_*``, ``left_*``, ``r_*``,
    ``l_*``, any case): how a set without stated sides (a third-party model) is coloured."""
    low = name.lower()
    if low.endswith("_r") or low.startswith(("right_", "r_")):
        return "R"
    if low.endswith("_l") or low.startswith(("left_", "l_")):
        return "L"
    return ""


FACE_WORDS: Final[frozenset[str]] = frozenset(
    {"face", "nose", "eye", "eyes", "ear", "ears", "lip", "lips", "mouth", "chin", "forehead"}
)
"""Words that make a keypoint facial by its name alone (``left_ear``, ``Mouth-Center``): how the facial
ids of a set without stated ones (a third-party model) are found (:func:`facial_of`)."""


def name_words(name: str) -> list[str]:
    """The lower-case words of a keypoint name, split at ``_``, ``-``, spaces and dots."""
    return re.split(r"[_\-\s.]+", name.lower())


def is_facial_name(name: str) -> bool:
    """Whether a name has a word of :data:`FACE_WORDS` (``Eye_L``, ``upper-lip``; not ``Head``)."""
    return any(w in FACE_WORDS for w in name_words(name))


def facial_of(names: tuple[str, ...] | list[str]) -> tuple[int, ...]:
    """The ids of the facial names (:func:`is_facial_name`), in order."""
    return tuple(i for i, n in enumerate(names) if is_facial_name(n))


def keypoint_set_for(names: tuple[str, ...] | list[str]) -> KeypointSet | None:
    """The known set with exactly these names in this order, or None."""
    t = tuple(names)
    for s in KNOWN_SETS.values():
        if s.names == t:
            return s
    return None
