"""Keypoint decoders (pipeline/pose/decode.py): heatmap arg-max with sub-pixel refinement and weighted
average, the three activations' scores, SimCC arg-max and split, heatmap → input pixels."""

import math

import numpy as np
import pytest

from pipeline.pose.decode import decode_heatmaps, decode_simcc, heatmap_scores, heatmap_to_input

H, W = 24, 32


def gaussian(cx: float, cy: float, sigma: float = 2.0, hw: tuple[int, int] = (H, W)) -> np.ndarray:
    """(h, w) float64 Gaussian sampled at pixel centres (integers), peak 1 at (cx, cy)."""
    yy, xx = np.mgrid[0 : hw[0], 0 : hw[1]]
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2.0 * sigma * sigma))


def as_raw(g: np.ndarray, activation: str) -> np.ndarray:
    """The raw output whose activation gives back ``g`` (up to normalisation), (1, 1, h, w) float32."""
    if activation == "sigmoid":
        p = np.clip(g, 1e-6, 1 - 1e-6)
        raw = np.log(p / (1 - p))
    elif activation == "softmax":
        raw = np.log(np.maximum(g, 1e-300))
    else:
        raw = g
    return raw[None, None].astype(np.float32)


CENTRES = [(10.3, 7.8), (5.0, 5.0), (20.45, 13.6), (16.5, 11.5), (3.2, 18.9)]


@pytest.mark.parametrize("activation", ["none", "sigmoid", "softmax"])
@pytest.mark.parametrize("centre", CENTRES)
def test_argmax_is_sub_pixel_on_a_sampled_gaussian(centre, activation):
    xy, _ = decode_heatmaps(as_raw(gaussian(*centre), activation), activation, "argmax")
    assert xy.shape == (1, 1, 2) and xy.dtype == np.float32
    assert xy[0, 0] == pytest.approx(centre, abs=0.05)


@pytest.mark.parametrize("centre", CENTRES[:4])  # 3σ from every edge: the map is symmetric about its centre
def test_weighted_average_is_the_centre_of_a_symmetric_map(centre):
    xy, _ = decode_heatmaps(as_raw(gaussian(*centre), "none"), "none", "wa")
    assert xy[0, 0] == pytest.approx(centre, abs=0.05)


def test_argmax_at_the_edge_is_the_edge_pixel():
    g = gaussian(0.0, 23.0)  # the peak on the first column and last row: no neighbour outside
    xy, _ = decode_heatmaps(as_raw(g, "none"), "none", "argmax")
    assert xy[0, 0] == pytest.approx((0.0, 23.0), abs=1e-6)


def test_several_maps_decode_independently():
    maps = np.stack(
        [np.stack([gaussian(4.0, 6.0), gaussian(25.25, 3.5)]), np.stack([gaussian(9.6, 20.1)] * 2)]
    )
    xy, score = decode_heatmaps(maps.astype(np.float32), "none", "argmax")
    assert xy.shape == (2, 2, 2) and score.shape == (2, 2)
    assert xy[0, 1] == pytest.approx((25.25, 3.5), abs=0.05)
    assert xy[1, 0] == pytest.approx((9.6, 20.1), abs=0.05)


@pytest.mark.parametrize(
    ("activation", "peak", "expected"),
    [
        ("none", 0.8, 0.8),  # MSE maps: the peak value
        ("none", 1.3, 1.0),  # clipped to 1
        ("none", -0.5, 0.0),  # clipped to 0
        ("sigmoid", 0.0, 0.5),  # sigmoid(0)
        ("sigmoid", 2.0, 1 / (1 + math.exp(-2.0))),
    ],
)
def test_peak_scores(activation, peak, expected):
    raw = np.full((1, 1, H, W), min(peak, 0.0) - 5.0, np.float32)
    raw[0, 0, 7, 9] = peak
    assert heatmap_scores(raw, activation)[0, 0] == pytest.approx(expected, abs=1e-6)


def test_softmax_score_of_a_perfect_target_is_one_and_of_a_flat_map_small():
    sigma = 2.0
    perfect = as_raw(gaussian(12.0, 10.0, sigma), "softmax")  # its softmax is the normalised Gaussian
    assert heatmap_scores(perfect, "softmax", sigma)[0, 0] == pytest.approx(1.0, abs=0.01)
    flat = np.zeros((1, 1, H, W), np.float32)  # every pixel 1 / (h·w): scaled by 2πσ²
    expected = 2 * math.pi * sigma * sigma / (H * W)
    assert heatmap_scores(flat, "softmax", sigma)[0, 0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("xy", "stride", "expected"),
    [((0.0, 0.0), 4, (1.5, 1.5)), ((3.0, 2.0), 4, (13.5, 9.5)), ((-0.5, 10.25), 2, (-0.5, 21.0))],
)
def test_heatmap_to_input_keeps_pixel_centres(xy, stride, expected):
    assert heatmap_to_input(np.array(xy), stride) == pytest.approx(expected)


@pytest.mark.parametrize(("split", "bin_x", "bin_y"), [(2.0, 37, 20), (1.0, 5, 0), (3.0, 100, 61)])
def test_simcc_argmax_divided_by_split(split, bin_x, bin_y):
    x = np.zeros((1, 2, 144), np.float32)
    y = np.zeros((1, 2, 192), np.float32)
    x[0, 0, bin_x] = y[0, 0, bin_y] = 10.0
    x[0, 1, 3] = y[0, 1, 4] = 10.0
    xy, _ = decode_simcc(x, y, split)
    assert xy[0, 0] == pytest.approx((bin_x / split, bin_y / split))
    assert xy[0, 1] == pytest.approx((3 / split, 4 / split))


def test_simcc_scores_perfect_gaussian_one_flat_small():
    sigma_bins = 6.0
    bins = np.arange(200)
    g = -((bins - 80.0) ** 2) / (2 * sigma_bins**2)  # log of a 1-D Gaussian: softmax = normalised Gaussian
    _, perfect = decode_simcc(g[None, None], g[None, None], 2.0, sigma_bins)
    assert perfect[0, 0] == pytest.approx(1.0, abs=0.01)
    flat = np.zeros((1, 1, 200))
    _, score = decode_simcc(flat, g[None, None], 2.0, sigma_bins)  # flat on x, perfect on y: x wins
    assert score[0, 0] == pytest.approx(math.sqrt(2 * math.pi) * sigma_bins / 200, rel=1e-5)
    _, both_flat = decode_simcc(flat, flat, 2.0, sigma_bins)
    assert both_flat[0, 0] == pytest.approx(score[0, 0])
