"""Tests of motion programs (trainer/synth/programs.py): movement with a known truth, checked on the truth
keypoints of small rendered clips; the ``--motion`` flag; the truth as pipeline records (truth_records.py)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from pipeline.analysis.recording import MISSING, OBSERVED, from_records, load_recordings
from pipeline.contract.classes import CLASS_NAMES
from pipeline.contract.keypoints import NYCU22
from pipeline.errors import ConfigError
from tests.helpers.schema import validate_record
from trainer.synth import cli
from trainer.synth.body import INSTANCE_NAMES, JOINTS
from trainer.synth.motion import sample_motion
from trainer.synth.programs import (
    BURST_RAMP_S,
    CLIP_FILL,
    PROGRAMS,
    BurstMotion,
    parse_program,
    program_help,
)
from trainer.synth.truth_records import TRUTH_START_TS, truth_records, write_jsonl
from trainer.synth.video import clip_frames, validate_options, write_video

W, H = 160, 120
FPS = 10.0


def _truth(spec: str, frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(xy (T, 22, 2) px, v (T, 22)) NYCU-22 truth keypoints of a small clip of ``spec`` at :data:`FPS`."""
    xy, v = [], []
    for f in clip_frames(frames=frames, fps=FPS, width=W, height=H, seed=seed, program=spec):
        xy.append(f.nycu.xy)
        v.append(f.nycu.visibility)
    return np.array(xy), np.array(v)


def _point(xy: np.ndarray, name: str) -> np.ndarray:
    return xy[:, NYCU22.index(name)]


def _dominant_hz(signal: np.ndarray, fps: float) -> float:
    """Frequency (Hz) of the largest non-DC FFT peak of ``signal`` (sampled at ``fps``)."""
    spectrum = np.abs(np.fft.rfft(signal - signal.mean()))
    return float(np.fft.rfftfreq(len(signal), 1.0 / fps)[np.argmax(spectrum)])


def _speed(p: np.ndarray, fps: float) -> np.ndarray:
    """(T - 1,) px/s between consecutive frames of a (T, 2) track."""
    return np.linalg.norm(np.diff(p, axis=0), axis=1) * fps


# ---------------------------------------------------------------- programs on the truth keypoints


@pytest.mark.parametrize(
    ("spec", "freq", "alternating"), [("kick:0.8", 0.8, True), ("kick:1.3:inphase", 1.3, False)]
)
def test_kick_has_the_programmed_frequency(spec: str, freq: float, alternating: bool) -> None:
    xy, v = _truth(spec, frames=200)  # 20 s at 10 fps: FFT bins of 0.05 Hz
    left, right = _point(xy, "Ankle_L"), _point(xy, "Ankle_R")
    for ankle in (left, right):
        for axis in (0, 1):
            assert _dominant_hz(ankle[:, axis], FPS) == pytest.approx(freq, abs=0.05)
        assert ankle.std(axis=0).max() > 2.5  # a clear kick (px, at 160 x 120)
    assert (v[:, [NYCU22.index("Ankle_L"), NYCU22.index("Ankle_R")]] > 0).all()
    # alternating: one leg half a period after the other; in phase: together
    corr = np.corrcoef(left[:, 1], right[:, 1])[0, 1]
    assert corr < -0.5 if alternating else corr > 0.9
    for still in ("Wrist_L", "Wrist_R", "Head", "Nose"):  # arms and head nearly still, no drift
        assert _point(xy, still).std(axis=0).max() < 1.0
    for torso in ("Hip_L", "Hip_R", "Shoulder_L", "Shoulder_R"):
        assert _point(xy, torso).std(axis=0).max() < 1e-6


@pytest.mark.parametrize(("spec", "still", "moving"), [("still:leg_r:0.8", "Ankle_R", "Ankle_L"),
                                                        ("still:arm_l:0.6", "Wrist_L", "Wrist_R")])  # fmt: skip
def test_still_limb_does_not_move_while_its_partner_does(spec: str, still: str, moving: str) -> None:
    xy, v = _truth(spec, frames=60)
    freq = float(spec.rsplit(":", 1)[1])
    assert _point(xy, still).std(axis=0).max() < 0.5
    assert _point(xy, moving).std(axis=0).max() > 2.5
    assert (v[:, [NYCU22.index(still), NYCU22.index(moving)]] > 0).all()
    assert _dominant_hz(_point(xy, moving)[:, 1], FPS) == pytest.approx(freq, abs=1.0 / 6.0)
    assert parse_program(spec).freq_hz == freq


