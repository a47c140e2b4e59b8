"""The training-run machinery both tasks share (:mod:`trainer.train`, :mod:`trainer.pose.train`): seeding,
the epoch loader, the device and AMP choice, optimizer + poly schedule + scaler, one optimizer step, one
epoch's pass, and the run state a checkpoint saves and a resume restores.

A run state is the task's dataclass (:class:`trainer.train.TrainState`,
:class:`trainer.pose.state.PoseTrainState`); the functions here read and write the fields both have
(:class:`RunState`). Counters: ``epoch`` = epochs completed, ``step`` = optimizer steps taken.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from trainer.checkpoint import load_weights, save_checkpoint
from trainer.models import resolve_device

POLY_POWER = 0.9


class RunState(Protocol):
    """The fields of a run state these functions use."""

    model: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    epoch: int
    step: int
    best_epoch: int


def poly_schedule(total_steps: int, power: float = POLY_POWER) -> Callable[[int], float]:
    """LR factor of step s: ``(1 - min(s, total) / total) ** power``."""
    total = max(total_steps, 1)
    return lambda s: (1.0 - min(s, total) / total) ** power


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_init(_: int) -> None:
    cv2.setNumThreads(1)  # DataLoader workers already run in parallel


def epoch_loader(
    dataset: Dataset[Any], sampler: Sampler[Any], batch_size: int, workers: int
) -> DataLoader[Any]:
    """The training loader: full batches only, in ``sampler``'s order.

    Workers are spawned (not forked: a fork after OpenCV/OpenMP threads ran can deadlock) and kept for the
    whole run; the epoch reaches them through the sampler (:class:`trainer.dataset.EpochSampler`).
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=True,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        worker_init_fn=_worker_init if workers else None,
        multiprocessing_context="spawn" if workers else None,
        persistent_workers=workers > 0,
    )


def total_steps(epochs: int, steps_per_epoch: int, max_steps: int | None) -> int:
    """Optimizer steps of the whole run: ``epochs × steps_per_epoch``, at most ``max_steps``."""
    total = epochs * steps_per_epoch
    return total if max_steps is None else min(total, max_steps)


def training_device(device: str, amp: bool, logger: logging.Logger) -> tuple[torch.device, bool]:
    """(the resolved ``--device``, whether AMP is on): mixed precision is CUDA only, ``--amp`` elsewhere is
    ignored with a warning to ``logger`` (the task's).

    Raises:
        ConfigError: unknown or unavailable device.
    """
    dev = resolve_device(device)
    on = amp and dev.type == "cuda"
    if amp and not on:
        logger.warning("--amp ignored: mixed precision is CUDA only (device %s)", dev)
    return dev, on


