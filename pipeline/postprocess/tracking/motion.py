"""State models of a part centroid as pure functions returning the matrices of a filterpy ``KalmanFilter``.

Two models, both in original-frame pixels (x right, y down) and seconds, state ordered by derivative
(all positions, then all velocities, then all accelerations):

* ``constant_velocity`` (CV): state ``[x, y, vx, vy]`` (px, px, px/s, px/s). The target keeps its
  velocity; a white-noise acceleration of std ``process_noise`` (px/s²) perturbs it.
* ``constant_acceleration`` (CA): state ``[x, y, vx, vy, ax, ay]`` (..., px/s², px/s²). The target
  keeps its acceleration; a white-noise jerk of std ``process_noise`` (px/s³) perturbs it.

The measurement is the region's centroid ``z = [x, y]`` (px). Its noise depends on how trustworthy
the region is (:func:`measurement_std`).

A frame without a measurement for a track is a *predict only* step: ``x ← F x``, ``P ← F P Fᵀ + Q``.
The estimate moves along the modelled motion and its covariance grows with every such step (by ``Q``
and by the velocity/acceleration uncertainty carried through ``F``), so the gate around a coasting
track widens until it is re-observed or ends.

Coasting (a track with no region, :func:`coast`) is not left to ``F`` alone: extrapolating the last
velocity at full speed for up to ``max_coast_s`` sends a part that vanished while moving fast (a kick,
a bad association) hundreds of pixels away, out of the frame. A coasting track instead follows the
*damped* motion of :func:`coast` from its last observed state: its speed is capped, its velocity
decays exponentially, its acceleration (constant_acceleration) is taken as 0. The covariance ``P``
keeps growing as above (the gate stays at least as wide as the undamped model's).
"""

from __future__ import annotations

import functools
import math
from typing import Final, get_args

import numpy as np
from filterpy.common import Q_discrete_white_noise
from filterpy.kalman import KalmanFilter

from pipeline.config import Motion

MOTIONS: Final[tuple[Motion, ...]] = get_args(Motion)

# Initial uncertainty of what one centroid cannot tell: a new track starts at rest, but an infant's
# limb can already move at several hundred px/s, so the velocity (and acceleration) prior is wide
# enough that the first few measurements decide it.
INITIAL_VELOCITY_STD: Final = 500.0  # px/s
INITIAL_ACCELERATION_STD: Final = 5000.0  # px/s² (constant_acceleration only)

# Measurement noise: the score never counts as less than MIN_SCORE, and no region is trusted more
# than MIN_STD_FRACTION × measurement_noise_px (a very large region is not a perfect centroid).
MIN_SCORE: Final = 0.05
MIN_STD_FRACTION: Final = 0.25


def derivatives(motion: Motion) -> int:
    """How many time derivatives of the position the state holds: 2 (CV: x, v) or 3 (CA: x, v, a)."""
    if motion == "constant_velocity":
        return 2
    if motion == "constant_acceleration":
        return 3
    raise ValueError(f"unknown motion model {motion!r} (known: {', '.join(MOTIONS)})")


def state_dim(motion: Motion) -> int:
    """Length of the state vector: 4 (CV) or 6 (CA)."""
    return 2 * derivatives(motion)


@functools.lru_cache(maxsize=256)
def transition(motion: Motion, dt: float) -> np.ndarray:
    """State transition ``F`` over ``dt`` seconds: (n, n) float64, n = :func:`state_dim`.

    Per axis, the Taylor expansion of the motion: CV ``[[1, dt], [0, 1]]``, CA
    ``[[1, dt, dt²/2], [0, 1, dt], [0, 0, 1]]``; x and y do not interact. Entries are unitless on
    the diagonal and seconds (or s²/2) above it, mapping velocity px/s → px and acceleration
    px/s² → px or px/s. Cached per (motion, dt): every track of a frame steps by the same ``dt``;
    the array is read-only.
    """
    k = derivatives(motion)
    per_axis = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            per_axis[i, j] = dt ** (j - i) / math.factorial(j - i)
    return _read_only(np.kron(per_axis, np.eye(2)))


