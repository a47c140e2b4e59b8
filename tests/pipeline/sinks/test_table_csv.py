"""The CSV layout (pipeline/sinks/table.py) and the CSV sink: rows, empty cells, round trips."""

import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import ConfigError
from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.sinks.csv import CsvSink
from pipeline.sinks.jsonl import JsonlSink
from pipeline.sinks.table import COLUMNS, IMAGE_COLUMN, CsvWriter, record_rows
from pipeline.sources.file import FileSource
from tests.helpers.media import (
    GREEN,
    OBSERVED_PART,
    PREDICTED_PART,
    RED,
    colour_pipeline,
    run_to_end,
    scene,
    write_h264,
)

OBSERVED, PREDICTED = OBSERVED_PART, PREDICTED_PART
UNTRACKED = {**OBSERVED, "track_id": None, "smoothed": None, "velocity": None, "uncertainty": None}


def record(seq: int, parts: list[dict], pts: float | None = 0.5) -> dict:
    return {
        "schema": 1,
        "source": "cam0",
        "seq": seq,
        "pts_s": pts,
        "capture_ts": 1795270000.125,
        "width": 64,
        "height": 48,
        "dropped_since_last": 0,
        "latency_ms": {},
        "parts": parts,
        "classes": [],
    }


def test_columns():
    assert COLUMNS[:4] == ("source", "seq", "pts_s", "capture_ts")
    assert len(set(COLUMNS)) == len(COLUMNS) == 23


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        (
            OBSERVED,
            {
                "instance": 0,
                "track_id": 7,
                "cx": 19.5,
                "cy": 29.5,
                "sx": 19.4,
                "vy": -2.0,
                "sigma_y": 0.9,
                "x1": 30,
            },
        ),
        (PREDICTED, {"instance": None, "cx": None, "cy": None, "sx": 2.0, "state": "predicted", "y1": 4}),
        (UNTRACKED, {"track_id": None, "sx": None, "vx": None, "sigma_x": None, "cx": 19.5, "area_px": 400}),
    ],
)
def test_record_rows(part, expected):
    (row,) = record_rows(record(4, [part]))
    assert list(row) == list(COLUMNS)
    assert row["source"] == "cam0" and row["seq"] == 4 and row["pts_s"] == 0.5
    assert row["capture_ts"] == 1795270000.125
    for k, v in expected.items():
        assert row[k] == v, k


def test_record_rows_no_parts_and_malformed():
    assert record_rows(record(0, [])) == []
    with pytest.raises(KeyError):
        record_rows({"seq": 1, "parts": []})
    with pytest.raises(ValueError, match="cx/cy"):
        record_rows(record(0, [{**OBSERVED, "centroid": [1.0]}]))
    with pytest.raises(TypeError):
        record_rows(record(0, [{**OBSERVED, "box": 5}]))


def test_writer_header_once_empty_cells_and_lazy_file(tmp_path):
    path = tmp_path / "sub" / "dir" / "t.csv"
    w = CsvWriter(path)
    assert path.parent.is_dir() and not path.exists()
    w.write_record(record(0, [OBSERVED, PREDICTED], pts=None))
    w.write_record(record(1, []))
    w.write_record(record(2, [UNTRACKED]))
    w.close()
    w.close()
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert sum(line.startswith("source,") for line in lines) == 1
    assert len(lines) == 1 + 3 and (w.records, w.rows) == (3, 3)
    rows = list(csv.DictReader(path.open(newline="")))
    assert rows[0]["pts_s"] == "" and rows[1]["cx"] == "" and rows[1]["instance"] == ""
    assert rows[1]["state"] == "predicted" and rows[2]["seq"] == "2" and rows[2]["track_id"] == ""


@pytest.mark.parametrize(("image_column", "header"), [(None, True), (True, True), (False, False)])
def test_image_records_get_the_image_column(tmp_path, image_column, header):
    """Records of image sources name their file: a CSV of them has an ``image`` column, last."""
    path = tmp_path / "images.csv"
    w = CsvWriter(path, image_column=image_column)
    w.write_record({**record(0, [OBSERVED, OBSERVED]), "image": "frames/0001.png"})
    w.write_record({**record(1, [OBSERVED]), "image": "frames/0002.jpg"})
    w.close()
    rows = list(csv.DictReader(path.open(newline="")))
    assert list(rows[0]) == ([*COLUMNS, IMAGE_COLUMN] if header else list(COLUMNS))
    if header:
        assert [r["image"] for r in rows] == ["frames/0001.png"] * 2 + ["frames/0002.jpg"]
    (row,) = record_rows({**record(0, [OBSERVED]), "image": "a.png"})
    assert list(row) == [*COLUMNS, IMAGE_COLUMN] and row["image"] == "a.png"


