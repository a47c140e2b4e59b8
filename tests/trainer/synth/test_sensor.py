"""Tests of the photometric camera steps (trainer/synth/sensor.py) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.synth import sensor


@pytest.mark.parametrize(
    ("exposure", "gamma", "wb", "level", "expected"),
    [
        (1.0, 1.0, (1.0, 1.0, 1.0), 100, (100.0, 100.0, 100.0)),
        (2.0, 1.0, (1.0, 1.0, 1.0), 100, (200.0, 200.0, 200.0)),
        (2.0, 1.0, (1.0, 1.0, 1.0), 200, (255.0, 255.0, 255.0)),  # clipped
        (1.0, 2.0, (1.0, 1.0, 1.0), 51, (10.2, 10.2, 10.2)),  # 255 (51/255)²
        (1.0, 0.5, (1.0, 1.0, 1.0), 51, (114.0394, 114.0394, 114.0394)),  # 255 sqrt(0.2)
        (1.0, 1.0, (0.5, 1.0, 1.5), 100, (50.0, 100.0, 150.0)),
        (0.5, 2.0, (2.0, 1.0, 1.0), 102, (40.8, 10.2, 10.2)),  # (102/255 · 1)² · 255, (0.2)² · 255
    ],
)
def test_tone(
    exposure: float, gamma: float, wb: tuple[float, float, float], level: int, expected: tuple[float, ...]
) -> None:
    image = np.full((4, 5, 3), level, np.uint8)
    out = sensor.tone(image, exposure, gamma, wb)
    assert out.dtype == np.float32 and out.shape == (4, 5, 3)
    assert out[2, 3].tolist() == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    ("length", "angle"), [(1.0, 0.0), (5.0, 0.0), (6.5, math.pi / 2), (8.0, math.pi / 4)]
)
def test_motion_kernel_is_a_centred_streak(length: float, angle: float) -> None:
    k = sensor.motion_kernel(length, angle)
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    c = k.shape[0] // 2
    ys, xs = np.mgrid[0 : k.shape[0], 0 : k.shape[1]]
    assert float((k * xs).sum()) == pytest.approx(c, abs=1e-5)  # centred
    assert float((k * ys).sum()) == pytest.approx(c, abs=1e-5)
    along = (xs - c) * math.cos(angle) + (ys - c) * math.sin(angle)
    across = -(xs - c) * math.sin(angle) + (ys - c) * math.cos(angle)
    assert float((k * np.abs(across)).sum()) < 0.5  # thin
    # a uniform streak of length L has spread L / sqrt(12) (plus the bilinear splat's own)
    spread = math.sqrt(float((k * along**2).sum()))
    assert spread == pytest.approx(length / math.sqrt(12), abs=0.45)


def test_optics_below_the_thresholds_is_no_blur_and_above_it_blurs() -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    image[16, 16] = 255
    assert sensor.optics(image, sensor.MIN_DEFOCUS_PX - 0.01, sensor.MIN_MOTION_PX - 0.01, 0.0) is image
    blurred = sensor.optics(image, 1.0, 0.0, 0.0)
    assert blurred[16, 16, 0] < 255 and blurred[16, 18, 0] > 0 and blurred[18, 16, 0] > 0
    streak = sensor.optics(image, 0.0, 7.0, 0.0)
    assert streak[16, 19, 0] > 0 and streak[19, 16, 0] == 0  # along x only


def test_infrared_grey_level_and_glow() -> None:
    image = np.zeros((9, 11, 3), np.float32)
    image[:] = (200.0, 100.0, 50.0)
    grey = sensor.infrared(image, 0.0)
    # 255 (0.35 + 0.65 (0.65 · 200 + 0.25 · 100 + 0.10 · 50) / 255) = 89.25 + 0.65 · 160
    assert grey.shape == (9, 11) and grey.dtype == np.float32
    assert np.allclose(grey, 89.25 + 0.65 * 160.0, atol=1e-3)
    field = sensor.glow_field(9, 11, 0.5)
    assert field[4, 5] == pytest.approx(1.0 - 0.5 + 0.9)  # centre: ρ = 0
    assert field[0, 0] == pytest.approx(0.5 + 0.9 * math.exp(-4.0), abs=1e-6)  # corner: ρ = 1
    assert np.allclose(sensor.infrared(image, 0.5), grey * field, atol=1e-3)


def test_infrared_flattens_colour_contrast() -> None:
    """Fabric colours and skin tones sit closer together in NIR than in visible luminance."""
    colours = np.array([[[200, 54, 64], [52, 62, 104], [243, 198, 172], [82, 52, 38]]], np.float32)
    luma = colours @ np.array([0.299, 0.587, 0.114], np.float32)
    grey = sensor.infrared(colours, 0.0)
    assert np.ptp(grey) < 0.75 * np.ptp(luma)
    assert grey.min() >= 255 * sensor.NIR_LIFT - 1e-3


@pytest.mark.parametrize(
    ("level", "read", "shot", "sigma"),
    [
        (100.0, 0.0, 0.0, 0.0),
        (100.0, 5.0, 0.0, 5.0),
        (50.0, 0.0, 2.0, 10.0),
        (200.0, 0.0, 2.0, 20.0),
        (128.0, 6.0, 0.5, 10.0),
    ],
)
def test_noise_level(level: float, read: float, shot: float, sigma: float) -> None:
    image = np.full((96, 128, 3), level, np.float32)
    out = sensor.add_noise(image, read, shot, np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert float(out.mean()) == pytest.approx(level, abs=0.3)
    assert float(out.std()) == pytest.approx(
        math.sqrt(sigma**2 + (1 / 12 if sigma else 0)), rel=0.04, abs=0.05
    )


def test_noise_is_per_pixel_for_grey_frames_too() -> None:
    out = sensor.add_noise(np.full((64, 64), 128.0, np.float32), 8.0, 0.0, np.random.default_rng(0))
    assert out.shape == (64, 64) and float(out.std()) == pytest.approx(8.0, rel=0.05)


@pytest.mark.parametrize("mode", ["jpeg", "h264"])
def test_compress_grey(mode: str) -> None:
    yy, xx = np.mgrid[0:47, 0:63]
    image = ((xx * 3 + yy) % 256).astype(np.uint8)
    out = sensor.compress(image, mode, 50 if mode == "jpeg" else 30)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert 0 < np.abs(out.astype(int) - image.astype(int)).mean() < 12


def test_unknown_compression() -> None:
    with pytest.raises(ValueError, match="unknown compression 'png'"):
        sensor.compress(np.zeros((8, 8, 3), np.uint8), "png", 0)
