"""The postprocess stage with a pose: ``Result.pose``/``keypoints``, the record keys, and two legs whose
blobs touch (one leg region) keeping separate joints."""

from dataclasses import replace

import numpy as np
import pytest

from pipeline.config import KeypointTrackerConfig, PrivacyConfig, TrackerConfig
from pipeline.contract.geometry import compute_letterbox
from pipeline.contract.keypoints import NYCU22, KeypointSet
from pipeline.contract.model_meta import ModelSpec
from pipeline.frames import Frame, FrameMeta, Inferred, PoseEstimate, Timings
from pipeline.postprocess.stage import Postprocessor
from pipeline.postprocess.tracking import PartTracker
from pipeline.render.privacy import decide
from tests.helpers.bounds import assert_record_in_frame
from tests.helpers.schema import validate_record

S = 128  # frame and model size, px (identity letterbox)
FPS = 10.0
LEG = 4
KNEE_R, KNEE_L = NYCU22.index("Knee_R"), NYCU22.index("Knee_L")
ANKLE_R, ANKLE_L = NYCU22.index("Ankle_R"), NYCU22.index("Ankle_L")


def legs(i: int) -> tuple[int, int]:
    """Left edge x of the image-left leg and right edge (exclusive) of the image-right leg at frame ``i``:
    each 20 px wide, approaching 2 px per frame from each side; they touch from frame 10 on."""
    return 40 + 2 * i, 120 - 2 * i


def inferred(i: int, with_pose: bool = True, score: float = 0.9) -> Inferred:
    """Frame ``i``: two leg blobs (rows 40-99) from :func:`legs`; a pose with the infant's right knee
    and ankle on the image-left leg and the left ones on the image-right leg (the other 18 points at
    (64, 20) with score 0.05, below min_score)."""
    left_x0, right_x1 = legs(i)
    logits = np.zeros((5, S, S), np.float32)
    logits[0] = 5.0
    logits[LEG, 40:100, left_x0 : left_x0 + 20] = 10.0
    logits[LEG, 40:100, right_x1 - 20 : right_x1] = 10.0
    frame = Frame(
        FrameMeta("cam0", i, 50.0 + i / FPS, 1.7e9 + i / FPS, i / FPS, S, S), np.zeros((S, S, 3), np.uint8)
    )
    pose = None
    if with_pose:
        xy = np.tile(np.float32([64.0, 20.0]), (NYCU22.num_keypoints, 1))
        scores = np.full(NYCU22.num_keypoints, 0.05, np.float32)
        xy[KNEE_R], xy[ANKLE_R] = (left_x0 + 9.5, 60.0), (left_x0 + 9.5, 90.0)
        xy[KNEE_L], xy[ANKLE_L] = (right_x1 - 10.5, 60.0), (right_x1 - 10.5, 90.0)
        scores[[KNEE_R, ANKLE_R, KNEE_L, ANKLE_L]] = score
        pose = PoseEstimate((8.0, 4.0, 120.0, 124.0), "infant-pose", NYCU22, xy, scores)
    return Inferred(frame, compute_letterbox((S, S), (S, S), "center"), logits, Timings(), pose)


def post() -> Postprocessor:
    return Postprocessor(ModelSpec(input_hw=(S, S)), min_area_px=10, tracker=PartTracker(TrackerConfig()))


def test_touching_legs_keep_separate_joints():
    """Frames 0-9: two leg regions; 10-14: one (the blobs touch). The knees and ankles stay four
    tracks, each on its own leg, moving towards each other at 20 px/s."""
    stage = post()
    for i in range(15):
        r = stage(inferred(i))
        leg_parts = [p for p in r.parts if p.name == "leg" and p.state == "observed"]
        assert len(leg_parts) == (2 if i < 10 else 1), i
        kps = {kp.name: kp for kp in r.keypoints}
        assert set(kps) == {"Knee_R", "Ankle_R", "Knee_L", "Ankle_L"}  # the low-score rest is absent
        left_x0, right_x1 = legs(i)
        for name, x in (("Knee_R", left_x0 + 9.5), ("Ankle_R", left_x0 + 9.5), ("Knee_L", right_x1 - 10.5)):
            kp = kps[name]
            assert kp.state == "observed" and kp.x == pytest.approx(x)
            assert kp.smoothed[0] == pytest.approx(x, abs=2.0), (i, name)
        assert kps["Knee_L"].smoothed[0] - kps["Knee_R"].smoothed[0] > 4.0 * (15 - i) - 4.0
        validate_record(r.record)
        assert_record_in_frame(r.record)
    assert kps["Knee_R"].velocity[0] == pytest.approx(20.0, abs=2.0)  # 2 px per 0.1 s, rightwards
    assert kps["Knee_L"].velocity[0] == pytest.approx(-20.0, abs=2.0)
    assert r.record["keypoints"][0]["name"] == "Knee_R"  # by id: Knee_R (16) before Knee_L (17)


