"""``python -m tools.bench`` on small files with the colour model: keys, counts, sane values; with a
test-built pose model (tests/helpers/pose_models.py) on a clip where the colour model finds the infant
in every frame, the segmentation + pose measurements beside the segmentation ones."""

import json
import subprocess
import sys

import pytest

from pipeline.runtime.threads import available_cores, plan_threads
from tests.helpers.media import write_h264
from tests.helpers.pose_models import heatmap_model, infant_scene, pose_spec, simcc_model

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
    "pose",
    "workers",
    "intra_threads",
    "camera",
}
POSE_KEYS = {
    "camera",
    "workers",
    "model",
    "output",
    "keypoints",
    "input_hw",
    "frames_with_pose",
    "stage_cpu_ms",
    "keypoint_tracker_ms",
    "pose_wall_ms",
    "limit_fps",
    "naive_fps",
    "pipeline_fps",
    "live_frames",
    "live_p50_ms",
    "live_p99_ms",
    "live_p99_first_half_ms",
    "live_p99_second_half_ms",
    "live_drop_rate",
}
SEG_STAGES = {"decode", "preprocess", "inference", "postprocess"}
HEADER = ["limit", "fps", "naive", "fps", "pipeline", "fps", "x", "limit", "x", "naive", "pose", "core-ms"]


