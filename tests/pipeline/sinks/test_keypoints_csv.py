"""The keypoints CSV: one row per keypoint per frame in a second file beside the parts CSV."""

import csv
from pathlib import Path

import numpy as np
import pytest

from pipeline.contract.keypoints import NYCU22
from pipeline.frames import Keypoint, PoseEstimate
from pipeline.sinks.csv import CsvSink
from pipeline.sinks.table import (
    COLUMNS,
    IMAGE_COLUMN,
    KEYPOINT_COLUMNS,
    CsvWriter,
    keypoint_rows,
    keypoints_path,
)
from tests.helpers.media import OBSERVED_PART, make_result

KNEE = {
    "id": 16,
    "name": "Knee_R",
    "x": 40.5,
    "y": 60.25,
    "score": 0.912,
    "state": "observed",
    "smoothed": [40.0, 60.0],
    "velocity": [12.5, -3.0],
    "uncertainty": [2.1, 2.2],
}
ANKLE = {
    "id": 18,
    "name": "Ankle_R",
    "x": None,
    "y": None,
    "score": 0.0,
    "state": "predicted",
    "smoothed": [41.0, 90.0],
    "velocity": [0.0, 1.5],
    "uncertainty": [6.0, 6.5],
}


def record(seq: int, keypoints: list[dict] | None, pose: dict | None = None, parts=(OBSERVED_PART,)) -> dict:
    rec = {
        "schema": 1,
        "source": "cam0",
        "seq": seq,
        "pts_s": 0.5 + seq,
        "capture_ts": 1795270000.125,
        "width": 64,
        "height": 48,
        "parts": list(parts),
        "classes": [],
    }
    if keypoints is not None:
        rec["pose"] = pose
        rec["keypoints"] = keypoints
    return rec


@pytest.mark.parametrize(
    ("path", "expected"),
    [("out.csv", "out.keypoints.csv"), ("dir/x", "dir/x.keypoints.csv"), ("a.b.csv", "a.b.keypoints.csv")],
)
def test_keypoints_file_sits_beside_the_parts_file(path, expected):
    assert keypoints_path(path) == Path(expected)


def test_keypoint_rows():
    pose = {"box": [1.0, 2.0, 60.0, 47.0], "model": "infant-pose"}
    observed, predicted = keypoint_rows(record(3, [KNEE, ANKLE], pose))
    assert list(observed) == list(KEYPOINT_COLUMNS)
    assert observed == {
        "source": "cam0",
        "seq": 3,
        "pts_s": 3.5,
        "capture_ts": 1795270000.125,
        "model": "infant-pose",
        "id": 16,
        "name": "Knee_R",
        "state": "observed",
        "x": 40.5,
        "y": 60.25,
        "score": 0.912,
        "sx": 40.0,
        "sy": 60.0,
        "vx": 12.5,
        "vy": -3.0,
        "sigma_x": 2.1,
        "sigma_y": 2.2,
    }
    assert (predicted["x"], predicted["y"], predicted["state"], predicted["sy"]) == (
        None,
        None,
        "predicted",
        90.0,
    )
    (no_pose,) = keypoint_rows(record(4, [ANKLE], None))
    assert no_pose["model"] is None
    assert keypoint_rows(record(5, None)) == [] and keypoint_rows(record(6, [], None)) == []
    (image_row,) = keypoint_rows({**record(7, [KNEE], pose), "image": "f/1.png"})
    assert list(image_row) == [*KEYPOINT_COLUMNS, IMAGE_COLUMN] and image_row["image"] == "f/1.png"


@pytest.mark.parametrize(
    "bad", [{"keypoints": {}}, {"keypoints": [3]}, {"keypoints": [{**KNEE, "smoothed": [1.0]}]}]
)
def test_malformed_keypoints_raise(bad):
    with pytest.raises((TypeError, ValueError)):
        keypoint_rows({**record(0, None), **bad})


def test_writer_keeps_the_parts_file_and_adds_the_keypoints_file_at_the_first_keypoint(tmp_path):
    path = tmp_path / "run.csv"
    w = CsvWriter(path)
    w.write_record(record(0, None))  # no pose model answer yet
    assert path.exists() and not w.keypoints_file.exists()
    w.write_record(record(1, [KNEE, ANKLE], {"box": [0.0, 0.0, 64.0, 48.0], "model": "m"}))
    w.write_record(record(2, [], None, parts=()))
    w.write_record(record(3, [KNEE], None))
    w.close()
    parts = path.read_text().splitlines()
    assert parts[0] == ",".join(COLUMNS) and len(parts) == 1 + 3  # a part row in frames 0, 1 and 3
    with w.keypoints_file.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert w.keypoints_file == tmp_path / "run.keypoints.csv"
    assert [(r["seq"], r["name"], r["state"], r["model"]) for r in rows] == [
        ("1", "Knee_R", "observed", "m"),
        ("1", "Ankle_R", "predicted", "m"),
        ("3", "Knee_R", "observed", ""),
    ]
    assert rows[1]["x"] == "" and rows[0]["vx"] == "12.5"
    assert (w.records, w.rows, w.keypoint_rows) == (4, 3, 3)


def test_without_keypoints_there_is_no_second_file(tmp_path):
    w = CsvWriter(tmp_path / "plain.csv")
    for i in range(3):
        w.write_record(record(i, None))
    w.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.csv"]


def test_csv_sink_writes_the_results_keypoints(tmp_path):
    xy = np.zeros((NYCU22.num_keypoints, 2), np.float32)
    pose = PoseEstimate((0.0, 0.0, 32.0, 24.0), "infant-pose", NYCU22, xy, np.zeros(NYCU22.num_keypoints))
    knee = Keypoint(16, "Knee_R", 10.0, 12.0, 0.75, "observed", (10.5, 12.0), (1.0, 0.0), (2.0, 2.0))
    r = make_result(np.zeros((24, 32, 3), np.uint8), pose=pose, keypoints=[knee])
    sink = CsvSink(tmp_path / "s.csv", image_column=True)
    sink.write(r)
    sink.close()
    (row,) = csv.DictReader((tmp_path / "s.keypoints.csv").open(newline=""))
    assert row == {
        **dict.fromkeys(KEYPOINT_COLUMNS, ""),
        "source": "t",
        "seq": "0",
        "pts_s": "0.0",
        "capture_ts": "1700000000.0",
        "model": "infant-pose",
        "id": "16",
        "name": "Knee_R",
        "state": "observed",
        "x": "10.0",
        "y": "12.0",
        "score": "0.75",
        "sx": "10.5",
        "sy": "12.0",
        "vx": "1.0",
        "vy": "0.0",
        "sigma_x": "2.0",
        "sigma_y": "2.0",
        IMAGE_COLUMN: "",
    }
