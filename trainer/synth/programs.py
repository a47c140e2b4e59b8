"""Motion programs: synthetic movement with a known truth, for validating movement analysis.

A program builds the :class:`~trainer.synth.motion.Motion` a clip is animated with
(:func:`trainer.synth.video.clip_frames`), so rendering and ground truth work as for random movement. The
body is framed as random clips frame it (:func:`~trainer.synth.motion.frame_body` with ``upright=True`` and
``fill=``:data:`CLIP_FILL`). Programs are written as spec strings (``infant-stream synth video --motion``):

* ``random``: random GMA-like movement (:func:`~trainer.synth.motion.sample_motion`), the default.
* ``kick:FREQ_HZ[:inphase]``: both legs kick periodically at exactly ``FREQ_HZ``, alternating (left and
  right half a period apart) or, with ``inphase``, together. Arms and head are nearly still.
* ``still:LIMB:FREQ_HZ``: ``LIMB`` (``arm_l``, ``arm_r``, ``leg_l``, ``leg_r``: the infant's own side) is
  completely still while its partner of the same pair moves periodically at ``FREQ_HZ``.
* ``bursts:PERIOD_S:BURST_S:FREQ_HZ[:arms]``: the legs (or the arms) kick at ``FREQ_HZ`` (alternating) only
  during bursts of ``BURST_S`` seconds starting every ``PERIOD_S`` seconds (at ``t = 0, PERIOD_S, ...``) and
  rest completely in between; the kicking fades in and out over :data:`BURST_RAMP_S` seconds at each end.

Every program but ``random`` draws the same random numbers for a seed (framing, rest posture, the idle
motion of the other joints), so programs with one seed show the same infant at the same place; the torso
never drifts, so a still limb is still to the pixel. The programmed joints have no idle motion: their
oscillation is exactly the programmed one. Joint signals are the motion model's
``z(t) = z0 + sum_k amp_k sin(2 pi freq_k t + phase_k)`` (unitless, bounded into the joint's range by
``tanh``); time is seconds, frequencies hertz, phases radians, positions pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from typing import Final

import numpy as np
import numpy.typing as npt

from pipeline.errors import ConfigError
from trainer.synth.body import JOINTS, FloatArray, Pose
from trainer.synth.motion import Motion, frame_body, limb_rows, sample_motion

MotionBuilder = Callable[[np.random.Generator, int, int], Motion]
"""(rng, width px, height px) → the clip's motion."""

CLIP_FILL: Final[tuple[float, float]] = (0.6, 0.8)
"""Share of the image a typical pose fills in a clip (:func:`~trainer.synth.motion.frame_body`)."""

LIMBS: Final[dict[str, str]] = {
    "arm_l": "left_arm",
    "arm_r": "right_arm",
    "leg_l": "left_leg",
    "leg_r": "right_leg",
}
"""Limb name in specs (as the movement analysis names tracks) → its :data:`~trainer.synth.motion.LIMB_GROUPS` group."""

PARTNER: Final[dict[str, str]] = {"arm_l": "arm_r", "arm_r": "arm_l", "leg_l": "leg_r", "leg_r": "leg_l"}
"""Limb → the other limb of its pair."""

PAIRS: Final[dict[str, tuple[str, str]]] = {"legs": ("leg_l", "leg_r"), "arms": ("arm_l", "arm_r")}

KICK_GAINS: Final[tuple[float, float, float, float]] = (0.7, 1.5, 1.5, 0.8)
"""Oscillation amplitude (z units) of a programmed limb's (shoulder/hip, lift, elbow/knee, wrist/ankle):
large, so the movement spans most of each joint's range (a clear kick or wave)."""

IDLE_AMP: Final[tuple[float, float]] = (0.02, 0.05)
"""Amplitude range (z units) of the idle motion of the joints a program does not drive: nearly still."""

IDLE_FREQ_HZ: Final[tuple[float, float]] = (0.1, 0.4)
"""Frequency range (Hz) of the idle motion."""

REST_Z_SD: Final[float] = 0.5
"""Standard deviation of the rest posture ``z0`` of the joints a program does not drive."""

