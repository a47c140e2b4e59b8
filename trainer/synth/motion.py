"""Animate and frame the infant: random poses, smooth GMA-like movement, pose interpolation.

Movement follows General Movements Assessment recordings: every joint is a bounded sum of a few low-frequency
sinusoids (kicks and waves at ~0.15-1 Hz, slower writhing components, small head turns) with random phases;
joints of one limb share oscillators so hip and knee flex together in a kick. Angles are radians (see
:mod:`trainer.synth.body` for conventions), positions pixels, time seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Final

import numpy as np

from trainer.synth.body import JOINT_RANGES, JOINTS, FloatArray, Pose, rotation

# Local extent (cm) used to frame the body in an image: typical poses fit in this box.
_FRAME_BOX: Final[tuple[float, float, float, float]] = (-19.0, -23.0, 19.0, 29.5)


@dataclass(frozen=True)
class Motion:
    """Smooth, bounded joint trajectories: each joint is ``lo + (hi - lo) * (0.5 + 0.5 tanh(z(t)))`` with
    ``z(t) = z0 + sum_k amp_k sin(2 pi freq_k t + phase_k)``. Arrays are (len(JOINTS), K); time in seconds.
    The torso drifts slowly by ``drift_px`` pixels and ``drift_rad`` radians.
    """

    base: Pose
    z0: FloatArray
    amps: FloatArray
    freqs: FloatArray
    phases: FloatArray
    drift_px: float
    drift_rad: float
    drift_freq: FloatArray
    drift_phase: FloatArray

    def z_at(self, t: float) -> FloatArray:
        """The unbounded joint signal ``z(t)`` ((len(JOINTS),), :data:`JOINTS` order) at ``t`` seconds;
        subclasses reshape it (e.g. gate the oscillations in time) and :meth:`pose_at` bounds it."""
        return self.z0 + np.sum(self.amps * np.sin(2.0 * math.pi * self.freqs * t + self.phases), axis=1)

    def pose_at(self, t: float) -> Pose:
        """The pose at time ``t`` seconds (deterministic, smooth in ``t``)."""
        z = self.z_at(t)
        lo, hi = _range_arrays()
        joints = lo + (hi - lo) * (0.5 + 0.5 * np.tanh(z))
        w = np.sin(2.0 * math.pi * self.drift_freq * t + self.drift_phase)
        moved = replace(
            self.base,
            center_x=self.base.center_x + self.drift_px * float(w[0]),
            center_y=self.base.center_y + self.drift_px * float(w[1]),
            orientation=self.base.orientation + self.drift_rad * float(w[2]),
        )
        return moved.with_joints(joints)


LIMB_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "head": ("head_tilt", "head_turn"),
    "left_arm": ("left_shoulder", "left_arm_lift", "left_elbow", "left_wrist"),
    "right_arm": ("right_shoulder", "right_arm_lift", "right_elbow", "right_wrist"),
    "left_leg": ("left_hip", "left_leg_lift", "left_knee", "left_ankle"),
    "right_leg": ("right_hip", "right_leg_lift", "right_knee", "right_ankle"),
}
"""Joint groups that move together (one limb, or the head) → their joints in :data:`JOINTS` order."""


def limb_rows(group: str) -> list[int]:
    """Rows (indices into :data:`JOINTS`) of the joints of ``group`` (a :data:`LIMB_GROUPS` key), in order."""
    return [i for i, name in enumerate(JOINTS) if name in LIMB_GROUPS[group]]


def _range_arrays() -> tuple[FloatArray, FloatArray]:
    lo = np.array([r[0] for r in JOINT_RANGES.values()], dtype=np.float64)
    hi = np.array([r[1] for r in JOINT_RANGES.values()], dtype=np.float64)
    return lo, hi


def interpolate_pose(a: Pose, b: Pose, w: float) -> Pose:
    """Linear blend of every field: ``w = 0`` gives ``a``, ``w = 1`` gives ``b``."""
    values = {f.name: (1.0 - w) * getattr(a, f.name) + w * getattr(b, f.name) for f in fields(Pose)}
    return Pose(**values)


def frame_body(
    rng: np.random.Generator,
    width: int,
    height: int,
    *,
    upright: bool = False,
    fill: tuple[float, float] = (0.65, 1.05),
    orientation: float | None = None,
) -> tuple[float, float, float, float]:
    """Choose (center_x, center_y, orientation, scale) so a typical pose fills ``fill`` of the image.

    ``upright``: head at the top (orientation within ±0.15 rad); otherwise mostly head-up, sometimes sideways
    (more often in landscape images) or upside down. A given ``orientation`` (radians) is used as is.
    ``fill`` above 1 frames the body bigger than the image: its ends may leave the frame (the torso centre
    stays inside for ``fill`` up to 1.5).
    """
    if orientation is None and upright:
        orientation = float(rng.uniform(-0.15, 0.15))
    elif orientation is None:
        p_side = 0.35 if width > height else 0.1
        base = rng.choice(
            np.array([0.0, math.pi / 2, -math.pi / 2, math.pi]),
            p=[0.85 - p_side, p_side / 2, p_side / 2, 0.15],
        )
        orientation = float(base + rng.normal(0.0, 0.25))
    x0, y0, x1, y1 = _FRAME_BOX
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    rot = rotation(orientation)
    pts = corners @ rot.T
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    scale_fit = min(width / (hi[0] - lo[0]), height / (hi[1] - lo[1]))
    scale = scale_fit * float(rng.uniform(*fill))
    cx_lo, cx_hi = -lo[0] * scale, width - hi[0] * scale
    cy_lo, cy_hi = -lo[1] * scale, height - hi[1] * scale
    cx = float(rng.uniform(min(cx_lo, cx_hi), max(cx_lo, cx_hi)))
    cy = float(rng.uniform(min(cy_lo, cy_hi), max(cy_lo, cy_hi)))
    return cx, cy, orientation, scale


def sample_pose(rng: np.random.Generator, width: int, height: int, *, upright: bool = False) -> Pose:
    """A random static pose framed in a (height, width) image; joints spread over their ranges."""
    cx, cy, orientation, scale = frame_body(rng, width, height, upright=upright)
    lo, hi = _range_arrays()
    joints = lo + (hi - lo) * (0.5 + 0.5 * np.tanh(rng.normal(0.0, 0.9, size=lo.shape)))
    return Pose(center_x=cx, center_y=cy, orientation=orientation, scale=scale).with_joints(joints)


def sample_motion(
    rng: np.random.Generator,
    width: int,
    height: int,
    *,
    upright: bool = False,
    fill: tuple[float, float] = (0.65, 1.05),
) -> Motion:
    """Random GMA-like movement: per limb two shared low-frequency oscillators (kicks, waves) coupled into
    its joints with random gains, plus one slow independent component per joint; small head turns."""
    cx, cy, orientation, scale = frame_body(rng, width, height, upright=upright, fill=fill)
    n = len(JOINTS)
    k = 3
    amps = np.zeros((n, k))
    freqs = np.zeros((n, k))
    phases = np.zeros((n, k))
    for group in LIMB_GROUPS:
        rows = limb_rows(group)
        activity = 0.35 if group == "head" else float(rng.uniform(0.5, 1.3))
        shared_f = rng.uniform(0.15, 1.0, size=2) * (0.5 if group == "head" else 1.0)
        shared_p = rng.uniform(0.0, 2.0 * math.pi, size=2)
        for r in rows:
            amps[r, :2] = activity * rng.uniform(0.3, 1.0, size=2) * rng.choice([-1.0, 1.0], size=2)
            freqs[r, :2] = shared_f
            phases[r, :2] = shared_p
            amps[r, 2] = rng.normal(0.0, 0.3)
            freqs[r, 2] = rng.uniform(0.05, 0.4)
            phases[r, 2] = rng.uniform(0.0, 2.0 * math.pi)
    return Motion(
        base=Pose(center_x=cx, center_y=cy, orientation=orientation, scale=scale),
        z0=rng.normal(0.0, 0.5, size=n),
        amps=amps,
        freqs=freqs,
        phases=phases,
        drift_px=float(scale * rng.uniform(0.0, 0.8)),
        drift_rad=float(rng.uniform(0.0, 0.05)),
        drift_freq=rng.uniform(0.03, 0.12, size=3),
        drift_phase=rng.uniform(0.0, 2.0 * math.pi, size=3),
    )