@functools.lru_cache(maxsize=256)
def process_noise(motion: Motion, dt: float, std: float) -> np.ndarray:
    """Process noise covariance ``Q`` over ``dt`` seconds: (n, n) float64, symmetric, PSD, rank 2.

    The piecewise-constant white-noise model (filterpy ``Q_discrete_white_noise``): the highest
    derivative not in the state (acceleration for CV, jerk for CA) is an independent random
    constant of std ``std`` over each step, per axis. With ``Γ`` = the effect of a unit such
    constant on the state over ``dt`` (CV ``[dt²/2, dt]``, CA ``[dt²/2, dt, 1]``),
    ``Q_axis = Γ Γᵀ std²``, e.g. CV ``[[dt⁴/4, dt³/2], [dt³/2, dt²]] std²`` (px², px²/s, px²/s²).
    Note the CA variant is filterpy's: the jerk-driven model in which the acceleration itself jumps
    by the noise each step. x and y get the same, independent noise. Cached like :func:`transition`.
    """
    q = Q_discrete_white_noise(
        dim=derivatives(motion), dt=dt, var=std * std, block_size=2, order_by_dim=False
    )
    return _read_only(np.asarray(q, dtype=np.float64))


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def measurement_matrix(motion: Motion) -> np.ndarray:
    """``H``: (2, n) float64, picks the position ``[x, y]`` (px) out of the state; unitless 0/1."""
    h = np.zeros((2, state_dim(motion)))
    h[0, 0] = h[1, 1] = 1.0
    return h


def measurement_std(noise_px: float, reference_area_px: float, area_px: float, score: float) -> float:
    """Standard deviation (px) of one region's centroid, per axis.

    ``noise_px · sqrt(reference_area_px / area_px) / max(score, MIN_SCORE)``: a region of the
    reference area and score 1 has std ``noise_px``; smaller regions (fewer pixels average out the
    boundary noise) and less confident ones get more. ``area_px`` counts as at least 1 px; the
    result is never below ``MIN_STD_FRACTION · noise_px``.
    """
    std = noise_px * math.sqrt(reference_area_px / max(float(area_px), 1.0)) / max(score, MIN_SCORE)
    return max(std, MIN_STD_FRACTION * noise_px)


def measurement_noise(std_px: float) -> np.ndarray:
    """``R``: (2, 2) float64 covariance of a centroid measurement (px²), ``std_px²·I``."""
    return np.eye(2) * (std_px * std_px)


def new_filter(motion: Motion, position: tuple[float, float], position_std_px: float) -> KalmanFilter:
    """A filterpy ``KalmanFilter`` for a track first seen at ``position`` (px).

    ``x`` (n, 1): the position, velocity 0 (and acceleration 0). ``P`` (n, n): diagonal; the
    position variance is that of the first measurement (``position_std_px²``), the velocity variance
    ``INITIAL_VELOCITY_STD²`` ((px/s)²) and the acceleration variance ``INITIAL_ACCELERATION_STD²``
    ((px/s²)²). ``H`` and ``R`` as :func:`measurement_matrix` / :func:`measurement_noise`; ``F`` and
    ``Q`` are those of a zero step here: they depend on ``dt`` and are passed with every predict.
    """
    n = state_dim(motion)
    kf = KalmanFilter(dim_x=n, dim_z=2)
    kf.x = np.zeros((n, 1))
    kf.x[0, 0], kf.x[1, 0] = position
    variances = [position_std_px**2] * 2 + [INITIAL_VELOCITY_STD**2] * 2
    if n == 6:
        variances += [INITIAL_ACCELERATION_STD**2] * 2
    kf.P = np.diag(variances)
    kf.F = transition(motion, 0.0)
    kf.Q = np.zeros((n, n))
    kf.H = measurement_matrix(motion)
    kf.R = measurement_noise(position_std_px)
    return kf


def coast(
    position: tuple[float, float],
    velocity: tuple[float, float],
    tau_s: float,
    damping_per_s: float,
    max_speed_px_s: float,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where a track coasting for ``tau_s`` seconds since its last region is, and how fast it moves.

    ``position`` (px) and ``velocity`` (px/s) are the filter's state right after the last region.
    The velocity is first capped at ``max_speed_px_s`` (same direction): ``v₀``. Then, with
    ``λ = damping_per_s`` (1/s), the velocity decays as ``v(τ) = v₀·e^(−λτ)`` and the position is its
    integral ``p(τ) = p₀ + v₀·(1 − e^(−λτ))/λ`` (``p₀ + v₀·τ`` for λ = 0): the track slows down and
    travels at most ``|v₀|/λ`` however long it coasts. Per axis this is the exact discretisation of
    ``dv/dt = −λ v``, i.e. the transition ``[[1, (1 − e^(−λτ))/λ], [0, e^(−λτ)]]`` from the last
    observed state. Returns ((x, y) px, (vx, vy) px/s).
    """
    vx, vy = velocity
    speed = math.hypot(vx, vy)
    if speed > max_speed_px_s:
        vx, vy = vx * max_speed_px_s / speed, vy * max_speed_px_s / speed
    tau = max(tau_s, 0.0)
    decay = math.exp(-damping_per_s * tau)
    travel = tau if damping_per_s == 0.0 else -math.expm1(-damping_per_s * tau) / damping_per_s
    return (position[0] + vx * travel, position[1] + vy * travel), (vx * decay, vy * decay)
