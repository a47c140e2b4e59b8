"""What the synthetic infant wears: clothing families, accessories and their geometry.

:class:`Clothing` says what covers the body (a bodysuit's sleeves and legs, a footed sleeper, socks, mittens,
a hat, wrist / ankle bands, stick-on sensors and tape, a swaddle); :func:`sample_clothing` draws one from the
allowed :data:`CLOTHING_FAMILIES` (for out-of-distribution hold-outs). The geometry functions build the
accessories' polygons in body-local centimetres (:mod:`trainer.synth.body` frame) around the skeleton's
landmarks; :func:`trainer.synth.body.build_body` gives them their instances.

Labelling rules (:mod:`trainer.synth.render` labels a pixel by the instance of the primitive drawn on top):
fabric on a limb is that limb (sleeve, mitten: arm; trouser leg, sleeper foot, sock: leg); a hat is head;
a band, sensor or tape is the part it is stuck on; a swaddle is NOT the infant: its primitives have
instance 0, so its pixels are background and the keypoints under it are occluded.

A piece is ``(points, material, frame)``: (N, 2) float64 polygon in cm, a material name of
:data:`trainer.synth.paint.MATERIALS`, and the cloth frame its print is laid out in, (3,) float64
``(origin_x, origin_y, angle)`` (cm, radians; the print's +v axis is the frame's ``R(angle) @ (0, 1)``), or
None for the torso frame. Deterministic given the random generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from trainer.synth.families import check_families
from trainer.synth.shapes import capsule, clip_halfplane, ellipse, grow, hull, unit_circle
from trainer.synth.skeleton import SKULL_A, SKULL_B, Face, Limb, direction, rotation

FloatArray = npt.NDArray[np.float64]
Piece = tuple[FloatArray, str, FloatArray | None]

CLOTHING_FAMILIES: Final[tuple[str, ...]] = ("bare", "onesie", "sleeper", "swaddle")
"""bare: diaper only; onesie: bodysuit with sleeves / legs of any length; sleeper: long sleeves and footed legs;
swaddle: a wrap over a bare or dressed infant."""
FAMILY_WEIGHTS: Final[dict[str, float]] = {"bare": 0.22, "onesie": 0.45, "sleeper": 0.23, "swaddle": 0.10}
HAT_STYLES: Final[tuple[str, ...]] = ("cap", "knit", "bobble")
"""cap: thin cotton cap; knit: knitted hat with a turned-up brim; bobble: knitted hat with a pompom."""
BAND_SITES: Final[tuple[str, ...]] = ("left_wrist", "right_wrist", "left_ankle", "right_ankle")
PATCH_SITES: Final[tuple[str, ...]] = ("torso", "left_foot", "right_foot")
SWADDLE_KINDS: Final[tuple[str, ...]] = ("arms", "legs")
"""arms: torso and both arms wrapped (legs free); legs: torso from the chest down and both legs wrapped."""


@dataclass(frozen=True)
class Patch:
    """A stick-on sensor or tape patch. ``kind`` "sensor" or "tape"; ``site`` a :data:`PATCH_SITES` entry;
    ``u``/``v`` its centre in cm in the site's frame (torso: body-local; foot: across / along the foot from the
    drawn foot's centre); ``length``/``width`` cm; ``angle`` radians in the site's frame."""

    kind: str
    site: str
    u: float
    v: float
    length: float
    width: float
    angle: float


@dataclass(frozen=True)
class Clothing:
    """What covers the infant (geometry only; colours and prints live in the renderer's Appearance).

    ``onesie``: bodysuit (else bare torso and a diaper). ``sleeve``/``trouser`` in [0, 2]: 0 bare, 1 covers the
    upper arm / thigh, 2 the whole arm / leg down to the wrist / ankle (fractions in between). ``socks``;
    ``footed``: the trouser legs go on over the feet (a footed sleeper); ``mittens`` cover the hands; ``hat``:
    "" or a :data:`HAT_STYLES` entry, ``hat_depth`` the fraction (0..1) of the skull's half-length it comes
    down from the crown; ``bands``: :data:`BAND_SITES` with a band; ``patches``: sensors and tape;
    ``swaddle``: "" or a :data:`SWADDLE_KINDS` entry, ``swaddle_top`` the wrap's upper edge (body-local y, cm;
    "legs" only), ``swaddle_flap`` the direction (radians) of the wrap's top layer edge.
    """

    onesie: bool = True
    sleeve: float = 0.5
    trouser: float = 0.3
    socks: bool = False
    footed: bool = False
    mittens: bool = False
    hat: str = ""
    hat_depth: float = 0.6
    bands: tuple[str, ...] = ()
    patches: tuple[Patch, ...] = ()
    swaddle: str = ""
    swaddle_top: float = -6.0
    swaddle_flap: float = 0.0


def clothing_family(clothing: Clothing) -> str:
    """The :data:`CLOTHING_FAMILIES` entry ``clothing`` belongs to."""
    if clothing.swaddle:
        return "swaddle"
    if clothing.footed:
        return "sleeper"
    return "onesie" if clothing.onesie else "bare"


def _patches(rng: np.random.Generator, bare_torso: bool, bare_feet: bool) -> tuple[Patch, ...]:
    out: list[Patch] = []
    if bare_torso and rng.random() < 0.2:
        for _ in range(int(rng.integers(1, 4))):
            kind = "sensor" if rng.random() < 0.6 else "tape"
            size = float(rng.uniform(1.4, 2.4)) if kind == "sensor" else float(rng.uniform(1.8, 3.5))
            out.append(
                Patch(
                    kind, "torso", float(rng.uniform(-4.2, 4.2)), float(rng.uniform(-6.5, 2.5)),
                    size, size if kind == "sensor" else float(rng.uniform(0.8, 1.6)), float(rng.uniform(0, math.pi)),
                )
            )  # fmt: skip
    for site in ("left_foot", "right_foot"):
        if bare_feet and rng.random() < 0.08:
            out.append(Patch("sensor", site, 0.0, float(rng.uniform(-0.6, 0.8)), 1.4, 1.0, 0.0))
    return tuple(out)


def sample_clothing(rng: np.random.Generator, families: Sequence[str] | None = None) -> Clothing:
    """Random clothes of an allowed family (None = all, weighted by :data:`FAMILY_WEIGHTS`), with accessories:
    socks, mittens, hats, wrist / ankle bands, sensors and tape (where there is bare skin)."""
    allowed = check_families(families, CLOTHING_FAMILIES, "clothing families")
    w = np.array([FAMILY_WEIGHTS[f] for f in allowed])
    family = allowed[int(rng.choice(len(allowed), p=w / w.sum()))]
    swaddle = ""
    if family == "swaddle":
        swaddle = SWADDLE_KINDS[int(rng.random() < 0.35)]
        family = "bare" if rng.random() < 0.4 else "onesie"
    onesie, footed = family != "bare", family == "sleeper"
    sleeve = trouser = 0.0
    if family == "onesie":
        sleeve = float(rng.choice([0.0, rng.uniform(0.3, 1.0), rng.uniform(1.0, 2.0)], p=[0.2, 0.35, 0.45]))
        trouser = float(
            rng.choice([0.0, rng.uniform(0.2, 1.0), rng.uniform(1.0, 1.9), 2.0], p=[0.35, 0.2, 0.15, 0.3])
        )
    elif family == "sleeper":
        sleeve = float(rng.uniform(1.75, 2.0)) if rng.random() < 0.85 else float(rng.uniform(0.3, 1.0))
        trouser = 2.0
    socks = not footed and rng.random() < 0.3
    mittens = rng.random() < (0.25 if footed else 0.1)
    hat = HAT_STYLES[int(rng.choice(3, p=[0.45, 0.4, 0.15]))] if rng.random() < 0.28 else ""
    bands = tuple(s for s, p in zip(BAND_SITES, (0.1, 0.1, 0.07, 0.07), strict=True) if rng.random() < p)
    if footed or socks:
        bands = tuple(b for b in bands if not b.endswith("ankle"))
    patches = _patches(rng, bare_torso=not onesie, bare_feet=not (footed or socks))
    return Clothing(
        onesie=onesie,
        sleeve=sleeve,
        trouser=trouser,
        socks=socks,
        footed=footed,
        mittens=mittens,
        hat=hat,
        hat_depth=float(rng.uniform(0.45, 0.85)),
        bands=bands,
        patches=patches,
        swaddle=swaddle,
        swaddle_top=float(rng.uniform(-8.5, -3.0)),
        swaddle_flap=float(rng.choice([0.0, math.pi]) + rng.uniform(-0.6, 0.6)),
    )


# ---------------------------------------------------------------- geometry (body-local cm)


def segment_frame(p0: FloatArray, p1: FloatArray) -> FloatArray:
    """Cloth frame of a limb segment: origin ``p0``, +v along ``p1 - p0``; (3,) (x, y, angle)."""
    d = p1 - p0
    return np.array([p0[0], p0[1], math.atan2(-d[0], d[1])])


def _band_polygon(centre: FloatArray, along: FloatArray, half_across: float, half_along: float) -> FloatArray:
    """A thin band (rounded rectangle) around a limb at ``centre``, ``along`` the limb's unit direction."""
    across = np.array([-along[1], along[0]])
    r = min(0.2, half_along)
    corners = [
        centre + sa * (half_along - r) * along + sc * (half_across - r) * across
        for sa in (-1, 1)
        for sc in (-1, 1)
    ]
    return hull(np.concatenate([c + r * unit_circle(8) for c in corners]))