def test_result_and_record_carry_pose_and_keypoints():
    stage = post()
    r = stage(inferred(0))
    assert r.pose is not None and r.pose.model == "infant-pose"
    assert r.timings.postprocess_ms > 0.0
    assert r.record["pose"] == {"box": [8.0, 4.0, 120.0, 124.0], "model": "infant-pose"}
    knee = next(k for k in r.record["keypoints"] if k["name"] == "Knee_R")
    assert knee == {
        "id": KNEE_R,
        "name": "Knee_R",
        "x": 49.5,
        "y": 60.0,
        "score": 0.9,
        "state": "observed",
        "smoothed": [49.5, 60.0],
        "velocity": [0.0, 0.0],
        "uncertainty": [pytest.approx(4.0 / 0.9, abs=0.01)] * 2,
    }
    assert r.keypoint_set is NYCU22  # the pose's own set
    first = r
    r = stage(inferred(1))
    assert r.grid is first.grid  # one grid per map and frame size
    coasting = stage(inferred(2, with_pose=False))  # no pose this frame: the joints coast
    assert coasting.pose is None and coasting.record["pose"] is None
    assert coasting.keypoint_set is NYCU22  # the set of the source's last pose, kept while coasting
    assert {k["state"] for k in coasting.record["keypoints"]} == {"predicted"}
    assert all(k["x"] is None and k["score"] == 0.0 for k in coasting.record["keypoints"])
    validate_record(coasting.record)
    ended = stage(inferred(8, with_pose=False))  # 0.7 s since the last pose: nothing left
    assert ended.keypoints == () and "keypoints" not in ended.record and "pose" not in ended.record
    validate_record(ended.record)


def test_no_pose_model_no_keys_and_no_keypoint_tracker():
    stage = post()
    r = stage(inferred(0, with_pose=False))
    assert r.keypoints == () and r.pose is None and stage.keypoint_tracker is None
    assert r.keypoint_set is None
    assert "pose" not in r.record and "keypoints" not in r.record


def test_keypoint_tracking_off_publishes_the_confident_points_raw():
    stage = Postprocessor(
        ModelSpec(input_hw=(S, S)), min_area_px=10, keypoints=KeypointTrackerConfig(enabled=False)
    )
    r = stage(inferred(3))
    assert [k.name for k in r.keypoints] == ["Knee_R", "Knee_L", "Ankle_R", "Ankle_L"]
    assert all(k.smoothed is None and k.velocity is None for k in r.keypoints)
    assert stage.keypoint_tracker is None and r.keypoint_set is NYCU22
    validate_record(r.record)
    low = stage(inferred(4, score=0.2))  # below min_score 0.3: nothing
    assert low.keypoints == () and low.record["pose"]["model"] == "infant-pose"
    assert stage(inferred(5, with_pose=False)).keypoint_set is None  # raw: no pose, no joints, no set


def test_facial_keypoints_never_count_as_a_head_for_fail_closed():
    """No head class in the map: fail_closed hides the frame, even when confident facial points show
    a face (a pose model is confidently wrong on images unlike its training data); ``head`` mode
    pixelates their box instead."""
    stage = Postprocessor(ModelSpec(input_hw=(S, S)), min_area_px=10, privacy=PrivacyConfig())
    item = inferred(0)
    assert stage(item).privacy == "frame"
    xy, score = item.pose.xy.copy(), item.pose.score.copy()
    for name, at in (("Eye_L", (70.0, 20.0)), ("Eye_R", (58.0, 20.0)), ("Nose", (64.0, 26.0))):
        xy[NYCU22.index(name)] = at
        score[NYCU22.index(name)] = 0.8
    face = Inferred(
        item.frame,
        item.letterbox,
        item.logits,
        item.timings,
        PoseEstimate(item.pose.box, item.pose.model, NYCU22, xy, score),
    )
    r = Postprocessor(ModelSpec(input_hw=(S, S)), min_area_px=10, privacy=PrivacyConfig())(face)
    assert r.privacy == "frame" and r.record["privacy"] == "frame"
    head_mode = PrivacyConfig(mode="head")
    r = Postprocessor(ModelSpec(input_hw=(S, S)), min_area_px=10, privacy=head_mode)(face)
    assert r.privacy == "head" and r.record["privacy"] == "head"


def test_privacy_takes_the_head_points_from_the_poses_set():
    """A third-party set whose facial points (ids 0, 1) have no head word in their names: in ``head``
    mode with no head class, their confident points make the frame's decision ``head``; the same
    points under names alone would find no face."""
    item = inferred(0)
    opaque = KeypointSet("custom", ("k0", "k1", "k2"), (), ("", "", ""), facial=(0, 1))
    xy = np.float32([[58.0, 20.0], [70.0, 20.0], [64.0, 80.0]])
    pose = PoseEstimate(item.pose.box, "third-party", opaque, xy, np.float32([0.8, 0.8, 0.8]))
    face = replace(item, pose=pose)
    head_mode = PrivacyConfig(mode="head")
    r = Postprocessor(ModelSpec(input_hw=(S, S)), min_area_px=10, privacy=head_mode)(face)
    assert r.keypoint_set is opaque and r.privacy == "head" and r.record["privacy"] == "head"
    unnamed = replace(r, keypoint_set=None)
    assert decide(r.classes, head_mode, keypoints=unnamed.keypoints) == "none"
