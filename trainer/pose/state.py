"""The mutable objects of a keypoint training run (model, optimiser, schedule, scaler, counters), one
optimizer step, and the checkpoint dict that saves them (keys in :mod:`trainer.pose.checkpoint`)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from pipeline.contract.pose_meta import PoseSpec
from trainer.checkpoint import CHECKPOINT_FORMAT
from trainer.models import resolve_device
from trainer.pose.checkpoint import TASK
from trainer.pose.config import PoseTrainConfig
from trainer.pose.losses import LossFn, heatmap_loss
from trainer.pose.model import PoseNet, build_pose_model
from trainer.train import poly_schedule

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
    device = resolve_device(cfg.device)
    amp = cfg.amp and device.type == "cuda"
    if cfg.amp and not amp:
        log.warning("--amp ignored: mixed precision is CUDA only (device %s)", device)
    model = build_pose_model(cfg.arch, num_keypoints, cfg.head_channels, cfg.weights_backbone).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer: torch.optim.Optimizer
    if cfg.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, poly_schedule(total_steps))
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    return PoseTrainState(model, optimizer, scheduler, scaler, heatmap_loss(cfg.loss), device, amp)


def restore_pose_state(state: PoseTrainState, ckpt: dict[str, Any]) -> None:
    """Load model, optimizer, scheduler, scaler, counters, best scores and history from a checkpoint."""
    state.model.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt.get("scaler"):
        state.scaler.load_state_dict(ckpt["scaler"])
    state.epoch = int(ckpt.get("epoch", 0))
    state.step = int(ckpt.get("step", 0))
    state.best_pck = float(ckpt.get("best_pck", math.nan))
    state.best_mks = float(ckpt.get("best_mks", math.nan))
    state.best_epoch = int(ckpt.get("best_epoch", -1))
    state.history = [dict(r) for r in ckpt.get("history", [])]


def pose_checkpoint_dict(
    state: PoseTrainState, cfg: PoseTrainConfig, spec: PoseSpec, metrics: dict[str, float]
) -> dict[str, Any]:
    """The full checkpoint (keys documented in :mod:`trainer.pose.checkpoint`)."""
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
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "scaler": state.scaler.state_dict(),
        "epoch": state.epoch,
        "step": state.step,
        "best_pck": state.best_pck,
        "best_mks": state.best_mks,
        "best_epoch": state.best_epoch,
        "metrics": dict(metrics),
        "history": [dict(r) for r in state.history],
        "args": cfg.to_dict(),
        "spec": spec.to_props(),
        "torch_version": str(torch.__version__),
    }


def pose_train_step(
    state: PoseTrainState, images: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor
) -> float:
    """One optimizer step: images (N, 3, H, W), targets (N, K, H/4, W/4), weights (N, K); returns the loss."""
    state.model.train()
    images = images.to(state.device, non_blocking=True)
    targets = targets.to(state.device, non_blocking=True)
    weights = weights.to(state.device, non_blocking=True)
    with torch.autocast(device_type=state.device.type, dtype=torch.float16, enabled=state.amp):
        loss = state.loss_fn(state.model(images), targets, weights)
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.scheduler.step()
    state.step += 1
    return float(loss.detach())