def mitten(limb: Limb, girth: float, limb_len: float, wrist_r: float) -> list[Piece]:
    """A mitten over the hand and wrist of arm ``limb`` (hand drawn as in body._arm)."""
    a2, a3 = limb.angles[1], limb.angles[2]
    fore = direction(a2, limb.side)
    frame = segment_frame(limb.end, limb.extremity)
    hand = ellipse(limb.extremity, 1.45 * girth + 0.3, 2.15 * limb_len + 0.3, -limb.side * a3)
    cuff = capsule(limb.end - 0.5 * fore, limb.extremity, wrist_r + 0.3, 1.45 * girth + 0.3)
    return [(cuff, "mitten", frame), (hand, "mitten", frame)]


def band(limb: Limb, radius: float) -> Piece:
    """A wrist / ankle band around ``limb``'s wrist / ankle (``radius``: the limb's radius there, cm)."""
    along = direction(limb.angles[1], limb.side)
    return _band_polygon(limb.end - 0.2 * along, along, radius + 0.25, 0.45), "band", None


def hat(face: Face, head_scale: float, tilt: float, style: str, depth: float) -> list[Piece]:
    """A hat of ``style`` over the crown down to ``depth`` (0..1) of the skull's half-length, plus a turned-up
    brim (knit, bobble) and a pompom (bobble). ``tilt``: the head's tilt (radians)."""
    a, b = SKULL_A * head_scale, SKULL_B * head_scale
    rot, centre = face.rot, face.centre
    frame = np.array([centre[0], centre[1], tilt])
    line = -b + depth * b
    t = np.linspace(-math.pi, math.pi, 72, endpoint=False)
    shell = np.stack([1.03 * a * np.sin(t), -1.03 * b * np.cos(t)], axis=1)
    cap = clip_halfplane(shell, np.array([0.0, -1.0]), -line)
    out: list[Piece] = [(centre + cap @ rot.T, "hat", frame)]
    if style in ("knit", "bobble"):
        brim_shell = np.stack([1.07 * a * np.sin(t), -1.07 * b * np.cos(t)], axis=1)
        brim = clip_halfplane(brim_shell, np.array([0.0, -1.0]), -(line + 0.2 * head_scale))
        brim = clip_halfplane(brim, np.array([0.0, 1.0]), line - 1.5 * head_scale)
        if len(brim) >= 3:
            out.append((centre + brim @ rot.T, "hat", np.array([centre[0], centre[1], tilt + math.pi / 2])))
    if style == "bobble":
        top = centre + rot @ np.array([0.0, -1.03 * b - 0.8 * head_scale])
        out.append((ellipse(top, 1.6 * head_scale, 1.4 * head_scale, tilt), "hat", frame))
    return out


