"""``infant-stream export``: a training checkpoint → ONNX model the pipeline can run.

The graph takes ``input`` (N, 3, H, W) float32 — normalised RGB, letterboxed as the metadata says — with a
dynamic batch axis N, and returns ``out`` = logits (N, NUM_CLASSES, H, W) at input resolution (the auxiliary
head, if any, is dropped). ``metadata_props`` carry :meth:`pipeline.contract.model_meta.ModelSpec.to_props`:
classes, colours, input size, mean/std, letterbox, architecture, training data and the checkpoint's
validation metrics. After writing, the file is checked with ``onnx.checker`` and run in ONNX Runtime (CPU)
against torch on a few inputs: the max absolute logit difference and the arg-max agreement are reported,
and an agreement below 99.9 % is a ModelError (the file is removed).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
import torch

from pipeline.contract.model_meta import ModelSpec
from pipeline.errors import ConfigError
from trainer.checkpoint import (
    load_checkpoint,
    model_from_checkpoint,
    spec_from_checkpoint,
    validation_metrics,
)
from trainer.logs import show_info_logs
from trainer.models import LogitsOnly
from trainer.onnx_export import INPUT_NAME as INPUT_NAME  # re-exported: the graph's input name
from trainer.onnx_export import check_opset, normaliser, parity, reject_below, write_onnx
from trainer.predictors import OnnxPredictor

log = logging.getLogger(__name__)

OUTPUT_NAME: Final = "out"
MIN_AGREEMENT: Final = 0.999
"""Least share of pixels whose arg-max class must match between torch and ONNX Runtime."""


@dataclass(frozen=True)
class ExportReport:
    """Result of :func:`export_onnx`: the file, its spec and the torch-vs-ORT parity figures."""

    path: Path
    spec: ModelSpec
    max_abs_diff: float
    argmax_agreement: float


def _parity_inputs(spec: ModelSpec, seed: int = 0) -> list[np.ndarray]:
    """Batches of 1, 2 and 3 normalised inputs (N, 3, H, W) float32: noise images and flat colours."""
    rng = np.random.default_rng(seed)
    h, w = spec.input_hw
    norm = normaliser(spec.mean, spec.std)
    noise = [norm(rng.integers(0, 256, (3, h, w))) for _ in range(3)]
    smooth = [norm(np.broadcast_to(rng.integers(0, 256, (3, 1, 1)), (3, h, w))) for _ in range(2)]
    return [np.stack(noise[:1]), np.stack([noise[1], smooth[0]]), np.stack([noise[2], smooth[1], noise[0]])]


def check_parity(model: torch.nn.Module, onnx_path: Path, spec: ModelSpec) -> tuple[float, float]:
    """(max |torch - ORT| logit, share of pixels with equal arg-max) over :func:`_parity_inputs`."""
    session = OnnxPredictor(onnx_path)

    def argmax_agreement(ref: np.ndarray, got: np.ndarray) -> tuple[int, int]:
        return int((got.argmax(1) == ref.argmax(1)).sum()), ref.shape[0] * ref.shape[2] * ref.shape[3]

    return parity(LogitsOnly(model).eval(), session.logits, _parity_inputs(spec), argmax_agreement, onnx_path)


def export_onnx(
    checkpoint: Path,
    out: Path,
    input_size: int | None = None,
    opset: int = 17,
    training_data: str | None = None,
) -> ExportReport:
    """Export ``checkpoint`` to ``out`` (see module docstring).

    Args:
        input_size: square input side in pixels; default the training input size.
        training_data: overrides the checkpoint's description of its training data.
    Raises:
        ModelError: unreadable checkpoint, failed export/check, or torch-vs-ORT parity below 99.9 %.
        ConfigError: bad input size or opset.
    """
    if input_size is not None and input_size < 32:
        raise ConfigError(f"--input-size: must be >= 32 pixels, got {input_size}")
    check_opset(opset)
    state = load_checkpoint(checkpoint)
    model = model_from_checkpoint(state, str(checkpoint))
    spec = spec_from_checkpoint(state, str(checkpoint))
    spec = replace(
        spec,
        input_hw=(input_size, input_size) if input_size else spec.input_hw,
        training_data=training_data or spec.training_data,
        metrics=dict(spec.metrics) or validation_metrics(state),
    )
    if spec.input_hw[0] % 16 or spec.input_hw[1] % 16:
        log.warning("input size %s is not a multiple of 16; the model output is resampled", spec.input_hw)
    write_onnx(
        LogitsOnly(model).eval(),
        out,
        spec.input_hw,
        OUTPUT_NAME,
        opset,
        spec.to_props(),
        f"{spec.architecture} body-part segmentation; trained on {spec.training_data}",
    )
    max_diff, agreement = check_parity(model, out, spec)
    log.info("ORT vs torch: max |logit diff| %.2e, arg-max agreement %.4f %%", max_diff, 100 * agreement)
    reject_below(
        out,
        agreement,
        MIN_AGREEMENT,
        f"ONNX Runtime disagrees with torch on {100 * (1 - agreement):.3f} % of pixels "
        f"(max |logit diff| {max_diff:.3g}); export removed",
    )
    return ExportReport(out, spec, max_diff, agreement)


def main(args: argparse.Namespace) -> int:
    """Run ``export``; returns 0."""
    show_info_logs()
    report = export_onnx(args.checkpoint, args.out, args.input_size, args.opset, args.training_data)
    h, w = report.spec.input_hw
    sys.stdout.write(
        f"wrote {report.path} ({report.spec.architecture}, input {w}x{h}, opset {args.opset}); ORT vs torch: "
        f"max |logit diff| {report.max_abs_diff:.2e}, "
        f"arg-max agreement {100 * report.argmax_agreement:.3f} %\n"
    )
    return 0