MAX_FREQ_HZ: Final[float] = 5.0
"""Highest programmed frequency (Hz) a spec may ask for; clips also need it below half their frame rate."""

BURST_RAMP_S: Final[float] = 0.25
"""Seconds a burst takes to fade in (and out); at most a quarter of the burst."""


def random_motion(rng: np.random.Generator, width: int, height: int) -> Motion:
    """Random GMA-like movement framed for a clip (what clips had before programs: the ``random`` spec)."""
    return sample_motion(rng, width, height, upright=True, fill=CLIP_FILL)


def _programmed(
    rng: np.random.Generator,
    width: int,
    height: int,
    *,
    freq_hz: float,
    moving: dict[str, float],
    still: tuple[str, ...] = (),
) -> Motion:
    """The motion of a program: limbs in ``moving`` (limb → phase, radians) oscillate at ``freq_hz`` Hz
    with :data:`KICK_GAINS` around the middle of their ranges, limbs in ``still`` hold their rest posture,
    every other joint idles (:data:`IDLE_AMP`); no torso drift. Draws the same numbers whatever the
    limbs."""
    cx, cy, orientation, scale = frame_body(rng, width, height, upright=True, fill=CLIP_FILL)
    n = len(JOINTS)
    z0 = rng.normal(0.0, REST_Z_SD, size=n)
    idle_amp = rng.uniform(*IDLE_AMP, size=n) * rng.choice([-1.0, 1.0], size=n)
    idle_freq = rng.uniform(*IDLE_FREQ_HZ, size=n)
    idle_phase = rng.uniform(0.0, 2.0 * math.pi, size=n)
    amps = np.stack([np.zeros(n), idle_amp], axis=1)
    freqs = np.stack([np.zeros(n), idle_freq], axis=1)
    phases = np.stack([np.zeros(n), idle_phase], axis=1)
    for limb, phase in moving.items():
        rows = limb_rows(LIMBS[limb])
        z0[rows] = 0.0
        amps[rows, 0] = KICK_GAINS
        amps[rows, 1] = 0.0  # no idle motion: the oscillation is exactly the programmed one
        freqs[rows, 0] = freq_hz
        phases[rows, 0] = phase
    for limb in still:
        amps[limb_rows(LIMBS[limb])] = 0.0
    return Motion(
        base=Pose(center_x=cx, center_y=cy, orientation=orientation, scale=scale),
        z0=z0,
        amps=amps,
        freqs=freqs,
        phases=phases,
        drift_px=0.0,
        drift_rad=0.0,
        drift_freq=np.zeros(3),
        drift_phase=np.zeros(3),
    )


def _pair_phases(pair: tuple[str, str], alternating: bool) -> dict[str, float]:
    """Phases (radians) of a pair of limbs kicking together: the second half a period late if
    ``alternating``."""
    return {pair[0]: 0.0, pair[1]: math.pi if alternating else 0.0}


def kick(
    rng: np.random.Generator, width: int, height: int, *, freq_hz: float, alternating: bool = True
) -> Motion:
    """Both legs kick at exactly ``freq_hz`` Hz (hip, leg lift, knee and ankle together), alternating
    (the right leg half a period after the left) or in phase; arms and head nearly still, no drift."""
    return _programmed(rng, width, height, freq_hz=freq_hz, moving=_pair_phases(PAIRS["legs"], alternating))


def one_limb_still(
    rng: np.random.Generator, width: int, height: int, *, moving: str = "leg_l", freq_hz: float = 0.8
) -> Motion:
    """Limb ``moving`` (a :data:`LIMBS` name) oscillates at ``freq_hz`` Hz; its partner (:data:`PARTNER`)
    holds completely still (amplitude 0); every other joint idles."""
    return _programmed(rng, width, height, freq_hz=freq_hz, moving={moving: 0.0}, still=(PARTNER[moving],))


