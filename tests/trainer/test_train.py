"""Training on CPU with tiny inputs: the loss falls, checkpoints hold everything, resume restores it."""

from __future__ import annotations

import argparse
import csv
import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.contract.model_meta import ModelSpec
from pipeline.errors import ConfigError, ModelError
from trainer import commands
from trainer.checkpoint import load_checkpoint, model_from_checkpoint, spec_from_checkpoint
from trainer.config import TrainConfig
from trainer.dataset import SegmentationDataset
from trainer.models import build_model
from trainer.train import build_state, restore_state, run_training, train_step
from trainer.transforms import eval_transform


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commands.register_train(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["train", *argv])


def _batch(data: Path, size: int = 64, n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    ds = SegmentationDataset(data, "train", eval_transform(ModelSpec(input_hw=(size, size))))
    items = [ds[i] for i in range(n)]
    return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])


def test_a_few_steps_reduce_the_loss(prepared: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = TrainConfig(data=prepared, out=tmp_path, arch="lraspp", input_size=64, batch_size=2, device="cpu")
    state = build_state(cfg, total_steps=1000)
    images, masks = _batch(prepared)
    losses = [train_step(state, images, masks) for _ in range(12)]
    assert state.step == 12
    assert np.mean(losses[-3:]) < 0.6 * losses[0], losses


def test_deeplab_aux_head_trains(prepared: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = TrainConfig(data=prepared, out=tmp_path, input_size=64, batch_size=2, aux_loss=True, device="cpu")
    state = build_state(cfg, total_steps=100)
    images, masks = _batch(prepared)
    with torch.no_grad():
        out = state.model.eval()(images)
    assert set(out) == {"out", "aux"} and out["out"].shape == (2, 5, 64, 64)
    first = train_step(state, images, masks)
    assert math.isfinite(first) and state.optimizer.state  # moments exist after a step


def test_run_writes_checkpoints_and_resume_restores_state(
    prepared: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "run"
    args = _parse(
        *("--data", str(prepared), "--out", str(out), "--arch", "lraspp", "--input-size", "64"),
        *("--batch-size", "4", "--epochs", "3", "--max-steps", "3", "--workers", "1", "--device", "cpu"),
        *("--class-weights", "--amp", "--lr", "0.002"),
    )
    cfg = TrainConfig.from_args(args)
    with caplog.at_level(logging.WARNING, logger="trainer"):
        summary = run_training(cfg, progress=False)
    assert "--amp ignored" in caplog.text
    # 8 train frames / batch 4 = 2 steps per epoch: epoch 1 done, epoch 2 cut after 1 step.
    assert (summary.step, summary.epoch) == (3, 1)
    assert summary.last_checkpoint.is_file() and summary.best_checkpoint is not None
    assert (out / "curves.png").stat().st_size > 1000
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"] and [r["step"] for r in rows] == ["2", "3"]
    assert 0.0 <= float(rows[0]["val_fg_dice"]) <= 1.0 and float(rows[0]["train_loss"]) > 0

    ckpt = load_checkpoint(out / "last.pt")
    for key in ("model", "optimizer", "scheduler", "scaler", "epoch", "step", "best_metric", "args", "spec"):
        assert key in ckpt, key
    assert ckpt["step"] == 3 and ckpt["epoch"] == 1 and ckpt["args"]["class_weights"] == "auto"
    spec = spec_from_checkpoint(ckpt, "last.pt")
    assert spec.input_hw == (64, 64) and spec.architecture == "lraspp_mobilenet_v3_large"
    assert spec.training_data.startswith("Youtube-Infant-Body-Parsing") and "val_fg_dice" in spec.metrics
    assert ckpt["best_metric"] == pytest.approx(max(float(r["val_fg_dice"]) for r in rows))

    # Restoring into fresh objects reproduces model, optimizer moments, schedule and counters.
    fresh = build_state(cfg, total_steps=6)
    restore_state(fresh, ckpt)
    assert (fresh.step, fresh.epoch) == (3, 1) and fresh.scheduler.last_epoch == 3
    saved_opt = ckpt["optimizer"]["state"]
    for idx, st in fresh.optimizer.state_dict()["state"].items():
        assert torch.equal(st["exp_avg"], saved_opt[idx]["exp_avg"]) and int(st["step"]) == 3
    assert fresh.optimizer.param_groups[0]["lr"] == pytest.approx(ckpt["optimizer"]["param_groups"][0]["lr"])
    weights = model_from_checkpoint(ckpt, "last.pt").state_dict()
    assert all(torch.equal(v, weights[k]) for k, v in fresh.model.state_dict().items())

    # Resuming continues counting from step 3; the model-defining options come from the checkpoint.
    resumed = run_training(
        replace(cfg, resume=out / "last.pt", max_steps=5, arch="deeplabv3", workers=0), progress=False
    )
    assert resumed.step == 5 and resumed.epoch == 2
    again = load_checkpoint(out / "last.pt")
    assert again["arch"] == "lraspp" and again["step"] == 5
    with (out / "metrics.csv").open() as f:
        assert [r["step"] for r in csv.DictReader(f)] == ["2", "3", "5"]


def test_init_fine_tunes_from_a_checkpoints_weights(
    prepared: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """--init: the first step starts from the checkpoint's weights with the checkpoint's model options, while
    the optimizer, schedule, counters and best score start afresh (unlike --resume)."""
    base = tmp_path / "base"
    cfg = TrainConfig(
        data=prepared, out=base, arch="lraspp", input_size=64, batch_size=4, epochs=1, workers=0, device="cpu"
    )
    run_training(cfg, progress=False)
    source = load_checkpoint(base / "last.pt")
    # A 1-step run at lr 1e-12 keeps the weights it starts from. Without --init it would start from the same
    # seed-0 initialisation as the source run, which then moved every weight by ~1e-3 per AdamW step.
    tuned = tmp_path / "tuned"
    with caplog.at_level(logging.INFO, logger="trainer"):
        summary = run_training(
            replace(
                cfg, out=tuned, init=base / "last.pt", arch="deeplabv3", input_size=96, lr=1e-12, max_steps=1
            ),
            progress=False,
        )
    assert "using the checkpoint's arch=lraspp, input_size=64" in caplog.text
    assert f"starting from the weights of {base / 'last.pt'}" in caplog.text
    assert (summary.step, summary.epoch) == (1, 0)  # fresh counters: not the source's 2 steps
    after = load_checkpoint(tuned / "last.pt")
    assert after["arch"] == "lraspp" and after["args"]["input_size"] == 64 and after["step"] == 1
    assert after["scheduler"]["last_epoch"] == 1
    for k, v in source["model"].items():
        if v.is_floating_point() and "running" not in k:
            assert torch.allclose(after["model"][k], v, atol=1e-6), k


def test_init_and_resume_together_or_a_keypoint_checkpoint_are_errors(prepared: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--init and --resume: give one or the other"):
        TrainConfig.from_args(_parse("--out", "x", "--init", "a.pt", "--resume", "b.pt"))
    state = {"format": 1, "arch": "mnv3-large", "model": {}, "spec": {}}
    torch.save(state, tmp_path / "pose.pt")
    cfg = TrainConfig(
        data=prepared, out=tmp_path / "o", arch="lraspp", input_size=64, batch_size=4, device="cpu"
    )
    with pytest.raises(ConfigError, match=r"pose.pt: a mnv3-large checkpoint, not segmentation"):
        run_training(replace(cfg, init=tmp_path / "pose.pt"), progress=False)


@pytest.mark.usefixtures("offline")
def test_weights_backbone_offline_is_one_clear_error() -> None:
    with pytest.raises(
        ModelError, match=r"--weights-backbone imagenet: cannot download .*mobilenet_v3_large"
    ) as e:
        build_model("lraspp", weights_backbone="imagenet")
    assert "\n" not in str(e.value) and "--weights-backbone none" in str(e.value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--arch", "lraspp", "--aux-loss"], "--aux-loss"),
        (["--batch-size", "1"], "--batch-size"),
        (["--input-size", "16"], "--input-size"),
        (["--epochs", "0"], "--epochs"),
        (["--class-weights", "1,2"], "--class-weights"),
        (["--class-weights", "a,b,c,d,e"], "--class-weights"),
        (["--max-steps", "0"], "--max-steps"),
        (["--lr", "-1"], "--lr"),
    ],
)
def test_bad_options_are_config_errors(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_args(_parse("--out", "x", *argv))


def test_option_defaults_and_lr_per_optimizer() -> None:
    cfg = TrainConfig.from_args(_parse("--out", "x", "--optimizer", "sgd", "--class-weights", "1,1,2,2,2"))
    assert cfg.lr == 0.01 and cfg.arch == "deeplabv3" and cfg.input_size == 256
    assert cfg.parsed_class_weights() == [1, 1, 2, 2, 2]
    assert TrainConfig.from_args(_parse("--out", "x")).lr == 0.001


def test_too_few_frames_and_unavailable_device(prepared: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(data=prepared, out=tmp_path, arch="lraspp", input_size=64, batch_size=9, device="cpu")
    with pytest.raises(ConfigError, match="--batch-size: 9 is more than the 8 training frames"):
        run_training(cfg, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="--device cuda"):
            build_state(replace(cfg, device="cuda"), 10)