def test_video_records_keep_the_columns(tmp_path):
    path = tmp_path / "video.csv"
    w = CsvWriter(path)
    w.write_record(record(0, [OBSERVED]))
    w.write_record({**record(1, [OBSERVED]), "image": "a.png"})  # a mixed run: left out, no error
    w.close()
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)


def test_writer_errors_name_the_flag(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=r"^--out .*file/x.csv: cannot create folder"):
        CsvWriter(blocker / "x.csv", "--out")
    with pytest.raises(ConfigError, match=r"^--csv .*: not a writable file path"):
        CsvWriter(tmp_path)


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
pair = st.none() | st.lists(finite, min_size=2, max_size=2)
parts = st.fixed_dictionaries(
    {
        "class_id": st.integers(0, 4),
        "name": text,
        "instance": st.none() | st.integers(0, 50),
        "track_id": st.none() | st.integers(0, 10**9),
        "state": st.sampled_from(["observed", "predicted"]),
        "box": st.lists(st.integers(-10, 5000), min_size=4, max_size=4),
        "centroid": pair,
        "smoothed": pair,
        "velocity": pair,
        "uncertainty": pair,
        "area_px": st.integers(0, 10**7),
        "score": st.floats(0, 1),
    }
)
records = st.builds(
    lambda source, seq, pts, ts, ps: {**record(seq, ps, pts), "source": source, "capture_ts": ts},
    text,
    st.integers(0, 10**9),
    st.none() | finite,
    finite,
    st.lists(parts, max_size=4),
)


def cell(value: object) -> str:
    return "" if value is None else str(value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=st.lists(records, min_size=1, max_size=5))
def test_round_trip_through_csv(tmp_path, recs):
    path = tmp_path / "rt.csv"
    w = CsvWriter(path)
    for r in recs:
        w.write_record(r)
    w.close()
    with path.open(newline="", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    expected = [{k: cell(v) for k, v in row.items()} for r in recs for row in record_rows(r)]
    assert back == expected
    for got, want in zip(back, (row for r in recs for row in record_rows(r)), strict=True):
        if want["cx"] is not None:
            assert float(got["cx"]) == want["cx"]  # floats survive exactly
    path.unlink()


def test_csv_sink_matches_jsonl_in_a_real_pipeline(tmp_path, colour_model_path):
    def draw(i: int):
        return scene(96, 128, [(RED, (8 + 2 * i, 8, 40 + 2 * i, 40)), (GREEN, (80, 50, 120, 90))])

    video = write_h264(tmp_path / "v.mp4", frames=12, draw=draw)
    backend = OrtBackend(colour_model_path)
    out_csv, out_jsonl = tmp_path / "o" / "r.csv", tmp_path / "o" / "r.jsonl"
    sink = CsvSink(out_csv)
    assert (sink.name, sink.policy) == ("csv", "lossless")
    run_to_end(colour_pipeline(FileSource(video, "vid"), backend, [sink, JsonlSink(out_jsonl)]))
    recs = [json.loads(line) for line in out_jsonl.read_text().splitlines()]
    rows = list(csv.DictReader(out_csv.open(newline="")))
    assert len(rows) == sum(len(r["parts"]) for r in recs) >= 24
    assert [int(r["seq"]) for r in rows] == [r["seq"] for r in recs for _ in r["parts"]]
    heads = [r for r in rows if r["name"] == "head"]
    assert [float(h["cx"]) for h in heads] == pytest.approx([8 + 2 * i + 15.5 for i in range(12)], abs=1.0)


def test_csv_sink_no_file_without_records(tmp_path):
    sink = CsvSink(tmp_path / "none.csv")
    sink.close()
    assert not Path(tmp_path / "none.csv").exists()