def bench(video, model, *extra, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "tools.bench", "--source", str(video), "--model", str(model), *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def infant_clip(path, frames):
    """A 320×240 clip of the pose helpers' infant (a blue torso the colour model segments; a red and a
    green spot the toy pose models find), the spots moving a pixel a frame."""
    return write_h264(
        path,
        frames=frames,
        fps=25,
        size=(320, 240),
        draw=lambda i: infant_scene(red=(135.3 + i, 100.6), green=(185.7, 150.2 - i)),
    )


def test_bench_json(colour_model_path, tmp_path):
    video = write_h264(tmp_path / "v.mp4", frames=40, fps=25)
    proc = bench(video, colour_model_path, "--frames", "30", "--live-seconds", "1", "--no-pose", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) >= KEYS
    assert result["pose"] is None
    assert result["frames"] == 30
    assert result["bare_fps"] > result["naive_fps"] > 0 and result["pipeline_fps"] > 0
    assert result["inference_ms"] * result["bare_fps"] == pytest.approx(1000.0, rel=1e-6)
    assert 0.0 <= result["live_drop_rate"] < 1.0
    assert 0 < result["live_p50_ms"] <= result["live_p99_ms"]
    assert result["live_source_fps"] == pytest.approx(1.5 * result["bare_fps"])
    cost = result["stage_cpu_ms"]
    assert set(cost) == SEG_STAGES and min(cost.values()) > 0
    assert result["limit_fps"] == pytest.approx(1000.0 * result["cores"] / sum(cost.values()))
    cam = result["camera"]
    assert cam["fps"] == 30.0 and cam["frames"] == 30  # --live-seconds 1
    assert cam["sequential_ms"] == pytest.approx(sum(cost.values()))
    assert cam["p99_over_sequential"] == pytest.approx(cam["p99_ms"] / cam["sequential_ms"])
    assert 0 < cam["p50_ms"] <= cam["p99_ms"] and 0.0 <= cam["drop_rate"] < 1.0


def test_bench_json_with_pose(colour_model_path, tmp_path):
    """A 256×192 heatmap model (crops as large as the real model's): every frame has a pose, the pose
    stage and the keypoint tracker cost CPU, so the limit with pose is below the one without."""
    spec = pose_spec("heatmap", input_size=[256, 192])
    pose = heatmap_model(tmp_path / "pose.onnx", spec, input_hw=(256, 192))
    video = infant_clip(tmp_path / "infant.mp4", 24)
    proc = bench(
        video, colour_model_path, "--pose-model", str(pose), "--frames", "20", "--live-seconds", "1", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    p = result["pose"]
    assert set(p) == POSE_KEYS
    assert (p["model"], p["output"], p["keypoints"], p["input_hw"]) == (str(pose), "heatmap", 2, [256, 192])
    assert p["frames_with_pose"] == result["frames"] == 20
    cost, seg = p["stage_cpu_ms"], result["stage_cpu_ms"]
    assert set(cost) == SEG_STAGES | {"pose"} and min(cost.values()) > 0
    assert {k: cost[k] for k in ("decode", "preprocess", "inference")} == {
        k: seg[k] for k in ("decode", "preprocess", "inference")
    }  # the same measurement, not a second one
    assert 0 < p["keypoint_tracker_ms"] < cost["postprocess"]
    assert p["limit_fps"] == pytest.approx(1000.0 * result["cores"] / sum(cost.values()))
    assert p["limit_fps"] < result["limit_fps"]
    assert p["naive_fps"] > 0 and p["pipeline_fps"] > 0 and p["pose_wall_ms"] > 0
    assert p["live_frames"] == result["live_frames"]  # the same paced source
    assert 0 < p["live_p50_ms"] <= p["live_p99_ms"] and 0.0 <= p["live_drop_rate"] < 1.0
    assert p["live_p99_first_half_ms"] > 0 and p["live_p99_second_half_ms"] > 0
    # the workers `infant-stream run` would choose here (pipeline/runtime/threads.py), two models per frame
    plan = plan_threads(result["cores"], 2)
    assert (
        p["workers"] == [plan.workers, plan.workers]
        and result["workers"] == plan_threads(result["cores"], 1).workers
    )


def test_bench_table_and_bad_args(colour_model_path, tmp_path):
    video = write_h264(tmp_path / "v.mp4", frames=20, fps=25)
    proc = bench(video, colour_model_path, "--frames", "10", "--live-seconds", "1", "--no-pose")
    assert proc.returncode == 0, proc.stderr
    assert "x bare" in proc.stdout and "x naive" in proc.stdout and "p99" in proc.stdout
    assert "compute limit" in proc.stdout and "x limit" in proc.stdout
    assert "segmentation + pose" not in proc.stdout
    bad = bench(video, colour_model_path, "--frames", "0", timeout=60)
    assert bad.returncode == 2 and "--frames: must be >= 1, got 0" in bad.stderr


def test_bench_table_with_pose(colour_model_path, tmp_path):
    """A SimCC model: the table's two rows, segmentation and segmentation + pose, and the pose cost."""
    pose = simcc_model(tmp_path / "simcc.onnx")
    video = infant_clip(tmp_path / "infant.mp4", 12)
    proc = bench(video, colour_model_path, "--pose-model", str(pose), "--frames", "10", "--live-seconds", "1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    cores = available_cores()
    assert any(
        line.startswith(
            f"pose model {pose} (simcc, 2 keypoints, input 64x48): infant found in 10/10 frames; "
        )
        for line in lines
    )
    assert f"bare and naive: one session, {cores} threads" in proc.stdout
    header = next(i for i, line in enumerate(lines) if "pose core-ms" in line)
    assert lines[header].split() == HEADER
    seg, both = lines[header + 1], lines[header + 2]
    assert seg.startswith("segmentation ") and seg.split()[-1] == "-"
    assert both.startswith("segmentation + pose ")
    numbers = [float(v) for v in both.removeprefix("segmentation + pose").split()]
    assert len(numbers) == 6 and min(numbers) > 0  # limit, naive, pipeline fps, x limit, x naive, pose ms
    assert any(line.startswith("compute limit with pose ") for line in lines)
    assert any(line.startswith("live (latest) with pose, same source") for line in lines)


@pytest.mark.parametrize(
    ("extra", "code", "needle"),
    [
        (["--pose-model", "p.onnx", "--no-pose"], 2, "--pose-model and --no-pose: give one or the other"),
        (["--pose-model", " "], 2, "--pose-model: must be a file path, got ' '"),
        (["--pose-model", "{missing}"], 4, "missing.onnx"),
        (["--pose-model", "{seg}"], 4, "not a keypoints (pose) model"),
    ],
)
def test_bench_bad_pose_model_is_one_line(colour_model_path, tmp_path, extra, code, needle):
    video = write_h264(tmp_path / "v.mp4", frames=2, fps=25)
    given = [a.format(missing=tmp_path / "missing.onnx", seg=colour_model_path) for a in extra]
    proc = bench(video, colour_model_path, *given, "--frames", "1", timeout=60)
    assert proc.returncode == code, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and proc.stdout == ""
