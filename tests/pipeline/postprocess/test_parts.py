import cv2
import numpy as np
import pytest

from pipeline.contract.classes import CLASS_NAMES
from pipeline.contract.geometry import cell_grid, compute_letterbox
from pipeline.postprocess.parts import extract_parts, logits_to_maps


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


def test_logits_to_maps_crops_padding_and_scores_softmax():
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


def brute_force(full_classes, full_scores, min_area):
    """Reference: components on the blown-up map with plain numpy, per pixel."""
    out = []
    for cls in range(1, 5):
        n, labels = cv2.connectedComponents((full_classes == cls).astype(np.uint8), connectivity=8)
        for k in range(1, n):
            ys, xs = np.nonzero(labels == k)
            if len(xs) >= min_area:
                box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
                out.append((cls, len(xs), box, xs.mean(), ys.mean(), full_scores[ys, xs].mean()))
    return sorted(out, key=lambda r: (r[0], -r[1], tuple(int(v) for v in r[2])))


@pytest.mark.parametrize("inset", [None, (3, 2, 4, 5)])
@pytest.mark.parametrize(
    ("cells", "src"), [((12, 16), (37, 53)), ((16, 16), (16, 16)), ((9, 20), (100, 61)), ((20, 20), (13, 11))]
)
def test_cell_weighted_stats_equal_blown_up_map(cells, src, inset):
    """``inset`` (top, left, bottom, right cells of background): the foreground sits in a box away
    from the map's edges, as an infant does (extract_parts works on that box only)."""
    rng = np.random.default_rng(cells[0] * 100 + src[1])
    classes = (rng.random(cells) * 5).astype(np.uint8)
    classes[rng.random(cells) < 0.4] = 0
    if inset is not None:
        top, left, bottom, right = inset
        classes[:top], classes[:, :left] = 0, 0
        classes[cells[0] - bottom :], classes[:, cells[1] - right :] = 0, 0
    scores = rng.random(cells).astype(np.float32)
    grid = cell_grid(cells, src)
    parts, summaries = extract_parts(classes, scores, CLASS_NAMES, 3, grid)
    got = sorted(
        ((p.class_id, p.area_px, p.box, *p.centroid, p.score) for p in parts),
        key=lambda r: (r[0], -r[1], r[2]),
    )
    expected = brute_force(grid.upsample(classes), grid.upsample(scores), 3)
    assert [(g[0], g[1], g[2]) for g in got] == [(e[0], e[1], tuple(int(v) for v in e[2])) for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert g[3:] == pytest.approx(e[3:], abs=1e-6)
    full = grid.upsample(classes)
    for s in summaries:
        ys, xs = np.nonzero(full == s.class_id)
        assert s.area_px == len(xs) and s.centroid == pytest.approx((xs.mean(), ys.mean()))


def test_no_foreground_gives_nothing():
    classes = np.zeros((8, 8), np.uint8)
    assert extract_parts(classes, np.ones((8, 8), np.float32), CLASS_NAMES, 1) == ((), ())
