"""Camera and sensor domain randomisation for synthetic infant frames, applied AFTER
:func:`trainer.synth.render.render` to a rendered frame and its keypoints.

:func:`sample_camera` draws :class:`CameraFactors` from factor families (so whole families can be held out of
training), :func:`apply_camera` applies them. Order of operations (fixed):

1. view: ONE homography (:func:`camera_homography`) maps the image (bilinear), the label and instance maps
   (nearest: every output label is an input label, pixels from outside the source are 0 = background) and
   the keypoints. Image pixels from outside the source are a flat fill, :data:`FILL_SHADE` times the median
   colour of the source's background pixels on its outer ring (a shadowed cot side or floor).
2. optics: defocus (Gaussian) then motion blur; 3. tone: exposure, white balance, gamma;
4. night infrared (``night_ir``): grey levels, illuminator hotspot; 5. shot + read noise; 6. compression.

Steps 2-6 are :mod:`trainer.synth.sensor` and never change labels, instances or points.

Geometry (pixels, x right, y down, pixel centres at integer coordinates as in :mod:`trainer.synth.joints`;
``c = ((W - 1) / 2, (H - 1) / 2)`` the image centre). The mattress plane is seen by a pinhole camera of focal
length ``f = focal · max(W, H)`` pixels at distance ``f`` (so a top-down view is 1:1); the camera orbits the
centre by ``tilt_deg`` about the in-plane axis at ``tilt_axis_rad``, then rolls, zooms and shifts::

    H = T(c + shift · (W, H)) · R(roll_rad) · S(zoom) · P(tilt) · T(-c)

``P`` rotates the plane about the axis (Rodrigues ``Q``) and projects it: ``[[Q00, Q01, 0], [Q10, Q11, 0],
[Q20 / f, Q21 / f, 1]]``; the centre stays put, the half of the frame on the ``tilt_axis_rad + π/2`` side
recedes (shrinks). ``R(a)`` turns content by ``a`` clockwise on screen (y down), e.g. ``a = π/2`` maps
``c + (1, 0)`` to ``c + (0, 1)``. ``S(z)`` scales about the centre; ``shift`` is a fraction of (W, H).

Families (:func:`sample_camera`; hold one out by naming the others). View: ``top`` (tilt 0), ``oblique`` (tilt
10..45°, any axis, focal 0.7..1.3); both: roll uniform over the circle, zoom 0.65..1.8 log-uniform, shift
±0.2 per axis, defocus 2.5·u² px, motion streak 1..9 px in 30 % of frames. Light: ``day`` (exposure 0.75..1.35,
gamma 0.8..1.25, R/B gains e^±0.15, read noise 0.5..4, shot 0..0.3), ``dim`` (exposure 0.3..0.7, gamma
0.7..1.2, warm R 1.05..1.35 / B 0.6..0.9, read 3..10, shot 0.3..1.5), ``ir`` (night_ir, glow 0.2..0.8,
exposure 0.6..1.1, gamma 0.7..1.1, read 4..14, shot 0.5..2). Codec: ``raw`` (none), ``jpeg`` (quality 30..95),
``h264`` (CRF 18..38).

Arrays: image (H, W, 3) uint8 RGB, labels / instances (H, W) uint8, points (N, 2) float64. Deterministic given
the ``numpy.random.Generator``: noise is its only random draw in :func:`apply_camera`.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.errors import ConfigError
from trainer.synth import sensor
from trainer.synth.families import check_families

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]

FILL_SHADE: Final[float] = 0.5
"""Image pixels the view brings in from outside the source: this times the source's median ring colour."""

