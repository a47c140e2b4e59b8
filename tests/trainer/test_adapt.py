"""Domain-adversarial training pieces: the gradient reversal, the λ schedule, the domain loss and classifier,
the backbone tap, the unlabelled frames, and one training step whose backbone gradient gains exactly
−λ · W · ∂(domain loss)/∂θ."""

from __future__ import annotations

import itertools
import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.contract.keypoints import NYCU22
from pipeline.contract.model_meta import ModelSpec
from pipeline.contract.pose_meta import PoseSpec
from pipeline.errors import DatasetError
from tests.trainer.unlabelled_frames import write_frames
from trainer.adapt import DomainClassifier, GradReverse, domain_correct, domain_loss, grad_reverse, grl_lambda
from trainer.adapt_run import Adaptation, start_adaptation
from trainer.config import TrainConfig
from trainer.features import BackboneTap
from trainer.history import append_row, read_rows
from trainer.layout import load_rgb
from trainer.models import build_model
from trainer.pose.config import PoseTrainConfig
from trainer.pose.crops import Augment
from trainer.pose.model import build_pose_model
from trainer.pose.state import build_pose_state, pose_train_step
from trainer.pose.unlabelled import BOX_FRACTION, PoseFrameInput, stand_in_box
from trainer.train import build_state, train_step
from trainer.transforms import Sample, train_transform
from trainer.unlabelled import (
    SegmentationFrameInput,
    UnlabelledDataset,
    UnlabelledSampler,
    find_unlabelled,
)

# --- gradient reversal, schedule, loss ------------------------------------------------------------------------


@pytest.mark.parametrize("lam", [0.0, 0.25, 1.0, 2.5])
def test_grl_is_identity_forward_and_minus_lambda_backward(lam: float) -> None:
    x = torch.tensor([[1.0, -2.0, 3.0], [0.5, 0.0, -7.25]], requires_grad=True)
    upstream = torch.tensor([[0.5, 1.0, -4.0], [2.0, -0.125, 8.0]])
    y = grad_reverse(x, lam)
    assert torch.equal(y, x)
    (grad,) = torch.autograd.grad(y, x, upstream)
    assert torch.equal(grad, -lam * upstream)


def test_grl_hand_values_and_module() -> None:
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    w = torch.tensor([0.5, 1.0, -4.0])
    layer = GradReverse(0.25)
    (layer(x) * w).sum().backward()  # d/dx sum(w * x) = w, reversed and scaled: -0.25 w
    assert x.grad is not None and x.grad.tolist() == [-0.125, -0.25, 1.0]
    layer.lambda_ = 2.0  # the schedule changes λ between steps
    x.grad = None
    (layer(x) * w).sum().backward()
    assert x.grad is not None and x.grad.tolist() == [-1.0, -2.0, 8.0]


@pytest.mark.parametrize(
    ("p", "gamma", "max_lambda", "expected"),
    [
        (0.0, 10.0, 1.0, 0.0),
        (0.5, 10.0, 1.0, 0.9866142981514305),  # 2 / (1 + e^-5) - 1 = tanh(2.5)
        (1.0, 10.0, 1.0, 0.9999092042625952),  # tanh(5)
        (0.5, 10.0, 0.3, 0.3 * 0.9866142981514305),
        (0.25, 4.0, 1.0, 0.46211715726000974),  # tanh(0.5)
        (-1.0, 10.0, 1.0, 0.0),  # clipped to p = 0
        (3.0, 10.0, 1.0, 0.9999092042625952),  # clipped to p = 1
    ],
)
def test_grl_lambda_schedule(p: float, gamma: float, max_lambda: float, expected: float) -> None:
    assert grl_lambda(p, gamma, max_lambda) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_domain_loss_on_hand_made_logits() -> None:
    ln3 = math.log(3.0)
    # source (label 0): softplus(0) = ln 2, softplus(ln 3) = ln 4; target (label 1): softplus(-z) likewise.
    loss = domain_loss(torch.tensor([0.0, ln3]), torch.tensor([0.0, -ln3]))
    assert float(loss) == pytest.approx(1.5 * math.log(2.0), rel=1e-6)
    # mean over all images, not the mean of the two domains' means: (ln 4 + 3 ln 2) / 4
    uneven = domain_loss(torch.tensor([ln3]), torch.tensor([0.0, 0.0, 0.0]))
    assert float(uneven) == pytest.approx(1.25 * math.log(2.0), rel=1e-6)
    assert float(domain_loss(torch.tensor([-20.0]), torch.tensor([20.0]))) < 1e-8


