"""``infant-stream train``: train a segmentation model on a prepared dataset.

Each epoch: one pass over the train split with paired augmentation (:mod:`trainer.transforms`), then
validation on the val split with the evaluation protocol (:mod:`trainer.evaluate`). Writes into ``--out``:
``last.pt`` (every epoch), ``best.pt`` (best validation foreground Dice), ``metrics.csv`` and ``curves.png``.
The learning rate follows a poly schedule ``lr · (1 - step / total_steps) ** 0.9``. ``--resume`` restores
model, optimizer, scheduler (so also the learning rate), AMP scaler, epoch, step and best metric; arch,
input size, aux loss and optimizer come from the checkpoint. An epoch cut short by ``--max-steps`` is
restarted from its beginning on resume (the step counter carries on).
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from pipeline.contract.classes import NUM_CLASSES
from pipeline.contract.model_meta import ModelSpec
from pipeline.errors import ConfigError
from trainer.batchnorm import recalibrate_batchnorm
from trainer.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from trainer.config import TrainConfig
from trainer.dataset import EpochSampler, SegmentationDataset, balanced_class_weights, class_pixel_counts
from trainer.evaluate import evaluate_split
from trainer.history import append_row, plot_curves
from trainer.layout import Layout
from trainer.logs import show_info_logs
from trainer.models import ARCHITECTURES, build_model, resolve_device
from trainer.predictors import TorchPredictor
from trainer.transforms import train_transform

log = logging.getLogger(__name__)

AUX_WEIGHT = 0.5
POLY_POWER = 0.9
BN_RECALIBRATION_BATCHES = 16
"""Training batches used to re-estimate BatchNorm statistics before each validation."""


@dataclass
class TrainState:
    """The mutable objects of a run (model, optimiser, schedule, scaler) and its counters."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    criterion: nn.CrossEntropyLoss
    device: torch.device
    amp: bool
    epoch: int = 0
    step: int = 0
    best_metric: float = math.nan
    best_epoch: int = -1


@dataclass(frozen=True)
class TrainSummary:
    """Outcome of :func:`run_training`: counters, best validation foreground Dice and the files written."""

    epoch: int
    step: int
    best_metric: float
    last_loss: float
    last_checkpoint: Path
    best_checkpoint: Path | None


def model_spec(cfg: TrainConfig, training_data: str, metrics: dict[str, float] | None = None) -> ModelSpec:
    """The ModelSpec of a model trained with ``cfg``: its input size, ImageNet mean/std, centred letterbox."""
    return ModelSpec(
        input_hw=(cfg.input_size, cfg.input_size),
        architecture=ARCHITECTURES[cfg.arch],
        training_data=training_data,
        metrics=metrics or {},
    )


def poly_schedule(total_steps: int, power: float = POLY_POWER) -> Callable[[int], float]:
    """LR factor of step s: ``(1 - min(s, total) / total) ** power``."""
    total = max(total_steps, 1)
    return lambda s: (1.0 - min(s, total) / total) ** power


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_init(_: int) -> None:
    cv2.setNumThreads(1)  # DataLoader workers already run in parallel


def _criterion(cfg: TrainConfig, device: torch.device) -> nn.CrossEntropyLoss:
    weights = cfg.parsed_class_weights()
    if cfg.class_weights == "auto":
        counts = class_pixel_counts(cfg.data, "train")
        weights = balanced_class_weights(counts).tolist()
        log.info("class weights (auto): %s", ", ".join(f"{w:.3f}" for w in weights))
    w = torch.tensor(weights, dtype=torch.float32, device=device) if weights is not None else None
    return nn.CrossEntropyLoss(weight=w)


def build_state(cfg: TrainConfig, total_steps: int) -> TrainState:
    """Fresh model, optimizer (AdamW or SGD momentum 0.9), poly scheduler and AMP scaler on the device."""
    device = resolve_device(cfg.device)
    amp = cfg.amp and device.type == "cuda"
    if cfg.amp and not amp:
        log.warning("--amp ignored: mixed precision is CUDA only (device %s)", device)
    model = build_model(cfg.arch, NUM_CLASSES, cfg.aux_loss, cfg.weights_backbone).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer: torch.optim.Optimizer
    if cfg.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, poly_schedule(total_steps))
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    return TrainState(model, optimizer, scheduler, scaler, _criterion(cfg, device), device, amp)


