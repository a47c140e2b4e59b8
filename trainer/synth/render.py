"""Render a :class:`~trainer.synth.body.Pose` to an RGB image and an exact per-pixel label map.

Every primitive of the body is rasterised ONCE into a primitive-index map; the label map, the instance map and
the image's material colours are all looked up from that map, so whatever is on top in the image is on top in
the labels by construction. Labels are hard (no blending); the image is softened afterwards (shading, shadow,
lighting, optical blur, sensor noise, JPEG), which never changes the labels. Occluders (a blanket edge or a
toy) are drawn last and their pixels are labelled background. A swaddle is a cover primitive of the infant
(instance 0): its pixels are labelled background too, and :attr:`Rendered.occluder_mask` (the scene's
occluder plus the frame's cover pixels) is what :func:`trainer.synth.joints.frame_keypoints` takes, so the
keypoints under either are occluded (rule a). Colours, prints and shading of the infant: :mod:`trainer.synth.paint`.

Arrays: images are (H, W, 3) uint8 RGB; label and instance maps are (H, W) uint8; intermediate colours are
float32 in 0..255. Everything is deterministic given the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from trainer.synth.body import (
    INSTANCE_CLASS,
    BodyShape,
    Clothing,
    Pose,
    Primitive,
    build_body,
    rotation,
    sample_shape,
)
from trainer.synth.paint import MATERIALS, infant_colours, volume_shade
from trainer.synth.prints import Print, sample_colour, sample_print
from trainer.synth.skin import sample_skin
from trainer.synth.textures import (
    CLOTH_COLOURS,
    HAIR_COLOURS,
    RGB,
    SHEET_COLOURS,
    fabric_texture,
    lighting,
    pick_colour,
)
from trainer.synth.wardrobe import sample_clothing

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

__all__ = [
    "COVER_SHADE_ID", "MATERIALS", "OCCLUDER_INSTANCE", "Appearance", "Rendered", "Scene", "make_scene",
    "place_occluder", "render", "sample_appearance",
]  # fmt: skip

OCCLUDER_INSTANCE: Final[int] = 7
"""Instance id of occluder pixels in the shading map only (they are 0 in the returned instance map)."""
PLAIN_HAT: Final = Print("solid", 1.0, 0.0, (236.0, 236.0, 232.0), (236.0, 236.0, 232.0))
PLAIN_SWADDLE: Final = Print("solid", 3.0, 0.0, (238.0, 232.0, 222.0), (238.0, 232.0, 222.0))
COVER_SHADE_ID: Final[int] = 8
"""Shading-map id of the first cover primitive (a swaddle); the next ones count up from it."""


@dataclass(frozen=True)
class Appearance:
    """How one infant in one recording looks (constant over a video). Colours are RGB 0..255.

    ``pattern`` is the garment print (a :data:`trainer.synth.prints.PRINT_KINDS` kind, colours
    ``garment_a``/``garment_b``) with period ``pattern_cm`` centimetres at ``pattern_angle`` radians in each
    garment primitive's cloth frame, motifs placed by ``pattern_seed``; ``hat_print``/``swaddle_print`` the
    hat's and swaddle's fabric; ``band``, ``mitten``, ``sensor``, ``tape`` accessory colours. Shading/shadow
    strengths are fractions of brightness; the light comes from ``light_azimuth`` (radians, image frame:
    the direction towards it, x right / y down) at ``light_elevation`` radians above the mattress, and
    ``relief`` (0..1) is how much it models each part's rounded volume (:mod:`trainer.synth.paint`);
    ``shadow_offset_cm`` is (dx, dy) in image axes, centimetres scaled by the pose, pointing away from the
    light. ``noise_sigma`` is sensor noise in grey levels, ``blur_sigma`` optical blur in pixels,
    ``jpeg_quality`` 0 = no recompression.
    """

    skin: RGB
    hair: RGB
    garment_a: RGB
    garment_b: RGB
    diaper: RGB
    sock: RGB
    pattern: str
    pattern_cm: float
    pattern_angle: float
    shade_strength: float
    shadow_strength: float
    shadow_offset_cm: tuple[float, float]
    noise_sigma: float
    blur_sigma: float
    jpeg_quality: int
    eyes_open: bool
    pattern_seed: int = 0
    hat_print: Print = PLAIN_HAT
    swaddle_print: Print = PLAIN_SWADDLE
    band: RGB = (248.0, 248.0, 246.0)
    mitten: RGB = (244.0, 244.0, 240.0)
    sensor: RGB = (70.0, 70.0, 76.0)
    tape: RGB = (236.0, 226.0, 206.0)
    light_azimuth: float = -2.2
    light_elevation: float = 1.0
    relief: float = 0.0


@dataclass(frozen=True, eq=False)
class Scene:
    """One recording set-up: image size, the infant's look and shape, and cached per-scene images.

    ``background``: (H, W, 3) float32 mattress/blanket colours before lighting; ``light``: (H, W, 3) float32
    multiplicative lighting (gradient, vignette, white balance); ``noise``: (H + 16, W + 16, 3) float32
    unit-variance noise tile cropped at a random offset per frame; ``occluder_mask``: (H, W) bool or None,
    ``occluder_image``: (H, W, 3) float32 or None.
    """

    width: int
    height: int
    appearance: Appearance
    shape: BodyShape
    clothing: Clothing
    background: F32
    light: F32
    noise: F32
    occluder_mask: npt.NDArray[np.bool_] | None
    occluder_image: F32 | None


@dataclass(frozen=True, eq=False)
class Rendered:
    """One rendered frame: ``image`` (H, W, 3) uint8 RGB, ``labels`` (H, W) uint8 class ids 0..4,
    ``instances`` (H, W) uint8 ids into :data:`trainer.synth.body.INSTANCE_NAMES` (0 = not the infant),
    ``occluder_mask`` (H, W) bool or None: what hides the infant's keypoints in this frame, the scene's
    occluder plus the pixels of a swaddle (pass it to :func:`trainer.synth.joints.frame_keypoints`)."""

    image: U8
    labels: U8
    instances: U8
    occluder_mask: npt.NDArray[np.bool_] | None = None


def sample_appearance(
    rng: np.random.Generator,
    shape: BodyShape,
    clothing: Clothing | None = None,
    *,
    print_families: Sequence[str] | None = None,
) -> Appearance:
    """Random skin tone (the whole human range, :mod:`trainer.synth.skin`), hair, garment / hat / swaddle
    prints of the allowed ``print_families`` (None = all of :data:`trainer.synth.prints.PRINT_FAMILIES`),
    accessory colours, light direction, shading and camera quality. ``clothing`` (when given) makes a
    knitted hat's fabric a rib knit (else the hat's print is plain or striped)."""
    skin, dark = sample_skin(rng, shape.age_months)
    hair_v = np.array(pick_colour(rng, HAIR_COLOURS[:2] if dark > 0.55 else HAIR_COLOURS))
    hair = tuple(float(v) for v in 0.65 * hair_v + 0.35 * np.array(skin))
    garment = sample_print(rng, print_families)
    hat_colour = sample_colour(rng)
    if clothing is not None and clothing.hat in ("knit", "bobble"):
        k = float(rng.uniform(0.72, 0.86))
        dim = (hat_colour[0] * k, hat_colour[1] * k, hat_colour[2] * k)
        hat_print = Print("rib", float(rng.uniform(0.5, 0.8)), 0.0, hat_colour, dim)
    else:
        stripes = rng.random() < 0.35
        hat_b = sample_colour(rng) if stripes else hat_colour
        hat_print = Print(
            "stripes" if stripes else "solid", float(rng.uniform(0.8, 1.6)), math.pi / 2, hat_colour, hat_b
        )
    white = (245.0, 245.0, 242.0)
    light_azimuth = float(rng.uniform(-math.pi, math.pi))
    light_elevation = float(rng.uniform(0.55, 1.35))
    reach = float(rng.uniform(0.5, 2.0)) / math.tan(light_elevation)
    return Appearance(
        skin=skin,
        hair=(hair[0], hair[1], hair[2]),
        garment_a=garment.a,
        garment_b=garment.b,
        diaper=pick_colour(rng, CLOTH_COLOURS[:6] if rng.random() < 0.3 else CLOTH_COLOURS[:1], 5.0),
        sock=garment.a if rng.random() < 0.5 else sample_colour(rng, 5.0),
        pattern=garment.kind,
        pattern_cm=garment.period_cm,
        pattern_angle=garment.angle,
        shade_strength=float(rng.uniform(0.25, 0.5)),
        shadow_strength=float(rng.uniform(0.15, 0.45)),
        shadow_offset_cm=(-reach * math.cos(light_azimuth), -reach * math.sin(light_azimuth)),
        noise_sigma=float(rng.uniform(0.5, 6.0)),
        blur_sigma=float(rng.uniform(0.3, 1.3)),
        jpeg_quality=int(rng.choice([0, int(rng.integers(35, 90))])),
        eyes_open=shape.eyes_open,
        pattern_seed=garment.seed,
        hat_print=hat_print,
        swaddle_print=sample_print(rng, print_families),
        band=white if rng.random() < 0.5 else sample_colour(rng),
        mitten=white if rng.random() < 0.4 else (garment.a if rng.random() < 0.5 else sample_colour(rng)),
        sensor=((60.0, 60.0, 66.0), white, (90.0, 140.0, 200.0), (220.0, 80.0, 70.0))[int(rng.integers(4))],
        tape=((236.0, 226.0, 206.0), white, (214.0, 190.0, 160.0))[int(rng.integers(3))],
        light_azimuth=light_azimuth,
        light_elevation=light_elevation,
        relief=float(rng.uniform(0.1, 0.5)),
    )


def _occluder(
    rng: np.random.Generator, pose: Pose, *, shape: BodyShape, clothing: Clothing, h: int, w: int
) -> U8:
    """(h, w) uint8 mask (1 = occluded) of a blanket edge over the legs or a toy near a hand or foot."""
    mask = np.zeros((h, w), np.uint8)
    rot = rotation(pose.orientation)
    centre = np.array([pose.center_x, pose.center_y])
    if rng.random() < 0.5:  # blanket pulled up to somewhere between the knees and the feet
        p = centre + rot @ np.array([0.0, float(rng.uniform(16.0, 28.0))]) * pose.scale
        normal = rotation(float(rng.uniform(-0.5, 0.5))) @ rot @ np.array([0.0, 1.0])
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        along = (xx - p[0]) * -normal[1] + (yy - p[1]) * normal[0]
        wave = (
            1.2
            * pose.scale
            * np.sin(along / (float(rng.uniform(2.0, 5.0)) * pose.scale) + rng.uniform(0, 6.3))
        )
        mask[(xx - p[0]) * normal[0] + (yy - p[1]) * normal[1] > wave] = 1
        return mask
    prims = [q for q in build_body(pose, shape, clothing) if q.instance in (2, 3, 5, 6)]
    target = prims[int(rng.integers(len(prims)))].points.mean(axis=0)
    c = target + rng.normal(0.0, 1.5, 2) * pose.scale
    r = float(rng.uniform(2.5, 5.0)) * pose.scale
    ang = float(rng.uniform(0, math.pi))
    pts = np.stack([np.cos(np.linspace(0, 2 * math.pi, 40)), np.sin(np.linspace(0, 2 * math.pi, 40))], axis=1)
    wobble = 1.0 + 0.25 * np.sin(np.linspace(0, 2 * math.pi, 40) * int(rng.integers(0, 6)))
    poly = c + (pts * wobble[:, None] * np.array([r, r * rng.uniform(0.5, 1.0)])) @ rotation(ang).T
    cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    return mask


def make_scene(
    rng: np.random.Generator,
    width: int,
    height: int,
    pose: Pose | None = None,
    *,
    occluders: bool = True,
    clothing_families: Sequence[str] | None = None,
    print_families: Sequence[str] | None = None,
) -> Scene:
    """Sample a new infant look, body shape, clothes, mattress, lighting and (optionally, given ``pose`` to
    place it) an occluder, for a (height, width) image. ``clothing_families`` / ``print_families``: the
    :data:`trainer.synth.wardrobe.CLOTHING_FAMILIES` / :data:`trainer.synth.prints.PRINT_FAMILIES` to draw
    from (None = all)."""
    shape = sample_shape(rng)
    clothing = sample_clothing(rng, clothing_families)
    look = sample_appearance(rng, shape, clothing, print_families=print_families)
    unit = pose.scale if pose is not None else min(width, height) / 60.0
    background = fabric_texture(rng, height, width, SHEET_COLOURS, unit)
    if rng.random() < 0.25:  # crib rail, floor or a pillow along one edge
        side = int(rng.integers(4))
        frac = float(rng.uniform(0.04, 0.18))
        border = fabric_texture(
            rng, height, width, np.vstack([SHEET_COLOURS, CLOTH_COLOURS[[7, 8, 12]]]), unit
        )
        edge = np.zeros((height, width), bool)
        if side == 0:
            edge[: int(frac * height)] = True
        elif side == 1:
            edge[height - int(frac * height) :] = True
        elif side == 2:
            edge[:, : int(frac * width)] = True
        else:
            edge[:, width - int(frac * width) :] = True
        background[edge] = border[edge] * 0.85
    light = lighting(rng, height, width)
    noise = rng.standard_normal((height + 16, width + 16, 3)).astype(np.float32)
    occ_mask: npt.NDArray[np.bool_] | None = None
    occ_image: F32 | None = None
    if occluders and pose is not None and rng.random() < 0.3:
        occ_mask = _occluder(rng, pose, shape=shape, clothing=clothing, h=height, w=width).astype(bool)
        occ_image = fabric_texture(rng, height, width, np.vstack([CLOTH_COLOURS, SHEET_COLOURS]), unit)
    return Scene(width, height, look, shape, clothing, background, light, noise, occ_mask, occ_image)


def place_occluder(scene: Scene, pose: Pose, rng: np.random.Generator) -> Scene:
    """``scene`` with its occluder (when it has one) drawn anew around ``pose``: a new blanket edge or toy,
    same texture. For frames of one scene whose framing changes a lot (the keypoint datasets)."""
    if scene.occluder_mask is None:
        return scene
    mask = _occluder(rng, pose, shape=scene.shape, clothing=scene.clothing, h=scene.height, w=scene.width)
    return replace(scene, occluder_mask=mask.astype(bool))


_CLASS_LUT: Final = np.array((*INSTANCE_CLASS, 0), dtype=np.uint8)


def _bbox(prims: list[Primitive], h: int, w: int, margin: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), exclusive ends, of all primitives plus ``margin`` pixels, clipped to the image."""
    pts = np.concatenate([p.points for p in prims])
    x0, y0 = np.floor(pts.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + margin + 1
    return max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))