def test_domain_correct_counts_by_sign() -> None:
    assert domain_correct(torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([3.0, -0.5])) == (2, 5)
    assert domain_correct(torch.tensor([-1.0, -2.0]), torch.tensor([1.0, 0.5])) == (4, 4)


def test_domain_classifier_pools_globally() -> None:
    torch.manual_seed(0)
    clf = DomainClassifier(8, hidden=16).eval()
    f = torch.randn(2, 8, 3, 5)
    logits = clf(f)
    assert logits.shape == (2,)
    # the same channel means in another spatial arrangement give the same logits
    assert torch.allclose(clf(f.flip(2, 3)), logits, atol=1e-6)
    assert torch.allclose(clf(f.mean(dim=(2, 3), keepdim=True)), logits, atol=1e-6)


# --- backbone tap ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "key", "channels", "stride"),
    [
        (lambda: build_model("lraspp"), "high", 960, 16),
        (lambda: build_model("deeplabv3", aux_loss=True), "out", 960, 16),
        (lambda: build_pose_model("mnv3-small", 22, 16), None, 576, 32),
    ],
)
def test_backbone_tap_captures_without_changing_the_model(
    make: Callable[[], torch.nn.Module], key: str | None, channels: int, stride: int
) -> None:
    torch.manual_seed(0)
    model = make().eval()
    keys = list(model.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        plain = model(x)
        tap = BackboneTap.of(model)
        with tap.capture() as captured:
            tapped = model(x)
        alone = tap.features(x)
    assert (tap.key, tap.channels) == (key, channels)
    assert captured.features is not None and captured.features.shape == (
        2,
        channels,
        64 // stride,
        64 // stride,
    )
    assert torch.equal(captured.features, alone)
    out = (plain["out"], tapped["out"]) if isinstance(plain, dict) else (plain, tapped)
    assert torch.equal(*out)
    assert not tap.module._forward_hooks and list(model.state_dict()) == keys


# --- unlabelled frames ----------------------------------------------------------------------------------------


def test_find_unlabelled_folder_recursively(tmp_path: Path) -> None:
    written = write_frames(tmp_path / "frames")
    found = find_unlabelled(tmp_path / "frames")
    assert list(found.paths) == [p.resolve() for p in written] and len(found.paths) == 5
    assert found.description.startswith("5 unlabelled frames")


def test_find_unlabelled_in_a_prepared_layout(prepared_copy: Path) -> None:
    listed = (prepared_copy / "splits" / "unlabelled.txt").read_text().split()
    expected = [(prepared_copy / "unlabelled" / f"{s}.jpg").resolve() for s in listed]
    assert len(listed) == 4 and len(list((prepared_copy / "unlabelled").glob("*.jpg"))) == 8
    # the layout root and its unlabelled folder: only the training videos' frames (not val/test videos')
    assert list(find_unlabelled(prepared_copy).paths) == expected
    assert list(find_unlabelled(prepared_copy / "unlabelled").paths) == expected
    (prepared_copy / "splits" / "unlabelled.txt").unlink()  # no unlabelled list: the train split's frames
    train = (prepared_copy / "splits" / "train.txt").read_text().split()
    assert [p.name for p in find_unlabelled(prepared_copy).paths] == [f"{s}.jpg" for s in train]


def test_find_unlabelled_in_a_keypoint_layout(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "train.json").write_text("{}")
    train = write_frames(tmp_path / "images" / "train")
    write_frames(tmp_path / "images" / "val")
    assert list(find_unlabelled(tmp_path).paths) == [p.resolve() for p in train]


def test_find_unlabelled_errors_are_one_line(prepared_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"^--unlabelled: .*nowhere: no such folder$"):
        find_unlabelled(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"^--unlabelled: .*empty: no \.jpg/\.jpeg/\.png images in it"):
        find_unlabelled(tmp_path / "empty")
    first = (prepared_copy / "splits" / "unlabelled.txt").read_text().split()[0]
    (prepared_copy / "unlabelled" / f"{first}.jpg").unlink()
    with pytest.raises(DatasetError, match=rf"{first}\.jpg: listed in .*unlabelled\.txt but missing$"):
        find_unlabelled(prepared_copy)


def test_unlabelled_sampler_is_endless_and_resumable() -> None:
    sampler = UnlabelledSampler(3, seed=5)
    stream = list(itertools.islice(iter(sampler), 9))
    assert [c for c, _ in stream] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for cycle in range(3):
        indices = [i for c, i in stream if c == cycle]
        assert sorted(indices) == [0, 1, 2] and indices == sampler.order(cycle).tolist()
    resumed = list(itertools.islice(iter(UnlabelledSampler(3, seed=5, start=4)), 5))
    assert resumed == stream[4:]


def test_segmentation_frames_are_augmented_like_labelled_ones(tmp_path: Path) -> None:
    paths = write_frames(tmp_path)
    transform = train_transform(ModelSpec(input_hw=(64, 64)))
    data = UnlabelledDataset(paths, SegmentationFrameInput(transform), seed=1)
    x = data[(0, 2)]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32
    assert torch.equal(x, data[(0, 2)])  # reproducible from (seed, cycle, index)
    assert torch.equal(pickle.loads(pickle.dumps(data))[(0, 2)], x)  # spawned DataLoader workers get a copy
    assert not torch.equal(x, data[(1, 2)])  # another cycle, another augmentation
    # the image gets exactly what a labelled frame's image gets from the same random draws
    image = load_rgb(paths[2])
    mask = np.random.default_rng(0).integers(0, 5, image.shape[:2], dtype=np.uint8)
    for seed in range(4):
        labelled, _ = transform(Sample(image, mask), np.random.default_rng(seed))
        assert np.array_equal(SegmentationFrameInput(transform)(image, np.random.default_rng(seed)), labelled)


def test_pose_frames_use_a_stand_in_box(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    boxes = np.array([stand_in_box(48, 80, rng) for _ in range(300)])
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 80).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 1] + boxes[:, 3] <= 48).all()
    assert (boxes[:, 2] == boxes[:, 3]).all()
    assert boxes[:, 2].min() >= BOX_FRACTION[0] * 48 and boxes[:, 2].max() <= BOX_FRACTION[1] * 48
    spec = PoseSpec(keypoints=NYCU22, input_hw=(64, 64))
    data = UnlabelledDataset(write_frames(tmp_path), PoseFrameInput(spec, Augment()), seed=0)
    x = data[(0, 0)]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and torch.equal(x, data[(0, 0)])
    assert torch.equal(pickle.loads(pickle.dumps(data))[(0, 0)], x)


