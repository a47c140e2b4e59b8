"""Movement features of the four limbs, per recording or per window: every feature defined once, in
:data:`FEATURES` (name, unit, plain-words definition: the report, ``docs/movement.md`` and the CSV headers
all read it).

A limb is followed at its end point — the wrist or the ankle when the recording has joints, else the arm's
or leg's centroid — in the trunk frame (:mod:`pipeline.analysis.cleaning`: trunk lengths, TL). Joint angles
(elbow, knee) need the three joints of the limb. Signals are pieces of uniform samples (``fs`` per second)
with NaN where the point is missing; statistics use the finite samples; derivatives are central
differences inside NaN-free stretches; spectra use the NaN-free stretches of at least
:data:`MIN_SPECTRUM_S` seconds (Welch, 10 s windows, their power averaged weighted by length).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from pipeline.analysis.cleaning import runs

LIMBS: Final = ("arm_l", "arm_r", "leg_l", "leg_r")
"""The four limbs; ``_l``/``_r`` are the infant's own left and right."""
LIMB_JOINTS: Final[dict[str, tuple[str, str, str]]] = {
    "arm_l": ("wrist_l", "elbow_l", "shoulder_l"),
    "arm_r": ("wrist_r", "elbow_r", "shoulder_r"),
    "leg_l": ("ankle_l", "knee_l", "hip_l"),
    "leg_r": ("ankle_r", "knee_r", "hip_r"),
}
"""Limb → (end point, middle joint, root joint) as joint keys."""
PAIRS: Final = (("arm", "arm_l", "arm_r"), ("leg", "leg_l", "leg_r"))
MIN_SPECTRUM_S: Final = 8.0
"""Shortest NaN-free stretch the spectral features use, seconds."""
BAND_HZ: Final = (0.1, 5.0)
"""Frequencies searched for the dominant movement rhythm, Hz."""
BURST_SPEED: Final = 0.5
"""A burst: the end point faster than this, trunk lengths per second ..."""
BURST_MIN_S: Final = 0.2
"""... for at least this long, seconds (bursts closer than this are one)."""
SYMMETRY_LAG_S: Final = 2.0
"""Largest left–right lag searched, seconds."""


@dataclass(frozen=True)
class Feature:
    """One feature: its CSV name suffix, unit and definition in plain words."""

    name: str
    unit: str
    definition: str
    needs: str = "end"
    """What the feature needs: ``end`` (the limb's end point), ``angle`` (three joints), ``spectrum``
    (a NaN-free stretch of :data:`MIN_SPECTRUM_S`), ``pair`` (both limbs of a pair)."""


FEATURES: Final[tuple[Feature, ...]] = (
    Feature(
        "speed_median",
        "TL/s",
        "Typical speed of the limb's end point (wrist or ankle): the median over time.",
    ),
    Feature(
        "speed_iqr", "TL/s", "Spread of that speed: the interquartile range (75th minus 25th percentile)."
    ),
    Feature(
        "accel_median",
        "TL/s²",
        "Typical acceleration of the end point (how quickly its velocity changes): median.",
    ),
    Feature("accel_iqr", "TL/s²", "Interquartile range of the acceleration."),
    Feature(
        "jerk_median",
        "TL/s³",
        "Typical jerk (rate of change of acceleration; low = smooth, fluent movement): median.",
    ),
    Feature("jerk_iqr", "TL/s³", "Interquartile range of the jerk."),
    Feature(
        "motion_per_min",
        "TL/min",
        "Quantity of motion: the distance the end point travelled, per minute of data.",
    ),
    Feature(
        "angle_range",
        "°",
        "Range of the elbow (arms) or knee (legs) angle: 95th minus 5th percentile; 180° = straight.",
        "angle",
    ),
    Feature("angle_sd", "°", "Variability of that angle: its standard deviation.", "angle"),
    Feature(
        "entropy",
        "0–1",
        "Spectral entropy of the end point's speed: near 0 = one steady rhythm, near 1 = irregular, varied movement.",
        "spectrum",
    ),
    Feature(
        "dominant_hz",
        "Hz",
        "The strongest rhythm of the end point's movement between 0.1 and 5 Hz (e.g. the kicking rate).",
        "spectrum",
    ),
    Feature(
        "periodicity",
        "0–1",
        "How repetitive the movement is: the autocorrelation of the position one dominant period later (1 = perfectly periodic).",
        "spectrum",
    ),
    Feature(
        "bursts_per_min",
        "1/min",
        f"Movement bursts per minute: stretches of at least {BURST_MIN_S:g} s with the end point faster than {BURST_SPEED:g} TL/s.",
    ),
    Feature("burst_mean_s", "s", "Mean duration of those bursts."),
)
"""Per-limb features: the CSV column is ``<limb>_<name>`` (``leg_l_speed_median``)."""
PAIR_FEATURES: Final[tuple[Feature, ...]] = (
    Feature(
        "xcorr",
        "−1–1",
        f"Left–right coupling: the peak cross-correlation of the left and right end points' speeds within ±{SYMMETRY_LAG_S:g} s (1 = they speed up and slow down together).",
        "pair",
    ),
    Feature("lag_s", "s", "The lag of that peak: positive when the left limb follows the right.", "pair"),
    Feature(
        "asymmetry",
        "−1–1",
        "Asymmetry index (left − right) / (left + right) of the quantity of motion: 0 = equal, +1 = only the left moves, −1 = only the right.",
        "pair",
    ),
)
"""Per-pair features: the CSV column is ``<pair>_<name>`` (``leg_asymmetry``)."""
UNITS: Final = {
    "TL": "trunk length: the distance from the hips' midpoint to the shoulders' midpoint (without joints: "
    "torso to head centroid), the recording's median; positions and speeds in TL compare across infants "
    "and cameras",
}


