"""Paint the rasterised infant: material colours, fabric prints in each primitive's cloth frame, and
rounded-volume shading lit from one direction.

Works on the infant's bounding box of the primitive-index map that :func:`trainer.synth.render.render` draws
(``sub``: (h, w) uint8, 0 = nothing, i = primitive ``i - 1``). Colours are float32 RGB 0..255; shading is a
float32 multiplier. Pure functions of their arguments (no randomness).

Shading = edge darkening (ambient occlusion near every outline between parts) × a directional term: each part
is treated as a rounded volume whose height rises from its outline like a quarter circle of radius
:data:`VOLUME_RADIUS_CM`; its surface normal meets the light from ``Appearance.light_azimuth`` (image frame,
radians, x right / y down: the direction towards the light) at ``light_elevation`` above the mattress.
A flat top keeps its colour, the side facing the light brightens and the far side darkens by ``relief``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

import cv2
import numpy as np
import numpy.typing as npt

from trainer.synth.body import TORSO_I, Pose, Primitive
from trainer.synth.prints import Print, print_weight

if TYPE_CHECKING:  # render imports this module; Appearance is only needed for annotations
    from trainer.synth.render import Appearance

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

MATERIALS: Final[tuple[str, ...]] = (
    "skin", "garment", "diaper", "sock", "hair", "eye", "lip", "nose",
    "hat", "band", "mitten", "sensor", "tape", "swaddle",
)  # fmt: skip
"""Everything a primitive can be painted with (index = material id)."""
VOLUME_RADIUS_CM: Final[float] = 2.0
"""How far in from a part's outline its rounded surface reaches full height (cm)."""


def material_colours(look: Appearance) -> F32:
    """(len(MATERIALS), 3) float32 RGB of each material before prints and shading."""
    skin = np.array(look.skin)
    eye = np.array((45.0, 32.0, 30.0)) if look.eyes_open else skin * 0.5
    table = {
        "skin": skin,
        "garment": np.array(look.garment_a),
        "diaper": np.array(look.diaper),
        "sock": np.array(look.sock),
        "hair": np.array(look.hair),
        "eye": eye,
        "lip": skin * np.array([0.92, 0.7, 0.7]),
        "nose": skin * 0.9,
        "hat": np.array(look.hat_print.a),
        "band": np.array(look.band),
        "mitten": np.array(look.mitten),
        "sensor": np.array(look.sensor),
        "tape": 0.7 * np.array(look.tape) + 0.3 * skin,
        "swaddle": np.array(look.swaddle_print.a),
    }
    return np.stack([table[m] for m in MATERIALS]).astype(np.float32)


def material_prints(look: Appearance) -> dict[str, Print]:
    """Material → its print: the garment's (from the Appearance's pattern fields), the hat's, the swaddle's."""
    garment = Print(
        look.pattern, look.pattern_cm, look.pattern_angle, look.garment_a, look.garment_b, look.pattern_seed
    )
    return {"garment": garment, "hat": look.hat_print, "swaddle": look.swaddle_print}


def infant_colours(
    sub: U8, prims: list[Primitive], look: Appearance, pose: Pose, origin: tuple[int, int]
) -> F32:
    """(h, w, 3) float32 RGB of the primitive-index crop ``sub`` whose top-left pixel is ``origin`` (x0, y0):
    material colours, with each printed material's print laid out in its primitive's cloth frame."""
    mat_lut = np.array([0] + [MATERIALS.index(p.material) for p in prims], dtype=np.uint8)
    rgb = material_colours(look)[mat_lut][sub]
    centre = (pose.center_x, pose.center_y, pose.orientation)
    frames = np.array([centre] + [centre if p.frame is None else tuple(p.frame) for p in prims], np.float64)
    limb = np.array([False] + [p.instance not in (0, TORSO_I) for p in prims])
    for material, prn in material_prints(look).items():
        if prn.kind == "solid" and prn.a == prn.b:
            continue
        ys, xs = np.nonzero(mat_lut[sub] == MATERIALS.index(material))
        if not len(xs):
            continue
        pid = sub[ys, xs]
        f = frames[pid]
        dx = (xs + origin[0] - f[:, 0]).astype(np.float32)
        dy = (ys + origin[1] - f[:, 1]).astype(np.float32)
        c, s = np.cos(f[:, 2]).astype(np.float32), np.sin(f[:, 2]).astype(np.float32)
        inv = np.float32(1.0 / pose.scale)
        u, v = (c * dx + s * dy) * inv, (c * dy - s * dx) * inv
        m = print_weight(prn, u, v, 1.0 / pose.scale, limb[pid])[:, None]
        rgb[ys, xs] = np.array(prn.a, np.float32) * (1 - m) + np.array(prn.b, np.float32) * m
    return np.asarray(rgb, dtype=np.float32)


def part_edges(ids: U8) -> npt.NDArray[np.bool_]:
    """(h, w) bool: pixels next to (4-neighbour) a pixel of another shading id."""
    edges = np.zeros(ids.shape, bool)
    dx = ids[:, 1:] != ids[:, :-1]
    dy = ids[1:, :] != ids[:-1, :]
    edges[:, 1:] |= dx
    edges[:, :-1] |= dx
    edges[1:, :] |= dy
    edges[:-1, :] |= dy
    return edges


def volume_shade(ids: U8, look: Appearance, scale: float) -> tuple[F32, F32]:
    """(shade, dist): (h, w) float32 brightness multiplier of the parts in shading-id map ``ids`` (module
    doc) and each pixel's distance (pixels) to the nearest outline between ids."""
    dist = cv2.distanceTransform((~part_edges(ids)).astype(np.uint8), cv2.DIST_L2, 3)
    shade = 1.0 - look.shade_strength * np.exp(dist * np.float32(-1.0 / (1.1 * scale)))
    if look.relief > 0.0:
        r = np.float32(VOLUME_RADIUS_CM * scale)
        z = r * np.sin(np.float32(math.pi / 2) * np.minimum(dist / r, np.float32(1.0)))
        z = cv2.GaussianBlur(z, (0, 0), max(0.7, 0.25 * scale))
        zx = cv2.Sobel(z, cv2.CV_32F, 1, 0, ksize=3) * np.float32(0.125)
        zy = cv2.Sobel(z, cv2.CV_32F, 0, 1, ksize=3) * np.float32(0.125)
        el, az = look.light_elevation, look.light_azimuth
        lx, ly, lz = math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)
        ndl = (lz - lx * zx - ly * zy) / np.sqrt(1.0 + zx * zx + zy * zy)
        lit = 1.0 + look.relief * (np.maximum(ndl, 0.0) / np.float32(lz) - 1.0)
        shade = shade * np.clip(lit, 0.45, 1.35)
    return np.asarray(shade, dtype=np.float32), np.asarray(dist, dtype=np.float32)