def test_bursts_move_only_inside_bursts() -> None:
    period, burst, freq = 6.0, 2.0, 1.0
    xy, _ = _truth(f"bursts:{period:g}:{burst:g}:{freq:g}", frames=120)  # 12 s: two bursts
    t = np.arange(len(xy)) / FPS
    u0, u1 = t[:-1] % period, t[1:] % period  # the two ends of each step, within the period
    inside = (u0 >= BURST_RAMP_S) & (u1 <= burst - BURST_RAMP_S) & (u1 > u0)
    outside = (u0 >= burst) & (u1 >= burst) & (u1 > u0)
    assert inside.sum() >= 25 and outside.sum() >= 70
    for name in ("Ankle_L", "Ankle_R", "Knee_L", "Knee_R"):
        speed = _speed(_point(xy, name), FPS)
        assert speed[inside].mean() > 10.0, name  # px/s
        assert speed[outside].max() < 1e-6, name  # rest: not a pixel's drift


def test_burst_gate_is_smooth_and_pose_has_no_jumps() -> None:
    motion = parse_program("bursts:6:2.3:1.1")(np.random.default_rng(3), W, H)  # ends mid-swing
    assert isinstance(motion, BurstMotion)
    assert motion.gate(0.0) == 0.0
    assert motion.gate(1.0) == 1.0
    assert motion.gate(2.3) == motion.gate(4.0) == motion.gate(6.0) == 0.0
    assert motion.gate(7.0) == 1.0
    dt = 1e-3
    joints = np.array([motion.pose_at(i * dt).joints() for i in range(int(12.5 / dt))])
    steps = np.abs(np.diff(joints, axis=0)).max()
    assert steps < 0.02  # rad per ms: no jump anywhere (a 1 Hz kick over ~1 rad moves < 0.01)
    gates = np.array([motion.gate(i * dt) for i in range(int(12.5 / dt))])
    assert np.abs(np.diff(gates)).max() < 3.0 * dt / motion.ramp_s  # smoothstep slope <= 1.875 / ramp


def test_programs_are_deterministic_and_share_the_set_up() -> None:
    a = parse_program("kick:0.8")(np.random.default_rng(5), W, H)
    b = parse_program("kick:0.8")(np.random.default_rng(5), W, H)
    c = parse_program("still:leg_r:1.2")(np.random.default_rng(5), W, H)
    for f in dataclasses.fields(a):
        assert np.array_equal(getattr(a, f.name), getattr(b, f.name))
    assert a.base == c.base  # same framing for one seed, whatever the program
    assert (a.drift_px, a.drift_rad) == (0.0, 0.0)
    rows = [JOINTS.index(j) for j in ("left_hip", "left_leg_lift", "left_knee", "left_ankle")]
    assert np.all(a.freqs[rows, 0] == 0.8)


def test_random_program_is_sample_motion_as_clips_use_it() -> None:
    a = parse_program("random")(np.random.default_rng(9), W, H)
    b = sample_motion(np.random.default_rng(9), W, H, upright=True, fill=CLIP_FILL)
    for f in dataclasses.fields(a):
        assert np.array_equal(getattr(a, f.name), getattr(b, f.name))


# ---------------------------------------------------------------- specs


@pytest.mark.parametrize(
    ("spec", "canonical"),
    [
        ("random", "random"),
        (" kick:0.80 ", "kick:0.8"),
        ("kick:1:alternating", "kick:1"),
        ("kick:1:inphase", "kick:1:inphase"),
        ("still:leg_r:0.8", "still:leg_r:0.8"),
        ("bursts:6:2:1.0", "bursts:6:2:1"),
        ("bursts:6:2:1.0:arms", "bursts:6:2:1:arms"),
    ],
)
def test_spec_canonical_form(spec: str, canonical: str) -> None:
    program = parse_program(spec)
    assert program.spec == canonical
    assert parse_program(canonical).spec == canonical
    assert program.name in PROGRAMS