def optimisation(
    model: nn.Module, optimizer: str, lr: float, weight_decay: float, total: int, amp: bool
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR, torch.amp.GradScaler]:
    """(optimizer, poly scheduler over ``total`` steps, AMP scaler) for the trainable parameters of
    ``model``: ``optimizer`` ``sgd`` (momentum 0.9) or else AdamW."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt: torch.optim.Optimizer
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    else:
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, poly_schedule(total))
    return opt, scheduler, torch.amp.GradScaler("cuda", enabled=amp)


def optimizer_step(state: RunState, loss: torch.Tensor, also: Sequence[torch.optim.Optimizer] = ()) -> float:
    """Back-propagate ``loss`` (scaled), step the optimizer (and those ``also`` given, e.g. the domain
    classifier's, with the same scaler), the scaler and the schedule, count the step; returns the loss."""
    for opt in (state.optimizer, *also):
        opt.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    for opt in (state.optimizer, *also):
        state.scaler.step(opt)
    state.scaler.update()
    state.scheduler.step()
    state.step += 1
    return float(loss.detach())


def train_epoch(
    state: RunState,
    loader: DataLoader[Any],
    step: Callable[[Sequence[torch.Tensor]], float],
    epochs: int,
    total: int,
    loss_format: str,
    progress: bool,
) -> list[float]:
    """One pass over ``loader`` (``step(batch)`` per batch: one optimizer step, returns the loss), stopped at
    ``total`` steps, with a progress bar (epoch ``state.epoch + 1`` of ``epochs``; loss shown with
    ``loss_format``, e.g. ``.4f``); returns the losses."""
    from tqdm import tqdm

    losses: list[float] = []
    bar = tqdm(
        loader,
        desc=f"epoch {state.epoch + 1}/{epochs}",
        unit="batch",
        disable=None if progress else True,
    )
    for batch in bar:
        losses.append(step(batch))
        bar.set_postfix(loss=f"{losses[-1]:{loss_format}}", lr=f"{state.scheduler.get_last_lr()[0]:.2e}")
        if state.step >= total:
            break
    bar.close()
    return losses


def mean_loss(losses: Sequence[float]) -> float:
    """The mean of an epoch's losses; NaN when there were none."""
    return float(np.mean(losses)) if losses else math.nan


def run_entries(state: RunState) -> dict[str, Any]:
    """The checkpoint entries of the run state: ``model``, ``optimizer``, ``scheduler``, ``scaler``
    (``state_dict()`` of each), ``epoch`` and ``step``."""
    return {
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "scaler": state.scaler.state_dict(),
        "epoch": state.epoch,
        "step": state.step,
    }


def restore_run(state: RunState, ckpt: dict[str, Any]) -> None:
    """Load :func:`run_entries` and ``best_epoch`` of a checkpoint into ``state`` (the scaler when saved)."""
    state.model.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt.get("scaler"):
        state.scaler.load_state_dict(ckpt["scaler"])
    state.epoch = int(ckpt.get("epoch", 0))
    state.step = int(ckpt.get("step", 0))
    state.best_epoch = int(ckpt.get("best_epoch", -1))


def epoch_row(epoch: int, state: RunState, train_loss: float, seconds: float) -> dict[str, float]:
    """The first columns of an epoch's ``metrics.csv`` row: epoch, step, lr, train_loss, seconds (2 dp)."""
    return {
        "epoch": epoch,
        "step": state.step,
        "lr": float(state.scheduler.get_last_lr()[0]),
        "train_loss": train_loss,
        "seconds": round(seconds, 2),
    }


def save_epoch(state: dict[str, Any], last: Path, best: Path, improved: bool) -> None:
    """Write the checkpoint ``state`` to ``last`` and, when the epoch ``improved`` on the best, to ``best``."""
    save_checkpoint(last, state)
    if improved:
        save_checkpoint(best, state)


def changed_by_resume(cfg: Any, fixed: Any, keys: Iterable[str], logger: logging.Logger) -> None:
    """Warn ``logger`` (one line) which of ``keys`` the resumed (``cfg.resume``) or fine-tuned
    (``cfg.init``) run ``fixed`` takes from its checkpoint instead of ``cfg``'s value."""
    changed = [f"{k}={getattr(fixed, k)}" for k in keys if getattr(cfg, k) != getattr(fixed, k)]
    if changed:
        what = "resuming" if cfg.resume is not None else "starting from"
        logger.warning("%s %s: using the checkpoint's %s", what, checkpoint_source(cfg), ", ".join(changed))


def checkpoint_source(cfg: Any) -> Path | None:
    """The checkpoint a run starts from: ``cfg.resume`` (continue it) or ``cfg.init`` (fine-tune from its
    weights); None for a fresh run (the two flags exclude each other)."""
    source: Path | None = cfg.resume if cfg.resume is not None else cfg.init
    return source


def start_from_weights(model: nn.Module, ckpt: dict[str, Any], where: str, logger: logging.Logger) -> None:
    """``--init``: copy the checkpoint's model weights into ``model`` (left in train mode); the optimizer,
    schedule, counters and best scores stay fresh. One-line :class:`ModelError` when they do not fit."""
    load_weights(model, ckpt, where).train()
    logger.info("starting from the weights of %s (epoch %s of that run)", where, ckpt.get("epoch", "?"))