VIEW_FAMILIES: Final[tuple[str, ...]] = ("top", "oblique")
"""``top``: tilt 0; ``oblique``: tilt :data:`TILT_DEG` about a uniform axis, focal :data:`FOCAL`."""
LIGHT_FAMILIES: Final[tuple[str, ...]] = ("day", "dim", "ir")
"""``day``: daylight/room light; ``dim``: warm night light at high gain; ``ir``: infrared night mode."""
CODEC_FAMILIES: Final[tuple[str, ...]] = ("raw", "jpeg", "h264")
"""``raw``: compression "none"; ``jpeg``: quality :data:`JPEG_QUALITY`; ``h264``: CRF :data:`H264_CRF`."""
ALL_FAMILIES: Final[tuple[str, ...]] = VIEW_FAMILIES + LIGHT_FAMILIES + CODEC_FAMILIES
FAMILY_WEIGHTS: Final[dict[str, float]] = {
    "top": 0.6, "oblique": 0.4, "day": 0.5, "dim": 0.25, "ir": 0.25, "raw": 0.2, "jpeg": 0.5, "h264": 0.3,
}  # fmt: skip
"""Relative odds of each family within its group."""
TILT_DEG: Final[tuple[float, float]] = (10.0, 45.0)
FOCAL: Final[tuple[float, float]] = (0.7, 1.3)
ZOOM: Final[tuple[float, float]] = (0.65, 1.8)
"""Zoom range, drawn log-uniform."""
SHIFT: Final[float] = 0.2
"""Each shift component is uniform in [-SHIFT, SHIFT] (fractions of the frame)."""
DEFOCUS_PX: Final[float] = 2.5
"""Defocus sigma = DEFOCUS_PX · u², u uniform in [0, 1] (mostly sharp)."""
MOTION_P: Final[float] = 0.3
MOTION_PX: Final[tuple[float, float]] = (1.0, 9.0)
"""With probability MOTION_P a motion streak of uniform length in MOTION_PX pixels, uniform direction."""
IR_GLOW: Final[tuple[float, float]] = (0.2, 0.8)
JPEG_QUALITY: Final[tuple[int, int]] = (30, 95)
H264_CRF: Final[tuple[int, int]] = (18, 38)


@dataclass(frozen=True)
class CameraFactors:
    """One camera's view, optics and sensor (module doc for the geometry, :mod:`trainer.synth.sensor` for the
    formulas). Ranges the sampler draws: the module constants and :func:`sample_camera`.

    View: ``tilt_deg`` degrees, 0 = top-down, ≥ 0 (the axis direction carries the sign); ``tilt_axis_rad``
    radians, direction of the in-plane tilt axis; ``roll_rad`` radians, in-plane rotation (clockwise on
    screen); ``zoom`` scale factor about the centre (< 1 the infant gets smaller, > 1 it fills and overflows);
    ``shift`` (dx, dy) fractions of the frame width / height the content moves by; ``focal`` focal length in
    units of the frame's long side (smaller = wider lens, stronger perspective).
    Optics: ``defocus_sigma_px`` Gaussian sigma in output pixels; ``motion_blur_px`` streak length in pixels at
    ``motion_blur_rad`` radians (0 = along x).
    Sensor: ``exposure`` gain (1 = unchanged); ``gamma`` exponent on normalised intensity (1 = unchanged,
    > 1 darker mid-tones); ``white_balance`` (R, G, B) gains; ``noise_sigma`` read noise in grey levels;
    ``shot_noise`` grey levels per photo-electron (noise variance = ``shot_noise`` × level); ``compression``
    "none" | "jpeg" | "h264" with ``quality`` the JPEG quality 1..100 or the H.264 CRF 0..51 (ignored for
    "none").
    Night: ``night_ir`` the frame comes from a monitor's infrared night mode (grey, pale skin, flat fabric);
    ``ir_glow`` 0..1 strength of its illuminator's central hotspot and dark corners.
    """

    tilt_deg: float
    tilt_axis_rad: float
    roll_rad: float
    zoom: float
    shift: tuple[float, float]
    focal: float
    defocus_sigma_px: float
    motion_blur_px: float
    motion_blur_rad: float
    exposure: float
    gamma: float
    white_balance: tuple[float, float, float]
    noise_sigma: float
    shot_noise: float
    compression: str
    quality: int
    night_ir: bool
    ir_glow: float

    def __post_init__(self) -> None:
        checks = (
            ("tilt_deg", 0.0 <= self.tilt_deg < 80.0, "in [0, 80)"),
            ("zoom", self.zoom > 0, "> 0"),
            ("focal", self.focal > 0, "> 0"),
            ("defocus_sigma_px", self.defocus_sigma_px >= 0, ">= 0"),
            ("motion_blur_px", self.motion_blur_px >= 0, ">= 0"),
            ("exposure", self.exposure > 0, "> 0"),
            ("gamma", self.gamma > 0, "> 0"),
            ("white_balance", len(self.white_balance) == 3 and min(self.white_balance) > 0, "3 gains > 0"),
            ("noise_sigma", self.noise_sigma >= 0, ">= 0"),
            ("shot_noise", self.shot_noise >= 0, ">= 0"),
            (
                "compression",
                self.compression in sensor.COMPRESSIONS,
                f"one of {', '.join(sensor.COMPRESSIONS)}",
            ),
            ("ir_glow", 0.0 <= self.ir_glow <= 1.0, "in [0, 1]"),
        )
        for name, ok, want in checks:
            if not ok:
                raise ConfigError(f"camera factor {name} must be {want}, got {getattr(self, name)!r}")
        if self.compression == "jpeg" and not 1 <= self.quality <= 100:
            raise ConfigError(f"camera factor quality must be a JPEG quality in [1, 100], got {self.quality}")
        if self.compression == "h264" and not 0 <= self.quality <= 51:
            raise ConfigError(f"camera factor quality must be an H.264 CRF in [0, 51], got {self.quality}")


