"""The keypoint tracker: one Kalman track per joint, confidence-weighted, coasting bounded like parts."""

import math

import numpy as np
import pytest

from pipeline.config import KeypointTrackerConfig
from pipeline.contract.keypoints import COCO17, NYCU22, KeypointSet
from pipeline.frames import FrameMeta, Keypoint, PoseEstimate
from pipeline.postprocess.tracking.keypoints import KeypointTracker, measured, raw_keypoints
from tests.helpers.bounds import assert_keypoints_in_frame

CFG = KeypointTrackerConfig()
K = NYCU22.num_keypoints
W, H = 640, 480
WRIST_R = NYCU22.index("Wrist_R")
WRIST = KeypointSet("custom", ("wrist",), (), ("",))


def meta(seq: int, t: float, size: tuple[int, int] = (W, H), still: bool = False) -> FrameMeta:
    return FrameMeta("cam0", seq, t, 1.7e9 + t, t, *size, still=still)


def pose(xy, score, kset: KeypointSet = NYCU22) -> PoseEstimate:
    """A pose whose keypoints all sit at ``xy`` ((K, 2) or one (x, y)) with ``score`` ((K,) or one)."""
    k = kset.num_keypoints
    xy = np.broadcast_to(np.asarray(xy, np.float32), (k, 2)).copy()
    score = np.broadcast_to(np.asarray(score, np.float32), (k,)).copy()
    return PoseEstimate((0.0, 0.0, float(W), float(H)), "test-pose", kset, xy, score)


class BoundedKeypointTracker(KeypointTracker):
    """The tracker under test: every keypoint it returns is checked to lie inside its frame."""

    def update(self, meta: FrameMeta, pose: PoseEstimate | None) -> tuple[Keypoint, ...]:
        out = super().update(meta, pose)
        assert_keypoints_in_frame(meta, out)
        assert [kp.id for kp in out] == sorted(kp.id for kp in out)
        return out


def by_name(out: tuple[Keypoint, ...]) -> dict[str, Keypoint]:
    return {kp.name: kp for kp in out}


@pytest.mark.parametrize(
    ("score", "std"),
    [(1.0, 4.0), (0.8, 5.0), (0.5, 8.0), (0.3, 4.0 / 0.3), (0.01, 4.0 / 0.05)],  # floor: MIN_SCORE 0.05
)
def test_measurement_noise_from_the_confidence(score, std):
    assert KeypointTracker(CFG).noise_std(score) == pytest.approx(std)


def test_a_confident_joint_moves_the_estimate_more_and_leaves_less_uncertainty():
    """Same track history, last point 10 px away: the more confident point pulls harder."""
    results = {}
    for score in (0.9, 0.4):
        tr = KeypointTracker(CFG)
        for i in range(5):
            tr.update(meta(i, i / 30), pose((100.0, 100.0), 0.9))
        results[score] = by_name(tr.update(meta(5, 5 / 30), pose((110.0, 100.0), score)))["Head"]
    sure, unsure = results[0.9], results[0.4]
    assert sure.smoothed[0] - 100.0 > unsure.smoothed[0] - 100.0 > 0.0
    assert sure.uncertainty[0] < unsure.uncertainty[0]


def test_observed_then_predicted_on_low_score_then_absent_after_the_cap():
    """10 fps; Wrist_R moves 10 px per frame (100 px/s) in frames 0-9, then scores 0.1 (< min_score 0.3)."""
    tr = BoundedKeypointTracker(CFG)
    xy = np.tile(np.float32([200.0, 240.0]), (K, 1))
    for i in range(10):
        xy[WRIST_R] = (100.0 + 10.0 * i, 240.0)
        out = by_name(tr.update(meta(i, i / 10), pose(xy, 0.9)))
        wrist = out["Wrist_R"]
        assert (wrist.state, wrist.x, wrist.y) == ("observed", 100.0 + 10.0 * i, 240.0)
        assert wrist.score == pytest.approx(0.9)
    assert len(out) == K
    last = tr.tracks("cam0")[WRIST_R]
    p0, v0 = last.last_observed_pos, last.last_observed_vel
    assert v0[0] == pytest.approx(100.0, abs=10.0)  # px/s
    score = np.full(K, 0.9, np.float32)
    score[WRIST_R] = 0.1
    for i in range(10, 15):  # coasting for tau = 0.1 .. 0.5 s (max_coast_s)
        out = by_name(tr.update(meta(i, i / 10), pose(xy, score)))
        wrist = out["Wrist_R"]
        tau = (i - 9) / 10
        # damped motion by hand: v(tau) = v0 e^(-4 tau), p(tau) = p0 + v0 (1 - e^(-4 tau)) / 4
        decay = math.exp(-4.0 * tau)
        assert (wrist.state, wrist.x, wrist.y, wrist.score) == ("predicted", None, None, 0.0)
        assert wrist.smoothed == pytest.approx(
            (p0[0] + v0[0] * (1 - decay) / 4, p0[1] + v0[1] * (1 - decay) / 4)
        )
        assert wrist.velocity == pytest.approx((v0[0] * decay, v0[1] * decay))
        assert out["Wrist_L"].state == "observed"
    out = by_name(tr.update(meta(15, 1.5), pose(xy, score)))  # tau = 0.6 s > max_coast_s
    assert "Wrist_R" not in out and len(out) == K - 1
    xy[WRIST_R] = (400.0, 300.0)
    out = by_name(tr.update(meta(16, 1.6), pose(xy, 0.9)))  # seen again: a new track, at rest
    assert out["Wrist_R"].state == "observed" and out["Wrist_R"].velocity == (0.0, 0.0)
    assert out["Wrist_R"].smoothed == pytest.approx((400.0, 300.0))


