"""``infant-stream train``: train a segmentation model on a prepared dataset.

Each epoch: one pass over the train split with paired augmentation (:mod:`trainer.transforms`), then
validation on the val split with the evaluation protocol (:mod:`trainer.evaluate`). Writes into ``--out``:
``last.pt`` (every epoch), ``best.pt`` (best validation foreground Dice), ``metrics.csv`` and ``curves.png``.
The learning rate follows a poly schedule ``lr · (1 - step / total_steps) ** 0.9``. ``--resume`` restores
model, optimizer, scheduler (so also the learning rate), AMP scaler, epoch, step and best metric; arch,
input size, aux loss and optimizer come from the checkpoint. An epoch cut short by ``--max-steps`` is
restarted from its beginning on resume (the step counter carries on). ``--init`` fine-tunes instead: the
checkpoint's weights (and its arch, input size and aux loss), with a fresh optimizer, schedule and counters.

``--unlabelled DIR`` adapts the model to the domain of unlabelled frames (e.g. your own cameras; DANN, as
FiDIP does): each step also feeds a batch of them through the backbone, and a domain classifier behind a
gradient reversal layer trains the backbone's features not to tell them from the training frames.
``metrics.csv`` gains the domain loss and the classifier's accuracy (0.5 = aligned); the exported model is
unchanged.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.contract.classes import NUM_CLASSES
from pipeline.contract.model_meta import ModelSpec
from pipeline.errors import ConfigError
from trainer.adapt_run import Adaptation, adapt_entries, resume_adaptation, start_adaptation
from trainer.batchnorm import recalibrate_batchnorm
from trainer.checkpoint import CHECKPOINT_FORMAT, load_checkpoint
from trainer.config import TrainConfig
from trainer.dataset import EpochSampler, SegmentationDataset, balanced_class_weights, class_pixel_counts
from trainer.evaluate import evaluate_split
from trainer.history import append_row, plot_curves
from trainer.layout import Layout
from trainer.logs import show_info_logs
from trainer.loop import (
    changed_by_resume,
    checkpoint_source,
    epoch_loader,
    epoch_row,
    mean_loss,
    optimisation,
    optimizer_step,
    restore_run,
    run_entries,
    save_epoch,
    seed_everything,
    start_from_weights,
    total_steps,
    train_epoch,
    training_device,
)
from trainer.loop import poly_schedule as poly_schedule  # re-exported (segmentation's schedule)
from trainer.models import ARCHITECTURES, build_model
from trainer.predictors import TorchPredictor
from trainer.transforms import train_transform
from trainer.unlabelled import SegmentationFrameInput, find_unlabelled

log = logging.getLogger(__name__)

AUX_WEIGHT = 0.5
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
    device, amp = training_device(cfg.device, cfg.amp, log)
    model = build_model(cfg.arch, NUM_CLASSES, cfg.aux_loss, cfg.weights_backbone).to(device)
    optimizer, scheduler, scaler = optimisation(
        model, cfg.optimizer, cfg.lr, cfg.weight_decay, total_steps, amp
    )
    return TrainState(model, optimizer, scheduler, scaler, _criterion(cfg, device), device, amp)


def restore_state(state: TrainState, ckpt: dict[str, Any]) -> None:
    """Load model, optimizer, scheduler, scaler and counters from a checkpoint dict into ``state``."""
    restore_run(state, ckpt)
    state.best_metric = float(ckpt.get("best_metric", math.nan))


def checkpoint_dict(
    state: TrainState,
    cfg: TrainConfig,
    spec: ModelSpec,
    metrics: dict[str, float],
    adaptation: Adaptation | None = None,
) -> dict[str, Any]:
    """The full checkpoint (keys documented in :mod:`trainer.checkpoint`; ``adapt`` with adaptation)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "arch": cfg.arch,
        "aux_loss": cfg.aux_loss,
        "num_classes": NUM_CLASSES,
        **run_entries(state),
        "best_metric": state.best_metric,
        "best_epoch": state.best_epoch,
        "metrics": dict(metrics),
        "args": cfg.to_dict(),
        "spec": spec.to_props(),
        "torch_version": str(torch.__version__),
        **adapt_entries(adaptation),
    }


