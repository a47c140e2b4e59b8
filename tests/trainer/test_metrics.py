"""Dice / IoU against hand-computed values on tiny class maps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.metrics import SegmentationScores, confusion_matrix, format_table

N = math.nan

# (truth, pred, expected summary values); NaN = undefined (class absent from both / denominator 0).
CASES = [
    pytest.param(
        [[0, 1], [2, 3]],
        [[0, 1], [2, 3]],
        {"dice_head": 1, "dice_arm": 1, "dice_torso": 1, "dice_leg": N, "fg_dice": 1, "mean_part_dice": 1}
        | {"iou_background": 1, "iou_leg": N, "miou": 1, "pixel_acc": 1},
        id="perfect-leg-absent",
    ),
    pytest.param(
        [[1, 1], [0, 0]],
        [[1, 0], [0, 0]],
        {"dice_head": 2 / 3, "fg_dice": 2 / 3, "iou_head": 1 / 2, "iou_background": 2 / 3}
        | {"miou": (1 / 2 + 2 / 3) / 2, "mean_part_dice": 2 / 3, "pixel_acc": 3 / 4},
        id="half-head",
    ),
    pytest.param(
        [[0, 0], [0, 0]],
        [[4, 0], [0, 0]],
        {"dice_leg": 0, "dice_head": N, "fg_dice": 0, "iou_leg": 0, "iou_background": 3 / 4, "miou": 3 / 8},
        id="false-positive-leg",
    ),
    pytest.param(
        [[0, 0], [0, 0]],
        [[0, 0], [0, 0]],
        {"dice_head": N, "fg_dice": N, "mean_part_dice": N, "iou_background": 1, "miou": 1},
        id="all-background",
    ),
    pytest.param(
        [[1, 2], [3, 4]],
        [[2, 1], [3, 4]],
        {"dice_head": 0, "dice_arm": 0, "dice_torso": 1, "dice_leg": 1, "fg_dice": 1, "mean_part_dice": 0.5}
        | {"iou_background": N, "iou_head": 0, "iou_torso": 1, "miou": 0.5},
        id="parts-swapped-foreground-right",
    ),
    pytest.param(
        [[3, 3, 3], [3, 0, 0]],
        [[3, 3, 0], [0, 0, 2]],
        {"dice_torso": 2 * 2 / (2 + 4), "dice_arm": 0, "fg_dice": 2 * 2 / (3 + 4), "iou_torso": 2 / 4}
        | {"iou_arm": 0, "iou_background": 1 / 4, "miou": (2 / 4 + 0 + 1 / 4) / 3},
        id="mixed",
    ),
]


@pytest.mark.parametrize(("truth", "pred", "expected"), CASES)
def test_single_frame_scores(
    truth: list[list[int]], pred: list[list[int]], expected: dict[str, float]
) -> None:
    scores = SegmentationScores()
    scores.update(np.array(pred, np.uint8), np.array(truth, np.uint8))
    got = scores.summary()
    assert got["frames"] == 1
    for key, value in expected.items():
        if math.isnan(value):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value), key


def test_confusion_orientation_rows_truth_cols_pred() -> None:
    cm = confusion_matrix(np.array([[2, 2, 0]]), np.array([[1, 2, 0]]))
    assert cm[1, 2] == 1 and cm[2, 2] == 1 and cm[0, 0] == 1 and cm.sum() == 3 and cm.shape == (5, 5)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)))


def test_dice_is_per_frame_mean_skipping_absent_frames_iou_is_pooled() -> None:
    scores = SegmentationScores()
    scores.update(np.array([[1, 0, 0, 0]]), np.array([[1, 0, 0, 0]]))  # head Dice 1
    scores.update(np.array([[0, 0, 0, 0]]), np.array([[0, 0, 0, 0]]))  # head absent: skipped
    scores.update(np.array([[0, 0, 0, 0]]), np.array([[1, 1, 1, 0]]))  # head Dice 0
    got = scores.summary()
    assert got["dice_head"] == pytest.approx(0.5)  # (1 + 0) / 2, not / 3
    assert got["fg_dice"] == pytest.approx(0.5)
    assert got["iou_head"] == pytest.approx(1 / 4)  # pooled: TP 1, FN 3
    assert got["frames"] == 3
    assert int(scores.confusion.sum()) == 12


def test_table_lists_every_class() -> None:
    scores = SegmentationScores()
    scores.update(np.array([[1, 2]]), np.array([[1, 2]]))
    table = format_table(scores.summary())
    for word in ("background", "head", "arm", "torso", "leg", "foreground", "mIoU"):
        assert word in table
    assert "-" in table.splitlines()[4]  # torso absent → "-"
