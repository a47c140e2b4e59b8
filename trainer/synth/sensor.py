"""Photometric camera steps for the synthetic infant: optics blur, tone, night-time infrared, sensor noise and
compression. :func:`trainer.synth.camera.apply_camera` runs them in this order after the view warp.

Each step is a pure function of its inputs (noise draws only from the ``numpy.random.Generator`` passed in) and
never moves a pixel's content, so label maps and keypoints stay valid. Arrays: colour images are (H, W, 3)
RGB, grey images (H, W); uint8 0..255 or float32 in grey levels 0..255 as each function says.

* :func:`optics`: Gaussian defocus (``sigma`` px, skipped below :data:`MIN_DEFOCUS_PX`) then a linear motion
  streak (``length`` px at ``angle`` rad, skipped below :data:`MIN_MOTION_PX`); uint8 → uint8.
* :func:`tone`: ``255 · clip(v / 255 · exposure · gain_c, 0, 1) ** gamma`` per channel ``c`` (one lookup
  table); uint8 → float32.
* :func:`infrared`: what a night-vision monitor sees under its own 850 nm illuminator. Near-infrared
  reflectance is red-dominated and high for skin and most dyed fabric, so the grey level is
  ``NIR_LIFT + (1 - NIR_LIFT) · (NIR_WEIGHTS · rgb / 255)`` (skin pale, fabric colours nearly equal), times the
  illuminator's falloff ``(1 - glow) + 1.8 · glow · exp(-4 ρ²)`` (ρ = distance from the image centre / half
  diagonal: a hotspot in the middle, dark corners); float32 RGB → float32 grey. Pure grey: no tint.
* :func:`add_noise`: read noise (``read_sigma`` grey levels, Gaussian) plus shot noise whose variance is
  ``shot · level`` (grey levels², Poisson-like), independent per pixel and channel; float32 → uint8 (rounded,
  clipped). Unit normals come from a 2¹⁶-entry inverse-CDF table indexed by uniform ``uint16`` draws (six
  times faster than ``standard_normal``; tails end at ±4.3 σ).
* :func:`compress`: ``"none"``, ``"jpeg"`` (OpenCV, quality 1..100; grey images as single-channel JPEG) or
  ``"h264"`` (one intra frame through libx264 at CRF 0..51 in memory, yuv420p, decoded with PyAV); uint8 →
  uint8 of the same shape.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cache
from statistics import NormalDist
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

MIN_DEFOCUS_PX: Final[float] = 0.3
"""Defocus sigmas below this (pixels) are no blur at all."""
MIN_MOTION_PX: Final[float] = 1.0
"""Motion streaks shorter than this (pixels) are no blur at all."""
NIR_WEIGHTS: Final[tuple[float, float, float]] = (0.65, 0.25, 0.10)
"""Weights of R, G, B in the near-infrared grey level (red reflectance tracks NIR best)."""
NIR_LIFT: Final[float] = 0.35
"""Fraction of full scale every surface reflects in NIR whatever its visible colour (pale skin, flat fabric)."""
COMPRESSIONS: Final[tuple[str, ...]] = ("none", "jpeg", "h264")
H264_PRESET: Final[str] = "veryfast"
"""libx264 preset of the one-frame stream (a camera's real-time encoder is no slower)."""


def motion_kernel(length: float, angle: float) -> F32:
    """(k, k) float32 kernel summing to 1: a straight streak ``length`` pixels long at ``angle`` radians
    (x right, y down), centred, anti-aliased by bilinear splatting; ``k`` is the smallest odd size holding it."""
    half = math.ceil(length / 2.0) + 1
    k = 2 * half + 1
    t = np.linspace(-length / 2.0, length / 2.0, max(2, math.ceil(length * 4.0) + 1))
    x = half + t * math.cos(angle)
    y = half + t * math.sin(angle)
    x0, y0 = np.floor(x).astype(np.intp), np.floor(y).astype(np.intp)
    fx, fy = x - x0, y - y0
    kernel = np.zeros((k, k), np.float64)
    for dx, dy, wgt in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        np.add.at(kernel, (y0 + dy, x0 + dx), wgt)
    return (kernel / kernel.sum()).astype(np.float32)


def optics(image: U8, defocus_sigma: float, motion_length: float, motion_angle: float) -> U8:
    """``image`` (H, W, 3) uint8 blurred by defocus then motion (module doc); the same array when neither
    applies."""
    out: npt.NDArray[np.integer | np.floating] = image
    if defocus_sigma >= MIN_DEFOCUS_PX:
        out = cv2.GaussianBlur(out, (0, 0), defocus_sigma, borderType=cv2.BORDER_REFLECT_101)
    if motion_length >= MIN_MOTION_PX:
        out = cv2.filter2D(
            out, -1, motion_kernel(motion_length, motion_angle), borderType=cv2.BORDER_REFLECT_101
        )
    return np.asarray(out, dtype=np.uint8)


def tone_table(exposure: float, gamma: float, white_balance: tuple[float, float, float]) -> F32:
    """(256, 3) float32: the output grey level (0..255) of each input level per channel (module doc)."""
    levels = np.arange(256, dtype=np.float64)[:, None] / 255.0
    gains = np.asarray(white_balance, np.float64)[None, :] * exposure
    return (255.0 * np.clip(levels * gains, 0.0, 1.0) ** gamma).astype(np.float32)


def tone(image: U8, exposure: float, gamma: float, white_balance: tuple[float, float, float]) -> F32:
    """(H, W, 3) float32 0..255: ``image`` (H, W, 3) uint8 through :func:`tone_table`."""
    table = tone_table(exposure, gamma, white_balance).reshape(1, 256, 3)
    return np.asarray(cv2.LUT(image, table), dtype=np.float32)


def glow_field(height: int, width: int, glow: float) -> F32:
    """(H, W) float32 gain of the infrared illuminator: ``(1 - glow) + 1.8 · glow · exp(-4 ρ²)`` (module doc)."""
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    half_diag2 = cx * cx + cy * cy + 1e-9
    ys = ((np.arange(height, dtype=np.float32) - cy) ** 2)[:, None]
    xs = ((np.arange(width, dtype=np.float32) - cx) ** 2)[None, :]
    rho2 = (ys + xs) * np.float32(1.0 / half_diag2)
    return np.asarray(np.float32(1.0 - glow) + np.float32(1.8 * glow) * np.exp(-4.0 * rho2), np.float32)


def infrared(image: F32, glow: float) -> F32:
    """(H, W) float32 grey levels 0..255 (may exceed 255 in the hotspot; noise and clipping follow) of the
    float32 RGB ``image`` (H, W, 3) seen in near infrared (module doc)."""
    weights = np.asarray(NIR_WEIGHTS, np.float32).reshape(1, 3) * np.float32(1.0 - NIR_LIFT)
    grey = cv2.transform(image, weights).reshape(image.shape[:2]) + np.float32(255.0 * NIR_LIFT)
    if glow > 0:
        grey = grey * glow_field(image.shape[0], image.shape[1], glow)
    return np.asarray(grey, dtype=np.float32)


@cache
def _normal_table() -> F32:
    """(65536,) float32 standard-normal quantiles at (i + 0.5) / 65536, built on first use."""
    dist = NormalDist()
    return np.array([dist.inv_cdf((i + 0.5) / 65536.0) for i in range(65536)], dtype=np.float32)


def unit_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> F32:
    """float32 array of ``shape``: standard-normal draws from ``rng`` via :func:`_normal_table`."""
    index = rng.integers(0, 65536, size=shape, dtype=np.uint16)
    return np.asarray(np.take(_normal_table(), index), dtype=np.float32)


def add_noise(image: F32, read_sigma: float, shot: float, rng: np.random.Generator) -> U8:
    """``image`` (H, W) or (H, W, 3) float32 grey levels plus read and shot noise (module doc), rounded and
    clipped to uint8 of the same shape. Draws from ``rng`` only when a noise term is positive."""
    out = image
    if read_sigma > 0 or shot > 0:
        sigma = np.sqrt(np.float32(shot) * np.maximum(image, 0.0) + np.float32(read_sigma**2))
        out = image + sigma * unit_normal(rng, image.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _jpeg(image: U8, quality: int) -> U8:
    grey = image.ndim == 2
    src = image if grey else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", src, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    decoded = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("OpenCV could not decode its own JPEG")
    return np.asarray(decoded if grey else cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def _h264(image: U8, crf: int) -> U8:
    """One intra frame through libx264 (yuv420p, CRF ``crf``) and back; odd sizes are edge-padded to even."""
    import av  # heavy; only needed here

    grey = image.ndim == 2
    rgb = np.repeat(image[:, :, None], 3, axis=2) if grey else image
    h, w = rgb.shape[:2]
    padded = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = padded.shape[1], padded.shape[0], "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.thread_count = 1
    enc.options = {"crf": str(int(crf)), "preset": H264_PRESET, "tune": "zerolatency"}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="rgb24")
    frame.pts = 0
    packets = [*enc.encode(frame), *enc.encode(None)]
    dec = av.CodecContext.create("h264", "r")
    dec.thread_count = 1
    frames = [f for p in packets for f in dec.decode(p)]
    frames += dec.decode(None)
    if not frames:
        raise RuntimeError("libx264 produced no decodable frame")
    out = np.asarray(frames[0].to_ndarray(format="rgb24"), dtype=np.uint8)[:h, :w]
    if grey:
        return np.asarray(np.rint(out.mean(axis=2)), dtype=np.uint8)
    return np.ascontiguousarray(out)


def compress(image: U8, mode: str, quality: int) -> U8:
    """``image`` (H, W, 3) or (H, W) uint8 through ``mode`` (:data:`COMPRESSIONS`) at ``quality`` (JPEG quality
    1..100 or H.264 CRF 0..51; ignored for ``"none"``). Same shape and dtype out."""
    if mode == "none":
        return image
    if mode == "jpeg":
        return _jpeg(image, quality)
    if mode == "h264":
        return _h264(image, quality)
    raise ValueError(f"unknown compression {mode!r}; known: {', '.join(COMPRESSIONS)}")
