import numpy as np
import pytest

from pipeline.classes import CLASS_NAMES
from pipeline.geometry import compute_letterbox
from pipeline.parts import extract_parts, logits_to_maps


def test_two_arms_are_two_instances_largest_first():
    cm = np.zeros((10, 12), np.uint8)
    cm[1:3, 1:4] = 2  # 6 px, centroid (2, 1.5)
    cm[5:9, 6:10] = 2  # 16 px, centroid (7.5, 6.5)
    score = np.full(cm.shape, 0.5, np.float32)
    score[5:9, 6:10] = 0.9
    parts, classes = extract_parts(cm, score, CLASS_NAMES, min_area_px=1)
    assert [(p.instance, p.area_px, p.box) for p in parts] == [(0, 16, (6, 5, 10, 9)), (1, 6, (1, 1, 4, 3))]
    assert parts[0].centroid == pytest.approx((7.5, 6.5))
    assert parts[1].centroid == pytest.approx((2.0, 1.5))
    assert parts[0].score == pytest.approx(0.9) and parts[1].score == pytest.approx(0.5)
    (arm,) = classes
    assert arm.area_px == 22 and arm.instances == 2 and arm.box == (1, 1, 10, 9)
    assert arm.centroid == pytest.approx(((16 * 7.5 + 6 * 2) / 22, (16 * 6.5 + 6 * 1.5) / 22))
    assert arm.score == pytest.approx((16 * 0.9 + 6 * 0.5) / 22)


@pytest.mark.parametrize(("min_area", "expected"), [(1, 2), (7, 1), (17, 0)])
def test_min_area_filters_instances_but_not_summary(min_area, expected):
    cm = np.zeros((10, 12), np.uint8)
    cm[1:3, 1:4] = 4
    cm[5:9, 6:10] = 4
    parts, classes = extract_parts(cm, np.ones(cm.shape, np.float32), CLASS_NAMES, min_area)
    assert len(parts) == expected
    assert classes[0].area_px == 22 and classes[0].instances == expected


def test_background_only_gives_nothing():
    parts, classes = extract_parts(np.zeros((5, 5), np.uint8), np.ones((5, 5), np.float32), CLASS_NAMES, 1)
    assert parts == () and classes == ()


def test_logits_to_maps_undoes_letterbox_and_scores_softmax():
    box = compute_letterbox((4, 8), (8, 8), "center")  # content rows 2..6 of the canvas
    logits = np.zeros((5, 8, 8), np.float32)
    logits[0] = 10.0  # padding and default: background
    logits[1, 2:6, 0:4] = 20.0  # head on the left half of the content
    cm, score = logits_to_maps(logits, box)
    assert cm.shape == (4, 8)
    assert (cm[:, :4] == 1).all() and (cm[:, 4:] == 0).all()
    expected = 1.0 / (1.0 + np.exp(-10.0) + 3 * np.exp(-20.0))
    assert score[0, 0] == pytest.approx(expected)
    assert score[0, 7] == pytest.approx(1.0 / (1.0 + 4 * np.exp(-10.0)))