def patch(p: Patch, origin: FloatArray, angle: float) -> list[Piece]:
    """Sensor / tape ``p`` placed in the site frame (``origin`` cm, ``angle`` radians: +v = R(angle) @ (0, 1))."""
    rot = rotation(angle)
    centre = origin + rot @ np.array([p.u, p.v])
    along = rot @ rotation(p.angle) @ np.array([0.0, 1.0])
    if p.site != "torso":  # pulse-oximeter wrap: tape around the foot, the sensor on top
        wrap = _band_polygon(centre, along, 2.2, 0.5 * p.length)
        return [(wrap, "tape", None), (_band_polygon(centre, along, 0.6, 0.35), "sensor", None)]
    if p.kind == "tape":
        return [(_band_polygon(centre, along, 0.5 * p.length, 0.5 * p.width), "tape", None)]
    foam = ellipse(centre, 0.5 * p.length, 0.5 * p.width, angle + p.angle, n=20)
    return [(foam, "tape", None), (ellipse(centre, 0.35, 0.35, 0.0, n=12), "sensor", None)]


def swaddle(parts: Sequence[FloatArray], kind: str, top: float, flap: float) -> list[Piece]:
    """A swaddle wrapped around ``parts`` ((M_i, 2) cm outline points: the torso's first, then each wrapped
    limb's), each layer grown by 1 cm. "arms": one layer per arm, the hull of the torso and that arm (so
    the wrap follows each arm); "legs": one hull of the torso and both legs cut off above body-local y =
    ``top``, plus its top layer, the part past a line through the belly turned by ``flap`` radians.
    Empty when nothing is left."""
    if kind == "arms":
        layers = [grow(np.concatenate([parts[0], limb]), 1.0) for limb in parts[1:]] or [grow(parts[0], 1.0)]
        return [(layer, "swaddle", np.array([0.0, 0.0, flap * k])) for k, layer in enumerate(layers)]
    outline = clip_halfplane(grow(np.concatenate(list(parts)), 1.0), np.array([0.0, 1.0]), top)
    if len(outline) < 3:
        return []
    out: list[Piece] = [(outline, "swaddle", None)]
    normal = np.array([math.cos(flap), math.sin(flap) * 0.6 - 0.5])
    normal /= np.linalg.norm(normal)
    layer = clip_halfplane(outline, normal, 1.0)
    if len(layer) >= 3:
        out.append((layer, "swaddle", np.array([0.0, 0.0, flap + 0.7])))
    return out
