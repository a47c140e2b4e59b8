"""Tests of the camera/sensor domain randomisation (trainer/synth/camera.py): the view homography against
hand-computed points, exact label warping, points following the image, ``inside`` flags, determinism, the
factor families and every compression mode, on small (96 x 128) frames.

Frame geometry: W = 128, H = 96, centre c = (63.5, 47.5) (pixel centres at integer coordinates).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from pipeline.errors import ConfigError
from trainer.synth.camera import (
    ALL_FAMILIES,
    CODEC_FAMILIES,
    H264_CRF,
    IDENTITY,
    JPEG_QUALITY,
    LIGHT_FAMILIES,
    TILT_DEG,
    VIEW_FAMILIES,
    CameraFactors,
    apply_camera,
    camera_homography,
    sample_camera,
)
from trainer.synth.motion import sample_pose
from trainer.synth.render import make_scene, render

W, H = 128, 96
CX, CY = 63.5, 47.5


def _view(**changes: object) -> CameraFactors:
    """IDENTITY with view fields changed: geometry only, no photometric change."""
    return dataclasses.replace(IDENTITY, **changes)  # type: ignore[arg-type]


def _rendered(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pose = sample_pose(rng, W, H, upright=True)
    scene = make_scene(rng, W, H, pose, occluders=False)
    r = render(scene, pose, rng)
    return r.image, r.labels, r.instances


LABEL_VALUES = np.array([3, 40, 90, 201], np.uint8)
INSTANCE_VALUES = np.array([7, 33, 64, 101, 150, 222], np.uint8)
"""No value is 0 or a blend (mean) of two others, so interpolated or padded label maps show."""


def _blocks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (:data:`LABEL_VALUES`) constant on 8 x 8 blocks, instances (:data:`INSTANCE_VALUES`) on 16 x 16
    blocks, and the (N, 2) centres of the 8 x 8 blocks, whose whole block carries one label and one instance."""
    yy, xx = np.mgrid[0:H, 0:W]
    labels = LABEL_VALUES[(xx // 8 + 3 * (yy // 8)) % 4]
    instances = INSTANCE_VALUES[(xx // 16 + 5 * (yy // 16)) % 6]
    gx, gy = np.meshgrid(np.arange(W // 8) * 8 + 3.5, np.arange(H // 8) * 8 + 3.5)
    return labels, instances, np.stack([gx.ravel(), gy.ravel()], axis=1)


def _map(hom: np.ndarray, x: float, y: float) -> tuple[float, float]:
    p = hom @ np.array([x, y, 1.0])
    return float(p[0] / p[2]), float(p[1] / p[2])


# ---------------------------------------------------------------- identity


def test_identity_changes_nothing() -> None:
    image, labels, instances = _rendered()
    points = np.array([[10.25, 20.5], [CX, CY], [-3.0, 5.0], [127.4, 95.4], [127.5, 10.0]])
    out, lab, ins, pts, inside = apply_camera(
        image, labels, instances, points, IDENTITY, np.random.default_rng(0)
    )
    assert np.abs(out.astype(int) - image.astype(int)).max() <= 1
    assert np.array_equal(lab, labels) and np.array_equal(ins, instances)
    assert np.array_equal(pts, points)
    assert inside.tolist() == [True, True, False, True, False]
    assert np.array_equal(camera_homography(IDENTITY, W, H), np.eye(3))


# ---------------------------------------------------------------- homography (hand-computed)


def _tilt30(y: float) -> float:
    """A point c + (0, y) under a 30° tilt about the x axis, focal 1 x 128 px: (0, y cos30 / (1 + y sin30 / 128))."""
    return y * math.cos(math.radians(30)) / (1 + y * math.sin(math.radians(30)) / 128)


@pytest.mark.parametrize(
    ("factors", "src", "dst"),
    [
        # roll 90° about the centre: c + (u, v) → c + (-v, u)
        (_view(roll_rad=math.pi / 2), (CX + 10, CY), (CX, CY + 10)),
        (_view(roll_rad=math.pi / 2), (0.0, 0.0), (CX + CY, CY - CX)),
        (_view(roll_rad=math.pi / 2), (CX, CY), (CX, CY)),
        (_view(roll_rad=-math.pi / 2), (CX + 10, CY), (CX, CY - 10)),
        # zoom 2 about the centre: c + (u, v) → c + 2 (u, v)
        (_view(zoom=2.0), (0.0, 0.0), (CX - 2 * CX, CY - 2 * CY)),
        (_view(zoom=2.0), (CX + 10, CY - 5), (CX + 20, CY - 10)),
        # shift: (0.25 W, -0.5 H) = (32, -48) px
        (_view(shift=(0.25, -0.5)), (5.0, 60.0), (37.0, 12.0)),
        # zoom then shift: c + 0.5 (u, v) + (32, 0)
        (_view(zoom=0.5, shift=(0.25, 0.0)), (0.0, 0.0), (CX - 0.5 * CX + 32, CY - 0.5 * CY)),
        # tilt 30° about the x axis: the axis through c stays, the +y half recedes, the -y half grows
        (_view(tilt_deg=30.0), (CX + 20, CY), (CX + 20, CY)),
        (_view(tilt_deg=30.0), (CX, CY + 20), (CX, CY + _tilt30(20.0))),
        (_view(tilt_deg=30.0), (CX, CY - 20), (CX, CY + _tilt30(-20.0))),
        # tilt about the y axis (axis π/2): the -x half recedes
        (_view(tilt_deg=30.0, tilt_axis_rad=math.pi / 2), (CX, CY + 20), (CX, CY + 20)),
        (_view(tilt_deg=30.0, tilt_axis_rad=math.pi / 2), (CX - 20, CY), (CX - _tilt30(20.0), CY)),
        # tilt first (axis in source coordinates), then roll, zoom and shift
        (_view(tilt_deg=30.0, roll_rad=math.pi / 2), (CX, CY + 20), (CX - _tilt30(20.0), CY)),
        (_view(tilt_deg=30.0, zoom=2.0), (CX, CY + 20), (CX, CY + 2 * _tilt30(20.0))),
        (_view(tilt_deg=30.0, shift=(0.25, 0.0)), (CX, CY + 20), (CX + 32, CY + _tilt30(20.0))),
        # focal 2 = 256 px: weaker perspective
        (
            _view(tilt_deg=30.0, focal=2.0),
            (CX, CY + 20),
            (CX, CY + 20 * math.cos(math.radians(30)) / (1 + 20 * 0.5 / 256)),
        ),
    ],
)
def test_homography_maps_known_points(
    factors: CameraFactors, src: tuple[float, float], dst: tuple[float, float]
) -> None:
    hom = camera_homography(factors, W, H)
    assert _map(hom, *src) == pytest.approx(dst, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_tilt_zero_is_affine(seed: int) -> None:
    rng = np.random.default_rng(seed)
    factors = _view(
        roll_rad=rng.uniform(-3, 3),
        zoom=rng.uniform(0.5, 2),
        shift=(rng.uniform(-0.3, 0.3), 0.1),
        tilt_axis_rad=rng.uniform(0, 6),
        focal=rng.uniform(0.5, 2),
    )
    hom = camera_homography(factors, W, H)
    assert hom[2].tolist() == [0.0, 0.0, 1.0]
    assert np.linalg.det(hom[:2, :2]) == pytest.approx(factors.zoom**2)


def test_tilt_behind_the_camera_is_refused() -> None:
    with pytest.raises(ConfigError, match="behind the camera"):
        camera_homography(_view(tilt_deg=70.0, focal=0.3), W, H)
    with pytest.raises(ConfigError, match="tilt_deg"):
        _view(tilt_deg=85.0)


# ---------------------------------------------------------------- labels, points, inside


@pytest.mark.parametrize("seed", range(8))
def test_labels_stay_exact_and_follow_the_points(seed: int) -> None:
    labels, instances, points = _blocks()
    image = np.zeros((H, W, 3), np.uint8)
    factors = sample_camera(np.random.default_rng(seed), {"oblique"} if seed % 2 else {"top"})
    _, lab, ins, moved, inside = apply_camera(
        image, labels, instances, points, factors, np.random.default_rng(seed)
    )
    assert set(np.unique(lab).tolist()) <= {0, *LABEL_VALUES.tolist()}
    assert set(np.unique(ins).tolist()) <= {0, *INSTANCE_VALUES.tolist()}
    assert inside.sum() > 10
    px = np.floor(moved[inside] + 0.5).astype(int)
    src = np.floor(points[inside] + 0.5).astype(int)
    assert np.array_equal(lab[px[:, 1], px[:, 0]], labels[src[:, 1], src[:, 0]])
    assert np.array_equal(ins[px[:, 1], px[:, 0]], instances[src[:, 1], src[:, 0]])


def test_pixels_from_outside_the_source_are_background_and_fill() -> None:
    labels, instances, _ = _blocks()
    image = np.full((H, W, 3), (200, 100, 40), np.uint8)
    out, lab, ins, _, _ = apply_camera(
        image, labels, instances, np.zeros((0, 2)), _view(zoom=0.5), np.random.default_rng(0)
    )
    # zoom 0.5 about the centre keeps x in [32, 95.5], y in [24, 71.5]: the band outside is new
    assert lab[:20].max() == 0 and lab[:, :28].max() == 0 and ins[-20:].max() == 0
    assert lab[30:66, 36:92].min() > 0
    # no background pixel on the ring: the fill is half the median ring colour
    assert out[5, 5].tolist() == [100, 50, 20]
    assert out[47, 63].tolist() == [200, 100, 40]


@pytest.mark.parametrize(
    "factors",
    [
        _view(roll_rad=0.7),
        _view(zoom=1.6, shift=(0.1, -0.05)),
        _view(zoom=0.7, roll_rad=-2.0),
        _view(tilt_deg=40.0, tilt_axis_rad=1.0, focal=0.8),
        _view(tilt_deg=25.0, tilt_axis_rad=4.0, roll_rad=2.5, zoom=1.3, shift=(-0.1, 0.1)),
    ],
)
def test_points_follow_the_image(factors: CameraFactors) -> None:
    """A bright blob drawn at a point peaks, after the warp, within 1 px of the warped point."""
    yy, xx = np.mgrid[0:H, 0:W]
    point = np.array([[45.0, 35.0]])
    blob = 250.0 * np.exp(-((xx - 45.0) ** 2 + (yy - 35.0) ** 2) / (2 * 1.5**2))
    image = np.repeat(np.rint(blob).astype(np.uint8)[:, :, None], 3, axis=2)
    zeros = np.zeros((H, W), np.uint8)
    out, _, _, moved, inside = apply_camera(image, zeros, zeros, point, factors, np.random.default_rng(0))
    assert inside[0]
    peak = np.unravel_index(np.argmax(out[:, :, 0].astype(int)), (H, W))
    assert math.hypot(peak[1] - moved[0, 0], peak[0] - moved[0, 1]) <= 1.0


def test_inside_flags_after_a_shift() -> None:
    """shift 0.25 W = 32 px right: x → x + 32; the pixel (floor(x + 0.5), ...) must be in [0, 128)."""
    points = np.array([[95.4, 10.0], [95.5, 10.0], [-32.5, 50.0], [-32.6, 50.0], [10.0, 95.6], [10.0, -0.5]])
    zeros = np.zeros((H, W), np.uint8)
    image = np.zeros((H, W, 3), np.uint8)
    _, _, _, moved, inside = apply_camera(
        image, zeros, zeros, points, _view(shift=(0.25, 0.0)), np.random.default_rng(0)
    )
    assert moved[:, 0] == pytest.approx(points[:, 0] + 32.0)
    assert inside.tolist() == [True, False, True, False, False, True]


# ---------------------------------------------------------------- determinism, photometry


def _noisy(light: str) -> CameraFactors:
    return sample_camera(np.random.default_rng(11), {light, "oblique", "jpeg"})


@pytest.mark.parametrize("light", LIGHT_FAMILIES)
def test_same_seed_same_frame_other_seed_other_frame(light: str) -> None:
    image, labels, instances = _rendered(1)
    points = np.array([[30.0, 40.0], [100.0, 80.0]])
    factors = _noisy(light)
    a = apply_camera(image, labels, instances, points, factors, np.random.default_rng(5))
    b = apply_camera(image, labels, instances, points, factors, np.random.default_rng(5))
    c = apply_camera(image, labels, instances, points, factors, np.random.default_rng(6))
    for i in range(5):
        assert np.array_equal(a[i], b[i])
    assert a[0].shape == (H, W, 3) and a[0].dtype == np.uint8
    assert a[1].shape == a[2].shape == (H, W) and a[1].dtype == a[2].dtype == np.uint8
    assert not np.array_equal(a[0], c[0])
    assert np.array_equal(a[1], c[1]) and np.array_equal(a[3], c[3])


@pytest.mark.parametrize("seed", range(4))
def test_photometric_steps_leave_labels_and_points(seed: int) -> None:
    image, labels, instances = _rendered(2)
    points = np.array([[30.25, 40.5], [100.0, 80.0]])
    sampled = sample_camera(np.random.default_rng(seed))
    factors = dataclasses.replace(sampled, tilt_deg=0.0, roll_rad=0.0, zoom=1.0, shift=(0.0, 0.0))
    out, lab, ins, pts, _ = apply_camera(image, labels, instances, points, factors, np.random.default_rng(0))
    assert np.array_equal(lab, labels) and np.array_equal(ins, instances) and np.array_equal(pts, points)
    assert not np.array_equal(out, image)


@pytest.mark.parametrize("compression", ["none", "jpeg", "h264"])
def test_infrared_frames_are_grey_and_day_frames_are_not(compression: str) -> None:
    image, labels, instances = _rendered(3)
    quality = {"none": 0, "jpeg": 60, "h264": 28}[compression]
    ir = dataclasses.replace(
        sample_camera(np.random.default_rng(1), {"ir"}), compression=compression, quality=quality
    )
    out = apply_camera(image, labels, instances, np.zeros((0, 2)), ir, np.random.default_rng(0))[0]
    assert np.array_equal(out[:, :, 0], out[:, :, 1]) and np.array_equal(out[:, :, 1], out[:, :, 2])
    day = dataclasses.replace(ir, night_ir=False)
    out = apply_camera(image, labels, instances, np.zeros((0, 2)), day, np.random.default_rng(0))[0]
    assert not np.array_equal(out[:, :, 0], out[:, :, 2])


@pytest.mark.parametrize(
    ("compression", "quality"), [("none", 0), ("jpeg", 30), ("jpeg", 95), ("h264", 18), ("h264", 38)]
)
@pytest.mark.parametrize(("h", "w"), [(96, 128), (95, 127)])
def test_every_compression_round_trips(compression: str, quality: int, h: int, w: int) -> None:
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([xx * 2, yy * 2, (xx + yy) % 256], axis=2).astype(np.uint8)
    zeros = np.zeros((h, w), np.uint8)
    factors = _view(compression=compression, quality=quality)
    out, lab, _, _, _ = apply_camera(image, zeros, zeros, np.zeros((0, 2)), factors, np.random.default_rng(0))
    assert out.shape == (h, w, 3) and out.dtype == np.uint8 and lab.shape == (h, w)
    err = np.abs(out.astype(int) - image.astype(int)).mean()
    if compression == "none":
        assert err == 0
    else:
        assert 0 < err < 12


# ---------------------------------------------------------------- families


def _draws(families: set[str] | None, n: int = 200, seed: int = 0) -> list[CameraFactors]:
    rng = np.random.default_rng(seed)
    return [sample_camera(rng, families) for _ in range(n)]


def test_families_are_respected() -> None:
    assert all(f.tilt_deg == 0.0 for f in _draws({"top"}))
    oblique = _draws({"oblique"})
    assert all(TILT_DEG[0] <= f.tilt_deg <= TILT_DEG[1] for f in oblique)
    assert all(f.night_ir and f.white_balance == (1.0, 1.0, 1.0) for f in _draws({"ir"}))
    assert not any(f.night_ir for f in _draws({"day", "dim"}))
    assert all(f.compression == "none" for f in _draws({"raw"}))
    h264 = _draws({"h264", "top", "ir"})
    assert all(f.compression == "h264" and H264_CRF[0] <= f.quality <= H264_CRF[1] for f in h264)
    assert all(f.tilt_deg == 0.0 and f.night_ir for f in h264)
    jpeg = _draws({"jpeg"})
    assert all(f.compression == "jpeg" and JPEG_QUALITY[0] <= f.quality <= JPEG_QUALITY[1] for f in jpeg)


def test_all_families_occur_and_sampling_is_seeded() -> None:
    draws = _draws(None)
    assert {f.tilt_deg > 0 for f in draws} == {True, False}
    assert {f.night_ir for f in draws} == {True, False}
    assert {f.compression for f in draws} == {"none", "jpeg", "h264"}
    assert any(f.exposure < 0.7 and not f.night_ir for f in draws)  # dim
    assert draws == _draws(None)
    assert draws != _draws(None, seed=1)
    assert len(ALL_FAMILIES) == len(set(ALL_FAMILIES)) == len(VIEW_FAMILIES + LIGHT_FAMILIES + CODEC_FAMILIES)


def test_unknown_family_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match="camera families: unknown 'outdoor'"):
        sample_camera(np.random.default_rng(0), {"top", "outdoor"})