@dataclass(frozen=True)
class BurstMotion(Motion):
    """A :class:`Motion` whose oscillations on the ``gated`` joints ((len(JOINTS),) bool) are multiplied by
    :meth:`gate`: bursts of ``burst_s`` seconds starting every ``period_s`` seconds (``t = 0, period_s,
    ...``), faded in and out over ``ramp_s`` seconds, exact rest in between. The gate is C2-smooth, so the
    pose is smooth in ``t``."""

    gated: npt.NDArray[np.bool_]
    period_s: float
    burst_s: float
    ramp_s: float

    def gate(self, t: float) -> float:
        """Burst envelope at ``t`` seconds: 1 inside a burst (past its fade-in), 0 at rest, smooth ramps."""
        u = t % self.period_s
        if u >= self.burst_s:
            return 0.0
        return _smoothstep(u / self.ramp_s) * _smoothstep((self.burst_s - u) / self.ramp_s)

    def z_at(self, t: float) -> FloatArray:
        """``z(t)`` with the gated joints' oscillations scaled by :meth:`gate`."""
        wave = np.sum(self.amps * np.sin(2.0 * math.pi * self.freqs * t + self.phases), axis=1)
        return self.z0 + np.where(self.gated, self.gate(t), 1.0) * wave


def _smoothstep(x: float) -> float:
    """0 below 0, 1 above 1, ``6x^5 - 15x^4 + 10x^3`` between (C2: value, slope and curvature continuous)."""
    x = min(max(x, 0.0), 1.0)
    return x * x * x * (x * (6.0 * x - 15.0) + 10.0)


def bursts(
    rng: np.random.Generator,
    width: int,
    height: int,
    *,
    period_s: float,
    burst_s: float,
    freq_hz: float,
    pair: str = "legs",
) -> BurstMotion:
    """The limbs of ``pair`` (``legs`` or ``arms``) kick at ``freq_hz`` Hz, alternating, during bursts of
    ``burst_s`` seconds every ``period_s`` seconds and rest completely in between (:class:`BurstMotion`);
    every other joint idles."""
    motion = _programmed(rng, width, height, freq_hz=freq_hz, moving=_pair_phases(PAIRS[pair], True))
    gated = np.zeros(len(JOINTS), bool)
    for limb in PAIRS[pair]:
        gated[limb_rows(LIMBS[limb])] = True
    return BurstMotion(
        **{f.name: getattr(motion, f.name) for f in fields(Motion)},
        gated=gated,
        period_s=period_s,
        burst_s=burst_s,
        ramp_s=min(BURST_RAMP_S, burst_s / 4.0),
    )


# ------------------------------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Program:
    """A parsed motion program: call it like a :data:`MotionBuilder`.

    ``spec``: the canonical spec (numbers as ``%g``, defaults left out); ``freq_hz``: the programmed
    frequency in Hz (None for ``random``); ``build``: the builder.
    """

    spec: str
    freq_hz: float | None
    build: MotionBuilder

    @property
    def name(self) -> str:
        """The program's name: ``random``, ``kick``, ``still`` or ``bursts``."""
        return self.spec.split(":", 1)[0]

    def __call__(self, rng: np.random.Generator, width: int, height: int) -> Motion:
        """The motion for a (height, width) px clip, drawn from ``rng``."""
        return self.build(rng, width, height)


@dataclass(frozen=True)
class ProgramKind:
    """One entry of :data:`PROGRAMS`: the spec ``syntax``, what it does (``summary``) and ``parse``,
    turning the spec's fields after the name into a :class:`Program` (ValueError saying what is wrong)."""

    syntax: str
    summary: str
    parse: Callable[[list[str]], Program]


