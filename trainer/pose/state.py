"""The mutable objects of a keypoint training run (model, optimiser, schedule, scaler, counters), one
optimizer step, and the checkpoint dict that saves them (keys in :mod:`trainer.pose.checkpoint`)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from pipeline.contract.pose_meta import PoseSpec
from trainer.adapt_run import Adaptation, adapt_entries
from trainer.checkpoint import CHECKPOINT_FORMAT
from trainer.loop import optimisation, optimizer_step, restore_run, run_entries, training_device
from trainer.pose.checkpoint import TASK
from trainer.pose.config import PoseTrainConfig
from trainer.pose.losses import LossFn, heatmap_loss
from trainer.pose.model import PoseNet, build_pose_model

log = logging.getLogger(__name__)


@dataclass
class PoseTrainState:
    """The mutable objects of a keypoint run and its counters."""

    model: PoseNet
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    loss_fn: LossFn
    device: torch.device
    amp: bool
    epoch: int = 0
    step: int = 0
    best_pck: float = math.nan
    best_mks: float = math.nan
    best_epoch: int = -1
    history: list[dict[str, float]] = field(default_factory=list)


def build_pose_state(cfg: PoseTrainConfig, num_keypoints: int, total_steps: int) -> PoseTrainState:
    """Fresh model, optimizer (AdamW, or SGD momentum 0.9), poly scheduler and AMP scaler on the device."""
    device, amp = training_device(cfg.device, cfg.amp, log)
    model = build_pose_model(cfg.arch, num_keypoints, cfg.head_channels, cfg.weights_backbone).to(device)
    optimizer, scheduler, scaler = optimisation(
        model, cfg.optimizer, cfg.lr, cfg.weight_decay, total_steps, amp
    )
    return PoseTrainState(model, optimizer, scheduler, scaler, heatmap_loss(cfg.loss), device, amp)


def restore_pose_state(state: PoseTrainState, ckpt: dict[str, Any]) -> None:
    """Load model, optimizer, scheduler, scaler, counters, best scores and history from a checkpoint."""
    restore_run(state, ckpt)
    state.best_pck = float(ckpt.get("best_pck", math.nan))
    state.best_mks = float(ckpt.get("best_mks", math.nan))
    state.history = [dict(r) for r in ckpt.get("history", [])]


def pose_checkpoint_dict(
    state: PoseTrainState,
    cfg: PoseTrainConfig,
    spec: PoseSpec,
    metrics: dict[str, float],
    adaptation: Adaptation | None = None,
) -> dict[str, Any]:
    """The full checkpoint (keys documented in :mod:`trainer.pose.checkpoint`; ``adapt`` with adaptation)."""
    kset = spec.keypoints
    return {
        "format": CHECKPOINT_FORMAT,
        "task": TASK,
        "arch": cfg.arch,
        "head_channels": cfg.head_channels,
        "num_keypoints": kset.num_keypoints,
        "keypoint_set": kset.name,
        "keypoint_names": list(kset.names),
        "loss": cfg.loss,
        "activation": cfg.activation,
        "input_hw": list(cfg.input_hw),
        "crop_padding": cfg.crop_padding,
        **run_entries(state),
        "best_pck": state.best_pck,
        "best_mks": state.best_mks,
        "best_epoch": state.best_epoch,
        "metrics": dict(metrics),
        "history": [dict(r) for r in state.history],
        "args": cfg.to_dict(),
        "spec": spec.to_props(),
        "torch_version": str(torch.__version__),
        **adapt_entries(adaptation),
    }


def pose_train_step(
    state: PoseTrainState,
    images: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    adaptation: Adaptation | None = None,
) -> float:
    """One optimizer step: images (N, 3, H, W), targets (N, K, H/4, W/4), weights (N, K); returns the loss
    (with ``adaptation``: heatmap loss + W · domain loss of an unlabelled batch, :mod:`trainer.adapt_run`)."""
    state.model.train()
    images = images.to(state.device, non_blocking=True)
    targets = targets.to(state.device, non_blocking=True)
    weights = weights.to(state.device, non_blocking=True)
    with torch.autocast(device_type=state.device.type, dtype=torch.float16, enabled=state.amp):
        if adaptation is None:
            loss = state.loss_fn(state.model(images), targets, weights)
        else:
            with adaptation.capture() as source:
                heatmaps = state.model(images)
            loss = state.loss_fn(heatmaps, targets, weights) + adaptation.loss(source, state.step)
    return optimizer_step(state, loss, adaptation.optimizers if adaptation is not None else ())