@dataclass(frozen=True)
class Piece:
    """A uniform stretch of signals: ``fs`` samples per second; key → (N, 2) trunk-frame points (TL), and
    key → (N,) bool where a point was interpolated across a gap (``filled``; absent = none were)."""

    fs: float
    points: dict[str, np.ndarray]
    filled: dict[str, np.ndarray] = field(default_factory=dict)

    def measured(self, key: str) -> np.ndarray:
        """(N,) True where ``key``'s point was observed (not interpolated)."""
        filled = self.filled.get(key)
        return np.ones(self.samples, bool) if filled is None else ~filled

    @property
    def samples(self) -> int:
        return len(next(iter(self.points.values()))) if self.points else 0


def derivative(xy: np.ndarray, fs: float) -> np.ndarray:
    """(N, 2) → (N, 2) time derivative (units per second): central differences inside NaN-free stretches
    of at least 3 samples; NaN elsewhere."""
    out = np.full_like(xy, np.nan)
    for start, stop in runs(np.isfinite(xy).all(axis=1)):
        if stop - start >= 3:
            out[start:stop] = np.gradient(xy[start:stop], 1.0 / fs, axis=0)
    return out


def magnitude(v: np.ndarray) -> np.ndarray:
    """(N, 2) → (N,) Euclidean length."""
    return np.sqrt(np.sum(v * v, axis=1))