def test_no_pose_coasts_every_joint_then_nothing():
    tr = BoundedKeypointTracker(CFG)
    for i in range(3):
        tr.update(meta(i, i / 10), pose((300.0, 200.0), 0.8))
    out = tr.update(meta(3, 0.3), None)
    assert len(out) == K and {kp.state for kp in out} == {"predicted"}
    assert all(kp.smoothed == pytest.approx((300.0, 200.0), abs=0.5) for kp in out)
    assert tr.update(meta(9, 0.9), None) == ()  # 0.7 s unobserved > max_coast_s: every joint ended
    assert KeypointTracker(CFG).update(meta(0, 0.0), None) == ()


def test_young_joint_and_low_score_without_a_track_are_absent():
    tr = BoundedKeypointTracker(CFG)
    assert tr.update(meta(0, 0.0), pose((50.0, 60.0), 0.29)) == ()  # below min_score, no track
    assert len(tr.update(meta(1, 0.1), pose((50.0, 60.0), 0.9))) == K
    assert tr.update(meta(2, 0.2), pose((50.0, 60.0), 0.1)) == ()  # 1 hit < min_hits_to_coast 2


@pytest.mark.parametrize(
    ("xy", "ok"),
    [
        ((0.0, 0.0), True),
        ((639.0, 479.0), True),
        ((639.5, 10.0), False),
        ((-0.5, 10.0), False),
        ((10.0, 480.0), False),
        ((float("nan"), 10.0), False),
        ((float("inf"), 10.0), False),
    ],
)
def test_a_joint_is_measured_only_inside_the_frame(xy, ok):
    assert measured(pose(xy, 0.9), (W, H), 0.3).tolist() == [ok] * K


def test_a_coasting_joint_that_leaves_the_frame_ends():
    """A wrist moving right at 300 px/s (10 px per frame at 30 fps), last seen at x = 590, coasts on
    undamped and ends on crossing x = 639 (about 5 frames), long before max_coast_s (15 frames)."""
    tr = BoundedKeypointTracker(KeypointTrackerConfig(coast_damping_per_s=0.0))
    for i in range(10):
        tr.update(meta(i, i / 30), pose((500.0 + 10.0 * i, 200.0), 0.9, WRIST))
    coasting = []
    for i in range(10, 25):
        out = tr.update(meta(i, i / 30), pose((0.0, 0.0), 0.0, WRIST))
        coasting.extend(out)
    assert all(kp.state == "predicted" for kp in coasting)
    assert 3 <= len(coasting) <= 5 and coasting[-1].smoothed[0] > 600.0


