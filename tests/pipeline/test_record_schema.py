"""The record's ``pose``/``keypoints`` keys and its JSON Schema (docs/record.schema.json)."""

import copy
import json

import jsonschema
import numpy as np
import pytest

from pipeline.contract.keypoints import COCO17
from pipeline.frames import Keypoint, PartInstance, PoseEstimate
from pipeline.lifecycle import HealthStatus, State
from pipeline.record import keypoint_record, pose_record, status_record
from pipeline.sinks.jsonl import JsonlSink
from tests.helpers.bounds import assert_record_in_frame, keypoints_outside, pipeline_records
from tests.helpers.media import OBSERVED_PART, PREDICTED_PART, make_result
from tests.helpers.schema import SCHEMA_FILE, record_errors, validate_record

POSE = PoseEstimate(
    (10.123, -4.0, 90.5, 70.0),
    "vitpose-s",
    COCO17,
    np.zeros((17, 2), np.float32),
    np.zeros(17, np.float32),
)
OBSERVED = Keypoint(
    9, "left_wrist", 40.1234, 50.9876, 0.87654, "observed", (40.5, 50.25), (12.345, -3.0), (1.234, 1.5)
)
PREDICTED = Keypoint(10, "right_wrist", None, None, 0.0, "predicted", (60.0, 55.0), (0.0, 1.0), (3.0, 3.0))


def keypoint_result():
    part = PartInstance(2, "arm", 0, (10, 20, 30, 40), (19.5, 29.5), 400, 0.9, 1, "observed", (19.5, 29.5))
    return make_result(
        np.zeros((80, 100, 3), np.uint8), parts=[part], pose=POSE, keypoints=[OBSERVED, PREDICTED]
    )


def test_the_schema_is_a_valid_draft_2020_12_schema():
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["$defs"]["keypoint"]["required"]) == set(keypoint_record(OBSERVED))


def test_keypoint_and_pose_entries_rounded_like_parts():
    assert keypoint_record(OBSERVED) == {
        "id": 9,
        "name": "left_wrist",
        "x": 40.12,
        "y": 50.99,
        "score": 0.877,
        "state": "observed",
        "smoothed": [40.5, 50.25],
        "velocity": [12.35, -3.0],
        "uncertainty": [1.23, 1.5],
    }
    assert keypoint_record(PREDICTED)["x"] is None and keypoint_record(PREDICTED)["state"] == "predicted"
    assert pose_record(POSE) == {"box": [10.12, -4.0, 90.5, 70.0], "model": "vitpose-s"}
    assert pose_record(None) is None


def test_a_record_with_keypoints_validates_and_round_trips():
    r = keypoint_result()
    rec = json.loads(r.record_json)
    assert rec == r.record and rec["schema"] == 1
    assert [k["id"] for k in rec["keypoints"]] == [9, 10] and rec["pose"]["model"] == "vitpose-s"
    validate_record(rec)
    plain = make_result(np.zeros((8, 8, 3), np.uint8)).record
    assert "pose" not in plain and "keypoints" not in plain  # no pose: the record of before
    validate_record(plain)
    validate_record({**plain, "pose": None, "keypoints": []})
    validate_record({**plain, "parts": [OBSERVED_PART, PREDICTED_PART]})


def test_a_status_record_validates():
    status = HealthStatus(
        "cam0", State.RUNNING, {"capture": 30.0}, 2, 100, float("nan"), failed_outputs=("window",)
    )
    validate_record(status_record(status, 1.7e9, publisher={"sent": 3, "dropped": 0, "queued": 1}))


def mutate(rec, path, value):
    """``rec`` with the value at ``path`` (keys/indices) replaced by ``value`` (``...`` deletes it)."""
    out = copy.deepcopy(rec)
    target = out
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("keypoints", 0, "score"), 1.5, "keypoints/0/score: 1.5 is greater than the maximum of 1"),
        (("keypoints", 0, "state"), "coasting", "keypoints/0/state: 'coasting' is not one of"),
        (("keypoints", 1, "x"), 3.0, "keypoints/1/x: 3.0 is not of type 'null'"),  # predicted has no x
        (("keypoints", 0, "x"), None, "keypoints/0/x: None is not of type 'number'"),  # observed has one
        (("keypoints", 0, "smoothed"), [1.0], "keypoints/0/smoothed"),
        (("keypoints", 0, "name"), ..., "keypoints/0: 'name' is a required property"),
        (("keypoints", 0, "extra"), 1, "keypoints/0: Additional properties are not allowed ('extra'"),
        (("pose", "box"), [1.0, 2.0, 3.0], "pose/box"),
        (("pose", "model"), 7, "pose/model"),
        (("keypoints",), {}, "keypoints: {} is not of type 'array'"),
        (("parts", 0, "box"), "10,20,30,40", "parts/0/box"),
        (("seq",), ..., "(record): 'seq' is a required property"),
        (("privacy",), "blur", "privacy: 'blur' is not one of"),
        (("latency_ms", "inference"), -1.0, "latency_ms/inference"),
    ],
)
def test_a_malformed_record_fails_with_the_field_named(path, value, named):
    bad = mutate(keypoint_result().record, path, value)
    with pytest.raises(AssertionError, match=r"does not match record\.schema\.json") as err:
        validate_record(bad)
    assert named in str(err.value), record_errors(bad)


def test_a_malformed_status_record_fails_with_the_field_named():
    status = HealthStatus("cam0", State.STALLED, {}, 0, 0, 3.0)
    rec = {**status_record(status, 1.7e9), "state": "sleeping"}
    assert record_errors(rec) == [f"state: 'sleeping' is not one of {[s.value for s in State]}"]


def test_jsonl_records_with_keypoints_pass_the_guard(tmp_path):
    """What the autouse guard (tests/conftest.py) reads back from a JSONL the pipeline wrote: the
    record with keypoints, schema-valid and inside its frame."""
    sink = JsonlSink(tmp_path / "k.jsonl")
    sink.write(keypoint_result())
    sink.close()
    (rec,) = pipeline_records(tmp_path / "k.jsonl")
    assert len(rec["keypoints"]) == 2
    validate_record(rec)
    assert_record_in_frame(rec)


@pytest.mark.parametrize(
    ("changes", "bad"),
    [
        ({}, []),
        ({"smoothed": [99.0, 79.0]}, []),
        ({"smoothed": [99.5, 10.0]}, ["observed keypoint left_wrist: smoothed [99.5, 10.0] outside 100x80"]),
        ({"x": -0.1}, ["observed keypoint left_wrist: x, y [-0.1, 50.99] outside 100x80"]),
        ({"y": 80.0, "smoothed": None}, ["observed keypoint left_wrist: x, y [40.12, 80.0] outside 100x80"]),
    ],
)
def test_keypoints_outside_the_frame_are_reported(changes, bad):
    entry = {**keypoint_record(OBSERVED), **changes}
    assert keypoints_outside([entry], 100, 80) == bad
    rec = {**keypoint_result().record, "keypoints": [entry]}
    if bad:
        with pytest.raises(AssertionError, match="outside 100x80"):
            assert_record_in_frame(rec)
    else:
        assert_record_in_frame(rec)
