"""Domain adaptation inside a training run (``train --unlabelled DIR``, both tasks; the pieces: :mod:`trainer.adapt`).

Each optimizer step, besides the labelled batch (task loss as without adaptation): the labelled batch's backbone
feature map is captured during the model's own forward (:class:`trainer.features.BackboneTap`), an unlabelled
batch of the same size goes through the backbone alone, both maps pass the gradient reversal (λ of this step,
:func:`trainer.adapt.grl_lambda` of step / total steps, times ``--adapt-lambda``) into the
:class:`~trainer.adapt.DomainClassifier`, and ``total = task + W · domain_loss`` (W = ``--adapt-weight``) is
back-propagated once: the classifier learns to separate the domains, the backbone to make them inseparable.

The classifier has its own optimizer (the run's kind, learning rate and weight decay, the same poly decay by
step) and is not part of the model: a checkpoint keeps it under ``adapt`` (classifier and optimizer
``state_dict``, the unlabelled stream's position, the options), ``export`` never sees it. Per epoch the mean
domain loss, the classifier's accuracy (0.5 = the features no longer tell the domains apart) and the last λ go
into ``metrics.csv`` (:data:`trainer.history.ADAPT_COLUMNS`).
"""

from __future__ import annotations

import logging
import math
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from pipeline.errors import ModelError
from trainer.adapt import DomainClassifier, domain_correct, domain_loss, grad_reverse, grl_lambda
from trainer.features import BackboneTap, Captured
from trainer.loop import epoch_loader, optimisation, poly_schedule
from trainer.unlabelled import FrameInput, UnlabelledDataset, UnlabelledImages, UnlabelledSampler

log = logging.getLogger(__name__)