def primitive_index(prims: Sequence[Primitive], height: int, width: int) -> U8:
    """(height, width) uint8 map: 1 + the index of the last primitive covering each pixel, 0 where none does
    (each polygon filled once, sub-pixel exact: the map every label, instance and colour is looked up from)."""
    idx = np.zeros((height, width), np.uint8)
    for i, prim in enumerate(prims, start=1):
        cv2.fillPoly(idx, [np.round(prim.points * 16.0).astype(np.int32)], i, cv2.LINE_8, 4)
    return idx


def render(scene: Scene, pose: Pose, rng: np.random.Generator) -> Rendered:
    """Draw ``pose`` into ``scene``; ``rng`` drives the per-frame sensor noise. See module doc for shapes."""
    h, w = scene.height, scene.width
    look = scene.appearance
    prims = build_body(pose, scene.shape, scene.clothing)
    idx = primitive_index(prims, h, w)
    inst_lut = np.array([0] + [p.instance for p in prims], dtype=np.uint8)
    instances = inst_lut[idx]
    fg = idx > 0
    cover_lut = np.array([False] + [p.instance == 0 for p in prims])
    cover = cover_lut[idx] if cover_lut.any() else None
    occ_mask = scene.occluder_mask
    if occ_mask is not None:
        instances[occ_mask] = 0
    labels = _CLASS_LUT[instances]
    hides = cover if occ_mask is None else (occ_mask if cover is None else occ_mask | cover)

    # Soft shadow of the infant (and occluder) on the mattress, cast away from the light, then the mattress.
    sil = fg if occ_mask is None else fg | occ_mask
    small = cv2.resize(sil.astype(np.float32), (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    sdx, sdy = np.array(look.shadow_offset_cm) * pose.scale / 4.0
    shift = np.array([[1.0, 0.0, sdx], [0.0, 1.0, sdy]], dtype=np.float64)
    small = cv2.warpAffine(small, shift, (small.shape[1], small.shape[0]))
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, 0.5 * pose.scale))
    shadow = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    out = scene.background * (1.0 - look.shadow_strength * shadow)[:, :, None]
    if occ_mask is not None and scene.occluder_image is not None:
        np.copyto(out, scene.occluder_image, where=occ_mask[:, :, None])

    # Inside the infant's bounding box: material colours, prints, rounded-volume shading (trainer.synth.paint).
    x0, y0, x1, y1 = _bbox(prims, h, w, margin=2)
    if x1 > x0 and y1 > y0:
        sub = idx[y0:y1, x0:x1]
        sub_fg = fg[y0:y1, x0:x1]
        fg_rgb = infant_colours(sub, prims, look, pose, (x0, y0))
        ids = instances[y0:y1, x0:x1].copy()
        if cover is not None:
            shade_lut = np.cumsum(cover_lut).astype(np.uint8) + np.uint8(COVER_SHADE_ID - 1)
            sub_cover = cover[y0:y1, x0:x1]
            ids[sub_cover] = shade_lut[sub][sub_cover]
        sub_occ = None if occ_mask is None else occ_mask[y0:y1, x0:x1]
        if sub_occ is not None:
            ids[sub_occ] = OCCLUDER_INSTANCE
        shade, dist = volume_shade(ids, look, pose.scale)
        visible = sub_fg if sub_occ is None else sub_fg & ~sub_occ
        np.copyto(out[y0:y1, x0:x1], fg_rgb * shade[:, :, None], where=visible[:, :, None])
        if sub_occ is not None:
            occ_shade = 1.0 - 0.5 * look.shade_strength * np.exp(dist / np.float32(-3.0))
            region = out[y0:y1, x0:x1]
            np.copyto(region, region * occ_shade[:, :, None], where=sub_occ[:, :, None])

    # Camera: lighting, optics, sensor noise, compression.
    out *= scene.light
    if look.blur_sigma > 0.35:
        out = cv2.GaussianBlur(out, (0, 0), look.blur_sigma)
    oy, ox = (int(v) for v in rng.integers(0, 16, 2))
    out += scene.noise[oy : oy + h, ox : ox + w] * np.float32(look.noise_sigma)
    image = np.clip(out, 0.0, 255.0).astype(np.uint8)
    if look.jpeg_quality > 0:
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, look.jpeg_quality]
        )
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            image = np.asarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    return Rendered(image=image, labels=labels, instances=instances, occluder_mask=hides)
