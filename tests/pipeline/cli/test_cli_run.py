"""``infant-stream run`` as a user runs it: a subprocess, real files, one-line errors, exit codes.

Invalid configs, flags, URLs, files and models (one-line errors, nothing written): the table in
tests/faults/test_fault_invalid_input.py."""

import csv
import json
import os
import socket
import subprocess

import av
import pytest

from tests.helpers.media import truncated_h264, write_h264

TIMEOUT_S = 120


def run(cmd: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=TIMEOUT_S)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert proc.returncode == code, proc.stderr
    # the error line itself (a health line of a slow run can show the state "error" too)
    errors = [line for line in proc.stderr.splitlines() if "error" in line and not line.startswith("[")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


@pytest.mark.slow
def test_vtest_avi_one_record_per_frame(infant_stream, vtest_avi, colour_model_path, tmp_path):
    out = tmp_path / "out.jsonl"
    proc = run(
        infant_stream,
        "run",
        "--source",
        str(vtest_avi),
        "--model",
        str(colour_model_path),
        "--jsonl",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 795
    assert [r["seq"] for r in records] == list(range(795))
    assert {(r["width"], r["height"]) for r in records} == {(768, 576)}
    assert "795 frames" in proc.stderr


def test_truncated_file_writes_frames_then_reports(infant_stream, colour_model_path, tmp_path):
    cut = truncated_h264(tmp_path)
    out = tmp_path / "r.jsonl"
    proc = run(
        infant_stream, "run", "--source", str(cut), "--model", str(colour_model_path), "--jsonl", str(out)
    )
    assert_one_line_error(proc, 3, "cut.mp4", "file ends early")
    lines = out.read_text().splitlines()
    assert len(lines) > 5
    assert [json.loads(line)["seq"] for line in lines] == list(range(len(lines)))


def test_progress_line_once_a_second(infant_stream, colour_model_path, tmp_path):
    video = write_h264(tmp_path / "v.mp4", frames=50, fps=20)
    proc = run(infant_stream, "run", "--source", str(video), "--realtime", "--model", str(colour_model_path))
    assert proc.returncode == 0, proc.stderr
    health = [line for line in proc.stderr.splitlines() if line.startswith("[cam0]")]
    assert 1 <= len(health) <= 4, proc.stderr
    assert "fps cap" in health[0] and "drops" in health[0] and "latency" in health[0]


def test_no_progress_silences_health_line(infant_stream, colour_model_path, tmp_path):
    video = write_h264(tmp_path / "v.mp4", frames=30, fps=20)
    proc = run(
        infant_stream,
        "run",
        "--source",
        str(video),
        "--realtime",
        "--no-progress",
        "--model",
        str(colour_model_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert not [line for line in proc.stderr.splitlines() if line.startswith("[cam0]")]
    assert "30 frames" in proc.stderr


def test_live_output_flags_are_wired(infant_stream, colour_model_path, tmp_path):
    """--csv, --record, --record-raw, --no-tracking and --display (headless here) through the CLI."""
    video = write_h264(tmp_path / "v.mp4", frames=12)
    paths = {name: tmp_path / name for name in ("a.jsonl", "a.csv", "o.mp4", "r.mp4")}
    proc = subprocess.run(
        [
            *infant_stream,
            *("run", "--source", str(video), "--model", str(colour_model_path), "--no-progress"),
            *("--jsonl", str(paths["a.jsonl"]), "--csv", str(paths["a.csv"])),
            *("--record", str(paths["o.mp4"]), "--record-raw", str(paths["r.mp4"]), "--display"),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env={k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "no display available" in proc.stderr and "running without the monitor window" in proc.stderr
    records = [json.loads(line) for line in paths["a.jsonl"].read_text().splitlines()]
    assert len(records) == 12
    assert all(p["track_id"] is not None for r in records for p in r["parts"])
    rows = list(csv.DictReader(paths["a.csv"].open(newline="")))
    assert len(rows) == sum(len(r["parts"]) for r in records) > 0
    for mp4 in (paths["o.mp4"], paths["r.mp4"]):
        with av.open(str(mp4)) as c:
            assert sum(1 for _ in c.decode(video=0)) == 12

    untracked = tmp_path / "u.jsonl"
    proc = run(
        infant_stream,
        *("run", "--source", str(video), "--model", str(colour_model_path)),
        *("--jsonl", str(untracked), "--no-tracking", "--no-display"),
    )
    assert proc.returncode == 0, proc.stderr
    parts = [p for line in untracked.read_text().splitlines() for p in json.loads(line)["parts"]]
    assert parts and all(p["track_id"] is None and p["smoothed"] is None for p in parts)


def test_zmq_bind_error_is_one_line_and_writes_nothing(infant_stream, colour_model_path, tmp_path):
    video = write_h264(tmp_path / "v.mp4", frames=3)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        endpoint = f"tcp://127.0.0.1:{busy.getsockname()[1]}"
        out = tmp_path / "out.jsonl"
        proc = run(
            infant_stream,
            *("run", "--source", str(video), "--model", str(colour_model_path)),
            *("--zmq", endpoint, "--jsonl", str(out), "--record", str(tmp_path / "o.mp4")),
        )
    assert_one_line_error(proc, 2, f"--zmq {endpoint}", "Address already in use")
    assert not out.exists() and not (tmp_path / "o.mp4").exists()


def test_batched_inference_gives_the_same_records(infant_stream, colour_model_path, tmp_path):
    video = write_h264(tmp_path / "v.mp4", frames=20)
    outs = []
    for batch in ("1", "4"):
        out = tmp_path / f"b{batch}.jsonl"
        proc = run(
            infant_stream,
            *("run", "--source", str(video), "--model", str(colour_model_path), "--no-display"),
            *("--jsonl", str(out), "--max-batch", batch, "--gpu-preprocess"),
        )
        assert proc.returncode == 0, proc.stderr
        assert "gpu_preprocess: ignored" in proc.stderr  # no GPU backend here: said, not silent
        outs.append([json.loads(line) for line in out.read_text().splitlines()])
    strip = [[(r["seq"], r["parts"]) for r in records] for records in outs]
    assert len(strip[0]) == 20 and strip[0] == strip[1]


def test_tensorrt_backend_without_tensorrt_is_one_line(infant_stream, colour_model_path, tmp_path):
    """No TensorRT on CPU machines (CI): the GPU backend must say so in one line, not crash."""
    video = write_h264(tmp_path / "v.mp4", frames=2)
    out = tmp_path / "o.jsonl"
    proc = run(
        infant_stream,
        *("run", "--source", str(video), "--model", str(colour_model_path), "--backend", "tensorrt"),
        *("--jsonl", str(out)),
    )
    assert_one_line_error(proc, 4)
    assert not out.exists()


def test_privacy_flags_and_removed_keys(infant_stream, colour_model_path, tmp_path):
    """--no-blur is --privacy off (records say none, a warning says so); the two together, a bad mode
    and a config written before fail-closed privacy (blur_head) are one-line errors, nothing written."""
    video = write_h264(tmp_path / "v.mp4", frames=3)
    base = ("run", "--source", str(video), "--model", str(colour_model_path), "--no-display")
    out = tmp_path / "off.jsonl"
    proc = run(infant_stream, *base, "--no-blur", "--jsonl", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" in proc.stderr and "privacy.mode off" in proc.stderr
    assert [json.loads(line)["privacy"] for line in out.read_text().splitlines()] == ["none"] * 3
    default = tmp_path / "default.jsonl"
    proc = run(infant_stream, *base, "--jsonl", str(default))
    assert proc.returncode == 0 and "privacy.mode off" not in proc.stderr
    assert {json.loads(line)["privacy"] for line in default.read_text().splitlines()} == {"frame"}  # no head

    old = tmp_path / "old.yaml"
    old.write_text("privacy:\n  blur_head: false\n")
    bad = tmp_path / "bad.jsonl"
    for args, needles in (
        (("--no-blur", "--privacy", "frame"), ("--privacy and --no-blur", "one or the other")),
        (("--privacy", "blur"), ("--privacy: must be one of fail_closed, head, frame, off", "'blur'")),
        (("--config", str(old)), ("old.yaml: privacy: blur_head was replaced by mode", "mode: off")),
    ):
        proc = run(infant_stream, *base, *args, "--jsonl", str(bad))
        assert_one_line_error(proc, 2, *needles)
        assert not bad.exists()
