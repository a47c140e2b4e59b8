"""The pose model in a run: the ``pose:`` config section and its default, the ``--pose-model`` /
``--no-pose`` / ``--no-seg`` flags and their one-line errors, and whole runs (the shipped segmentation
model on a synthetic infant clip with a test-built pose model; the pose model alone)."""

import json
import logging
import subprocess
from pathlib import Path

import pytest

from pipeline.cli.main import main
from pipeline.config import Config, ModelConfig, OutputConfig, PoseConfig, evolve, from_mapping
from pipeline.errors import ConfigError
from pipeline.session.build import DEFAULT_POSE_MODEL, load_pose_model, pose_model_path
from pipeline.session.session import Session
from pipeline.sources.file import FileSource
from tests.helpers.media import ListSink, colour_model, write_h264
from tests.helpers.pose_models import heatmap_model, infant_scene
from trainer.synth.video import write_video

SEG_MODEL = "models/infant-seg.onnx"
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def pose_path(tmp_path_factory) -> Path:
    return heatmap_model(tmp_path_factory.mktemp("pose") / "toy-pose.onnx")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A short synthetic infant clip (trainer/synth), which the shipped segmentation model segments."""
    out = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_video(out, frames=10, fps=10.0, width=320, height=240, seed=3)
    return out


# --- config -----------------------------------------------------------------------------------------


def test_pose_section_defaults():
    assert Config().pose == PoseConfig(enabled=True, model=None, threads=0)
    assert DEFAULT_POSE_MODEL == "models/infant-pose.onnx"


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        (
            {"model": ""},
            "cfg.yaml: pose.model: must be a file path, or null for the shipped pose model, got ''",
        ),
        (
            {"model": "  "},
            "cfg.yaml: pose.model: must be a file path, or null for the shipped pose model, got '  '",
        ),
        ({"enabled": "yes"}, "cfg.yaml: pose.enabled: must be true or false, got 'yes'"),
        ({"threads": -1}, "cfg.yaml: pose.threads: must be >= 0, got -1"),
        (
            {"smoothing": 1},
            "cfg.yaml: pose.smoothing: unknown key (known: enabled, model, threads, workers, flip_test)",
        ),
    ],
)
def test_bad_pose_section_is_one_line(section, needle):
    with pytest.raises(ConfigError) as err:
        from_mapping(Config, {"pose": section}, "cfg.yaml")
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_default_pose_model_absent_is_one_info_line(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pipeline.session.build")
    absent = tmp_path / "infant-pose.onnx"
    assert pose_model_path(Config(), default=absent) is None
    lines = [r for r in caplog.records if r.name == "pipeline.session.build"]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO and str(absent) in lines[0].getMessage()
    assert load_pose_model(Config(), default=absent) is None  # segmentation alone


def test_default_pose_model_present_is_used(tmp_path, pose_path):
    assert pose_model_path(Config(), default=pose_path) == pose_path
    model = load_pose_model(Config(), default=pose_path)
    assert model is not None and model.name == "toy-pose"


def test_pose_model_given_or_off(tmp_path, pose_path):
    given = Config(pose=PoseConfig(model=str(pose_path)))
    assert pose_model_path(given, default=tmp_path / "absent.onnx") == pose_path
    off = Config(pose=PoseConfig(enabled=False))
    assert pose_model_path(off, default=pose_path) is None  # off: not even the shipped one


def test_threads_follow_the_segmentation_model(pose_path):
    cfg = Config(model=ModelConfig(threads=1), pose=PoseConfig(model=str(pose_path)))
    model = load_pose_model(cfg)
    assert model is not None
    assert model.session.get_session_options().intra_op_num_threads == 1
    own = load_pose_model(evolve(cfg, pose=PoseConfig(model=str(pose_path), threads=2)))
    assert own is not None and own.session.get_session_options().intra_op_num_threads == 2


# --- CLI errors (in process: one line on stderr, the exit code) --------------------------------------


def cli_error(capsys, *args: str) -> tuple[int, str]:
    code = main(["run", "--no-display", "--no-progress", *args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1, err
    return code, lines[0]


def test_cli_errors(capsys, tmp_path, pose_path):
    video = write_h264(tmp_path / "v.mp4", frames=2)
    src = ["--source", str(video)]
    seg = str(colour_model(tmp_path / "colour.onnx"))
    missing = tmp_path / "missing.onnx"
    cases = [
        ([*src, "--pose-model", str(missing)], 4, [f"{missing}: model file not found"]),
        ([*src, "--pose-model", seg], 4, [seg, "not a keypoints (pose) model", "colour.yaml"]),
        (
            [*src, "--model", str(pose_path)],
            4,
            [str(pose_path), "is a keypoints (pose) model", "--pose-model"],
        ),
        (
            [*src, "--pose-model", str(pose_path), "--no-pose"],
            2,
            ["--pose-model and --no-pose: give one or the other"],
        ),
        ([*src, "--model", seg, "--no-seg"], 2, ["--model and --no-seg: give one or the other"]),
        ([*src, "--no-seg", "--no-pose"], 2, ["(--no-seg) and there is no pose model", "nothing to run"]),
        ([*src, "--pose-model", ""], 2, ["--pose-model: empty value"]),
    ]
    for args, code, needles in cases:
        got, line = cli_error(capsys, *args)
        assert got == code, (args, line)
        for needle in needles:
            assert needle in line, (args, line)
    assert not list(tmp_path.glob("*.jsonl"))


# --- whole runs -------------------------------------------------------------------------------------


def run(cmd: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=TIMEOUT_S)


def test_run_two_stage_on_a_synthetic_infant(infant_stream, clip, pose_path, tmp_path):
    """``infant-stream run`` with the shipped segmentation model and a pose model: every record timed
    for the pose stage; (in process, the same config) every frame's pose crop holds the infant."""
    out = tmp_path / "out.jsonl"
    proc = run(
        infant_stream,
        *("run", "--source", str(clip), "--model", SEG_MODEL, "--pose-model", str(pose_path)),
        *("--jsonl", str(out), "--no-display", "--no-progress", "--debug"),
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{pose_path}: pose model (heatmap, 2 keypoints" in proc.stderr  # --debug shows the info line
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 10
    assert all(r["latency_ms"]["pose"] > 0 for r in records)
    assert all({p["name"] for p in r["parts"]} >= {"head", "torso"} for r in records)

    sink = ListSink()
    cfg = Config(
        model=ModelConfig(path=SEG_MODEL),
        pose=PoseConfig(model=str(pose_path)),
        output=OutputConfig(progress=False),
    )
    with Session(cfg, sources=[FileSource(clip, "cam0")], extra_sinks=[sink], window=False) as s:
        assert s.run() == 0
    truth = json.loads(clip.with_suffix(".json").read_text())["frames"]
    assert len(sink.results) == len(truth) == 10
    for r, t in zip(sink.results, truth, strict=True):
        assert r.pose is not None and r.pose.model == "toy-pose" and r.pose.xy.shape == (2, 2)
        boxes = [c["box"] for c in t["classes"].values()]
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        bx0, by0, bx1, by1 = r.pose.box
        assert bx0 <= x0 and by0 <= y0 and bx1 >= x1 and by1 >= y1, (r.pose.box, (x0, y0, x1, y1))


def test_run_pose_alone(infant_stream, pose_path, tmp_path):
    """``--no-seg``: the pose model alone on the letterboxed frame; no parts, the whole frame hidden."""
    video = write_h264(
        tmp_path / "v.mp4",
        frames=6,
        fps=10,
        size=(320, 240),
        draw=lambda i: infant_scene(sigma=20.0, torso=None),
    )
    out = tmp_path / "out.jsonl"
    proc = run(
        infant_stream,
        *("run", "--source", str(video), "--no-seg", "--pose-model", str(pose_path)),
        *("--jsonl", str(out), "--record", str(tmp_path / "o.mp4"), "--no-display", "--no-progress"),
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 6
    for r in records:
        assert r["parts"] == [] and r["classes"] == [] and r["privacy"] == "frame"
        assert r["latency_ms"]["pose"] > 0 and r["latency_ms"]["inference"] == 0.0
    assert (tmp_path / "o.mp4").stat().st_size > 0
