"""Keypoint crops and targets: evaluation crops are the pipeline's crops, augmented crops keep every keypoint on
its own dot (flips swap right and left), targets decode back to the labels, unusable samples are skipped."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from pipeline.contract.crop import crop_image, pose_box, to_frame
from pipeline.contract.keypoints import NYCU22
from pipeline.contract.pose_meta import PoseSpec
from pipeline.infer.preprocess import normalize
from pipeline.pose.decode import decode_heatmaps, heatmap_to_input
from tests.trainer.pose.stick_figures import joint_colour, make_keypoint_layout
from trainer.layout import load_rgb
from trainer.pose.crops import Augment, body_box, eval_crop, is_degenerate, train_crop
from trainer.pose.dataset import PoseDataset, usable_samples
from trainer.pose.layout import read_split
from trainer.pose.occlusion import face_region, occlude_face
from trainer.pose.targets import gaussian_heatmaps, input_to_heatmap, target_weights


def _spec(hw: tuple[int, int] = (64, 64), padding: float = 0.15) -> PoseSpec:
    return PoseSpec(keypoints=NYCU22, input_hw=hw, crop_padding=padding)


@pytest.mark.parametrize(
    ("xy", "stride", "expected"),
    [((-0.5, -0.5), 4, (-0.5, -0.5)), ((1.5, 5.5), 4, (0.0, 1.0)), ((10.0, 3.0), 2, (4.75, 1.25))],
)
def test_input_to_heatmap_inverts_heatmap_to_input(
    xy: tuple[float, float], stride: int, expected: tuple[float, float]
) -> None:
    got = input_to_heatmap(np.array([xy]), stride)
    np.testing.assert_allclose(got[0], expected, atol=1e-6)
    np.testing.assert_allclose(heatmap_to_input(got, stride)[0], xy, atol=1e-5)


@pytest.mark.parametrize(
    ("kp", "zero", "expected"),
    [
        ([[3.0, 4.0, 2.0], [3.0, 4.0, 1.0], [3.0, 4.0, 0.0]], (), [1, 1, 0]),
        ([[-0.5, 0.0, 2.0], [-0.6, 0.0, 2.0], [15.5, 7.5, 2.0]], (), [1, 0, 1]),
        ([[15.6, 1.0, 2.0], [1.0, 7.6, 2.0], [1.0, 1.0, 2.0]], (2,), [0, 0, 0]),
        ([[np.nan, 1.0, 2.0], [2.0, 2.0, 2.0], [1.0, 1.0, 2.0]], (0,), [0, 1, 1]),
    ],
)
def test_target_weights(kp: list[list[float]], zero: tuple[int, ...], expected: list[int]) -> None:
    np.testing.assert_array_equal(target_weights(np.array(kp), (8, 16), zero), expected)


def test_gaussian_peak_is_one_and_decodes_back() -> None:
    maps = gaussian_heatmaps(np.array([[9.0, 7.0], [10.3, 7.6]]), (16, 20), 2.0)
    assert maps.shape == (2, 16, 20) and maps.dtype == np.float32
    assert maps[0, 7, 9] == pytest.approx(1.0) and maps[0].max() == pytest.approx(1.0)
    assert maps[0, 7, 11] == pytest.approx(np.exp(-4 / 8)) and maps[1].max() < 1.0
    # away from the edges both decoders give the sub-pixel centre back (WA is biased near an edge)
    for decoder in ("argmax", "wa"):
        xy, _ = decode_heatmaps(maps[None], "none", decoder, 2.0)  # type: ignore[arg-type]
        np.testing.assert_allclose(xy[0], [[9.0, 7.0], [10.3, 7.6]], atol=0.02)


def test_eval_items_are_the_pipeline_crop_and_targets_decode_to_the_labels(kp_layout: Path) -> None:
    split = read_split(kp_layout, "val")
    spec = _spec((64, 96), 0.2)
    ds = PoseDataset(split.samples, spec)
    for i, s in enumerate(split.samples):
        x, target, weight = (t.numpy() for t in ds[i])
        box = pose_box(body_box(s.bbox), 0.2, 96 / 64)
        expected = normalize(crop_image(load_rgb(s.image_path), box, (64, 96)), spec.mean, spec.std)
        np.testing.assert_array_equal(x, expected)
        assert target.shape == (22, 16, 24) and weight.shape == (22,)
        labelled = s.keypoints[:, 2] > 0
        np.testing.assert_array_equal(weight, labelled.astype(np.float32))  # all inside the padded crop
        assert not target[~labelled].any()
        xy, _ = decode_heatmaps(target[None], "none", "argmax", spec.heatmap_sigma)
        frame = to_frame(heatmap_to_input(xy[0], 4), box, (64, 96))
        np.testing.assert_allclose(frame[labelled], s.keypoints[labelled, :2], atol=0.05)
    again = PoseDataset(split.samples, spec, seed=5)
    assert all(np.array_equal(ds[i][0].numpy(), again[i][0].numpy()) for i in range(len(ds)))  # no randomness


def test_unaugmented_train_crop_is_the_eval_crop(kp_layout: Path) -> None:
    s = read_split(kp_layout, "val").samples[0]
    image = load_rgb(s.image_path)
    crop, kp = train_crop(image, s.keypoints, s.bbox, (64, 64), 0.15, None, (), np.random.default_rng(0))
    ref, _ = eval_crop(image, s.bbox, (64, 64), 0.15)
    np.testing.assert_array_equal(crop, ref)
    np.testing.assert_array_equal(kp[:, 2], s.keypoints[:, 2])


def _nearest_joint(rgb: np.ndarray) -> int:
    colours = np.array([joint_colour(k) for k in range(22)], dtype=np.float64)
    return int(np.argmin(np.linalg.norm(colours - rgb.astype(np.float64), axis=1)))


@pytest.mark.parametrize(
    ("rotation", "flip_p", "seed"), [(0.0, 1.0, 0), (180.0, 0.0, 1), (180.0, 1.0, 2), (45.0, 1.0, 3)]
)
def test_augmented_keypoints_land_on_their_dots(
    tmp_path: Path, rotation: float, flip_p: float, seed: int
) -> None:
    root = make_keypoint_layout(tmp_path / "big", {"val": 2}, hw=(192, 256), seed=seed)
    pairs = dict(NYCU22.flip_pairs())
    partner = {**pairs, **{v: k for k, v in pairs.items()}}
    aug = Augment(rotation=rotation, rotation_p=1.0, flip_p=flip_p)
    checked = 0
    for s in read_split(root, "val").samples:
        image = load_rgb(s.image_path)
        for draw in range(3):
            rng = np.random.default_rng([seed, draw])
            crop, kp = train_crop(image, s.keypoints, s.bbox, (128, 128), 0.15, aug, NYCU22.flip_pairs(), rng)
            for k in NYCU22.non_facial:
                x, y = np.round(kp[k, :2]).astype(int)
                if not (0 <= x < 128 and 0 <= y < 128):
                    continue
                source = partner.get(k, k) if flip_p == 1.0 else k
                assert _nearest_joint(crop[y, x]) == source, (NYCU22.names[k], draw)
                checked += 1
    assert checked > 80


def test_usable_samples_skip_degenerate_and_unlabelled(
    kp_layout: Path, caplog: pytest.LogCaptureFixture
) -> None:
    split = read_split(kp_layout, "train")
    assert len(split.samples) == 10
    with caplog.at_level(logging.INFO, logger="trainer"):
        kept = usable_samples(split)
    assert len(kept) == 8 and all(not is_degenerate(s.bbox) for s in kept)
    assert (
        "train: skipped 2 of 10 samples (1 degenerate body boxes, 1 without labelled points)" in caplog.text
    )


@pytest.mark.parametrize(
    ("bbox", "degenerate"),
    [((0, 0, 10, 10), False), ((0, 0, 1.9, 10), True), ((0, 0, 10, 0), True), ((np.nan, 0, 10, 10), True)],
)
def test_is_degenerate(bbox: tuple[float, float, float, float], degenerate: bool) -> None:
    assert is_degenerate(bbox) is degenerate


def test_face_occlusion_mosaics_the_face_only(kp_layout: Path) -> None:
    s = read_split(kp_layout, "val").samples[0]
    image = load_rgb(s.image_path)
    region = face_region(s.keypoints, NYCU22, s.bbox)
    assert region is not None
    x0, y0, x1, y1 = (
        int(np.clip(round(v), 0, lim)) for v, lim in zip(region, (128, 96, 128, 96), strict=True)
    )
    out = occlude_face(image, s.keypoints, NYCU22, s.bbox)
    outside = np.ones(image.shape[:2], bool)
    outside[max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1] = False
    np.testing.assert_array_equal(out[outside], image[outside])
    face = out[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1]
    assert not np.array_equal(face, image[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1])
    # blocks: at most 7 distinct rows and 7 distinct columns (6 cells, edges may add one)
    assert len(np.unique(face.reshape(face.shape[0], -1), axis=0)) <= 7
    assert len(np.unique(face.transpose(1, 0, 2).reshape(face.shape[1], -1), axis=0)) <= 7
    # every facial point is inside the mosaic; no labelled facial point → unchanged
    for k in NYCU22.facial:
        if s.keypoints[k, 2] > 0:
            assert region[0] <= s.keypoints[k, 0] <= region[2] and region[1] <= s.keypoints[k, 1] <= region[3]
    none = s.keypoints.copy()
    none[list(NYCU22.facial), 2] = 0
    assert face_region(none, NYCU22, s.bbox) is None
    np.testing.assert_array_equal(occlude_face(image, none, NYCU22, s.bbox), image)


def test_omit_facial_zeroes_facial_weights_and_augmentation_is_seeded(kp_layout: Path) -> None:
    samples = usable_samples(read_split(kp_layout, "train"))
    ds = PoseDataset(samples, _spec(), Augment(), face_occlusion=True, omit_facial=True, seed=3)
    _, target, weight = ds[(0, 1)]
    assert not weight[list(NYCU22.facial)].any() and weight.sum() > 10
    assert not target[list(NYCU22.facial)].any()
    a, b = ds[(0, 1)][0], ds[(1, 1)][0]
    assert np.array_equal(a.numpy(), ds[(0, 1)][0].numpy()) and not np.array_equal(a.numpy(), b.numpy())
