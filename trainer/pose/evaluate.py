"""``infant-stream evaluate`` for keypoint models: PCKsh and mKS (NYCU's protocol) of a ``.pt`` checkpoint or an
``.onnx`` model on a prepared keypoint split, plus COCO keypoint AP for COCO-17 sets.

Protocol: every labelled infant is cropped from its GROUND-TRUTH body box (the annotation's ``bbox``) exactly
as the streaming pipeline crops from the segmentation box (``pose_box(padding, aspect)`` → ``crop_image``,
padding and input size from the model's metadata), so the score measures the keypoint model alone, not the
box. With the flip test (the pipeline's default, ``pose.flip_test``; ``--no-flip-test``: off) every crop
also runs mirrored and the two raw outputs are merged (:mod:`pipeline.pose.flip`). Heatmaps are decoded
by :func:`pipeline.pose.decode.decode_heatmaps` (the model's activation; decoder
from the metadata or ``--decoder``), mapped to input pixels by ``heatmap_to_input`` and to image pixels by
:func:`pipeline.contract.crop.to_frame`; metrics are :func:`trainer.pose.metrics.keypoint_report` in image
pixels. Samples with a degenerate body box or no labelled point are skipped (counted in the log). COCO AP
uses the body box area as the OKS scale (the prepared layout keeps no segment area).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pipeline.contract.crop import to_frame
from pipeline.contract.pose_meta import Decoder
from pipeline.errors import ConfigError
from pipeline.files import write_whole
from pipeline.infer.preprocess import normalize
from pipeline.pose.decode import decode_heatmaps, heatmap_to_input
from pipeline.pose.flip import flip_permutation, merge_heatmaps, with_mirror
from trainer.logs import show_info_logs
from trainer.pose.crops import eval_crop
from trainer.pose.dataset import load_image, usable_samples
from trainer.pose.layout import KeypointSample, read_split
from trainer.pose.metrics import KeypointReport, keypoint_report, reports_markdown
from trainer.pose.predictors import PosePredictor, open_pose_predictor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Predictions:
    """Decoded points of one split.

    Attributes:
        points: (N, K, 2) float32 predicted (x, y), image px.
        scores: (N, K) float32 confidences 0..1.
        truth: (N, K, 3) float32 ground truth [x, y, v], image px.
        bboxes: (N, 4) float32 body boxes [x, y, w, h], image px.
    """

    points: np.ndarray
    scores: np.ndarray
    truth: np.ndarray
    bboxes: np.ndarray


def predict_samples(
    predictor: PosePredictor,
    samples: Sequence[KeypointSample],
    decoder: Decoder | None = None,
    batch_size: int = 16,
    face_occlusion: bool = False,
    progress: bool = True,
    flip_test: bool = False,
) -> Predictions:
    """Crop, run (with its mirror image when ``flip_test``), decode and map back every sample (see the
    module docstring)."""
    spec = predictor.spec
    perm = flip_permutation(spec.keypoints)
    dec: Decoder = decoder or spec.decoder
    k = spec.keypoints.num_keypoints
    points, scores = np.zeros((len(samples), k, 2), np.float32), np.zeros((len(samples), k), np.float32)
    bar = tqdm(total=len(samples), desc="keypoints", unit="crop", disable=None if progress else True)
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        crops, boxes = [], []
        for s in chunk:
            crop, box = eval_crop(
                load_image(s, spec, face_occlusion), s.bbox, spec.input_hw, spec.crop_padding
            )
            crops.append(normalize(crop, spec.mean, spec.std))
            boxes.append(box)
        batch = np.stack(crops)
        heat = (
            merge_heatmaps(predictor.heatmaps(with_mirror(batch)), perm)
            if flip_test
            else predictor.heatmaps(batch)
        )
        xy, sc = decode_heatmaps(heat, spec.activation, dec, spec.heatmap_sigma)
        xy = heatmap_to_input(xy, spec.heatmap_stride)
        for j, box in enumerate(boxes):
            points[start + j] = to_frame(xy[j], box, spec.input_hw)
        scores[start : start + len(chunk)] = sc
        bar.update(len(chunk))
    bar.close()
    truth = np.stack([s.keypoints for s in samples]).astype(np.float32) if samples else np.zeros((0, k, 3))
    bboxes = np.asarray([s.bbox for s in samples], np.float32).reshape(-1, 4)
    return Predictions(points, scores, truth, bboxes)


def coco_metrics(pred: Predictions, sigmas: Sequence[float]) -> dict[str, float]:
    """COCO AP/AP50/AP75/AR (:func:`trainer.pose.oks.coco_ap`), body box area as the OKS scale."""
    from trainer.pose.oks import coco_ap

    areas = pred.bboxes[:, 2] * pred.bboxes[:, 3]
    return coco_ap(pred.points, pred.scores, pred.truth, pred.bboxes, areas, sigmas)


def evaluate_samples(
    predictor: PosePredictor,
    samples: Sequence[KeypointSample],
    decoder: Decoder | None = None,
    batch_size: int = 16,
    face_occlusion: bool = False,
    progress: bool = True,
    flip_test: bool = False,
) -> tuple[KeypointReport, Predictions]:
    """:func:`predict_samples` then :func:`trainer.pose.metrics.keypoint_report` (image px)."""
    pred = predict_samples(predictor, samples, decoder, batch_size, face_occlusion, progress, flip_test)
    return keypoint_report(pred.points, pred.truth, predictor.spec.keypoints), pred


def load_samples(data: Path, split: str, names: Sequence[str]) -> list[KeypointSample]:
    """The usable samples of ``split``, checked against the model's keypoint names.

    Raises:
        DatasetError: missing/malformed split. ConfigError: empty split, or other keypoint names.
    """
    ks = read_split(data, split)
    if tuple(ks.keypoint_set.names) != tuple(names):
        raise ConfigError(
            f"{data}/annotations/{split}.json: keypoint set {ks.keypoint_set.name} "
            f"({ks.keypoint_set.num_keypoints} points) is not the model's ({len(names)} points)"
        )
    samples = usable_samples(ks)
    if not samples:
        raise ConfigError(f"{data}/annotations/{split}.json: no usable labelled infant to evaluate")
    return samples


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` as indented JSON, whole (never half-written); parent folders are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
    write_whole(path, lambda f: f.write(data))


def _json_safe(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (v if np.isfinite(v) else None) for k, v in values.items()}


def main(args: argparse.Namespace) -> int:
    """Run ``evaluate`` on a keypoint model: prints the tables, optionally writes JSON; returns 0."""
    show_info_logs()
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size: must be >= 1, got {args.batch_size}")
    predictor = open_pose_predictor(args.model, args.device)
    spec = predictor.spec
    decoder: Decoder = args.decoder or spec.decoder
    samples = load_samples(args.data, args.split, spec.keypoints.names)
    flip = not getattr(args, "no_flip_test", False)
    report, pred = evaluate_samples(
        predictor, samples, decoder, args.batch_size, args.face_occlusion, flip_test=flip
    )
    coco: dict[str, float] = {}
    if spec.keypoints.name == "coco17" and spec.keypoints.sigmas:
        coco = coco_metrics(pred, spec.keypoints.sigmas)
    face = (", faces mosaicked" if args.face_occlusion else "") + (", flip test" if flip else "")
    lines = [
        f"{args.model} on {args.data} [{args.split}]: {report.frames} crops from the GT body box "
        f"(padding {spec.crop_padding:g}), {report.frames_scored} with a body size; decoder {decoder}{face}",
        "",
        reports_markdown([(f"{spec.architecture} ({decoder})", report)]),
    ]
    if coco:
        lines.append(
            "COCO keypoints (OKS, body-box area): " + ", ".join(f"{k} {100 * v:.1f}" for k, v in coco.items())
        )
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json is not None:
        doc: dict[str, Any] = {
            "model": str(args.model),
            "data": str(args.data),
            "split": args.split,
            "decoder": decoder,
            "crop": {
                "box": "ground-truth body box",
                "padding": spec.crop_padding,
                "input_hw": list(spec.input_hw),
            },
            "face_occlusion": bool(args.face_occlusion),
            "flip_test": flip,
            "metrics": report.to_dict(),
        }
        if coco:
            doc["coco"] = _json_safe(coco)
        write_json(args.json, doc)
        log.info("wrote %s", args.json)
    return 0
