"""The geometry rules readers, prepare and verify share: a point on its image, a box inside it, clipping
and the labelled points' extent (hand-computed, 64×48 image)."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.pose.source import bbox_on_image, clip_bbox, off_image, points_bbox


@pytest.mark.parametrize(
    ("x", "y", "v", "off"),
    [
        (0.0, 0.0, 2, False),
        (-0.5, -0.5, 2, False),  # the first pixel's outer edge (pixel centres at integers)
        (64.0, 48.0, 1, False),  # LabelMe's far edge (pixel centres at +0.5)
        (-0.51, 10.0, 2, True),
        (64.01, 10.0, 2, True),
        (10.0, 48.5, 2, True),
        (500.0, -9.0, 0, False),  # not labelled: never off
    ],
)
def test_off_image(x: float, y: float, v: int, off: bool) -> None:
    assert off_image(np.array([[x, y, v]]), 64, 48).tolist() == [off]


@pytest.mark.parametrize(
    ("bbox", "inside"),
    [
        ((0, 0, 64, 48), True),
        ((-0.5, -0.5, 64.5, 48.5), True),
        ((10, 10, 55, 5), False),  # x + w = 65 > 64
        ((1, 1, -1, 5), False),
        ((1, 1, float("nan"), 5), False),
    ],
)
def test_bbox_on_image(bbox: tuple[float, float, float, float], inside: bool) -> None:
    assert bbox_on_image(bbox, 64, 48) is inside


@pytest.mark.parametrize(
    ("bbox", "clipped"),
    [
        ((-4.0, 10.0, 30.0, 100.0), (0.0, 10.0, 26.0, 38.0)),
        ((70.0, 50.0, 5.0, 5.0), (64.0, 48.0, 0.0, 0.0)),
        ((1.0, 2.0, 3.0, 4.0), (1.0, 2.0, 3.0, 4.0)),
    ],
)
def test_clip_bbox(
    bbox: tuple[float, float, float, float], clipped: tuple[float, float, float, float]
) -> None:
    assert clip_bbox(bbox, 64, 48) == clipped


def test_points_bbox_uses_labelled_points_only() -> None:
    kp = np.array([[3.0, 4.0, 2], [13.0, 24.0, 1], [60.0, 1.0, 0]])
    assert points_bbox(kp, 64, 48) == (3.0, 4.0, 10.0, 20.0)
    assert points_bbox(np.zeros((3, 3)), 64, 48) == (0.0, 0.0, 0.0, 0.0)
    assert points_bbox(np.array([[-0.5, 47.0, 2], [64.0, 48.0, 2]]), 64, 48) == (0.0, 47.0, 64.0, 1.0)