IDENTITY: Final[CameraFactors] = CameraFactors(
    tilt_deg=0.0,
    tilt_axis_rad=0.0,
    roll_rad=0.0,
    zoom=1.0,
    shift=(0.0, 0.0),
    focal=1.0,
    defocus_sigma_px=0.0,
    motion_blur_px=0.0,
    motion_blur_rad=0.0,
    exposure=1.0,
    gamma=1.0,
    white_balance=(1.0, 1.0, 1.0),
    noise_sigma=0.0,
    shot_noise=0.0,
    compression="none",
    quality=0,
    night_ir=False,
    ir_glow=0.0,
)
"""Factors that change nothing: identity view, no blur or noise, neutral tone, no compression."""


def _allowed(families: Collection[str] | None) -> dict[str, tuple[str, ...]]:
    """Allowed families per group (module doc of :func:`sample_camera`)."""
    named = set(check_families(families, ALL_FAMILIES, "camera families"))
    return {
        group: tuple(f for f in members if f in named) or members
        for group, members in (("view", VIEW_FAMILIES), ("light", LIGHT_FAMILIES), ("codec", CODEC_FAMILIES))
    }


def _pick(rng: np.random.Generator, members: tuple[str, ...]) -> str:
    weights = np.array([FAMILY_WEIGHTS[m] for m in members])
    return members[int(rng.choice(len(members), p=weights / weights.sum()))]


