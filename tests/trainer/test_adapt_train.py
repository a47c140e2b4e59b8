"""Training with ``--unlabelled`` through the CLI, both tasks, on tiny data (64-px inputs, 2-4 steps): the run
completes and logs the domain columns, the checkpoint keeps the domain classifier beside (never inside) the
model, a resume continues classifier, stream and λ schedule, the export is the graph a run without adaptation
exports, and bad options are one-line errors with their exit codes."""

from __future__ import annotations

import csv
import logging
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import onnx
import pytest

from pipeline.cli.main import main as cli
from tests.helpers.procs import REPO
from tests.trainer.pose.stick_figures import make_keypoint_layout
from tests.trainer.unlabelled_frames import write_frames
from trainer.adapt import grl_lambda
from trainer.checkpoint import load_checkpoint
from trainer.history import ADAPT_COLUMNS
from trainer.models import build_model
from trainer.pose.model import build_pose_model

SEG = ("--arch", "lraspp", "--input-size", "64", "--batch-size", "4", "--workers", "0", "--device", "cpu")
POSE = (
    *("--task", "keypoints", "--arch", "mnv3-small", "--head-channels", "16", "--input-size", "64"),
    *("--batch-size", "4", "--workers", "0", "--device", "cpu"),
)
STEPS_PER_EPOCH = 2
"""Both tiny datasets have 8 usable training frames: 2 steps of 4 per epoch."""


def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _train(out: Path, *argv: str) -> dict[str, Any]:
    assert cli(["train", "--out", str(out), "--epochs", "2", *argv]) == 0
    return load_checkpoint(out / "last.pt")


