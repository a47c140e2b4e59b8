"""Training checkpoints: one dict with everything needed to resume, evaluate or export.

Keys (format 1):

- ``format`` (int), ``arch`` (``deeplabv3`` | ``lraspp``), ``aux_loss`` (bool), ``num_classes`` (int)
- ``model``, ``optimizer``, ``scheduler``, ``scaler``: ``state_dict()`` of each
- ``epoch``: epochs completed; ``step``: optimizer steps taken (both 0-based counters)
- ``best_metric``: best validation foreground Dice so far (NaN before any validation); ``best_epoch``
- ``metrics``: validation metrics of THIS checkpoint (:meth:`trainer.metrics.SegmentationScores.summary`)
- ``args``: the training options (plain JSON-able dict); ``spec``: :meth:`ModelSpec.to_props` strings
- ``adapt`` (only from ``train --unlabelled``; never part of the model): the domain classifier's and its
  optimizer's ``state_dict``, ``position`` (unlabelled items drawn), ``in_channels``, ``weight``,
  ``max_lambda``, ``images`` (:meth:`trainer.adapt_run.Adaptation.entries`)

Files are read with ``torch.load(weights_only=True)``: no arbitrary pickled objects.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Final, TypeVar

import torch
from torch import nn

from pipeline.contract.model_meta import ModelSpec
from pipeline.errors import ModelError
from trainer.models import build_model

CHECKPOINT_FORMAT: Final = 1
REQUIRED: Final = ("format", "arch", "model", "spec")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically (temporary file, then rename) so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint dict onto the CPU.

    Raises:
        ModelError: missing, unreadable, not a trainer checkpoint, or a newer format.
    """
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for damaged files
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ModelError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {first})") from None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED):
        raise ModelError(
            f"{path}: not an infant-stream training checkpoint (needs keys {', '.join(REQUIRED)})"
        )
    if int(state["format"]) > CHECKPOINT_FORMAT:
        raise ModelError(
            f"{path}: checkpoint format {state['format']} is newer than this trainer's ({CHECKPOINT_FORMAT})"
        )
    return state


def spec_from_checkpoint(state: dict[str, Any], where: str) -> ModelSpec:
    """The checkpoint's :class:`ModelSpec` (input size, normalisation, letterbox, metrics)."""
    return ModelSpec.from_props(state["spec"], where)


def model_from_checkpoint(state: dict[str, Any], where: str) -> nn.Module:
    """Rebuild the checkpoint's model with its weights, in eval mode on the CPU.

    Raises:
        ModelError: the weights do not fit the architecture.
    """
    model = build_model(state["arch"], int(state.get("num_classes", 5)), bool(state.get("aux_loss", False)))
    return load_weights(model, state, where)


M = TypeVar("M", bound=nn.Module)


def load_weights(model: M, state: dict[str, Any], where: str) -> M:
    """``model`` with the checkpoint's weights (``state["model"]``), in eval mode.

    Raises:
        ModelError: the weights do not fit the architecture (``state["arch"]``).
    """
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{where}: weights do not fit {state['arch']}: {first}") from None
    return model.eval()


def validation_metrics(state: dict[str, Any], prefix: str = "val_") -> dict[str, float]:
    """The checkpoint's finite validation metrics, keys prefixed (for ONNX metadata)."""
    metrics = state.get("metrics") or {}
    return {
        f"{prefix}{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and math.isfinite(float(v))
    }
