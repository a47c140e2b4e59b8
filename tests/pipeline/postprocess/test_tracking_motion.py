import itertools
import math

import numpy as np
import pytest

from pipeline.postprocess.tracking.motion import (
    INITIAL_ACCELERATION_STD,
    INITIAL_VELOCITY_STD,
    MIN_STD_FRACTION,
    measurement_matrix,
    measurement_noise,
    measurement_std,
    new_filter,
    process_noise,
    state_dim,
    transition,
)
from pipeline.postprocess.tracking.track import Track

DT = 0.04


@pytest.mark.parametrize(
    ("motion", "expected"),
    [
        (
            "constant_velocity",
            [[1, 0, DT, 0], [0, 1, 0, DT], [0, 0, 1, 0], [0, 0, 0, 1]],
        ),
        (
            "constant_acceleration",
            [
                [1, 0, DT, 0, DT**2 / 2, 0],
                [0, 1, 0, DT, 0, DT**2 / 2],
                [0, 0, 1, 0, DT, 0],
                [0, 0, 0, 1, 0, DT],
                [0, 0, 0, 0, 1, 0],
                [0, 0, 0, 0, 0, 1],
            ],
        ),
    ],
)
def test_transition_matrix(motion, expected):
    f = transition(motion, DT)
    assert f.shape == (state_dim(motion), state_dim(motion))
    np.testing.assert_allclose(f, expected, atol=1e-15)


@pytest.mark.parametrize(
    ("motion", "per_axis"),
    [
        ("constant_velocity", [[DT**4 / 4, DT**3 / 2], [DT**3 / 2, DT**2]]),
        (
            "constant_acceleration",
            [
                [DT**4 / 4, DT**3 / 2, DT**2 / 2],
                [DT**3 / 2, DT**2, DT],
                [DT**2 / 2, DT, 1.0],
            ],
        ),
    ],
)
@pytest.mark.parametrize("std", [1.0, 2000.0])
def test_process_noise_matrix(motion, per_axis, std):
    q = process_noise(motion, DT, std)
    n = state_dim(motion)
    assert q.shape == (n, n)
    # state ordered [x, y, vx, vy, ...]: x-entries at even indices, y at odd, no x/y coupling
    np.testing.assert_allclose(q[0::2, 0::2], np.asarray(per_axis) * std**2, rtol=1e-12)
    np.testing.assert_allclose(q[1::2, 1::2], np.asarray(per_axis) * std**2, rtol=1e-12)
    assert not q[0::2, 1::2].any()
    np.testing.assert_allclose(q, q.T)
    assert np.linalg.eigvalsh(q).min() >= -1e-9 * np.abs(q).max()


@pytest.mark.parametrize("motion", ["constant_velocity", "constant_acceleration"])
def test_measurement_matrix_picks_position(motion):
    h = measurement_matrix(motion)
    assert h.shape == (2, state_dim(motion))
    state = np.arange(1.0, state_dim(motion) + 1)
    np.testing.assert_array_equal(h @ state, [1.0, 2.0])


@pytest.mark.parametrize(
    ("area", "score", "expected"),
    [
        (2000, 1.0, 2.0),  # the reference region
        (500, 1.0, 4.0),  # 4× smaller → 2× the std
        (2000, 0.5, 4.0),  # half as confident → 2× the std
        (2000, 0.0, 40.0),  # score floored at 0.05
        (0, 1.0, 2.0 * math.sqrt(2000)),  # area floored at 1 px
        (2_000_000, 1.0, 2.0 * MIN_STD_FRACTION),  # never trusted more than a quarter of the noise
    ],
)
def test_measurement_std(area, score, expected):
    assert measurement_std(2.0, 2000.0, area, score) == pytest.approx(expected)
    np.testing.assert_allclose(measurement_noise(expected), np.eye(2) * expected**2)


@pytest.mark.parametrize("motion", ["constant_velocity", "constant_acceleration"])
def test_new_filter_starts_at_rest_with_wide_velocity_prior(motion):
    kf = new_filter(motion, (10.0, 20.0), 3.0)
    n = state_dim(motion)
    assert kf.x.shape == (n, 1)
    np.testing.assert_array_equal(kf.x[:, 0], [10.0, 20.0] + [0.0] * (n - 2))
    expected = [9.0, 9.0, INITIAL_VELOCITY_STD**2, INITIAL_VELOCITY_STD**2]
    if n == 6:
        expected += [INITIAL_ACCELERATION_STD**2] * 2
    np.testing.assert_allclose(np.diag(kf.P), expected)
    np.testing.assert_allclose(kf.R, np.eye(2) * 9.0)


@pytest.mark.parametrize("motion", ["constant_velocity", "constant_acceleration"])
@pytest.mark.parametrize("dt", [0.01, 0.04, 0.5])
def test_constant_velocity_target_is_predicted_exactly_without_noise(motion, dt):
    kf = new_filter(motion, (0.0, 0.0), 1.0)
    kf.x[2, 0], kf.x[3, 0] = 120.0, -45.0
    for k in range(1, 11):
        kf.predict(F=transition(motion, dt), Q=np.zeros_like(kf.P))
        np.testing.assert_allclose(kf.x[:4, 0], [120.0 * k * dt, -45.0 * k * dt, 120.0, -45.0], atol=1e-9)


def test_constant_acceleration_target_is_predicted_exactly():
    kf = new_filter("constant_acceleration", (5.0, 5.0), 1.0)
    kf.x[2:, 0] = [10.0, 0.0, 0.0, 100.0]
    dt = 0.1
    for _ in range(20):
        kf.predict(F=transition("constant_acceleration", dt), Q=np.zeros_like(kf.P))
    t = 20 * dt
    np.testing.assert_allclose(kf.x[:, 0], [5 + 10 * t, 5 + 50 * t * t, 10.0, 100 * t, 0.0, 100.0], atol=1e-9)


@pytest.mark.parametrize("motion", ["constant_velocity", "constant_acceleration"])
def test_missing_measurements_grow_the_covariance(motion):
    track = Track(1, 2, "arm", motion, 500.0, (50.0, 50.0), 2.0, (40, 40, 60, 60), 0.0)
    for k in range(1, 10):
        track.predict_to(k / 25)
        track.update((50.0 + k, 50.0), 2.0, (40, 40, 60, 60))
        assert track.state == "observed"
    sigma = [track.uncertainty[0]]
    for k in range(10, 20):
        track.predict_to(k / 25)
        sigma.append(track.uncertainty[0])
        assert track.state == "predicted"
    assert all(b > a for a, b in itertools.pairwise(sigma))
    assert sigma[-1] > 2 * sigma[0]


@pytest.mark.parametrize("motion", ["constant_velocity", "constant_acceleration"])
def test_mahalanobis_uses_innovation_covariance(motion):
    track = Track(1, 1, "head", motion, 100.0, (0.0, 0.0), 3.0, (0, 0, 1, 1), 0.0)
    # fresh track: S = P_pos + R = (9 + 16) I
    assert track.mahalanobis2((5.0, 0.0), 4.0) == pytest.approx(25.0 / 25.0)
    assert track.mahalanobis2((3.0, 4.0), 4.0) == pytest.approx(1.0)
    assert track.mahalanobis2((0.0, 10.0), 0.0) == pytest.approx(100.0 / 9.0)
