"""The flip test (pipeline/pose/flip.py): the mirror pass of an ideal (mirror-equivariant) model, merged
back, equals the plain pass — left/right channels swapped by name, heatmaps mirrored exactly, SimCC x bins
reversed and shifted by split − 1 — and PoseModel / evaluate give the same points with it on a model
that sees the mirror image the same way (the colour toys: no left/right pairs)."""

import numpy as np
import pytest

from pipeline.contract.keypoints import KeypointSet
from pipeline.pose.decode import decode_simcc
from pipeline.pose.flip import flip_permutation, merge_heatmaps, merge_simcc, with_mirror
from pipeline.pose.model import PoseModel
from tests.helpers.pose_models import heatmap_model, simcc_model

KSET = KeypointSet(
    name="toy",
    names=("head", "wrist_R", "wrist_L"),
    skeleton=((1, 0), (2, 0)),
    sides=("", "R", "L"),
    facial=(),
)


def test_permutation_swaps_partners_by_name():
    assert flip_permutation(KSET).tolist() == [0, 2, 1]


def test_with_mirror_appends_the_mirror_images():
    batch = np.arange(2 * 1 * 2 * 3, dtype=np.float32).reshape(2, 1, 2, 3)
    both = with_mirror(batch)
    assert both.shape == (4, 1, 2, 3)
    assert np.array_equal(both[:2], batch) and np.array_equal(both[2:], batch[..., ::-1])


def _peaks(cols: list[int], w: int = 10, h: int = 4) -> np.ndarray:
    maps = np.zeros((len(cols), h, w), np.float32)
    for k, c in enumerate(cols):
        maps[k, 1, c] = 1.0
    return maps


def test_heatmaps_of_an_equivariant_model_merge_to_the_plain_pass():
    # plain: head at column 4, right wrist at 2, left wrist at 7 (w = 10)
    plain = _peaks([4, 2, 7])
    # the mirror image shows the right wrist at 9 - 2 = 7 looking like a LEFT wrist, and vice versa
    mirror = _peaks([9 - 4, 9 - 7, 9 - 2])
    merged = merge_heatmaps(np.stack([plain, mirror]), flip_permutation(KSET))
    assert merged.shape == (1, 3, 4, 10) and merged.dtype == np.float32
    assert np.array_equal(merged[0], plain)


def test_heatmaps_average_the_two_passes():
    plain = _peaks([4, 2, 7])
    mirror = _peaks([9 - 5, 9 - 7, 9 - 2])  # the mirror pass puts the head one column further right
    merged = merge_heatmaps(np.stack([plain, mirror]), flip_permutation(KSET))[0]
    assert merged[0, 1, 4] == pytest.approx(0.5) and merged[0, 1, 5] == pytest.approx(0.5)


@pytest.mark.parametrize("split", [1.0, 2.0, 3.0])
def test_simcc_mirror_is_reversed_and_shifted(split):
    w, h = 20, 16
    x_at = {0: 6.0, 1: 3.0, 2: 15.0}  # input px
    y_at = {0: 2.0, 1: 9.0, 2: 11.0}

    def logits(xs: dict[int, float], ys: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
        lx = np.zeros((1, 3, round(w * split)), np.float32)
        ly = np.zeros((1, 3, round(h * split)), np.float32)
        for k in range(3):
            lx[0, k, round(xs[k] * split)] = 10.0
            ly[0, k, round(ys[k] * split)] = 10.0
        return lx, ly

    px, py = logits(x_at, y_at)
    # mirror image: x → w - 1 - x, and the wrists swap names
    mx, my = logits(
        {0: w - 1 - x_at[0], 1: w - 1 - x_at[2], 2: w - 1 - x_at[1]}, {0: y_at[0], 1: y_at[2], 2: y_at[1]}
    )
    fx, fy = merge_simcc(np.concatenate([px, mx]), np.concatenate([py, my]), flip_permutation(KSET), split)
    xy, _ = decode_simcc(fx, fy, split)
    assert xy[0] == pytest.approx(np.array([[x_at[k], y_at[k]] for k in range(3)]))


@pytest.mark.parametrize("build", [heatmap_model, simcc_model])
def test_pose_model_flip_test_agrees_with_one_pass_on_a_symmetric_toy(tmp_path, build):
    path = build(tmp_path / "toy.onnx")
    crops = np.zeros((3, 3, 64, 48), np.float32)
    crops[:, 0, 20:24, 8:12] = 1.0
    crops[1, 1, 40:44, 36:40] = 1.0
    crops[2, 1, 4:8, 0:4] = 1.0
    one, s1 = PoseModel(path).run(crops)
    flipped = PoseModel(path, flip_test=True)
    assert flipped.flip_test
    two, s2 = flipped.run(crops)
    assert two == pytest.approx(one, abs=0.5)
    assert s2 == pytest.approx(s1, abs=0.05)