@pytest.mark.parametrize(
    "spec",
    [
        "", "walk:1", "kick", "kick:", "kick:0", "kick:-1", "kick:abc", "kick:nan", "kick:inf", "kick:6",
        "kick:0.8:sideways", "kick:0.8:inphase:x", "still:leg_x:0.8", "still:leg_r", "still:leg_r:1:2",
        "bursts:6:2", "bursts:6:6:1", "bursts:6:7:1", "bursts:0:0:1", "bursts:6:2:1:feet", "random:1",
    ],
)  # fmt: skip
def test_bad_specs_raise_one_line_config_error(spec: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_program(spec)
    message = str(info.value)
    assert "\n" not in message
    assert repr(spec) in message


def test_programs_need_frequencies_below_nyquist() -> None:
    validate_options(10, 10.0, W, H, "kick:4.9")
    with pytest.raises(ConfigError, match="half the frame rate"):
        validate_options(10, 10.0, W, H, "kick:5")
    with pytest.raises(ConfigError, match="walk"):
        validate_options(10, 10.0, W, H, "walk")


def test_cli_motion_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.mp4"
    argv = ["video", "--out", str(out), "--frames", "3", "--fps", "10", "--width", "96", "--height", "64"]
    assert cli.run([*argv, "--motion", "still:arm_r:0.5"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["program"] == "still:arm_r:0.5"
    capsys.readouterr()
    assert cli.run([*argv, "--motion", "kick:zero"]) == ConfigError.exit_code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "kick:zero" in err
    for kind in PROGRAMS.values():
        assert kind.syntax in program_help()


# ---------------------------------------------------------------- video truth


def test_write_video_default_json_is_unchanged(tmp_path: Path) -> None:
    """The truth of a random clip is byte-identical to what write_video wrote before motion programs
    (the hash was taken from the code before them)."""
    expected = "fdc190047778dea479bf32236b51612be7e5bd6864fa2edb7ccf228e16c11817"
    a = write_video(tmp_path / "a" / "v.mp4", frames=6, fps=10.0, width=W, height=H, seed=7)
    b = write_video(tmp_path / "b" / "v.mp4", frames=6, fps=10.0, width=W, height=H, seed=7, program="random")
    assert hashlib.sha256(a.truth_path.read_bytes()).hexdigest() == expected
    assert b.truth_path.read_bytes() == a.truth_path.read_bytes()
    assert "program" not in json.loads(a.truth_path.read_text())


def test_truth_records_round_trip(tmp_path: Path) -> None:
    n = 12
    result = write_video(
        tmp_path / "k.mp4", frames=n, fps=FPS, width=W, height=H, seed=4, program="kick:0.80"
    )
    truth = json.loads(result.truth_path.read_text())
    assert truth["program"] == "kick:0.8"
    records = truth_records(result.truth_path)
    assert len(records) == n
    for i, (record, frame) in enumerate(zip(records, truth["frames"], strict=True)):
        validate_record(record)  # a pipeline record
        assert (record["schema"], record["source"], record["seq"], record["dropped_since_last"]) == (
            1,
            "truth",
            i,
            0,
        )
        assert record["pts_s"] == frame["pts_s"] == pytest.approx(i / FPS)
        assert record["capture_ts"] == pytest.approx(TRUTH_START_TS + i / FPS, abs=1e-6)
        assert (record["width"], record["height"]) == (W, H)
        assert len(record["keypoints"]) == NYCU22.num_keypoints
        for kp, (x, y, v) in zip(record["keypoints"], frame["keypoints"]["nycu22"], strict=True):
            assert v > 0
            assert kp["name"] == NYCU22.names[kp["id"]]
            assert (kp["x"], kp["y"], kp["score"], kp["state"]) == (x, y, 1.0, "observed")
        by_track = {p["track_id"]: p for p in record["parts"]}
        assert by_track[INSTANCE_NAMES.index("head")]["centroid"] == frame["classes"]["head"]["centroid"]
        for limb in frame["instances"]["leg"]:
            part = by_track[INSTANCE_NAMES.index(f"{limb['side']}_leg")]
            assert (part["name"], part["class_id"]) == ("leg", CLASS_NAMES.index("leg"))
            assert (part["centroid"], part["box"], part["area_px"]) == (
                limb["centroid"],
                limb["box"],
                limb["area_px"],
            )
    # the analysis reads the truth like a recording (the JSONL is checked against the schema after the test)
    recording = load_recordings(write_jsonl(records, tmp_path / "truth.jsonl"))[0]
    assert recording.source == "truth"
    for name in ("Ankle_L", "Wrist_R"):
        expected = np.array([f["keypoints"]["nycu22"][NYCU22.index(name)][:2] for f in truth["frames"]])
        assert np.array_equal(recording.joints[name.lower()].xy, expected)
    assert all(recording.parts[k].share(OBSERVED) == 1.0 for k in ("head", "torso", "leg_l", "leg_r"))


def test_truth_records_point_outside_the_frame_is_missing(tmp_path: Path) -> None:
    result = write_video(tmp_path / "k.mp4", frames=4, fps=FPS, width=W, height=H, seed=4, program="kick:0.8")
    truth = json.loads(result.truth_path.read_text())
    ankle = NYCU22.index("Ankle_L")
    truth["frames"][2]["keypoints"]["nycu22"][ankle] = [0, 0, 0]  # as write_video writes a point outside
    result.truth_path.write_text(json.dumps(truth))
    records = truth_records(result.truth_path)
    kp = records[2]["keypoints"][ankle]
    assert (kp["x"], kp["y"], kp["score"], kp["state"]) == (None, None, 0.0, "missing")
    track = from_records(records).joints["ankle_l"]
    assert track.state.tolist() == [OBSERVED, OBSERVED, MISSING, OBSERVED]
    assert math.isnan(track.xy[2, 0])


def test_truth_records_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        truth_records(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"width": 1}')
    with pytest.raises(ConfigError, match="not a synth video truth"):
        truth_records(tmp_path / "bad.json")
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(ConfigError, match="not JSON"):
        truth_records(tmp_path / "text.json")
