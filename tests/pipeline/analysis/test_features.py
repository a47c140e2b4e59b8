"""Movement features on hand-made trajectories with known answers: a sine of known frequency, a straight
line at known speed, a constant acceleration switched on (a step in acceleration: one jerk impulse), a
still limb against a moving one, gaps short and long, a reconnect, and a recording with parts only.

The records are written as ``run`` writes them (schema 1, NYCU-22 names); the trunk is still, hips at
y = 300 px and shoulders at y = 200 px (trunk length 100 px, head up), so 1 TL = 100 px.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from pipeline.analysis.analyze import AnalysisOptions, analyze
from pipeline.analysis.cleaning import CleanOptions, clean
from pipeline.analysis.recording import from_records, joint_key

FPS = 25.0
TL = 100.0
Path2D = Callable[[float], tuple[float, float] | None]
"""Time s → (x, y) px, or None where the joint is not seen."""


def still(x: float, y: float) -> Path2D:
    return lambda t: (x, y)


def records(n: int, joints: dict[str, Path2D], fps: float = FPS, t0: float = 1000.0, **extra) -> list[dict]:
    """``n`` schema-1 records at ``fps`` with the given joints (others absent); trunk still."""
    base = {
        "Shoulder_L": still(150, 200),
        "Shoulder_R": still(50, 200),
        "Hip_L": still(150, 300),
        "Hip_R": still(50, 300),
    }
    all_joints = base | joints
    out = []
    for i in range(n):
        t = i / fps
        kps = []
        for k, (name, path) in enumerate(all_joints.items()):
            at = path(t)
            state = "observed" if at is not None else "predicted"
            kps.append(
                {
                    "id": k,
                    "name": name,
                    "x": None if at is None else round(at[0], 2),
                    "y": None if at is None else round(at[1], 2),
                    "score": 0.9,
                    "state": state,
                }
            )
        out.append(
            {
                "schema": 1,
                "source": "cam0",
                "seq": i,
                "pts_s": round(t, 4),
                "capture_ts": t0 + t,
                "width": 640,
                "height": 480,
                "dropped_since_last": 0,
                "parts": [],
                "classes": [],
                "keypoints": kps,
            }
            | extra
        )
    return out


def sine(freq: float, amp_px: float, x0: float = 200, y0: float = 150) -> Path2D:
    return lambda t: (x0 + amp_px * math.sin(2 * math.pi * freq * t), y0)


def test_joint_keys_are_side_and_kind_whatever_the_set():
    assert [joint_key(n) for n in ("Wrist_L", "left_wrist", "Ankle_R", "right_ankle", "Nose")] == [
        "wrist_l",
        "wrist_l",
        "ankle_r",
        "ankle_r",
        "nose",
    ]


def test_a_sine_gives_its_frequency_speed_and_periodicity():
    f, amp = 0.8, 50.0  # 0.5 TL
    rec = from_records(records(int(40 * FPS), {"Wrist_L": sine(f, amp), "Wrist_R": still(0, 150)}))
    a = analyze(rec)
    assert a.points_from == "joints" and a.cleaned.time_base == "pts"
    assert a.cleaned.trunk_px == pytest.approx(TL)
    assert a.features["arm_l_dominant_hz"] == pytest.approx(f, abs=0.02)
    # speed = A 2πf |cos|: the median of |cos| over a period is √2/2
    assert a.features["arm_l_speed_median"] == pytest.approx(0.5 * 2 * math.pi * f * math.sqrt(0.5), rel=0.03)
    assert a.features["arm_l_periodicity"] > 0.95
    assert a.features["arm_l_entropy"] < 0.35  # one rhythm (filtered noise: ~0.95)
    assert a.verdicts["arm_l_dominant_hz"] == "ok"
    # the right arm is still: no motion, strongly asymmetric pair
    assert a.features["arm_r_speed_median"] == pytest.approx(0.0, abs=1e-3)
    assert a.features["arm_asymmetry"] > 0.95


def test_a_straight_line_at_known_speed():
    v = 30.0  # px/s = 0.3 TL/s, towards the head (image up)
    rec = from_records(records(int(20 * FPS), {"Ankle_L": lambda t: (150, 400 - v * t)}))
    a = analyze(rec)
    assert a.features["leg_l_speed_median"] == pytest.approx(0.3, rel=0.01)
    assert a.features["leg_l_speed_iqr"] == pytest.approx(0.0, abs=0.01)
    assert a.features["leg_l_accel_median"] == pytest.approx(0.0, abs=0.02)
    assert a.features["leg_l_motion_per_min"] == pytest.approx(0.3 * 60, rel=0.02)
    # trunk frame: moving towards the head is +y; the ankle on the viewer's right is the infant's left (+x)
    seg = a.cleaned.segments[0]
    y = seg.trunk["ankle_l"][:, 1]
    assert np.nanmean(np.diff(y)) * seg.fs == pytest.approx(0.3, rel=0.01)
    assert np.nanmean(seg.trunk["ankle_l"][:, 0]) > 0


def test_a_step_in_acceleration_is_one_jerk_impulse():
    acc, t_on = 20.0, 5.0  # px/s² = 0.2 TL/s², switched on at 5 s of 20 s

    def path(t: float) -> tuple[float, float]:
        d = max(0.0, t - t_on)
        return (150 + 0.5 * acc * d * d, 150)

    rec = from_records(records(int(20 * FPS), {"Wrist_L": path}))
    a = analyze(rec)
    assert a.features["arm_l_accel_median"] == pytest.approx(0.2, rel=0.05)  # 75 % of the time at 0.2
    seg = a.cleaned.segments[0]
    from pipeline.analysis.features import derivative, magnitude

    xy = seg.trunk["wrist_l"]
    jerk = magnitude(derivative(derivative(derivative(xy, seg.fs), seg.fs), seg.fs))
    inside = (seg.t > 1.0) & (seg.t < seg.t[-1] - 1.0)  # the filter's edges are not movement
    peak = seg.t[inside][int(np.nanargmax(jerk[inside]))]
    assert peak == pytest.approx(t_on, abs=0.1)  # the jerk is where the acceleration steps
    # elsewhere only the records' 0.01 px rounding, three times differentiated: a floor far below the impulse
    assert a.features["arm_l_jerk_median"] < 0.2 * float(np.nanmax(jerk[inside]))


def test_short_gaps_are_filled_long_ones_stay_missing_and_are_reported():
    gone = lambda t: (5.0 <= t < 5.3) or (10.0 <= t < 12.0)  # noqa: E731 - 0.3 s and 2 s without the wrist
    wave = sine(0.5, 40.0)
    rec = from_records(records(int(20 * FPS), {"Wrist_L": lambda t: None if gone(t) else wave(t)}))
    cleaned = clean(rec, CleanOptions(max_fill_s=0.5))
    (seg,) = cleaned.segments
    xy, filled = seg.px["wrist_l"], seg.filled["wrist_l"]
    in_short = (seg.t >= 5.05) & (seg.t < 5.25)
    in_long = (seg.t >= 10.1) & (seg.t < 11.9)
    assert np.isfinite(xy[in_short]).all() and filled[in_short].all()
    assert np.isnan(xy[in_long]).all()
    expected = np.array([wave(t)[0] for t in seg.t[in_short]])
    # a chord across 0.3 s of a 0.5 Hz, 40 px wave is off by at most A (ω gap)² / 8 ≈ 4.4 px
    assert np.abs(xy[in_short, 0] - expected).max() < 4.5
    a = analyze(rec)
    row = next(r for r in a.qc if r["item"] == "joint:wrist_l")
    assert row["predicted"] == pytest.approx(2.3 / 20, abs=0.01) and row["observed"] == pytest.approx(
        17.7 / 20, abs=0.01
    )


def test_a_reconnect_splits_the_recording_and_pts_resets_choose_capture_time():
    first = records(int(10 * FPS), {"Wrist_L": sine(1.0, 30)})
    second = records(int(10 * FPS), {"Wrist_L": sine(1.0, 30)}, t0=1000.0 + 10 + 3.0)  # 3 s outage
    for r in second:
        r["seq"] += 1000  # pts restart at 0 after the reconnect
    rec = from_records(first + second)
    cleaned = clean(rec)
    assert cleaned.time_base == "capture" and cleaned.splits == 1 and len(cleaned.segments) == 2
    assert cleaned.segments[1].t[0] == pytest.approx(13.0, abs=0.05)
    assert analyze(rec).features["arm_l_dominant_hz"] == pytest.approx(1.0, abs=0.05)


def test_out_of_order_timestamps_are_anomalies():
    recs = records(int(10 * FPS), {"Wrist_L": sine(1.0, 30)})
    recs[50]["pts_s"], recs[50]["capture_ts"] = recs[49]["pts_s"], recs[49]["capture_ts"]
    cleaned = clean(from_records(recs))
    assert cleaned.anomalies == 1 and cleaned.time_base == "capture"


def test_left_follows_right_by_a_known_lag():
    lag = 0.4

    def moving(delay: float, x0: float) -> Path2D:
        # x = ∫ speed for a speed 0.5 + 0.5 sin(2π 0.3 t) (×100 px/s), delayed by ``delay``
        return lambda t: (
            x0
            + 100
            * (0.5 * (t - delay) - 0.5 / (2 * math.pi * 0.3) * math.cos(2 * math.pi * 0.3 * (t - delay))),
            150,
        )

    rec = from_records(records(int(30 * FPS), {"Ankle_L": moving(lag, 150), "Ankle_R": moving(0.0, 50)}))
    a = analyze(rec)
    assert a.features["leg_xcorr"] > 0.95
    assert a.features["leg_lag_s"] == pytest.approx(lag, abs=0.05)
    assert abs(a.features["leg_asymmetry"]) < 0.05


def test_thin_data_gets_a_verdict_and_no_value():
    rec = from_records(records(int(4 * FPS), {"Wrist_L": sine(1.0, 30)}))  # 4 s: too short
    a = analyze(rec)
    assert a.verdicts["arm_l_dominant_hz"].startswith("thin: ") and math.isnan(
        a.features["arm_l_dominant_hz"]
    )
    assert a.verdicts["arm_l_speed_median"].startswith("thin: ")
    assert a.verdicts["leg_l_speed_median"].startswith("thin: leg_l there in 0 %")


def test_windows_slide_over_each_segment():
    rec = from_records(records(int(60 * FPS), {"Wrist_L": sine(0.8, 50)}))
    a = analyze(rec, AnalysisOptions(window_s=20, step_s=10))
    assert [(w["start_s"], w["end_s"]) for w in a.windows] == [
        (0, 20),
        (10, 30),
        (20, 40),
        (30, 50),
        (40, 60),
    ]
    assert all(w["arm_l_dominant_hz"] == pytest.approx(0.8, abs=0.05) for w in a.windows)


def test_parts_only_recordings_use_limb_centroids():
    """Without joints the limbs are the arm and leg parts, sided by the trunk axis (torso → head)."""
    out = []
    for i in range(int(20 * FPS)):
        t = i / FPS
        x = 400 + 40 * math.sin(2 * math.pi * 0.6 * t)  # the viewer's right: the infant's left arm

        def part(name: str, cx: float, cy: float, area: int) -> dict:
            return {"name": name, "centroid": [cx, cy], "area_px": area, "state": "observed", "score": 0.9}

        parts = [
            part("head", 300, 100, 900),
            part("torso", 300, 250, 3000),
            part("arm", x, 220, 500),
            part("arm", 200, 220, 500),
            part("leg", 340, 400, 700),
            part("leg", 260, 400, 700),
        ]
        out.append(
            {
                "schema": 1,
                "source": "c",
                "seq": i,
                "pts_s": t,
                "capture_ts": 5.0 + t,
                "width": 640,
                "height": 480,
                "parts": parts,
            }
        )
    a = analyze(from_records(out))
    assert a.points_from == "parts" and a.cleaned.trunk_source == "parts"
    assert a.cleaned.trunk_px == pytest.approx(150.0)
    assert a.features["arm_l_dominant_hz"] == pytest.approx(0.6, abs=0.03)
    assert a.features["arm_r_speed_median"] == pytest.approx(0.0, abs=1e-3)
    assert a.verdicts["arm_l_angle_range"] == "thin: no joints (limb centroids only)"


def test_every_feature_is_defined_in_the_docs():
    from pipeline.analysis.features import FEATURES, PAIR_FEATURES
    from tests.helpers.procs import REPO

    text = (REPO / "docs" / "movement.md").read_text(encoding="utf-8")
    for f in FEATURES:
        assert f"| `<limb>_{f.name}` | {f.unit} | {f.definition} |" in text, f.name
    for f in PAIR_FEATURES:
        assert f"| `<pair>_{f.name}` | {f.unit} | {f.definition} |" in text, f.name