def _two_part_run(out: Path, *argv: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Epoch 1 (2 steps, total 2), then a resume from its last.pt to step 4 (total 4); the first
    checkpoint is kept as first.pt."""
    first = _train(out, *argv, "--max-steps", "2")
    shutil.copyfile(out / "last.pt", out / "first.pt")
    second = _train(out, *argv, "--max-steps", "4", "--resume", str(out / "first.pt"))
    return first, second


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    write_frames(folder)
    return folder


@pytest.fixture(scope="module")
def kp_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_keypoint_layout(tmp_path_factory.mktemp("kp") / "data")


@pytest.fixture(scope="module")
def seg_run(
    prepared: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """Segmentation adapted to the prepared layout's unlabelled frames (4 frames of its training videos)."""
    out = tmp_path_factory.mktemp("seg-adapt")
    first, second = _two_part_run(out, "--data", str(prepared), *SEG, "--unlabelled", str(prepared))
    return out, first, second


@pytest.fixture(scope="module")
def pose_run(
    kp_data: Path, frames: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """Keypoints adapted to a folder of 5 plain 'camera' frames (jpg and png, in sub-folders)."""
    out = tmp_path_factory.mktemp("pose-adapt")
    first, second = _two_part_run(
        out, "--data", str(kp_data), *POSE, "--unlabelled", str(frames), "--adapt-weight", "0.5",
        "--adapt-lambda", "0.8",
    )  # fmt: skip
    return out, first, second


def _check_run(
    run: tuple[Path, dict[str, Any], dict[str, Any]], max_lambda: float, model_keys: list[str]
) -> None:
    out, first, second = run
    rows = _rows(out)
    assert list(rows[0])[-3:] == list(ADAPT_COLUMNS) and [r["step"] for r in rows] == ["2", "4"]
    for row, total in zip(rows, (2, 4), strict=True):
        loss, accuracy = float(row["domain_loss"]), float(row["domain_accuracy"])
        assert 0.0 < loss < 5.0 and math.isfinite(loss)
        assert (accuracy * 16).is_integer() and 0.0 <= accuracy <= 1.0  # 2 steps x (4 + 4) images
        # λ of the epoch's last step (0-based step - 1) over the run's total steps
        expected = grl_lambda((int(row["step"]) - 1) / total, max_lambda=max_lambda)
        assert float(row["adapt_lambda"]) == pytest.approx(expected, rel=1e-9)
    # the classifier sits beside the model: the model's weights are exactly the plain model's
    for ckpt in (first, second):
        assert list(ckpt["model"]) == model_keys and "adapt" in ckpt
    a1, a2 = first["adapt"], second["adapt"]
    assert (a1["position"], a2["position"]) == (8, 16)  # 4 unlabelled frames per step, the stream continued
    # the classifier's optimizer took 4 steps in all: the resume restored it rather than starting afresh
    assert {int(s["step"]) for s in a2["optimizer"]["state"].values()} == {4}
    assert {int(s["step"]) for s in a1["optimizer"]["state"].values()} == {2}
    assert set(a1["classifier"]) == set(a2["classifier"])
    assert any(not a1["classifier"][k].equal(a2["classifier"][k]) for k in a1["classifier"])
    assert a2["max_lambda"] == max_lambda
    # the classifier's learning rate follows the run's poly decay: that of step 3 of 4 (AdamW, 1e-3)
    assert a2["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-3 * (1 - 3 / 4) ** 0.9, rel=1e-9)


def test_segmentation_run_logs_domain_columns_and_resumes(
    seg_run: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    _check_run(seg_run, 1.0, list(build_model("lraspp").state_dict()))
    assert seg_run[2]["adapt"]["weight"] == 0.1 and seg_run[2]["adapt"]["images"] == 4
    assert seg_run[2]["adapt"]["in_channels"] == 960


def test_keypoint_run_logs_domain_columns_and_resumes(
    pose_run: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    _check_run(pose_run, 0.8, list(build_pose_model("mnv3-small", 22, 16).state_dict()))
    out, _, second = pose_run
    assert second["adapt"]["weight"] == 0.5 and second["adapt"]["images"] == 5
    assert second["adapt"]["in_channels"] == 576
    assert [r["domain_accuracy"] for r in second["history"]] == [
        float(r["domain_accuracy"]) for r in _rows(out)
    ]


def test_resume_without_unlabelled_drops_the_classifier(
    seg_run: tuple[Path, dict[str, Any], dict[str, Any]], prepared: Path, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    out = tmp_path / "run"
    shutil.copytree(seg_run[0], out)
    with caplog.at_level(logging.WARNING, logger="trainer"):
        ckpt = _train(
            out, "--data", str(prepared), *SEG, "--max-steps", "3", "--resume", str(out / "first.pt")
        )
    assert "without --unlabelled: its domain classifier is dropped" in caplog.text
    assert "adapt" not in ckpt and ckpt["step"] == 3
    last = _rows(out)[-1]
    assert last["step"] == "3" and all(last[c] == "" for c in ADAPT_COLUMNS)


def _signature(path: Path) -> dict[str, Any]:
    """What an ONNX model looks like from outside and inside, less its weights' values and metadata values."""
    model = onnx.load(str(path))
    g = model.graph

    def io(values: Any) -> list[Any]:
        return [
            (
                v.name,
                v.type.tensor_type.elem_type,
                [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
            )
            for v in values
        ]

    return {
        "inputs": io(g.input),
        "outputs": io(g.output),
        "ops": [n.op_type for n in g.node],
        "initializers": [(t.name, list(t.dims)) for t in g.initializer],
        "opset": [(o.domain, o.version) for o in model.opset_import],
        "metadata": sorted(p.key for p in model.metadata_props),
    }


@pytest.mark.parametrize("task", ["segmentation", "keypoints"])
def test_adapted_model_exports_the_same_graph(
    task: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if task == "segmentation":
        out = request.getfixturevalue("seg_run")[0]
        data: tuple[str, ...] = ("--data", str(request.getfixturevalue("prepared")), *SEG)
    else:
        out = request.getfixturevalue("pose_run")[0]
        data = ("--data", str(request.getfixturevalue("kp_data")), *POSE)
    _train(tmp_path / "plain", *data, "--max-steps", "1")
    for name, run in (("adapted", out), ("plain", tmp_path / "plain")):
        argv = ["export", "--checkpoint", str(run / "last.pt"), "--out", str(tmp_path / f"{name}.onnx")]
        assert cli(argv) == 0
    adapted, plain = _signature(tmp_path / "adapted.onnx"), _signature(tmp_path / "plain.onnx")
    assert adapted == plain
    assert [i[0] for i in adapted["inputs"]] == ["input"] and len(adapted["outputs"]) == 1


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", *args],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=env,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("task", "extra", "code", "message"),
    [
        ("segmentation", ("--unlabelled", "{tmp}/nowhere"), 5, r"--unlabelled: \S*nowhere: no such folder"),
        ("keypoints", ("--unlabelled", "{tmp}/empty"), 5, r"--unlabelled: \S*empty: no \.jpg/\.jpeg/\.png images"),
        ("segmentation", ("--unlabelled", "{tmp}/frames", "--adapt-weight", "-1"), 2,
         r"--adapt-weight: must be a number > 0, got -1\.0"),
        ("keypoints", ("--unlabelled", "{tmp}/frames", "--adapt-lambda", "nan"), 2,
         r"--adapt-lambda: must be a number >= 0, got nan"),
        ("segmentation", ("--adapt-lambda", "0.5"), 2, r"--adapt-lambda: only with --unlabelled DIR"),
    ],
)  # fmt: skip
def test_bad_adaptation_options_are_one_line_errors(
    task: str, extra: tuple[str, ...], code: int, message: str, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    write_frames(tmp_path / "frames")
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    proc = _cli(
        "train", "--task", task, "--data", str(tmp_path / "no-data"), "--out", str(tmp_path / "o"), *args
    )
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("infant-stream: error: ")
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "o").exists()  # nothing written