class AdaptRun(Protocol):
    """The config fields adaptation reads (both tasks' config classes have them)."""

    @property
    def adapt_weight(self) -> float: ...
    @property
    def adapt_lambda(self) -> float: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def workers(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def optimizer(self) -> str: ...
    @property
    def lr(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...


@dataclass
class EpochStats:
    """Sums over an epoch's steps (training thread only)."""

    loss_sum: float = 0.0
    steps: int = 0
    right: int = 0
    images: int = 0
    last_lambda: float = math.nan

    def row(self) -> dict[str, float]:
        """The :data:`trainer.history.ADAPT_COLUMNS` values (NaN before any step)."""
        return {
            "domain_loss": self.loss_sum / self.steps if self.steps else math.nan,
            "domain_accuracy": self.right / self.images if self.images else math.nan,
            "adapt_lambda": self.last_lambda,
        }


class Adaptation:
    """The adaptation side of a run: tap, classifier, its optimizer, the unlabelled stream and the epoch's
    statistics. Build with :func:`start_adaptation`."""

    def __init__(
        self,
        cfg: AdaptRun,
        tap: BackboneTap,
        classifier: DomainClassifier,
        optimizer: torch.optim.Optimizer,
        dataset: UnlabelledDataset,
        total: int,
        device: torch.device,
    ) -> None:
        self.tap = tap
        self.classifier = classifier
        self.optimizer = optimizer
        self.dataset = dataset
        self.weight = cfg.adapt_weight
        self.max_lambda = cfg.adapt_lambda
        self.batch_size = cfg.batch_size
        self.workers = cfg.workers
        self.seed = cfg.seed
        self.total = max(total, 1)
        self.device = device
        self.lr_factor = poly_schedule(total)
        self.base_lrs = [float(g["lr"]) for g in optimizer.param_groups]
        self.position = 0
        """Unlabelled items drawn so far (the stream's position; saved in checkpoints)."""
        self.stats = EpochStats()
        self._loader: Any = None
        self._batches: Any = None

    @property
    def optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        """The optimizers the run's step must also step (with its AMP scaler)."""
        return (self.optimizer,)

    def capture(self) -> AbstractContextManager[Captured]:
        """A block within which the model's forward leaves the backbone features (:meth:`BackboneTap.capture`)."""
        return self.tap.capture()

    def next_batch(self) -> torch.Tensor:
        """The next unlabelled batch (batch size, 3, in_h, in_w) float32 (CPU); advances :attr:`position`."""
        if self._batches is None:
            sampler = UnlabelledSampler(len(self.dataset), self.seed, self.position)
            self._loader = epoch_loader(self.dataset, sampler, self.batch_size, self.workers)
            self._batches = iter(self._loader)
        batch: torch.Tensor = next(self._batches)
        self.position += int(batch.shape[0])
        return batch

    def loss(self, source: Captured, step: int) -> torch.Tensor:
        """W · domain loss of optimizer step ``step`` (0-based), for the labelled batch whose forward ran in a
        :meth:`capture` block; records the epoch's statistics and sets the classifier's learning rate.

        Raises:
            RuntimeError: the backbone did not run inside the capture block.
        """
        if source.features is None:
            raise RuntimeError("domain adaptation: the model's backbone did not run inside capture()")
        lam = grl_lambda(step / self.total, max_lambda=self.max_lambda)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * self.lr_factor(step)
        target = self.tap.features(self.next_batch().to(self.device, non_blocking=True))
        self.classifier.train()
        logits_source = self.classifier(grad_reverse(source.features, lam))
        logits_target = self.classifier(grad_reverse(target, lam))
        loss = domain_loss(logits_source, logits_target)
        right, images = domain_correct(logits_source.detach(), logits_target.detach())
        self.stats.loss_sum += float(loss.detach())
        self.stats.steps += 1
        self.stats.right += right
        self.stats.images += images
        self.stats.last_lambda = lam
        return self.weight * loss

    def start_epoch(self) -> None:
        """Reset the epoch's statistics."""
        self.stats = EpochStats()

    def epoch_row(self) -> dict[str, float]:
        """This epoch's :data:`trainer.history.ADAPT_COLUMNS` values."""
        return self.stats.row()

    def log_epoch(self, epoch: int) -> None:
        """One log line of this epoch's domain statistics."""
        row = self.stats.row()
        log.info(
            "epoch %d: domain loss %.4f, domain accuracy %.3f (0.5 = features aligned), lambda %.3f",
            epoch, row["domain_loss"], row["domain_accuracy"], row["adapt_lambda"],
        )  # fmt: skip

    def entries(self) -> dict[str, Any]:
        """The checkpoint's ``adapt`` entry."""
        return {
            "adapt": {
                "classifier": self.classifier.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "position": self.position,
                "in_channels": self.classifier.in_channels,
                "weight": self.weight,
                "max_lambda": self.max_lambda,
                "images": len(self.dataset),
            }
        }

    def restore(self, ckpt: dict[str, Any], where: str) -> None:
        """Load classifier, its optimizer and the stream position from a checkpoint's ``adapt`` entry (a
        checkpoint without one starts adaptation here with a fresh classifier).

        Raises:
            ModelError: the saved classifier does not fit this model's features.
        """
        saved = ckpt.get("adapt")
        if not saved:
            log.info("%s has no domain classifier: adaptation starts at step %s", where, ckpt.get("step", 0))
            return
        try:
            self.classifier.load_state_dict(saved["classifier"])
            self.optimizer.load_state_dict(saved["optimizer"])
        except (KeyError, RuntimeError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"{where}: its domain classifier does not fit this model: {first}") from None
        self.position = int(saved.get("position", 0))
        log.info("%s: domain classifier restored, unlabelled stream at item %d", where, self.position)

    def close(self) -> None:
        """Stop the unlabelled loader's worker processes (a later :meth:`next_batch` starts them again)."""
        self._batches = None
        self._loader = None


def start_adaptation(
    cfg: AdaptRun,
    model: nn.Module,
    images: UnlabelledImages,
    frame_input: FrameInput,
    total: int,
    device: torch.device,
) -> Adaptation:
    """The :class:`Adaptation` of a run whose model is ``model`` (already on ``device``) and whose run lasts
    ``total`` optimizer steps; the unlabelled items are ``frame_input`` of ``images``."""
    tap = BackboneTap.of(model)
    classifier = DomainClassifier(tap.channels).to(device)
    optimizer, _, _ = optimisation(classifier, cfg.optimizer, cfg.lr, cfg.weight_decay, total, amp=False)
    dataset = UnlabelledDataset(images.paths, frame_input, cfg.seed)
    log.info(
        "domain adaptation: %s; domain loss weight %g, gradient reversal up to %g, classifier on %d-channel "
        "features", images.description, cfg.adapt_weight, cfg.adapt_lambda, tap.channels,
    )  # fmt: skip
    return Adaptation(cfg, tap, classifier, optimizer, dataset, total, device)


def adapt_entries(adaptation: Adaptation | None) -> dict[str, Any]:
    """The checkpoint entries of ``adaptation`` (``{"adapt": ...}``; none without adaptation)."""
    return adaptation.entries() if adaptation is not None else {}


def resume_adaptation(adaptation: Adaptation | None, ckpt: dict[str, Any], where: str) -> None:
    """Restore ``adaptation`` from a checkpoint; without adaptation, warn when the checkpoint had some."""
    if adaptation is not None:
        adaptation.restore(ckpt, where)
    elif ckpt.get("adapt"):
        log.warning("resuming %s without --unlabelled: its domain classifier is dropped", where)