def test_metrics_csv_written_before_the_domain_columns_keeps_its_header(tmp_path: Path) -> None:
    """A run resumed (with adaptation) from a metrics.csv that predates the domain columns stays readable."""
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,lr,train_loss,seconds\n1,2,0.001,1.5,3.0\n", encoding="utf-8")
    append_row(
        path, {"epoch": 2, "step": 4, "lr": 0.0, "train_loss": 1.25, "seconds": 2.5, "domain_loss": 0.7}
    )
    assert path.read_text(encoding="utf-8").splitlines() == [
        "epoch,step,lr,train_loss,seconds", "1,2,0.001,1.5,3.0", "2,4,0.0,1.25,2.5",
    ]  # fmt: skip
    fresh = tmp_path / "new.csv"
    append_row(fresh, {"epoch": 1, "domain_loss": 0.75, "domain_accuracy": 0.5, "adapt_lambda": 0.0})
    assert read_rows(fresh)[0]["domain_accuracy"] == 0.5 and list(read_rows(fresh)[0])[-3:] == [
        "domain_loss", "domain_accuracy", "adapt_lambda",
    ]  # fmt: skip


# --- one training step ----------------------------------------------------------------------------------------


STEP, TOTAL = 5, 10
"""The tested step and the run's length: λ = grl_lambda(0.5) ≈ 0.987."""


@dataclass
class OneStep:
    """A fresh model (seeded), its adaptation, and the run step that trains both on one labelled batch."""

    model: torch.nn.Module
    head: torch.Tensor
    adaptation: Adaptation
    run: Callable[[], float]


