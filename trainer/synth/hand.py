"""An adult hand and forearm entering the scene from a frame edge (a prop, see :mod:`trainer.synth.props`):
palm, four finger capsules and a thumb, any skin tone, sometimes in a nitrile glove or with a sleeve,
reaching towards the infant. Arrays as in :mod:`trainer.synth.layers`; sizes in centimetres × ``unit``
(pixels per centimetre). Deterministic given the random generator.
"""

from __future__ import annotations

import math
from typing import Final

import cv2
import numpy as np

from trainer.synth import patterns as pt
from trainer.synth.layers import Layer, Mask, capsule, from_parts, infant_point, part_shading
from trainer.synth.skin import sample_skin
from trainer.synth.textures import CLOTH_COLOURS, RGB, smooth_noise

GLOVES: Final = np.array(
    [(90, 140, 220), (140, 110, 200), (236, 236, 240), (120, 180, 220)], dtype=np.float64
)


ADULT_MONTHS: Final = 360.0
"""The age the skin sampler is asked for an adult's hand (no newborn redness)."""


def hand_layer(
    rng: np.random.Generator, h: int, w: int, unit: float, infant: Mask, skin: RGB | None
) -> Layer:
    """An adult hand whose fingertips reach a random infant pixel (of ``infant``, (h, w) bool), arm from a
    frame edge (the nearest one 60 % of the time); ``skin`` RGB or sampled; over the infant 85 % of the time."""
    target = infant_point(rng, infant)
    dists = {"top": target[1], "bottom": h - 1 - target[1], "left": target[0], "right": w - 1 - target[0]}
    side = min(dists, key=lambda s: dists[s]) if rng.random() < 0.6 else str(rng.choice(list(dists)))
    along = float(rng.normal(0.0, 0.15))
    ex = float(np.clip(target[0] + along * w, 0, w - 1))
    ey = float(np.clip(target[1] + along * h, 0, h - 1))
    entry = {"top": (ex, 0.0), "bottom": (ex, h - 1.0), "left": (0.0, ey), "right": (w - 1.0, ey)}[side]
    e = np.array(entry)
    d = target - e
    axis = d / max(float(np.linalg.norm(d)), 1e-6)
    if np.linalg.norm(d) < 1.0:
        axis = {
            "top": np.array([0.0, 1.0]),
            "bottom": np.array([0.0, -1.0]),
            "left": np.array([1.0, 0.0]),
        }.get(side, np.array([-1.0, 0.0]))
    across = np.array([-axis[1], axis[0]]) * (1.0 if rng.random() < 0.5 else -1.0)  # thumb side
    k = float(rng.uniform(0.9, 1.1)) * unit
    palm_l, palm_w = float(rng.uniform(9.0, 11.0)) * k, float(rng.uniform(7.5, 9.0)) * k
    tips = target + axis * float(rng.uniform(-2.0, 3.0)) * k
    curl = float(rng.uniform(0.45, 1.0))
    knuckles = tips - axis * 7.5 * curl * k
    wrist = knuckles - axis * palm_l
    parts = np.zeros((h, w), np.uint8)
    capsule(parts, e - axis * 30.0 * k, wrist, float(rng.uniform(5.5, 7.5)) * k, 1)  # forearm
    quad = np.array([wrist - across * palm_w * 0.42, wrist + across * palm_w * 0.42,
                     knuckles + across * palm_w * 0.5, knuckles - across * palm_w * 0.5])  # fmt: skip
    cv2.fillConvexPoly(parts, np.round(quad * 16).astype(np.int32), 2, cv2.LINE_8, 4)
    spread = float(rng.uniform(0.0, 0.12))
    for i, length in enumerate((6.0, 7.5, 8.0, 7.5)):  # little, ring, middle, index fingers
        base = knuckles + across * palm_w * (-0.36 + 0.24 * i)
        turn = (i - 1.5) * spread
        direction = axis * math.cos(turn) + across * math.sin(turn)
        fw = float(rng.uniform(1.6, 2.0)) * k
        capsule(
            parts,
            base,
            base + direction * (length * curl * float(rng.uniform(0.9, 1.1)) * k - fw / 2),
            fw,
            3 + i,
        )
    thumb_base = wrist + axis * palm_l * 0.3 + across * palm_w * 0.4
    t_dir = axis * math.cos(0.8) + across * math.sin(0.8)
    capsule(parts, thumb_base, thumb_base + t_dir * float(rng.uniform(4.5, 6.5)) * k, 2.2 * k, 7)
    glove = rng.random() < 0.2
    base_rgb = (
        pt.colour(rng, GLOVES, 5.0)
        if glove
        else np.array(skin or sample_skin(rng, ADULT_MONTHS)[0], np.float32)
    )
    cols = np.repeat(base_rgb[None], 8, axis=0) * rng.uniform(0.95, 1.05, (8, 1)).astype(np.float32)
    cols[0] = 0.0
    if rng.random() < 0.4:  # a sleeve over the forearm, ending some centimetres before the wrist
        cuff = wrist - axis * float(rng.uniform(3.0, 15.0)) * k
        sleeve = np.zeros((h, w), np.uint8)
        capsule(sleeve, e - axis * 30.0 * k, cuff, float(rng.uniform(7.0, 9.5)) * k, 1)
        parts[sleeve > 0] = 1
        cols[1] = pt.colour(rng, CLOTH_COLOURS)
    gain = part_shading(parts, 1.2 * k, 0.3) * (1.0 + 0.04 * smooth_noise(rng, h, w, 3.0 * k))
    return from_parts(parts, cols.astype(np.float32), gain, "hand", bool(rng.random() < 0.85))
