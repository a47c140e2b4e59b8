"""``infant-stream evaluate``: score a checkpoint or an ONNX model on a prepared split (YIBP protocol).

Protocol (docs/trainer.md): every frame and its truth mask are brought to a 256x256 evaluation canvas by
resizing so the long side is 256 (aspect kept; NEAREST for masks) and zero-padding (centred; the
alignment does not change any score because padding is background in both maps). The model itself runs at
ITS input size through its own letterbox (as in the pipeline); its arg-max class map is mapped back to the
frame (:func:`pipeline.geometry.unletterbox_map`) and then onto the evaluation canvas with NEAREST. Metrics
are described in :mod:`trainer.metrics` (per-frame Dice averaged over frames, mIoU from the pooled
confusion matrix).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Final

import cv2
import numpy as np
from tqdm import tqdm

from pipeline.contract.geometry import Letterbox, compute_letterbox, letterbox_image, unletterbox_map
from pipeline.errors import ConfigError
from pipeline.infer.preprocess import normalize
from trainer.layout import Layout, load_mask, load_rgb
from trainer.logs import show_info_logs
from trainer.metrics import SegmentationScores, format_table
from trainer.predictors import Predictor, open_predictor

log = logging.getLogger(__name__)

EVAL_SIZE: Final = 256
"""Side of the official square evaluation canvas, pixels."""


def eval_letterbox(height: int, width: int) -> Letterbox:
    """The evaluation canvas geometry of a (height, width) frame: long side 256, zero-padded to 256x256."""
    return compute_letterbox((height, width), (EVAL_SIZE, EVAL_SIZE), "center")


def truth_on_canvas(mask: np.ndarray) -> np.ndarray:
    """Truth mask (H, W) uint8 → (256, 256) uint8 evaluation canvas (NEAREST, background padding)."""
    return letterbox_image(mask, eval_letterbox(*mask.shape[:2]), 0, interpolation=cv2.INTER_NEAREST)


def prediction_on_canvas(class_map: np.ndarray, model_box: Letterbox) -> np.ndarray:
    """Model-canvas class map (out_h, out_w) uint8 → (256, 256) uint8 evaluation canvas.

    When the model's letterbox IS the evaluation letterbox (256x256 input, same placement) and the map has
    the input resolution, the map is used as is; otherwise it goes back to frame pixels and onto the canvas.
    """
    box = eval_letterbox(model_box.src_h, model_box.src_w)
    if model_box == box and class_map.shape == (EVAL_SIZE, EVAL_SIZE):
        return class_map
    frame_map = unletterbox_map(class_map, model_box)
    return letterbox_image(frame_map, box, 0, interpolation=cv2.INTER_NEAREST)


def predict_class_maps(predictor: Predictor, images: list[np.ndarray]) -> list[tuple[np.ndarray, Letterbox]]:
    """Run the model on RGB frames (H, W, 3) uint8 of any sizes: per frame the arg-max class map on the
    model canvas (out_h, out_w) uint8 and the letterbox that produced it."""
    spec = predictor.spec
    boxes = [compute_letterbox(img.shape[:2], spec.input_hw, spec.letterbox) for img in images]
    batch = np.stack(
        [
            normalize(letterbox_image(img, box, spec.pad_value), spec.mean, spec.std)
            for img, box in zip(images, boxes, strict=True)
        ]
    )
    maps = predictor.logits(batch).argmax(axis=1).astype(np.uint8)
    return list(zip(list(maps), boxes, strict=True))


def evaluate_split(
    predictor: Predictor, data: Path, split: str, batch_size: int = 8, progress: bool = True
) -> dict[str, float]:
    """Score ``predictor`` on every frame of ``split``; returns :meth:`SegmentationScores.summary`.

    Raises:
        DatasetError: missing split file, image or mask.
        ConfigError: the split is empty.
    """
    layout = Layout(data)
    stems = layout.read_split(split)
    if not stems:
        raise ConfigError(f"{layout.split_file(split)}: split {split!r} is empty, nothing to evaluate")
    scores = SegmentationScores(num_classes=predictor.spec.num_classes)
    bar = tqdm(total=len(stems), desc=f"evaluate {split}", unit="frame", disable=None if progress else True)
    for start in range(0, len(stems), batch_size):
        chunk = stems[start : start + batch_size]
        images = [load_rgb(layout.image(s)) for s in chunk]
        masks = [load_mask(layout.mask(s)) for s in chunk]
        for (class_map, box), mask in zip(predict_class_maps(predictor, images), masks, strict=True):
            scores.update(prediction_on_canvas(class_map, box), truth_on_canvas(mask))
        bar.update(len(chunk))
    bar.close()
    return scores.summary()


def _json_safe(metrics: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if math.isnan(v) else v) for k, v in metrics.items()}


def main(args: argparse.Namespace) -> int:
    """Run ``evaluate``: prints the per-class table, optionally writes JSON; returns 0."""
    show_info_logs()
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size: must be >= 1, got {args.batch_size}")
    predictor = open_predictor(args.model, args.device)
    metrics = evaluate_split(predictor, args.data, args.split, args.batch_size)
    sys.stdout.write(f"{args.model} on {args.data} [{args.split}]\n{format_table(metrics)}\n")
    if args.json is not None:
        doc = {
            "model": str(args.model),
            "data": str(args.data),
            "split": args.split,
            "eval_size": EVAL_SIZE,
            "metrics": _json_safe(metrics),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        log.info("wrote %s", args.json)
    return 0