def angle_deg(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(N,) angle at ``b`` between ``b→a`` and ``b→c`` (each (N, 2)), degrees 0..180 (180 = straight)."""
    u, w = a - b, c - b
    cos = np.sum(u * w, axis=1) / (magnitude(u) * magnitude(w))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def median_iqr(values: np.ndarray) -> tuple[float, float]:
    """Median and interquartile range of the finite values (NaN, NaN when none)."""
    v = values[np.isfinite(values)]
    if not len(v):
        return math.nan, math.nan
    q25, q50, q75 = np.percentile(v, [25, 50, 75])
    return float(q50), float(q75 - q25)


def stretches(pieces: Sequence[Piece], key: str, min_s: float) -> list[tuple[np.ndarray, float]]:
    """The NaN-free stretches of ``key``'s points at least ``min_s`` long: ((N, 2), fs) each."""
    out = []
    for piece in pieces:
        xy = piece.points.get(key)
        if xy is None:
            continue
        for start, stop in runs(np.isfinite(xy).all(axis=1)):
            if (stop - start) / piece.fs >= min_s:
                out.append((xy[start:stop], piece.fs))
    return out


def spectrum(
    pieces: Sequence[Piece], key: str, of_speed: bool, pad: int = 1
) -> tuple[np.ndarray, np.ndarray] | None:
    """(frequencies Hz, power) of ``key``'s position along its main axis of movement (or of its speed),
    Welch over the stretches of :func:`stretches` (10 s windows, 90 % overlap, the power averaged
    weighted by stretch length; ``pad`` × zero padding for a finer frequency grid); None without a
    stretch of :data:`MIN_SPECTRUM_S`."""
    from scipy.signal import welch

    parts = stretches(pieces, key, MIN_SPECTRUM_S)
    if not parts:
        return None
    fs = parts[0][1]
    total: np.ndarray | None = None
    weight = 0.0
    freqs = np.array([])
    nper = round(min(10.0, max(len(xy) for xy, _ in parts) / fs) * fs)
    for xy, f in parts:
        if abs(f - fs) > 1e-6 * fs or len(xy) < 8:
            continue
        if of_speed:
            signal = magnitude(np.gradient(xy, 1.0 / f, axis=0))
        else:
            centred = xy - xy.mean(axis=0)
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            signal = centred @ vt[0]
        n = min(nper, len(signal))
        freqs, power = welch(signal, fs=f, nperseg=n, noverlap=int(n * 0.9), nfft=pad * n, detrend="linear")
        if total is None or len(power) != len(total):
            total, weight = power * len(signal), float(len(signal))
        else:
            total, weight = total + power * len(signal), weight + len(signal)
    if total is None:
        return None
    return freqs, total / weight


def dominant(freqs: np.ndarray, power: np.ndarray) -> float:
    """The frequency of the largest power within :data:`BAND_HZ`, refined by a parabola through the peak
    and its neighbours (Hz; NaN when the band is empty)."""
    band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    if not band.any():
        return math.nan
    idx = np.flatnonzero(band)
    i = int(idx[np.argmax(power[idx])])
    if 0 < i < len(power) - 1:
        a, b, c = power[i - 1], power[i], power[i + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
        return float(freqs[i] + shift * (freqs[1] - freqs[0]))
    return float(freqs[i])


def spectral_entropy(freqs: np.ndarray, power: np.ndarray) -> float:
    """Shannon entropy of the normalised power above :data:`BAND_HZ` [0], divided by its maximum (0..1)."""
    p = power[freqs >= BAND_HZ[0]]
    if p.sum() <= 0 or len(p) < 2:
        return math.nan
    p = p / p.sum()
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / math.log(len(p)))


def periodicity(pieces: Sequence[Piece], key: str, freq: float) -> float:
    """Autocorrelation of the position (main axis) one period of ``freq`` later, averaged over the
    stretches weighted by length (0..1, negative values reported as 0)."""
    if not np.isfinite(freq) or freq <= 0:
        return math.nan
    total = weight = 0.0
    for xy, fs in stretches(pieces, key, MIN_SPECTRUM_S):
        centred = xy - xy.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        s = centred @ vt[0]
        lag = round(fs / freq)
        if lag < 1 or lag >= len(s) - 2:
            continue
        a, b = s[:-lag], s[lag:]
        denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
        if denom > 0:
            total += float((a * b).sum() / denom) * len(s)
            weight += len(s)
    return max(0.0, total / weight) if weight else math.nan


def bursts(speed: np.ndarray, fs: float) -> list[float]:
    """Durations (s) of the bursts in one (N,) speed signal (NaN = not moving)."""
    fast = np.nan_to_num(speed, nan=0.0) > BURST_SPEED
    gap = round(BURST_MIN_S * fs)
    spans = runs(fast)
    merged: list[list[int]] = []
    for start, stop in spans:
        if merged and start - merged[-1][1] < gap:
            merged[-1][1] = stop
        else:
            merged.append([start, stop])
    return [(stop - start) / fs for start, stop in merged if (stop - start) / fs >= BURST_MIN_S]


def limb_features(pieces: Sequence[Piece], limb: str, angles: bool) -> dict[str, float]:
    """The :data:`FEATURES` of one limb over ``pieces`` (points keyed by limb: ``<limb>`` the end point,
    ``<limb>:mid`` and ``<limb>:root`` the joints when ``angles``). NaN where the data gives none.

    Speed, acceleration, jerk, quantity of motion and bursts count only the samples where the end point
    was observed: a stretch interpolated across a gap is a straight chord, and its speed would be made
    up (the spectral features use the whole, gap-filled signal)."""
    speeds, accels, jerks, angle_values, durations = [], [], [], [], []
    seconds = path = 0.0
    for piece in pieces:
        xy = piece.points.get(limb)
        if xy is None:
            continue
        v = derivative(xy, piece.fs)
        a = derivative(v, piece.fs)
        j = derivative(a, piece.fs)
        made_up = ~piece.measured(limb)
        for d in (v, a, j):
            d[made_up] = np.nan
        speed = magnitude(v)
        speeds.append(speed)
        accels.append(magnitude(a))
        jerks.append(magnitude(j))
        finite = np.isfinite(speed)
        seconds += finite.sum() / piece.fs
        path += float(np.nansum(speed)) / piece.fs
        durations += bursts(speed, piece.fs)
        if angles and f"{limb}:mid" in piece.points and f"{limb}:root" in piece.points:
            angle_values.append(angle_deg(xy, piece.points[f"{limb}:mid"], piece.points[f"{limb}:root"]))
    out: dict[str, float] = {}
    cat = np.concatenate
    out["speed_median"], out["speed_iqr"] = median_iqr(cat(speeds)) if speeds else (math.nan, math.nan)
    out["accel_median"], out["accel_iqr"] = median_iqr(cat(accels)) if accels else (math.nan, math.nan)
    out["jerk_median"], out["jerk_iqr"] = median_iqr(cat(jerks)) if jerks else (math.nan, math.nan)
    minutes = seconds / 60.0
    out["motion_per_min"] = path / minutes if minutes > 0 else math.nan
    ang = cat(angle_values) if angle_values else np.array([])
    ang = ang[np.isfinite(ang)]
    out["angle_range"] = float(np.percentile(ang, 95) - np.percentile(ang, 5)) if len(ang) else math.nan
    out["angle_sd"] = float(np.std(ang)) if len(ang) else math.nan
    pos = spectrum(pieces, limb, of_speed=False, pad=8)  # the peak read to ~0.01 Hz
    vel = spectrum(pieces, limb, of_speed=True)
    out["dominant_hz"] = dominant(*pos) if pos is not None else math.nan
    out["entropy"] = spectral_entropy(*vel) if vel is not None else math.nan
    out["periodicity"] = periodicity(pieces, limb, out["dominant_hz"])
    out["bursts_per_min"] = len(durations) / minutes if minutes > 0 else math.nan
    out["burst_mean_s"] = float(np.mean(durations)) if durations else (0.0 if minutes > 0 else math.nan)
    return out


def pair_features(
    pieces: Sequence[Piece], left: str, right: str, motion: tuple[float, float]
) -> dict[str, float]:
    """The :data:`PAIR_FEATURES` of a left/right limb pair; ``motion``: their ``motion_per_min``."""
    total = weight = 0.0
    lags = []
    for piece in pieces:
        a, b = piece.points.get(left), piece.points.get(right)
        if a is None or b is None:
            continue
        sa, sb = magnitude(derivative(a, piece.fs)), magnitude(derivative(b, piece.fs))
        both = np.isfinite(sa) & np.isfinite(sb)
        for start, stop in runs(both):
            if (stop - start) / piece.fs < MIN_SPECTRUM_S:
                continue
            x, y = sa[start:stop], sb[start:stop]
            x, y = x - x.mean(), y - y.mean()
            denom = float(np.sqrt((x * x).sum() * (y * y).sum()))
            if denom <= 0:
                continue
            max_lag = round(SYMMETRY_LAG_S * piece.fs)
            full = np.correlate(x, y, mode="full") / denom  # index k ↔ lag k − (n − 1): x[t + lag] ~ y[t]
            mid = len(y) - 1
            window = full[mid - max_lag : mid + max_lag + 1]
            k = int(np.argmax(window))
            total += float(window[k]) * (stop - start)
            weight += stop - start
            lags.append(((k - max_lag) / piece.fs, stop - start))
    ml, mr = motion
    out = {
        "xcorr": total / weight if weight else math.nan,
        "lag_s": sum(lag * n for lag, n in lags) / sum(n for _, n in lags) if lags else math.nan,
        "asymmetry": (ml - mr) / (ml + mr)
        if np.isfinite(ml) and np.isfinite(mr) and ml + mr > 0
        else math.nan,
    }
    return out


def all_features(pieces: Sequence[Piece], angles: bool) -> dict[str, float]:
    """Every limb and pair feature over ``pieces``: column name → value (NaN where none)."""
    out: dict[str, float] = {}
    for limb in LIMBS:
        for name, value in limb_features(pieces, limb, angles).items():
            out[f"{limb}_{name}"] = value
    for pair, left, right in PAIRS:
        motion = (out[f"{left}_motion_per_min"], out[f"{right}_motion_per_min"])
        for name, value in pair_features(pieces, left, right, motion).items():
            out[f"{pair}_{name}"] = value
    return out