def sample_camera(rng: np.random.Generator, families: Collection[str] | None = None) -> CameraFactors:
    """Random :class:`CameraFactors` from the allowed ``families`` (names from :data:`ALL_FAMILIES`; in a
    group none of whose families is named, all are allowed; None = all), each group's family picked by
    :data:`FAMILY_WEIGHTS` renormalised over the allowed ones. Every value comes from ``rng`` (same generator
    state, same factors). Raises :class:`ConfigError` for an unknown family name. Ranges: module doc."""
    allowed = _allowed(families)
    view, light, codec = (_pick(rng, allowed[g]) for g in ("view", "light", "codec"))
    u = rng.uniform
    tilt, axis, focal = 0.0, 0.0, 1.0
    if view == "oblique":
        tilt, axis, focal = u(*TILT_DEG), u(0.0, 2 * math.pi), u(*FOCAL)
    roll = u(-math.pi, math.pi)
    zoom = math.exp(u(math.log(ZOOM[0]), math.log(ZOOM[1])))
    shift = (u(-SHIFT, SHIFT), u(-SHIFT, SHIFT))
    defocus = DEFOCUS_PX * u() ** 2
    motion = u(*MOTION_PX) if u() < MOTION_P else 0.0
    motion_rad = u(0.0, math.pi)
    ir_glow = 0.0
    if light == "day":
        exposure, gamma = math.exp(u(math.log(0.75), math.log(1.35))), u(0.8, 1.25)
        wb = (math.exp(u(-0.15, 0.15)), 1.0, math.exp(u(-0.15, 0.15)))
        read, shot = u(0.5, 4.0), u(0.0, 0.3)
    elif light == "dim":  # warm night light, high gain
        exposure, gamma = u(0.3, 0.7), u(0.7, 1.2)
        wb = (u(1.05, 1.35), 1.0, u(0.6, 0.9))
        read, shot = u(3.0, 10.0), u(0.3, 1.5)
    else:  # infrared night mode
        exposure, gamma = u(0.6, 1.1), u(0.7, 1.1)
        wb = (1.0, 1.0, 1.0)
        read, shot, ir_glow = u(4.0, 14.0), u(0.5, 2.0), u(*IR_GLOW)
    quality = 0
    if codec == "jpeg":
        quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    elif codec == "h264":
        quality = int(rng.integers(H264_CRF[0], H264_CRF[1] + 1))
    return CameraFactors(
        tilt_deg=float(tilt),
        tilt_axis_rad=float(axis),
        roll_rad=float(roll),
        zoom=float(zoom),
        shift=(float(shift[0]), float(shift[1])),
        focal=float(focal),
        defocus_sigma_px=float(defocus),
        motion_blur_px=float(motion),
        motion_blur_rad=float(motion_rad),
        exposure=float(exposure),
        gamma=float(gamma),
        white_balance=(float(wb[0]), float(wb[1]), float(wb[2])),
        noise_sigma=float(read),
        shot_noise=float(shot),
        compression="none" if codec == "raw" else codec,
        quality=quality,
        night_ir=light == "ir",
        ir_glow=float(ir_glow),
    )


