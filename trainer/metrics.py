"""Segmentation metrics: per-frame Dice (the YIBP protocol) and confusion-matrix IoU.

Conventions (rows = truth, columns = prediction):

- Dice of class c on one frame = 2·|P∩T| / (|P| + |T|) over that frame's pixels. When class c is absent
  from BOTH the prediction and the truth of a frame, the frame is skipped for c (it counts neither as 1
  nor as 0); a class predicted but absent from the truth (or the reverse) scores 0.
- Foreground Dice treats all parts (ids ≥ 1) as one class against background, same skip rule.
- Reported Dice = mean over the frames that were not skipped. ``mean_part_dice`` = mean of the part
  classes' Dice (background excluded).
- IoU of class c = TP / (TP + FP + FN) from the confusion matrix accumulated over ALL pixels of all frames;
  ``miou`` = mean over the classes whose IoU is defined (denominator > 0), background included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pipeline.contract.classes import CLASS_NAMES, NUM_CLASSES


def confusion_matrix(pred: np.ndarray, truth: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(C, C) int64 pixel counts, ``cm[t, p]`` = pixels of truth t predicted p.

    Args:
        pred, truth: class-id maps of equal shape, integer values in 0..C-1.
    """
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} != truth shape {truth.shape}")
    idx = truth.astype(np.int64).ravel() * num_classes + pred.astype(np.int64).ravel()
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def dice_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Per-class Dice (C,) float64 of one frame's confusion matrix; NaN where the class is absent in both."""
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(axis=0) + cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2.0 * tp / np.maximum(denom, 1), np.nan)


def foreground_dice_from_confusion(cm: np.ndarray) -> float:
    """Dice of "any part" (ids ≥ 1) vs background for one frame; NaN when neither has foreground."""
    tp = float(cm[1:, 1:].sum())
    denom = float(cm[:, 1:].sum() + cm[1:, :].sum())
    return 2.0 * tp / denom if denom > 0 else math.nan


def iou_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Per-class IoU (C,) float64 = TP / (TP + FP + FN); NaN where the denominator is 0."""
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(axis=0) + cm.sum(axis=1) - np.diag(cm)
    return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


@dataclass
class SegmentationScores:
    """Accumulates frames; :meth:`summary` gives the metrics described in the module docstring."""

    num_classes: int = NUM_CLASSES
    frames: int = field(default=0, init=False)
    confusion: np.ndarray = field(init=False, repr=False)
    _dice_sum: np.ndarray = field(init=False, repr=False)
    _dice_count: np.ndarray = field(init=False, repr=False)
    _fg_sum: float = field(default=0.0, init=False, repr=False)
    _fg_count: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        c = self.num_classes
        self.confusion = np.zeros((c, c), np.int64)
        self._dice_sum = np.zeros(c, np.float64)
        self._dice_count = np.zeros(c, np.int64)

    def update(self, pred: np.ndarray, truth: np.ndarray) -> None:
        """Add one frame: ``pred`` and ``truth`` are (H, W) integer class maps on the evaluation canvas."""
        cm = confusion_matrix(pred, truth, self.num_classes)
        self.confusion += cm
        dice = dice_from_confusion(cm)
        valid = ~np.isnan(dice)
        self._dice_sum[valid] += dice[valid]
        self._dice_count[valid] += 1
        fg = foreground_dice_from_confusion(cm)
        if not math.isnan(fg):
            self._fg_sum += fg
            self._fg_count += 1
        self.frames += 1

    @property
    def dice(self) -> np.ndarray:
        """Per-class mean per-frame Dice (C,) float64; NaN for a class skipped on every frame."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self._dice_count > 0, self._dice_sum / np.maximum(self._dice_count, 1), np.nan)

    @property
    def foreground_dice(self) -> float:
        """Mean per-frame foreground Dice (NaN when no frame had foreground anywhere)."""
        return self._fg_sum / self._fg_count if self._fg_count else math.nan

    def summary(self) -> dict[str, float]:
        """Flat metrics dict: ``frames``, ``fg_dice``, ``mean_part_dice`` (parts only), ``dice_<class>``,
        ``iou_<class>``, ``miou``, ``pixel_acc``. NaN marks an undefined value."""
        dice, iou = self.dice, iou_from_confusion(self.confusion)
        names = (
            CLASS_NAMES if self.num_classes == NUM_CLASSES else tuple(str(i) for i in range(self.num_classes))
        )
        out: dict[str, float] = {"frames": float(self.frames), "fg_dice": self.foreground_dice}
        out["mean_part_dice"] = _nanmean(dice[1:])
        out.update({f"dice_{n}": float(dice[i]) for i, n in enumerate(names)})
        out["miou"] = _nanmean(iou)
        out.update({f"iou_{n}": float(iou[i]) for i, n in enumerate(names)})
        total = int(self.confusion.sum())
        out["pixel_acc"] = float(np.trace(self.confusion)) / total if total else math.nan
        return out


def format_table(metrics: dict[str, float]) -> str:
    """A per-class text table (Dice and IoU) followed by the summary metrics."""

    def cell(key: str) -> str:
        v = metrics.get(key, math.nan)
        return "-" if math.isnan(v) else f"{v:.4f}"

    lines = [f"{'class':<16}{'dice':>9}{'iou':>9}"]
    lines += [f"{n:<16}{cell(f'dice_{n}'):>9}{cell(f'iou_{n}'):>9}" for n in CLASS_NAMES]
    lines.append(f"{'foreground':<16}{cell('fg_dice'):>9}")
    lines.append(f"{'mean of parts':<16}{cell('mean_part_dice'):>9}")
    lines.append(f"{'mIoU (all)':<16}{'':>9}{cell('miou'):>9}")
    lines.append(f"frames: {int(metrics.get('frames', 0))}")
    return "\n".join(lines)
