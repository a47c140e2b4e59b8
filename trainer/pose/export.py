"""``infant-stream export`` of a keypoint checkpoint → ONNX model the pipeline's pose stage can run.

The graph takes ``input`` (N, 3, H, W) float32 — a normalised crop of the padded body box (PoseSpec) — with a
dynamic batch axis N, and returns ``heatmaps`` (N, K, H/4, W/4) float32, raw (the metadata's ``activation``
says how to read them). ``metadata_props`` carry :meth:`pipeline.contract.pose_meta.PoseSpec.to_props`: task
``keypoints``, keypoint names, skeleton, sides, facial ids, input size, mean/std, heatmap stride 4, sigma,
activation (from the training loss), decoder, crop padding, architecture, training data and the checkpoint's
validation metrics. After writing, ONNX Runtime (CPU) is run against torch on a few inputs: the max absolute
heatmap difference and the share of decoded points within :data:`POINT_TOLERANCE` input px of torch's are
reported, and an agreement below :data:`MIN_AGREEMENT` is a ModelError (the file is removed).
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

from pipeline.contract.pose_meta import Decoder, PoseSpec
from pipeline.errors import ConfigError
from pipeline.pose.decode import decode_heatmaps, heatmap_to_input
from trainer.checkpoint import load_checkpoint
from trainer.logs import show_info_logs
from trainer.onnx_export import check_opset, normaliser, parity, reject_below, write_onnx
from trainer.pose.checkpoint import flat_metrics, pose_model_from_checkpoint, pose_spec_from_checkpoint
from trainer.pose.predictors import OUTPUT_NAME, OnnxPosePredictor

log = logging.getLogger(__name__)

POINT_TOLERANCE: Final = 0.5
"""Input pixels within which an ONNX-decoded point counts as agreeing with torch's."""

MIN_AGREEMENT: Final = 0.99
"""Least share of decoded points that must agree between torch and ONNX Runtime."""


@dataclass(frozen=True)
class PoseExportReport:
    """Result of :func:`export_pose_onnx`: the file, its spec and the torch-vs-ORT parity figures."""

    path: Path
    spec: PoseSpec
    max_abs_diff: float
    point_agreement: float


def parity_inputs(spec: PoseSpec, seed: int = 0) -> list[np.ndarray]:
    """Batches of 1, 2 and 3 normalised inputs (N, 3, H, W) float32: noise images, flat colours and blobs."""
    rng = np.random.default_rng(seed)
    h, w = spec.input_hw
    norm = normaliser(spec.mean, spec.std)
    yy, xx = np.mgrid[0:h, 0:w]
    blob = 255.0 * np.exp(-((xx - w * 0.4) ** 2 + (yy - h * 0.6) ** 2) / (2.0 * (0.15 * w) ** 2))
    noise = [norm(rng.integers(0, 256, (3, h, w))) for _ in range(3)]
    flat = norm(np.broadcast_to(rng.integers(0, 256, (3, 1, 1)), (3, h, w)))
    blobs = norm(np.stack([blob, blob[::-1], blob[:, ::-1]]))
    return [np.stack(noise[:1]), np.stack([noise[1], flat]), np.stack([noise[2], blobs, noise[0]])]


def check_parity(model: torch.nn.Module, onnx_path: Path, spec: PoseSpec) -> tuple[float, float]:
    """(max |torch − ORT| heatmap value, share of decoded points within :data:`POINT_TOLERANCE` input px)."""
    session = OnnxPosePredictor(onnx_path)

    def point_agreement(ref: np.ndarray, got: np.ndarray) -> tuple[int, int]:
        points = [
            heatmap_to_input(
                decode_heatmaps(m, spec.activation, spec.decoder, spec.heatmap_sigma)[0], spec.heatmap_stride
            )
            for m in (ref, got)
        ]
        agree = int((np.linalg.norm(points[0] - points[1], axis=-1) <= POINT_TOLERANCE).sum())
        return agree, ref.shape[0] * ref.shape[1]

    return parity(model.eval(), session.heatmaps, parity_inputs(spec), point_agreement, onnx_path)


def export_pose_onnx(
    checkpoint: Path,
    out: Path,
    input_size: int | None = None,
    opset: int = 17,
    training_data: str | None = None,
    decoder: Decoder | None = None,
) -> PoseExportReport:
    """Export a keypoint ``checkpoint`` to ``out`` (see the module docstring).

    Args:
        input_size: square input side in pixels (multiple of 32); default the training input size.
        training_data: overrides the checkpoint's description of its training data.
        decoder: overrides the training decoder written into the metadata.
    Raises:
        ModelError: unreadable or not a keypoint checkpoint, failed export/check, or parity below the minimum.
        ConfigError: bad input size or opset.
    """
    if input_size is not None and (input_size < 64 or input_size % 32):
        raise ConfigError(
            f"--input-size: keypoint input must be a multiple of 32 and >= 64, got {input_size}"
        )
    check_opset(opset)
    state = load_checkpoint(checkpoint)
    model = pose_model_from_checkpoint(state, str(checkpoint))
    spec = pose_spec_from_checkpoint(state, str(checkpoint))
    spec = replace(
        spec,
        input_hw=(input_size, input_size) if input_size else spec.input_hw,
        training_data=training_data or spec.training_data,
        decoder=decoder or spec.decoder,
        metrics=dict(spec.metrics) or flat_metrics(state),
    )
    write_onnx(
        model,
        out,
        spec.input_hw,
        OUTPUT_NAME,
        opset,
        spec.to_props(),
        f"{spec.architecture} infant keypoints ({spec.keypoints.name}, {spec.activation} heatmaps); "
        f"trained on {spec.training_data}",
    )
    max_diff, agreement = check_parity(model, out, spec)
    log.info("ORT vs torch: max |heatmap diff| %.2e, decoded points agree %.2f %%", max_diff, 100 * agreement)
    reject_below(
        out,
        agreement,
        MIN_AGREEMENT,
        f"ONNX Runtime's decoded points differ from torch's by more than {POINT_TOLERANCE} px for "
        f"{100 * (1 - agreement):.2f} % of points (max |heatmap diff| {max_diff:.3g}); export removed",
    )
    return PoseExportReport(out, spec, max_diff, agreement)


def main(args: argparse.Namespace) -> int:
    """Run ``export`` for a keypoint checkpoint; returns 0."""
    show_info_logs()
    report = export_pose_onnx(
        args.checkpoint, args.out, args.input_size, args.opset, args.training_data, args.decoder
    )
    h, w = report.spec.input_hw
    sys.stdout.write(
        f"wrote {report.path} ({report.spec.architecture}, {report.spec.keypoints.num_keypoints} keypoints, "
        f"input {w}x{h}, {report.spec.activation} heatmaps, decoder {report.spec.decoder}, opset {args.opset}); "
        f"ORT vs torch: max |heatmap diff| {report.max_abs_diff:.2e}, "
        f"decoded points agree {100 * report.point_agreement:.2f} %\n"
    )
    return 0