def train_step(
    state: TrainState, images: torch.Tensor, masks: torch.Tensor, adaptation: Adaptation | None = None
) -> float:
    """One optimizer step on a batch: images (N, 3, H, W) float32, masks (N, H, W) int64; returns the loss
    (with ``adaptation``: task loss + W · domain loss of an unlabelled batch, :mod:`trainer.adapt_run`)."""
    state.model.train()
    images = images.to(state.device, non_blocking=True)
    masks = masks.to(state.device, non_blocking=True)
    with torch.autocast(device_type=state.device.type, dtype=torch.float16, enabled=state.amp):
        if adaptation is None:
            out = state.model(images)
        else:
            with adaptation.capture() as source:
                out = state.model(images)
        loss = state.criterion(out["out"].float(), masks)
        if "aux" in out:
            loss = loss + AUX_WEIGHT * state.criterion(out["aux"].float(), masks)
        if adaptation is not None:
            loss = loss + adaptation.loss(source, state.step)
    return optimizer_step(state, loss, adaptation.optimizers if adaptation is not None else ())


def _apply_resume(cfg: TrainConfig) -> tuple[TrainConfig, dict[str, Any] | None]:
    """The options a ``--resume`` or ``--init`` checkpoint fixes (model; with resume the optimizer too),
    and the checkpoint (None without either)."""
    source = checkpoint_source(cfg)
    if source is None:
        return cfg, None
    ckpt = load_checkpoint(source)
    if ckpt["arch"] not in ARCHITECTURES:
        raise ConfigError(f"{source}: a {ckpt['arch']} checkpoint, not segmentation (add --task keypoints)")
    saved = ckpt.get("args", {})
    keys = ("arch", "aux_loss", "input_size", *(("optimizer",) if cfg.resume is not None else ()))
    fixed = replace(
        cfg,
        arch=str(ckpt["arch"]),
        aux_loss=bool(ckpt.get("aux_loss", False)),
        input_size=int(saved.get("input_size", cfg.input_size)),
        optimizer=str(saved.get("optimizer", cfg.optimizer)) if cfg.resume is not None else cfg.optimizer,
        weights_backbone="none",  # the checkpoint's weights replace any initialisation
    )
    changed_by_resume(cfg, fixed, keys, log)
    return fixed, ckpt


def run_training(cfg: TrainConfig, progress: bool = True) -> TrainSummary:
    """Train as described in the module docstring; returns the summary.

    Raises:
        ConfigError: the train split has fewer frames than a batch; DatasetError: missing data.
    """
    cfg, ckpt = _apply_resume(cfg)
    unlabelled = find_unlabelled(cfg.unlabelled) if cfg.unlabelled is not None else None
    seed_everything(cfg.seed)
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
    loader = epoch_loader(train_set, sampler, cfg.batch_size, cfg.workers)
    total = total_steps(cfg.epochs, len(loader), cfg.max_steps)
    state = build_state(cfg, total)
    adaptation = None
    if unlabelled is not None:
        frames = SegmentationFrameInput(train_transform(spec))
        adaptation = start_adaptation(cfg, state.model, unlabelled, frames, total, state.device)
    if ckpt is not None and cfg.init is not None:
        start_from_weights(state.model, ckpt, str(cfg.init), log)
    elif ckpt is not None:
        restore_state(state, ckpt)
        resume_adaptation(adaptation, ckpt, str(cfg.resume))
        log.info("resumed from %s at epoch %d, step %d", cfg.resume, state.epoch, state.step)
    cfg.out.mkdir(parents=True, exist_ok=True)
    last_path, best_path = cfg.out / "last.pt", cfg.out / "best.pt"
    csv_path = cfg.out / "metrics.csv"
    loss_avg = math.nan
    while state.epoch < cfg.epochs and state.step < total:
        t0 = time.perf_counter()
        sampler.set_epoch(state.epoch)
        if adaptation is not None:
            adaptation.start_epoch()
        losses = train_epoch(
            state,
            loader,
            lambda b: train_step(state, b[0], b[1], adaptation),
            cfg.epochs,
            total,
            ".4f",
            progress,
        )
        completed = len(losses) == len(loader)
        loss_avg = mean_loss(losses)
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
        entries = checkpoint_dict(state, cfg, ckpt_spec, metrics, adaptation)
        save_epoch(entries, last_path, best_path, improved)
        seconds = time.perf_counter() - t0
        row = epoch_row(epoch_index, state, loss_avg, seconds)
        row.update({f"val_{k}": v for k, v in metrics.items()})
        row.update(adaptation.epoch_row() if adaptation is not None else {})
        append_row(csv_path, row)
        plot_curves(csv_path, cfg.out / "curves.png")
        miou = metrics.get("miou", math.nan)
        best = " *best*" if improved else ""
        log.info(
            "epoch %d step %d: loss %.4f, val fg Dice %.4f, mIoU %.4f%s (%.1f s)",
            epoch_index, state.step, loss_avg, fg, miou, best, seconds,
        )  # fmt: skip
        if adaptation is not None:
            adaptation.log_epoch(epoch_index)
    if adaptation is not None:
        adaptation.close()
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
