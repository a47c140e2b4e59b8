"""``infant-stream plot``: records → per-track series (pure), the PNG, and one-line CLI errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipeline.cli.plot import (
    DPI,
    FIG_WIDTH_IN,
    ROW_HEIGHT_IN,
    _runs,
    extract_series,
    parse_parts,
    read_records,
)

NAN = float("nan")


def part(
    name: str, track: int, state: str, centroid: list[float] | None, smoothed: list[float]
) -> dict[str, Any]:
    class_id = {"head": 1, "arm": 2, "torso": 3, "leg": 4}[name]
    return {
        "class_id": class_id,
        "name": name,
        "instance": None if state == "predicted" else 0,
        "track_id": track,
        "state": state,
        "box": [0, 0, 10, 10],
        "centroid": centroid,
        "smoothed": smoothed,
        "velocity": [0.0, 0.0],
        "uncertainty": [1.0, 1.0],
        "area_px": 0 if state == "predicted" else 100,
        "score": 0.0 if state == "predicted" else 0.9,
    }


def records(n: int = 10, pts: bool = True) -> list[dict[str, Any]]:
    """Two tracks: head 1 always observed; arm 2 observed, predicted at seq 4..6, observed again."""
    out = []
    for i in range(n):
        ps = [part("head", 1, "observed", [10.0 + i, 20.0], [10.5 + i, 20.5])]
        if 4 <= i <= 6:
            ps.append(part("arm", 2, "predicted", None, [50.0 + 2 * i, 60.0 - i]))
        else:
            ps.append(part("arm", 2, "observed", [50.0 + 2 * i, 61.0 - i], [50.2 + 2 * i, 60.0 - i]))
        out.append(
            {
                "schema": 1,
                "source": "cam0",
                "seq": i,
                "pts_s": 0.1 * i if pts else None,
                "capture_ts": 1.7e9 + 0.1 * i,
                "width": 128,
                "height": 96,
                "parts": ps,
            }
        )
    return out


def write_jsonl(path: Path, recs: list[dict[str, Any]], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs) + tail)
    return path


def test_extract_series_per_class_per_track(tmp_path: Path) -> None:
    s = extract_series(records(), tmp_path / "x.jsonl")
    assert s.source == "cam0" and s.time_axis == "capture_ts" and s.records == 10
    assert set(s.parts) == {"head", "arm", "torso", "leg"}
    assert s.parts["torso"] == {} and s.parts["leg"] == {}
    head = s.parts["head"]["track 1"]
    np.testing.assert_allclose(head.t, 0.1 * np.arange(10), atol=1e-6)  # Unix seconds in float64
    np.testing.assert_allclose(head.raw, np.stack([10.0 + np.arange(10), np.full(10, 20.0)], 1))
    np.testing.assert_allclose(head.smoothed, head.raw + 0.5)
    assert not head.predicted.any()
    arm = s.parts["arm"]["track 2"]
    want_pred = np.isin(np.arange(10), [4, 5, 6])
    np.testing.assert_array_equal(arm.predicted, want_pred)
    assert np.isnan(arm.raw[want_pred]).all() and not np.isnan(arm.raw[~want_pred]).any()
    np.testing.assert_allclose(arm.smoothed[:, 0], 50.0 + 2 * np.arange(10) + np.where(want_pred, 0.0, 0.2))
    assert s.tracks == 2 and s.points == 20


def test_extract_series_capture_time_and_filters(tmp_path: Path) -> None:
    recs = [*records(pts=False), {**records(1)[0], "source": "cam1"}, {"type": "status", "source": "cam0"}]
    s = extract_series(recs, tmp_path / "x.jsonl", source="cam0", parts=("arm",))
    assert s.time_axis == "capture_ts" and list(s.parts) == ["arm"]
    np.testing.assert_allclose(s.parts["arm"]["track 2"].t, 0.1 * np.arange(10), atol=1e-6)


@pytest.mark.parametrize(
    ("flags", "runs"),
    [([0, 0], []), ([1, 1], [(0, 2)]), ([0, 1, 1, 0, 1], [(1, 3), (4, 5)])],
)
def test_runs(flags: list[int], runs: list[tuple[int, int]]) -> None:
    assert _runs(np.array(flags, bool)) == runs


def test_parse_parts() -> None:
    assert parse_parts(None) == ("head", "arm", "torso", "leg")
    assert parse_parts("arm, head,arm") == ("arm", "head")


def test_partial_last_line_is_ignored(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", records(3), tail='{"schema": 1, "sou')
    assert len(read_records(path)) == 3


def test_plot_png(tmp_path: Path, infant_stream: list[str]) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", records(30), tail="\n\n")
    proc = subprocess.run([*infant_stream, "plot", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    png = tmp_path / "r.png"
    assert proc.stdout.strip().splitlines() == [
        f"{png}: 30 records, 2 tracks, 60 points (source cam0, time capture_ts)"
    ]
    with Image.open(png) as img:
        assert img.format == "PNG"
        assert img.size == (round(FIG_WIDTH_IN * DPI), round(4 * ROW_HEIGHT_IN * DPI))
        pixels = np.asarray(img.convert("RGB"), np.float64)
    assert pixels.std() > 10.0
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_plot_out_and_parts(tmp_path: Path, infant_stream: list[str]) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", records(), tail='{"cut')
    out = tmp_path / "plots" / "arm.png"
    proc = subprocess.run(
        [*infant_stream, "plot", str(path), "--out", str(out), "--parts", "arm", "--source", "cam0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "partial last line" in proc.stderr
    with Image.open(out) as img:
        assert img.size == (round(FIG_WIDTH_IN * DPI), round(ROW_HEIGHT_IN * DPI))


@pytest.mark.parametrize(
    ("content", "extra", "code", "expect"),
    [
        (None, [], 2, "no such file"),
        ("", [], 5, "no records (empty file)"),
        ("\n  \n", [], 5, "no records (empty file)"),
        ('{"schema": 1}\nnot json\n{"schema": 1}\n', [], 5, "r.jsonl:2: not valid JSON"),
        ("[1, 2]\n", [], 5, "r.jsonl:1: not a JSON object"),
        ('{"schema": 1, "source": "cam0", "seq": 3}\n', [], 5, "record 1 (seq 3) has no 'parts' list"),
        ('{"schema": 1, "source": "cam0", "seq": 0, "parts": []}\n', [], 5, "no parts"),
        ("RECORDS", ["--parts", "tail"], 2, "--parts: unknown part tail"),
        ("RECORDS", ["--source", "cam9"], 5, "no records of source 'cam9'"),
        ("RECORDS", ["--out", "x.jpg"], 2, "must end in .png"),
    ],
)
def test_errors_are_one_line(
    tmp_path: Path, infant_stream: list[str], content: str | None, extra: list[str], code: int, expect: str
) -> None:
    path = tmp_path / "r.jsonl"
    if content == "RECORDS":
        write_jsonl(path, records(3))
    elif content is not None:
        path.write_text(content)
    proc = subprocess.run(
        [*infant_stream, "plot", str(path), *extra], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == code
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("infant-stream: error: ") and expect in lines[0], (
        proc.stderr
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == (["r.jsonl"] if content is not None else [])


def test_several_sources_need_source(tmp_path: Path, infant_stream: list[str]) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [*records(2), {**records(1)[0], "source": "cam1"}])
    proc = subprocess.run([*infant_stream, "plot", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "several sources (cam0, cam1)" in proc.stderr
    assert not (tmp_path / "r.png").exists()


def test_a_reconnect_is_a_gap_in_capture_time_not_a_restart_of_pts():
    """A live run that reconnected: pts_s starts again at 0 after a 3-s outage. The series runs on
    capture time (monotonic), the outage is one gap, no line crosses it, predicted points stay flagged."""
    before, after = records(10), records(10)
    for r in after:
        r["capture_ts"] += 4.0  # 3 s after the last record before the outage (0.9 s + 3 s + 0.1 s)
        r["seq"] += 10
    s = extract_series(before + after, Path("live.jsonl"))
    assert s.time_axis == "capture_ts" and s.frame_wh == (128, 96)
    assert s.gaps == (pytest.approx((0.9, 4.0)),)
    head = s.parts["head"]["track 1"]
    finite = head.t[np.isfinite(head.t)]
    assert np.all(np.diff(finite) > 0)  # time never runs backwards
    assert len(head.t) == 21 and np.isnan(head.raw[10]).all()  # a break between the two runs
    arm = s.parts["arm"]["track 2"]
    assert arm.predicted.sum() == 6


def test_reconnect_plot_draws(tmp_path):
    before, after = records(10), records(10)
    for r in after:
        r["capture_ts"] += 4.0
    jsonl = tmp_path / "live.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in before + after))
    from pipeline.cli.plot import draw

    s = extract_series(before + after, jsonl)
    draw(s, tmp_path / "live.png", "live")
    with Image.open(tmp_path / "live.png") as img:
        assert img.size == (round(FIG_WIDTH_IN * DPI), round(ROW_HEIGHT_IN * 4 * DPI))