def camera_homography(factors: CameraFactors, width: int, height: int) -> F64:
    """(3, 3) float64 homography from source to output pixels of a (height, width) frame (module doc),
    normalised so ``H[2, 2] = 1``. Raises :class:`ConfigError` when the tilt puts part of the source frame
    behind the camera (``focal`` too small for ``tilt_deg``)."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    f = factors.focal * max(width, height)
    theta = math.radians(factors.tilt_deg)
    ax, ay = math.cos(factors.tilt_axis_rad), math.sin(factors.tilt_axis_rad)
    c, s = math.cos(theta), math.sin(theta)
    persp = np.array(
        [
            [c + (1 - c) * ax * ax, (1 - c) * ax * ay, 0.0],
            [(1 - c) * ax * ay, c + (1 - c) * ay * ay, 0.0],
            [-s * ay / f, s * ax / f, 1.0],
        ]
    )
    cr, sr = math.cos(factors.roll_rad), math.sin(factors.roll_rad)
    z = factors.zoom
    linear = np.array([[z * cr, -z * sr, 0.0], [z * sr, z * cr, 0.0], [0.0, 0.0, 1.0]])
    to_centre = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    dx, dy = factors.shift
    back = np.array([[1.0, 0.0, cx + dx * width], [0.0, 1.0, cy + dy * height], [0.0, 0.0, 1.0]])
    hom = back @ linear @ persp @ to_centre
    corners = np.array([[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1], [width - 1, height - 1, 1]], float)
    if np.any((corners @ hom.T)[:, 2] <= 0.05 * hom[2, 2]):
        raise ConfigError(
            f"camera factors tilt_deg={factors.tilt_deg} with focal={factors.focal} put part of the "
            f"{width}x{height} frame behind the camera"
        )
    return np.asarray(hom / hom[2, 2], dtype=np.float64)


def transform_points(hom: F64, points: F64) -> tuple[F64, BoolArray]:
    """``points`` (N, 2) float64 pixels through ``hom`` (3, 3): ((N, 2) float64, (N,) bool in front of the
    camera). Points behind it (homogeneous w <= 0; never inside a frame the sampler's factors keep) get
    meaningless coordinates and False."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homog = pts @ hom[:, :2].T + hom[:, 2]
    w = homog[:, 2]
    front = w > 1e-12
    safe = np.where(front, w, 1.0)
    return homog[:, :2] / safe[:, None], front


def inside_frame(points: F64, width: int, height: int) -> BoolArray:
    """(N,) bool: the pixel ``(floor(x + 0.5), floor(y + 0.5))`` of each (N, 2) point is in the frame."""
    px = np.floor(np.asarray(points, dtype=np.float64) + 0.5)
    with np.errstate(invalid="ignore"):
        return np.asarray(
            (px[:, 0] >= 0) & (px[:, 0] < width) & (px[:, 1] >= 0) & (px[:, 1] < height), dtype=np.bool_
        )


def fill_colour(image: U8, labels: U8) -> tuple[float, float, float]:
    """The flat colour for pixels the view brings in from outside ``image`` (H, W, 3) uint8: :data:`FILL_SHADE`
    times the per-channel median of the outer-ring pixels whose ``labels`` (H, W) are 0 (all ring pixels when
    none are)."""
    ring = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    ring_labels = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    background = ring[ring_labels == 0]
    median = np.median(background if len(background) else ring, axis=0) * FILL_SHADE
    return float(median[0]), float(median[1]), float(median[2])


def warp_view(image: U8, labels: U8, instances: U8, hom: F64) -> tuple[U8, U8, U8]:
    """``image`` (bilinear, flat :func:`fill_colour` outside), ``labels`` and ``instances`` (nearest, 0
    outside) warped by ``hom`` (3, 3) to the same (H, W). An identity ``hom`` returns copies."""
    h, w = labels.shape
    if np.array_equal(hom, np.eye(3)):
        return image.copy(), labels.copy(), instances.copy()
    fill = fill_colour(image, labels)
    size = (w, h)
    out = cv2.warpPerspective(image, hom, size, flags=cv2.INTER_LINEAR, borderValue=fill)
    near = cv2.INTER_NEAREST
    lab = cv2.warpPerspective(labels, hom, size, flags=near, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ins = cv2.warpPerspective(instances, hom, size, flags=near, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray(out, np.uint8), np.asarray(lab, np.uint8), np.asarray(ins, np.uint8)


def apply_camera(
    image: U8,
    labels: U8,
    instances: U8,
    points: F64,
    factors: CameraFactors,
    rng: np.random.Generator,
) -> tuple[U8, U8, U8, F64, BoolArray]:
    """The frame as ``factors``' camera sees it (module doc for the order of steps).

    ``image`` (H, W, 3) uint8 RGB, ``labels`` / ``instances`` (H, W) uint8, ``points`` (N, 2) float64 pixels.
    Returns (image (H, W, 3) uint8, labels (H, W) uint8, instances (H, W) uint8, points (N, 2) float64,
    inside (N,) bool). ``inside`` is False for a point whose pixel ``(floor(x + 0.5), floor(y + 0.5))`` is out
    of the output frame: callers set its visibility to 0 and keep the source visibility otherwise (never raise
    a 0: a point outside the source frame that the view brings in lies on fill, not on a drawn body part).
    Inputs are not modified; ``rng`` drives the noise.
    """
    h, w = labels.shape
    if image.shape != (h, w, 3) or instances.shape != (h, w):
        raise ValueError(f"image {image.shape}, labels {labels.shape}, instances {instances.shape} disagree")
    hom = camera_homography(factors, w, h)
    out, lab, ins = warp_view(image, labels, instances, hom)
    moved, front = transform_points(hom, points)
    inside = inside_frame(moved, w, h) & front

    out = sensor.optics(out, factors.defocus_sigma_px, factors.motion_blur_px, factors.motion_blur_rad)
    toned = sensor.tone(out, factors.exposure, factors.gamma, factors.white_balance)
    if factors.night_ir:
        grey = sensor.add_noise(
            sensor.infrared(toned, factors.ir_glow), factors.noise_sigma, factors.shot_noise, rng
        )
        grey = sensor.compress(grey, factors.compression, factors.quality)
        final = np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    else:
        noisy = sensor.add_noise(toned, factors.noise_sigma, factors.shot_noise, rng)
        final = sensor.compress(noisy, factors.compression, factors.quality)
    return final, lab, ins, moved, inside
