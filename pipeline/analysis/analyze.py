"""One recording analysed: cleaned, its limb signals cut into pieces, features per recording and per
sliding window, quality control and a verdict per feature. The same function serves ``infant-stream
analyze`` and the live features of ``run --features`` (:mod:`pipeline.analysis.live`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from pipeline.analysis.cleaning import Cleaned, CleanOptions, clean
from pipeline.analysis.features import FEATURES, LIMB_JOINTS, LIMBS, PAIR_FEATURES, PAIRS, Piece, all_features
from pipeline.analysis.recording import MISSING, OBSERVED, PREDICTED, Recording

MIN_COVERAGE: Final = 0.5
"""A feature is *thin* when less than this share of its data (samples of the limb) is there ..."""
MIN_SECONDS: Final = {"end": 5.0, "angle": 5.0, "spectrum": 8.0, "pair": 8.0}
"""... or when there are fewer seconds of it than this (by what the feature needs)."""


@dataclass(frozen=True)
class AnalysisOptions:
    """Cleaning and windows. ``window_s``/``step_s``: the sliding windows' length and step, seconds
    (``window_s`` 0: no windows, only the whole recording's features)."""

    clean: CleanOptions = field(default_factory=CleanOptions)
    window_s: float = 30.0
    step_s: float = 10.0


@dataclass(frozen=True)
class Analysis:
    """The result for one recording.

    Attributes:
        recording: what was analysed.
        cleaned: the cleaned segments.
        points_from: ``joints`` (wrists, ankles, elbows, knees) or ``parts`` (limb centroids) or "".
        features: column → value for the whole recording (thin ones NaN: see ``verdicts``).
        windows: one dict per window: ``segment``, ``start_s``, ``end_s`` and the feature columns.
        verdicts: column → ``ok`` or ``thin: <why>``.
        qc: quality rows: ``{"item", "observed", "predicted", "missing"}`` per track and the recording's
            counts (frames, drops, timestamp anomalies, splits, filled share).
    """

    recording: Recording
    cleaned: Cleaned
    points_from: str
    features: dict[str, float]
    windows: list[dict[str, float]]
    verdicts: dict[str, str]
    qc: list[dict[str, object]]


def limb_pieces(cleaned: Cleaned, joints: bool) -> list[Piece]:
    """One :class:`Piece` per segment: ``<limb>`` = its end point (the wrist/ankle with ``joints``, else
    the limb's part centroid), and with joints ``<limb>:mid``/``<limb>:root`` (elbow/knee, shoulder/hip)."""
    pieces = []
    for seg in cleaned.segments:
        points: dict[str, np.ndarray] = {}
        filled: dict[str, np.ndarray] = {}
        for limb in LIMBS:
            end, mid, root = LIMB_JOINTS[limb]
            key = end if joints else f"part:{limb}"
            if key in seg.trunk:
                points[limb], filled[limb] = seg.trunk[key], seg.filled[key]
            if joints and mid in seg.trunk and root in seg.trunk:
                points[f"{limb}:mid"], points[f"{limb}:root"] = seg.trunk[mid], seg.trunk[root]
        pieces.append(Piece(seg.fs, points, filled))
    return pieces


def windows_of(
    cleaned: Cleaned, pieces: list[Piece], window_s: float, step_s: float
) -> list[tuple[int, float, float, Piece]]:
    """(segment index, start s, end s, the window's piece) of every full window of every segment."""
    out = []
    for i, (seg, piece) in enumerate(zip(cleaned.segments, pieces, strict=True)):
        n = round(window_s * seg.fs)
        step = max(1, round(step_s * seg.fs))
        for start in range(0, len(seg.t) - n + 1, step):
            cut = Piece(
                seg.fs,
                {k: v[start : start + n] for k, v in piece.points.items()},
                {k: v[start : start + n] for k, v in piece.filled.items()},
            )
            out.append((i, float(seg.t[start]), float(seg.t[start] + n / seg.fs), cut))
    return out


def coverage(pieces: list[Piece], key: str) -> tuple[float, float]:
    """(share of samples where ``key`` is there, seconds of it) over ``pieces``."""
    total = have = 0
    seconds = 0.0
    for p in pieces:
        n = p.samples
        total += n
        xy = p.points.get(key)
        if xy is not None:
            ok = int(np.isfinite(xy).all(axis=1).sum())
            have += ok
            seconds += ok / p.fs
    return (have / total if total else 0.0), seconds


def verdicts(pieces: list[Piece], joints: bool) -> dict[str, str]:
    """Column → ``ok`` or ``thin: <why>`` (:data:`MIN_COVERAGE`, :data:`MIN_SECONDS`)."""
    out = {}
    for limb in LIMBS:
        end = coverage(pieces, limb)
        angle = min(end, coverage(pieces, f"{limb}:mid"), coverage(pieces, f"{limb}:root"))
        for f in FEATURES:
            share, seconds = angle if f.needs == "angle" else end
            why = ""
            if f.needs == "angle" and not joints:
                why = "no joints (limb centroids only)"
            elif share < MIN_COVERAGE:
                why = f"{limb} there in {100 * share:.0f} % of the time (< {100 * MIN_COVERAGE:.0f} %)"
            elif seconds < MIN_SECONDS[f.needs]:
                why = f"{seconds:.1f} s of {limb} (< {MIN_SECONDS[f.needs]:g} s)"
            out[f"{limb}_{f.name}"] = f"thin: {why}" if why else "ok"
    for pair, left, right in PAIRS:
        worst = min(coverage(pieces, left), coverage(pieces, right))
        for f in PAIR_FEATURES:
            why = ""
            if worst[0] < MIN_COVERAGE:
                why = f"a {pair} there in {100 * worst[0]:.0f} % of the time (< {100 * MIN_COVERAGE:.0f} %)"
            elif worst[1] < MIN_SECONDS["pair"]:
                why = f"{worst[1]:.1f} s of both {pair}s (< {MIN_SECONDS['pair']:g} s)"
            out[f"{pair}_{f.name}"] = f"thin: {why}" if why else "ok"
    return out


def quality(rec: Recording, cleaned: Cleaned) -> list[dict[str, object]]:
    """QC rows: per joint and part the share of frames observed / predicted / missing and of grid samples
    filled by interpolation; then the recording's counts."""
    rows: list[dict[str, object]] = []
    for kind, tracks in (("joint", rec.joints), ("part", rec.parts)):
        for key, track in tracks.items():
            name = f"part:{key}" if kind == "part" else key
            filled = [seg.filled[name] for seg in cleaned.segments if name in seg.filled]
            grid = sum(len(f) for f in filled)
            rows.append(
                {
                    "item": f"{kind}:{key}",
                    "observed": round(track.share(OBSERVED), 4),
                    "predicted": round(track.share(PREDICTED), 4),
                    "missing": round(track.share(MISSING), 4),
                    "filled": round(sum(int(f.sum()) for f in filled) / grid, 4) if grid else 0.0,
                    "spikes": cleaned.spikes.get(name, 0),
                }
            )
    counts = {
        "frames": rec.frames,
        "duration_s": round(cleaned.duration_s, 2),
        "dropped_frames": int(rec.dropped.sum()),
        "timestamp_anomalies": cleaned.anomalies,
        "reconnect_splits": cleaned.splits,
        "time_base": cleaned.time_base,
        "trunk_px": round(cleaned.trunk_px, 2) if math.isfinite(cleaned.trunk_px) else "",
        "trunk_from": cleaned.trunk_source or "none",
    }
    rows += [{"item": k, "value": v} for k, v in counts.items()]
    return rows


def analyze(rec: Recording, options: AnalysisOptions | None = None) -> Analysis:
    """Clean ``rec`` and compute everything (module docstring)."""
    o = options or AnalysisOptions()
    cleaned = clean(rec, o.clean)
    joints = any(LIMB_JOINTS[limb][0] in seg.trunk for seg in cleaned.segments for limb in LIMBS)
    pieces = limb_pieces(cleaned, joints)
    values = all_features(pieces, angles=joints)
    judged = verdicts(pieces, joints)
    features = {k: (v if judged.get(k) == "ok" else math.nan) for k, v in values.items()}
    rows = []
    cuts = windows_of(cleaned, pieces, o.window_s, o.step_s) if o.window_s > 0 else []
    for seg_index, start, end, piece in cuts:
        window_verdicts = verdicts([piece], joints)
        vals = all_features([piece], angles=joints)
        rows.append(
            {"segment": seg_index, "start_s": round(start, 3), "end_s": round(end, 3)}
            | {k: (v if window_verdicts.get(k) == "ok" else math.nan) for k, v in vals.items()}
        )
    has_points = any(piece.points for piece in pieces)
    source = "joints" if joints else ("parts" if has_points else "")
    return Analysis(rec, cleaned, source, features, rows, judged, quality(rec, cleaned))
