"""Paired transforms: masks stay class ids, geometry moves image and mask together, and the final step
gives exactly the pipeline Preprocessor's pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.contract.model_meta import ModelSpec
from pipeline.frames import Frame, FrameMeta
from pipeline.infer.preprocess import Preprocessor
from tests.trainer.yibp_data import class_map, frame_image
from trainer.dataset import EpochSampler, SegmentationDataset, balanced_class_weights, class_pixel_counts
from trainer.transforms import (
    ColorJitter,
    GaussianBlur,
    HorizontalFlip,
    RandomCrop,
    RandomErasing,
    RandomRotation,
    RandomScale,
    Sample,
    ToModelInput,
    Transform,
    eval_transform,
    train_transform,
)


def _sample(h: int = 48, w: int = 64, seed: int = 0) -> Sample:
    ids = class_map(h, w, seed)
    return Sample(frame_image(ids, seed), ids)


def _frame(image: np.ndarray) -> Frame:
    h, w = image.shape[:2]
    return Frame(FrameMeta("t", 0, 0.0, 0.0, None, w, h), image)


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(input_hw=(64, 64)),
        ModelSpec(input_hw=(96, 128), letterbox="topleft", pad_value=114),
        ModelSpec(input_hw=(64, 64), mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0), letterbox="center"),
    ],
)
@pytest.mark.parametrize(("h", "w"), [(48, 64), (72, 40), (33, 97)])
def test_eval_transform_matches_pipeline_preprocessor(spec: ModelSpec, h: int, w: int) -> None:
    sample = _sample(h, w)
    x, y = eval_transform(spec)(sample, np.random.default_rng(0))
    prepared = Preprocessor(spec)(_frame(sample.image))
    assert x.dtype == np.float32 and x.shape == (3, *spec.input_hw)
    assert np.array_equal(x, prepared.tensor)
    box = prepared.letterbox
    assert y.dtype == np.int64 and y.shape == spec.input_hw
    inside = y[box.pad_y : box.pad_y + box.new_h, box.pad_x : box.pad_x + box.new_w]
    assert set(np.unique(inside)) <= set(np.unique(sample.mask))
    assert y.sum() == inside.sum()  # padding is background


def test_flip_keeps_class_ids_and_moves_together() -> None:
    s = _sample()
    out = HorizontalFlip(p=1.0)(s, np.random.default_rng(0))
    assert np.array_equal(out.mask, s.mask[:, ::-1]) and np.array_equal(out.image, s.image[:, ::-1])
    assert np.array_equal(np.bincount(out.mask.ravel()), np.bincount(s.mask.ravel()))
    assert HorizontalFlip(p=0.0)(s, np.random.default_rng(0)) is s


@pytest.mark.parametrize(
    "step",
    [
        RandomRotation(30.0, p=1.0),
        RandomScale(0.5, 0.8),
        RandomScale(1.2, 2.0),
        RandomCrop(0.5, p=1.0),
    ],
)
def test_geometric_steps_keep_ids_and_pairing(step: Transform) -> None:
    s = _sample(60, 80, seed=2)
    for seed in range(5):
        out = step(s, np.random.default_rng(seed))
        assert out.image.shape[:2] == out.mask.shape and out.image.dtype == np.uint8
        assert out.mask.dtype == np.uint8 and set(np.unique(out.mask)) <= set(range(5))
        # Pairing: the image still shows each class in its colour where the mask says so (NEAREST
        # masks, linear images: compare class-mean colours, robust to edge blending).
        for c in (3, 4):
            where = out.mask == c
            if where.sum() > 20:
                mean = out.image[where].mean(axis=0)
                ref = s.image[s.mask == c].mean(axis=0)
                assert np.abs(mean - ref).max() < 25, (c, mean, ref)


def test_scale_zooms() -> None:
    s = _sample(60, 80)
    zin = RandomScale(2.0, 2.0)(s, np.random.default_rng(0))
    zout = RandomScale(0.5, 0.5)(s, np.random.default_rng(0))
    assert zin.mask.shape == (30, 40) and zout.mask.shape == (120, 160)
    assert int((zout.mask > 0).sum()) == int((s.mask > 0).sum())  # padding is background


def test_photometric_steps_touch_image_only() -> None:
    s = _sample()
    for step in (ColorJitter(0.4, 0.4, 0.4, 0.1), GaussianBlur(p=1.0)):
        out = step(s, np.random.default_rng(1))
        assert out.mask is s.mask and out.image.shape == s.image.shape and out.image.dtype == np.uint8
        assert not np.array_equal(out.image, s.image)


def test_train_transform_is_reproducible_and_valid() -> None:
    spec = ModelSpec(input_hw=(64, 64))
    t = train_transform(spec)
    s = _sample(72, 40)
    a = t(s, np.random.default_rng([0, 1, 2]))
    b = t(s, np.random.default_rng([0, 1, 2]))
    c = t(s, np.random.default_rng([0, 1, 3]))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (3, 64, 64) and a[1].shape == (64, 64) and a[1].max() <= 4


def test_dataset_items_and_class_weights(prepared: Path) -> None:
    spec = ModelSpec(input_hw=(64, 64))
    ds = SegmentationDataset(prepared, "train", train_transform(spec), seed=3)
    assert len(ds) == 8
    x, y = ds[0]
    assert (
        x.dtype == torch.float32 and x.shape == (3, 64, 64) and y.dtype == torch.int64 and y.shape == (64, 64)
    )
    assert torch.equal(ds[0][0], x)  # same epoch → same sample
    ds.set_epoch(1)
    assert not torch.equal(ds[0][0], x)
    assert torch.equal(ds[(1, 0)][0], ds[0][0]) and not torch.equal(ds[(0, 0)][0], ds[0][0])
    sampler = EpochSampler(8, seed=3)
    first = list(sampler)
    assert sorted(i for _, i in first) == list(range(8)) and {e for e, _ in first} == {0}
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert [i for _, i in sampler] != [i for _, i in first]
    counts = class_pixel_counts(prepared, "train")
    assert counts.shape == (5,) and counts.sum() == sum(ds.load(i).mask.size for i in range(len(ds)))
    w = balanced_class_weights(counts)
    assert w.mean() == pytest.approx(1.0) and w[0] < w[2]  # background is frequent, arm is rare
    assert balanced_class_weights(np.array([10, 0, 10, 0, 0]))[1] == pytest.approx(
        balanced_class_weights(np.array([10, 0, 10, 0, 0])).max()
    )


def test_to_model_input_on_prepared_frame(prepared: Path) -> None:
    ds = SegmentationDataset(prepared, "val", eval_transform(ModelSpec(input_hw=(64, 64))))
    s = ds.load(0)
    x, y = ToModelInput(ModelSpec(input_hw=(64, 64)))(s)
    assert np.array_equal(x, ds[0][0].numpy()) and np.array_equal(y, ds[0][1].numpy())


@pytest.mark.parametrize("erase_mask", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_random_erasing_covers_rectangles_and_unlabels_them(erase_mask: bool, seed: int) -> None:
    sample = _sample(60, 80, seed)
    step = RandomErasing(p=1.0, max_patches=2, area=(0.05, 0.1), erase_mask=erase_mask)
    out = step(sample, np.random.default_rng(seed))
    again = step(sample, np.random.default_rng(seed))
    assert np.array_equal(out.image, again.image) and np.array_equal(out.mask, again.mask)  # seeded
    changed = (out.image != sample.image).any(axis=2) | (out.mask != sample.mask)
    assert 0.02 * 60 * 80 <= changed.sum() <= 0.2 * 60 * 80 + 1  # one or two patches of 5-10 %
    ys, xs = np.nonzero(changed)
    assert xs.min() >= 0 and ys.max() < 60  # inside the frame
    if erase_mask:
        assert (out.mask[changed] == 0).all()  # covered = not labelled
    else:
        assert np.array_equal(out.mask, sample.mask)
    assert np.array_equal(out.image[~changed], sample.image[~changed])  # nothing else touched


def test_random_erasing_probability() -> None:
    sample = _sample()
    rng = np.random.default_rng(0)
    hits = sum(not np.array_equal(RandomErasing(p=0.3)(sample, rng).image, sample.image) for _ in range(400))
    assert 80 <= hits <= 160  # ~120 of 400


def test_keypoint_crops_are_erased_sometimes_and_keep_their_size() -> None:
    """The keypoint training crops (trainer/pose/dataset.py:photometric) get random erasing too; a crop
    carries no mask, so the patches are sized from the image."""
    from trainer.pose.dataset import photometric

    crop = np.full((64, 48, 3), 128, np.uint8)
    outs = [photometric(crop, np.random.default_rng(i)) for i in range(60)]
    assert all(o.shape == crop.shape and o.dtype == np.uint8 for o in outs)
    # jitter and blur keep a flat grey crop flat; only an erased patch makes its pixels differ
    patched = sum(int(o.reshape(-1, 3).std(axis=0).max() > 1.0) for o in outs)
    assert 15 <= patched <= 45  # p = 0.5
