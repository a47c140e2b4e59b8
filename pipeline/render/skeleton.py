"""The infant's skeleton on the overlay: joints and the keypoint set's edges, coloured by side.

Which set: the frame's own (:attr:`Result.keypoint_set <pipeline.frames.Result>`, the pose model's,
a third-party model's sidecar skeleton and sides included) gives the edges and the sides. Only
keypoints without one are matched by name: the known set
(:data:`pipeline.contract.keypoints.KNOWN_SETS`) whose name at each keypoint's ``id`` is that
keypoint's name (:func:`keypoint_set_of`); keypoints of no known set are drawn as joints only, their
side read from the name (``_R``/``_L`` suffix, ``right_``/``left_`` prefix, else midline).

Colours (:func:`pipeline.render.palette.side_colour`): a joint has its side's colour; an edge the
colour of its side when both ends share it or one is midline, the midline colour when it joins right
and left. Observed joints are filled dots; ``predicted`` ones (their track coasting) hollow rings in
the dimmed colour, and an edge touching one is drawn dimmed. Positions: ``smoothed`` when the joint
has one (keypoint tracking on), else the measured ``x``, ``y``.

Drawn in place on an RGB (H, W, 3) uint8 image the caller owns (never ``result.image``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from pipeline.contract.keypoints import KNOWN_SETS, KeypointSet, side_of
from pipeline.frames import Keypoint
from pipeline.render.palette import RGB, dimmed, side_colour

SUBPIXEL_SHIFT = 2
"""Fractional bits for cv2 drawing of float points (quarter-pixel precise)."""


def keypoint_set_of(keypoints: Sequence[Keypoint]) -> KeypointSet | None:
    """The known set every keypoint belongs to (``names[id] == name``), or None."""
    for kset in KNOWN_SETS.values():
        if all(0 <= kp.id < kset.num_keypoints and kset.names[kp.id] == kp.name for kp in keypoints):
            return kset
    return None


def edge_side(a: str, b: str) -> str:
    """The side an edge between joints of sides ``a`` and ``b`` is coloured as (module docstring)."""
    if a == b:
        return a
    if not a or not b:
        return a or b
    return ""


def _position(kp: Keypoint) -> tuple[float, float] | None:
    if kp.smoothed is not None:
        return kp.smoothed
    if kp.x is not None and kp.y is not None:
        return kp.x, kp.y
    return None


def _fixed(xy: tuple[float, float]) -> tuple[int, int]:
    one = 1 << SUBPIXEL_SHIFT
    return round(xy[0] * one), round(xy[1] * one)


def draw_skeleton(
    out: np.ndarray, keypoints: Sequence[Keypoint], scale: int, keypoint_set: KeypointSet | None = None
) -> None:
    """Draw the edges, then the joints, of ``keypoints`` on ``out`` in place.

    Args:
        out: (H, W, 3) uint8 RGB, written.
        keypoints: the frame's joints (:attr:`pipeline.frames.Result.keypoints`).
        scale: line thickness unit, px (:func:`pipeline.render.overlay.line_scale`).
        keypoint_set: their set (:attr:`pipeline.frames.Result.keypoint_set`): edges and sides;
            None = the known set matched by name (:func:`keypoint_set_of`), if any.
    """
    if not keypoints:
        return
    kset = keypoint_set if keypoint_set is not None else keypoint_set_of(keypoints)
    by_id = {kp.id: kp for kp in keypoints}

    def side(kp: Keypoint) -> str:
        if kset is not None and 0 <= kp.id < kset.num_keypoints:
            return kset.sides[kp.id]
        return side_of(kp.name)

    for i, j in kset.skeleton if kset is not None else ():
        a, b = by_id.get(i), by_id.get(j)
        pa, pb = (None, None) if a is None or b is None else (_position(a), _position(b))
        if a is None or b is None or pa is None or pb is None:
            continue
        colour: RGB = side_colour(edge_side(side(a), side(b)))
        if "predicted" in (a.state, b.state):
            colour = dimmed(colour)
        cv2.line(out, _fixed(pa), _fixed(pb), colour, 2 * scale, cv2.LINE_AA, SUBPIXEL_SHIFT)
    one = 1 << SUBPIXEL_SHIFT
    for kp in keypoints:
        p = _position(kp)
        if p is None:
            continue
        colour = side_colour(side(kp))
        if kp.state == "predicted":
            cv2.circle(out, _fixed(p), 4 * scale * one, dimmed(colour), scale, cv2.LINE_AA, SUBPIXEL_SHIFT)
        else:
            cv2.circle(out, _fixed(p), 3 * scale * one, colour, cv2.FILLED, cv2.LINE_AA, SUBPIXEL_SHIFT)
            cv2.circle(out, _fixed(p), 3 * scale * one, (0, 0, 0), 1, cv2.LINE_AA, SUBPIXEL_SHIFT)