def test_still_time_fault_and_new_model_reset_the_joints(caplog):
    tr = BoundedKeypointTracker(CFG)
    for i in range(4):
        tr.update(meta(i, i / 10), pose((100.0 + 10 * i, 100.0), 0.9))
    moving = tr.update(meta(4, 0.4), pose((140.0, 100.0), 0.9))[0]
    assert moving.velocity[0] > 50.0
    still = tr.update(meta(5, 0.5, still=True), pose((150.0, 100.0), 0.9))[0]
    assert still.velocity == (0.0, 0.0)  # a still starts at rest
    for i in range(6, 9):
        tr.update(meta(i, i / 10), pose((150.0, 100.0), 0.9))
    assert tr.update(meta(9, 0.8), None) == ()  # time did not advance: the tracks end, nothing coasts
    assert tr.time_faults == {"cam0": 1} and "not after the previous frame" in caplog.text
    tr.update(meta(10, 1.0), pose((150.0, 100.0), 0.9))
    tr.update(meta(11, 1.1), pose((150.0, 100.0), 0.9))
    coco = tr.update(meta(12, 1.2), pose((150.0, 100.0), 0.9, COCO17))
    assert [kp.name for kp in coco] == list(COCO17.names)  # another model: its own tracks
    assert all(kp.velocity == (0.0, 0.0) for kp in coco)  # new tracks, at rest
    assert sorted(tr.tracks("cam0")) == list(range(COCO17.num_keypoints))
    assert tr.keypoint_set("cam0") is COCO17 and tr.keypoint_set("cam1") is None
    tr.update(meta(13, 1.3), None)
    assert tr.keypoint_set("cam0") is COCO17  # a frame without a pose keeps it


def noisy_line(fps: float, frames: int = 120, noise_px: float = 3.0, seed: int = 7):
    """Wrist_R on x = 100 + 60 t, y = 200 + 30 t (px, t s) measured with Gaussian noise of ``noise_px``."""
    rng = np.random.default_rng(seed)
    tr = BoundedKeypointTracker(CFG)
    raw, smoothed, truth, velocity = [], [], [], []
    for i in range(frames):
        t = i / fps
        true = np.array([100.0 + 60.0 * t, 200.0 + 30.0 * t])
        xy = np.tile(true, (K, 1)) + rng.normal(0.0, noise_px, (K, 2))
        wrist = by_name(tr.update(meta(i, t), pose(xy, 0.8)))["Wrist_R"]
        raw.append((wrist.x, wrist.y))
        smoothed.append(wrist.smoothed)
        truth.append(true)
        velocity.append(wrist.velocity)
    return np.array(raw), np.array(smoothed), np.array(truth), np.array(velocity)


def jitter(track: np.ndarray) -> float:
    """RMS of the second differences (px): frame-to-frame wobble; 0 on an evenly moving straight line."""
    return float(np.sqrt((np.diff(track, 2, axis=0) ** 2).sum(axis=1).mean()))


def test_smoothed_jitter_is_lower_than_raw_on_a_noisy_straight_line():
    """Measured at the defaults (30 fps, 3 px noise, score 0.8, frames 15..119): jitter (RMS second
    difference) 11.2 px raw, 5.5 px smoothed, ratio 0.49; position error 4.2 → 3.2 px, ratio 0.75;
    mean velocity (59.9, 29.6) px/s for the true (60, 30)."""
    raw, smoothed, truth, velocity = noisy_line(30.0)
    settled = slice(15, None)
    ratio = jitter(smoothed[settled]) / jitter(raw[settled])
    err = lambda a: float(np.sqrt(((a - truth)[settled] ** 2).sum(axis=1).mean()))  # noqa: E731
    error_ratio = err(smoothed) / err(raw)
    assert ratio < 0.6, f"smoothed/raw jitter {ratio:.2f}"
    assert error_ratio < 0.9, f"smoothed/raw position error {error_ratio:.2f}"
    assert velocity[settled].mean(axis=0) == pytest.approx((60.0, 30.0), abs=5.0)


@pytest.mark.parametrize("fps", [10.0, 30.0])
def test_velocity_is_in_pixels_per_second(fps):
    """A noise-free joint moving (60, 30) px/s: the filter's velocity converges to it at any frame rate."""
    tr = BoundedKeypointTracker(CFG)
    for i in range(40):
        t = i / fps
        out = tr.update(meta(i, t), pose((100.0 + 60.0 * t, 200.0 + 30.0 * t), 0.9))
    assert out[0].velocity == pytest.approx((60.0, 30.0), abs=0.5)
    assert out[0].smoothed == pytest.approx((out[0].x, out[0].y), abs=0.1)


def test_raw_keypoints_without_tracking():
    xy = np.tile(np.float32([10.0, 20.0]), (K, 1))
    xy[1] = (700.0, 20.0)  # outside the 640x480 frame
    score = np.full(K, 0.9, np.float32)
    score[2] = 0.2  # below min_score
    out = raw_keypoints(meta(0, 0.0), pose(xy, score), 0.3)
    assert [kp.id for kp in out] == [i for i in range(K) if i not in (1, 2)]
    assert out[0] == Keypoint(0, "Head", 10.0, 20.0, pytest.approx(0.9))
    assert all(kp.smoothed is None and kp.velocity is None and kp.state == "observed" for kp in out)
    assert raw_keypoints(meta(0, 0.0), None, 0.3) == ()