def _one_step(task: str, weight: float, frames: Path, tmp_path: Path) -> OneStep:
    gen = torch.Generator().manual_seed(3)
    images = torch.randn(2, 3, 64, 64, generator=gen)
    found = find_unlabelled(frames)
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    if task == "segmentation":
        masks = torch.randint(0, 5, (2, 64, 64), generator=gen)
        cfg = TrainConfig(
            data=tmp_path, out=tmp_path, arch="lraspp", input_size=64, batch_size=2, device="cpu", workers=0,
            adapt_weight=weight,
        )  # fmt: skip
        state = build_state(cfg, TOTAL)
        frame_input = SegmentationFrameInput(train_transform(ModelSpec(input_hw=(64, 64))))
        seg = start_adaptation(cfg, state.model, found, frame_input, TOTAL, cpu)
        state.step = STEP
        head: torch.Tensor = state.model.classifier.high_classifier.weight  # type: ignore[union-attr,assignment]
        return OneStep(state.model, head, seg, lambda: train_step(state, images, masks, seg))
    targets, weights = torch.rand(2, 22, 16, 16, generator=gen), torch.ones(2, 22)
    pose_cfg = PoseTrainConfig(
        data=tmp_path, out=tmp_path, arch="mnv3-small", head_channels=16, input_hw=(64, 64), batch_size=2,
        device="cpu", workers=0, adapt_weight=weight,
    )  # fmt: skip
    pose_state = build_pose_state(pose_cfg, 22, TOTAL)
    crops = PoseFrameInput(PoseSpec(keypoints=NYCU22, input_hw=(64, 64)), Augment())
    pose = start_adaptation(pose_cfg, pose_state.model, found, crops, TOTAL, cpu)
    pose_state.step = STEP
    run = lambda: pose_train_step(pose_state, images, targets, weights, pose)  # noqa: E731
    return OneStep(pose_state.model, pose_state.model.final.weight, pose, run)


def _last_conv(adaptation: Adaptation) -> torch.nn.Conv2d:
    return [m for m in adaptation.tap.module.modules() if isinstance(m, torch.nn.Conv2d)][-1]


@pytest.mark.parametrize("task", ["segmentation", "keypoints"])
def test_domain_loss_reaches_the_backbone_reversed(task: str, tmp_path: Path) -> None:
    """With W > 0 the backbone's gradient is the task gradient plus exactly −λ·W·∂L_domain/∂θ; the task head's
    gradient does not change; the classifier learns (W = 0: it gets no gradient either)."""
    frames = tmp_path / "frames"
    write_frames(frames)
    weight, lam = 0.5, grl_lambda(STEP / TOTAL)
    grads: dict[float, tuple[torch.Tensor, torch.Tensor]] = {}
    for w in (0.0, weight):
        one = _one_step(task, w, frames, tmp_path)
        one.run()
        assert one.adaptation.position == 2 and one.adaptation.stats.steps == 1
        assert one.adaptation.stats.last_lambda == lam
        conv = _last_conv(one.adaptation)
        assert conv.weight.grad is not None and one.head.grad is not None
        grads[w] = (conv.weight.grad.clone(), one.head.grad.clone())
        clf_grads = [p.grad for p in one.adaptation.classifier.parameters() if p.grad is not None]
        assert any(bool(g.abs().max() > 0) for g in clf_grads) == (w > 0)

    # ∂L_domain/∂θ without the reversal, from a fresh identical model, classifier and unlabelled batch
    fresh = _one_step(task, weight, frames, tmp_path)
    fresh.model.train()
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    source = fresh.adaptation.tap.features(images)
    target = fresh.adaptation.tap.features(fresh.adaptation.next_batch())
    loss = domain_loss(fresh.adaptation.classifier(source), fresh.adaptation.classifier(target))
    (plain,) = torch.autograd.grad(loss, _last_conv(fresh.adaptation).weight)
    assert float(plain.abs().max()) > 0
    assert torch.equal(grads[weight][1], grads[0.0][1])  # the head's gradient is the task's alone
    torch.testing.assert_close(grads[weight][0] - grads[0.0][0], -lam * weight * plain, rtol=1e-3, atol=1e-7)