def restore_state(state: TrainState, ckpt: dict[str, Any]) -> None:
    """Load model, optimizer, scheduler, scaler and counters from a checkpoint dict into ``state``."""
    state.model.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt.get("scaler"):
        state.scaler.load_state_dict(ckpt["scaler"])
    state.epoch = int(ckpt.get("epoch", 0))
    state.step = int(ckpt.get("step", 0))
    state.best_metric = float(ckpt.get("best_metric", math.nan))
    state.best_epoch = int(ckpt.get("best_epoch", -1))


def checkpoint_dict(
    state: TrainState, cfg: TrainConfig, spec: ModelSpec, metrics: dict[str, float]
) -> dict[str, Any]:
    """The full checkpoint (keys documented in :mod:`trainer.checkpoint`)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "arch": cfg.arch,
        "aux_loss": cfg.aux_loss,
        "num_classes": NUM_CLASSES,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "scaler": state.scaler.state_dict(),
        "epoch": state.epoch,
        "step": state.step,
        "best_metric": state.best_metric,
        "best_epoch": state.best_epoch,
        "metrics": dict(metrics),
        "args": cfg.to_dict(),
        "spec": spec.to_props(),
        "torch_version": str(torch.__version__),
    }


def train_step(state: TrainState, images: torch.Tensor, masks: torch.Tensor) -> float:
    """One optimizer step on a batch: images (N, 3, H, W) float32, masks (N, H, W) int64; returns the loss."""
    state.model.train()
    images = images.to(state.device, non_blocking=True)
    masks = masks.to(state.device, non_blocking=True)
    with torch.autocast(device_type=state.device.type, dtype=torch.float16, enabled=state.amp):
        out = state.model(images)
        loss = state.criterion(out["out"].float(), masks)
        if "aux" in out:
            loss = loss + AUX_WEIGHT * state.criterion(out["aux"].float(), masks)
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.scheduler.step()
    state.step += 1
    return float(loss.detach())


def _apply_resume(cfg: TrainConfig) -> tuple[TrainConfig, dict[str, Any] | None]:
    if cfg.resume is None:
        return cfg, None
    ckpt = load_checkpoint(cfg.resume)
    saved = ckpt.get("args", {})
    fixed = replace(
        cfg,
        arch=str(ckpt["arch"]),
        aux_loss=bool(ckpt.get("aux_loss", False)),
        input_size=int(saved.get("input_size", cfg.input_size)),
        optimizer=str(saved.get("optimizer", cfg.optimizer)),
        weights_backbone="none",  # the checkpoint's weights replace any initialisation
    )
    changed = [
        f"{k}={getattr(fixed, k)}"
        for k in ("arch", "aux_loss", "input_size", "optimizer")
        if getattr(cfg, k) != getattr(fixed, k)
    ]
    if changed:
        log.warning("resuming %s: using the checkpoint's %s", cfg.resume, ", ".join(changed))
    return fixed, ckpt


def run_training(cfg: TrainConfig, progress: bool = True) -> TrainSummary:
    """Train as described in the module docstring; returns the summary.

    Raises:
        ConfigError: the train split has fewer frames than a batch; DatasetError: missing data.
    """
    from tqdm import tqdm

    cfg, ckpt = _apply_resume(cfg)
    _seed_everything(cfg.seed)
    layout = Layout(cfg.data)
    description = layout.describe()
    spec = model_spec(cfg, description)
    train_set = SegmentationDataset(cfg.data, "train", train_transform(spec), cfg.seed)
    if len(train_set) < cfg.batch_size:
        raise ConfigError(f"--batch-size: {cfg.batch_size} is more than the {len(train_set)} training frames")
    has_val = bool(layout.read_split("val")) if layout.split_file("val").is_file() else False
    if not has_val:
        log.warning("no val split: best.pt will not be written")
    sampler = EpochSampler(len(train_set), cfg.seed)
    # Workers are spawned (not forked: a fork after OpenCV/OpenMP threads ran can deadlock) and kept
    # for the whole run; the epoch reaches them through the sampler's (epoch, index) pairs.
    loader = DataLoader(
        train_set,
        batch_size=cfg.batch_size,
        sampler=sampler,
        drop_last=True,
        num_workers=cfg.workers,
        pin_memory=torch.cuda.is_available(),
        worker_init_fn=_worker_init if cfg.workers else None,
        multiprocessing_context="spawn" if cfg.workers else None,
        persistent_workers=cfg.workers > 0,
    )
    total = (
        cfg.epochs * len(loader) if cfg.max_steps is None else min(cfg.epochs * len(loader), cfg.max_steps)
    )
    state = build_state(cfg, total)
    if ckpt is not None:
        restore_state(state, ckpt)
        log.info("resumed from %s at epoch %d, step %d", cfg.resume, state.epoch, state.step)
    cfg.out.mkdir(parents=True, exist_ok=True)
    last_path, best_path = cfg.out / "last.pt", cfg.out / "best.pt"
    csv_path = cfg.out / "metrics.csv"
    loss_avg = math.nan
    while state.epoch < cfg.epochs and state.step < total:
        t0 = time.perf_counter()
        sampler.set_epoch(state.epoch)
        losses: list[float] = []
        bar = tqdm(
            loader,
            desc=f"epoch {state.epoch + 1}/{cfg.epochs}",
            unit="batch",
            disable=None if progress else True,
        )
        for images, masks in bar:
            losses.append(train_step(state, images, masks))
            bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{state.scheduler.get_last_lr()[0]:.2e}")
            if state.step >= total:
                break
        bar.close()
        completed = len(losses) == len(loader)
        loss_avg = float(np.mean(losses)) if losses else math.nan
        metrics: dict[str, float] = {}
        recalibrate_batchnorm(state.model, loader, state.device, BN_RECALIBRATION_BATCHES)
        if has_val:
            predictor = TorchPredictor(state.model, spec, state.device)
            metrics = evaluate_split(predictor, cfg.data, "val", cfg.batch_size, progress)
        epoch_index = state.epoch + 1
        if completed:
            state.epoch += 1
        fg = metrics.get("fg_dice", math.nan)
        improved = not math.isnan(fg) and (math.isnan(state.best_metric) or fg > state.best_metric)
        if improved:
            state.best_metric, state.best_epoch = fg, epoch_index
        val = {f"val_{k}": v for k, v in metrics.items() if math.isfinite(v)}
        ckpt_spec = model_spec(cfg, description, val)
        save_checkpoint(last_path, checkpoint_dict(state, cfg, ckpt_spec, metrics))
        if improved:
            save_checkpoint(best_path, checkpoint_dict(state, cfg, ckpt_spec, metrics))
        seconds = time.perf_counter() - t0
        row = {"epoch": epoch_index, "step": state.step, "lr": float(state.scheduler.get_last_lr()[0])}
        row.update(
            {
                "train_loss": loss_avg,
                "seconds": round(seconds, 2),
                **{f"val_{k}": v for k, v in metrics.items()},
            }
        )
        append_row(csv_path, row)
        plot_curves(csv_path, cfg.out / "curves.png")
        miou = metrics.get("miou", math.nan)
        best = " *best*" if improved else ""
        log.info(
            "epoch %d step %d: loss %.4f, val fg Dice %.4f, mIoU %.4f%s (%.1f s)",
            epoch_index, state.step, loss_avg, fg, miou, best, seconds,
        )  # fmt: skip
    return TrainSummary(
        epoch=state.epoch,
        step=state.step,
        best_metric=state.best_metric,
        last_loss=loss_avg,
        last_checkpoint=last_path,
        best_checkpoint=best_path if best_path.is_file() else None,
    )


def main(args: argparse.Namespace) -> int:
    """Run ``train``; returns 0."""
    show_info_logs()
    summary = run_training(TrainConfig.from_args(args))
    sys.stdout.write(
        f"trained {summary.epoch} epochs, {summary.step} steps; best val foreground Dice "
        f"{summary.best_metric:.4f}; checkpoint {summary.best_checkpoint or summary.last_checkpoint}\n"
    )
    return 0
