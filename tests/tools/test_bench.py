"""``python -m tools.bench --json`` on a small file with the colour model: keys, counts, sane values."""

import json
import subprocess
import sys

import pytest

from tests.helpers.media import write_h264

KEYS = {
    "bare_fps",
    "naive_fps",
    "pipeline_fps",
    "inference_ms",
    "live_p50_ms",
    "live_p99_ms",
    "live_drop_rate",
    "cores",
    "stage_cpu_ms",
    "limit_fps",
}


def test_bench_json(colour_model_path, tmp_path):
    video = write_h264(tmp_path / "v.mp4", frames=40, fps=25)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.bench",
            "--source",
            str(video),
            "--model",
            str(colour_model_path),
            "--frames",
            "30",
            "--live-seconds",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) >= KEYS
    assert result["frames"] == 30
    assert result["bare_fps"] > result["naive_fps"] > 0 and result["pipeline_fps"] > 0
    assert result["inference_ms"] * result["bare_fps"] == pytest.approx(1000.0, rel=1e-6)
    assert 0.0 <= result["live_drop_rate"] < 1.0
    assert 0 < result["live_p50_ms"] <= result["live_p99_ms"]
    assert result["live_source_fps"] == pytest.approx(1.5 * result["bare_fps"])
    cost = result["stage_cpu_ms"]
    assert set(cost) == {"decode", "preprocess", "inference", "postprocess"} and min(cost.values()) > 0
    assert result["limit_fps"] == pytest.approx(1000.0 * result["cores"] / sum(cost.values()))


def test_bench_table_and_bad_args(colour_model_path, tmp_path):
    video = write_h264(tmp_path / "v.mp4", frames=20, fps=25)
    base = [sys.executable, "-m", "tools.bench", "--source", str(video), "--model", str(colour_model_path)]
    proc = subprocess.run(
        [*base, "--frames", "10", "--live-seconds", "1"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "x bare" in proc.stdout and "x naive" in proc.stdout and "p99" in proc.stdout
    assert "compute limit" in proc.stdout and "x limit" in proc.stdout
    bad = subprocess.run([*base, "--frames", "0"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--frames: must be >= 1, got 0" in bad.stderr