def _number(text: str, what: str, lo: float, hi: float, *, hi_open: bool = False) -> float:
    """``text`` as a float in (lo, hi] (or (lo, hi) with ``hi_open``); ValueError naming ``what``."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} must be a number, got {text!r}") from None
    if not (lo < value < hi if hi_open else lo < value <= hi):
        raise ValueError(f"{what} must be in ({lo:g}, {hi:g}{')' if hi_open else ']'}, got {text}")
    return value


def _fields(args: list[str], required: int, optional: int = 0) -> None:
    if not required <= len(args) <= required + optional:
        want = f"{required}" if not optional else f"{required} to {required + optional}"
        raise ValueError(f"expected {want} field(s) after the name, got {len(args)}")


def _frequency(text: str) -> float:
    return _number(text, "FREQ_HZ", 0.0, MAX_FREQ_HZ)


def _parse_random(args: list[str]) -> Program:
    _fields(args, 0)
    return Program("random", None, random_motion)


def _parse_kick(args: list[str]) -> Program:
    _fields(args, 1, 1)
    freq = _frequency(args[0])
    mode = args[1] if len(args) > 1 else "alternating"
    if mode not in ("alternating", "inphase"):
        raise ValueError(f"the kick mode must be alternating or inphase, got {mode!r}")
    alternating = mode == "alternating"
    spec = f"kick:{freq:g}" + ("" if alternating else ":inphase")
    return Program(spec, freq, partial(kick, freq_hz=freq, alternating=alternating))


def _parse_still(args: list[str]) -> Program:
    _fields(args, 2)
    limb = args[0]
    if limb not in LIMBS:
        raise ValueError(f"LIMB must be one of {', '.join(LIMBS)}, got {limb!r}")
    freq = _frequency(args[1])
    return Program(
        f"still:{limb}:{freq:g}", freq, partial(one_limb_still, moving=PARTNER[limb], freq_hz=freq)
    )


def _parse_bursts(args: list[str]) -> Program:
    _fields(args, 3, 1)
    period = _number(args[0], "PERIOD_S", 0.0, math.inf, hi_open=True)
    burst = _number(args[1], "BURST_S", 0.0, period, hi_open=True)
    freq = _frequency(args[2])
    pair = args[3] if len(args) > 3 else "legs"
    if pair not in PAIRS:
        raise ValueError(f"the limb pair must be legs or arms, got {pair!r}")
    spec = f"bursts:{period:g}:{burst:g}:{freq:g}" + ("" if pair == "legs" else f":{pair}")
    return Program(spec, freq, partial(bursts, period_s=period, burst_s=burst, freq_hz=freq, pair=pair))


PROGRAMS: Final[dict[str, ProgramKind]] = {
    "random": ProgramKind("random", "random GMA-like movement (default)", _parse_random),
    "kick": ProgramKind(
        "kick:FREQ_HZ[:inphase]", "both legs kick at FREQ_HZ, alternating (or in phase)", _parse_kick
    ),
    "still": ProgramKind(
        "still:LIMB:FREQ_HZ", "LIMB (arm_l, arm_r, leg_l, leg_r) still, its partner moves", _parse_still
    ),
    "bursts": ProgramKind(
        "bursts:PERIOD_S:BURST_S:FREQ_HZ[:arms]",
        "the legs (or arms) kick in BURST_S bursts every PERIOD_S, rest between",
        _parse_bursts,
    ),
}
"""Program name (the spec up to the first ``:``) → its syntax and parser."""


def program_help() -> str:
    """One line listing every spec's syntax and meaning (for ``--help``)."""
    return "; ".join(f"{k.syntax}: {k.summary}" for k in PROGRAMS.values())


def parse_program(spec: str) -> Program:
    """The :class:`Program` of ``spec`` (module doc), e.g. ``kick:0.8``, ``still:leg_r:0.8``,
    ``bursts:6:2:1.0``.

    Raises:
        ConfigError: unknown program or bad fields (one line naming the spec and its syntax).
    """
    name, *args = spec.strip().split(":")
    kind = PROGRAMS.get(name)
    if kind is None:
        syntaxes = ", ".join(k.syntax for k in PROGRAMS.values())
        raise ConfigError(f"motion program {spec!r}: unknown program {name!r} (one of {syntaxes})")
    try:
        return kind.parse(args)
    except ValueError as exc:
        raise ConfigError(f"motion program {spec!r}: {exc} (syntax {kind.syntax})") from None


def check_sampling(program: Program, fps: float) -> None:
    """Raise :class:`ConfigError` when a clip at ``fps`` frames/s cannot show ``program``'s frequency
    (it must be below half the frame rate, the Nyquist limit)."""
    if program.freq_hz is not None and not program.freq_hz < fps / 2.0:
        raise ConfigError(
            f"motion program {program.spec!r}: FREQ_HZ must be below half the frame rate "
            f"({fps / 2.0:g} Hz at --fps {fps:g})"
        )
