"""Keypoint training through the CLI on a tiny hand-made layout: checkpoints hold everything, resume restores
it, export writes the pose metadata with torch/ORT parity, and evaluation of the .pt and the .onnx agree."""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from pipeline.cli.main import main as cli
from pipeline.contract.keypoints import NYCU22
from pipeline.contract.pose_meta import PoseSpec, task_of
from pipeline.pose.decode import decode_heatmaps, heatmap_to_input
from pipeline.pose.model import PoseModel
from trainer.checkpoint import load_checkpoint
from trainer.pose.checkpoint import pose_model_from_checkpoint, pose_spec_from_checkpoint
from trainer.pose.config import PoseTrainConfig
from trainer.pose.export import export_pose_onnx
from trainer.pose.predictors import OnnxPosePredictor
from trainer.pose.state import build_pose_state, restore_pose_state
from trainer.pose.train import run_pose_training

TINY = (
    *("--arch", "mnv3-small", "--head-channels", "16", "--input-size", "64", "--batch-size", "4"),
    *("--workers", "0", "--device", "cpu", "--seed", "1"),
)


@pytest.fixture(scope="module")
def run(kp_layout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-step KCE run (8 usable train crops / batch 4 = 2 steps per epoch: epoch 1 done, epoch 2 cut)."""
    out = tmp_path_factory.mktemp("kprun")
    argv = ["train", "--task", "keypoints", "--data", str(kp_layout), "--out", str(out), *TINY]
    rc = cli(
        [*argv, "--epochs", "3", "--max-steps", "3", "--loss", "kce", "--decoder", "wa", "--face-occlusion"]
    )
    assert rc == 0
    return out


@pytest.mark.slow
def test_checkpoint_history_and_resume(run: Path, kp_layout: Path, caplog: pytest.LogCaptureFixture) -> None:
    ckpt = load_checkpoint(run / "last.pt")
    assert (ckpt["task"], ckpt["arch"], ckpt["head_channels"], ckpt["num_keypoints"]) == (
        "keypoints", "mnv3-small", 16, 22,
    )  # fmt: skip
    assert (ckpt["loss"], ckpt["activation"], ckpt["input_hw"], ckpt["crop_padding"]) == (
        "kce",
        "softmax",
        [64, 64],
        0.15,
    )
    assert (ckpt["step"], ckpt["epoch"], ckpt["keypoint_set"]) == (3, 1, "nycu22")
    for key in (
        "model",
        "optimizer",
        "scheduler",
        "scaler",
        "best_pck",
        "best_mks",
        "best_epoch",
        "history",
        "args",
    ):
        assert key in ckpt, key
    assert [r["step"] for r in ckpt["history"]] == [2, 3]
    assert 0.0 <= ckpt["metrics"]["PCKsh@0.1"] <= 1.0 and 0.0 < ckpt["metrics"]["mKS/17"] <= 1.0
    spec = pose_spec_from_checkpoint(ckpt, "last.pt")
    assert (spec.activation, spec.decoder, spec.input_hw, spec.keypoints) == (
        "softmax",
        "wa",
        (64, 64),
        NYCU22,
    )
    assert spec.training_data == "hand-made stick figures: 8 train crops (nycu22); faces mosaicked"
    assert "val_PCKsh@0.1" in spec.metrics and "val_mKS/17" in spec.metrics
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"] and float(rows[0]["train_loss"]) > 0
    assert float(rows[0]["val_mks"]) == pytest.approx(ckpt["history"][0]["val_mks"])
    assert (run / "curves.png").stat().st_size > 1000 and (run / "best.pt").is_file()
    best = load_checkpoint(run / "best.pt")
    assert best["best_pck"] == max(r["val_pck"] for r in ckpt["history"])

    # Restoring into fresh objects reproduces model, optimizer moments, schedule and counters.
    cfg = PoseTrainConfig(
        data=kp_layout, out=run, arch="mnv3-small", head_channels=16, input_hw=(64, 64), loss="kce",
        batch_size=4, workers=0, device="cpu",
    )  # fmt: skip
    fresh = build_pose_state(cfg, 22, total_steps=6)
    restore_pose_state(fresh, ckpt)
    assert (fresh.step, fresh.epoch, fresh.scheduler.last_epoch) == (3, 1, 3)
    saved_opt = ckpt["optimizer"]["state"]
    for idx, st in fresh.optimizer.state_dict()["state"].items():
        assert torch.equal(st["exp_avg"], saved_opt[idx]["exp_avg"]) and int(st["step"]) == 3
    weights = pose_model_from_checkpoint(ckpt, "last.pt").state_dict()
    assert all(torch.equal(v, weights[k]) for k, v in fresh.model.state_dict().items())

    # Resuming continues from step 3 and takes the model-defining options from the checkpoint.
    resumed_out = run.parent / "resumed"
    resumed_out.mkdir(exist_ok=True)
    (resumed_out / "last.pt").write_bytes((run / "last.pt").read_bytes())
    changed = replace(
        cfg, out=resumed_out, loss="mse", head_channels=32, decoder="argmax", face_occlusion=False, epochs=3
    )
    with caplog.at_level(logging.WARNING, logger="trainer"):
        summary = run_pose_training(
            replace(changed, resume=resumed_out / "last.pt", max_steps=5), progress=False
        )
    assert "using the checkpoint's head_channels=16, loss=kce, decoder=wa, face_occlusion=True" in caplog.text
    assert (summary.step, summary.epoch) == (5, 2)
    again = load_checkpoint(resumed_out / "last.pt")
    assert (again["loss"], again["head_channels"], again["step"]) == ("kce", 16, 5)
    assert [r["step"] for r in again["history"]] == [2, 3, 5]


def test_init_starts_from_the_weights_with_fresh_counters(
    run: Path, kp_layout: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """--init: the checkpoint's weights and model options (loss, head, input), a fresh optimizer and counters."""
    out = tmp_path / "tuned"
    argv = ["train", "--task", "keypoints", "--data", str(kp_layout), "--out", str(out), *TINY]
    with caplog.at_level(logging.INFO, logger="trainer"):
        rc = cli(
            [
                *argv,
                "--epochs",
                "1",
                "--max-steps",
                "1",
                "--lr",
                "1e-12",
                "--loss",
                "mse",
                "--init",
                str(run / "last.pt"),
            ]
        )
    assert rc == 0
    assert "using the checkpoint's loss=kce, decoder=wa, face_occlusion=True" in caplog.text
    source, after = load_checkpoint(run / "last.pt"), load_checkpoint(out / "last.pt")
    assert (after["step"], after["epoch"], after["loss"]) == (1, 0, "kce")
    assert [r["step"] for r in after["history"]] == [1]
    for k, v in source["model"].items():
        if v.is_floating_point() and "running" not in k:
            assert torch.allclose(after["model"][k], v, atol=1e-6), k


@pytest.mark.slow
def test_export_parity_metadata_and_evaluation(run: Path, kp_layout: Path, tmp_path: Path) -> None:
    path = tmp_path / "pose.onnx"
    assert cli(["export", "--checkpoint", str(run / "best.pt"), "--out", str(path)]) == 0
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    assert task_of(props) == "keypoints" and [o.name for o in proto.graph.output] == ["heatmaps"]
    assert props["infant_stream.heatmap_stride"] == "4" and props["infant_stream.crop_padding"] == "0.15"
    spec = PoseSpec.from_props(props, "pose.onnx")
    assert (spec.activation, spec.decoder, spec.input_hw, spec.heatmap_sigma) == (
        "softmax",
        "wa",
        (64, 64),
        2.0,
    )
    assert spec.keypoints == NYCU22 and spec.architecture == "simplebaseline_mobilenet_v3_small_h16"
    assert json.loads(props["infant_stream.facial"]) == [1, 2, 3, 4, 5] and "val_PCKsh@0.1" in spec.metrics
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.run(None, {"input": np.zeros((3, 3, 64, 64), np.float32)})[0].shape == (3, 22, 16, 16)
    # the streaming pipeline's pose model loads it and decodes as the trainer's evaluation does
    batch = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    xy, scores = PoseModel(path).run(batch)
    heat = OnnxPosePredictor(path).heatmaps(batch)
    ref_xy, ref_scores = decode_heatmaps(heat, "softmax", "wa", 2.0)
    np.testing.assert_allclose(xy, heatmap_to_input(ref_xy, 4), atol=1e-4)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-6)

    report = export_pose_onnx(run / "best.pt", tmp_path / "argmax.onnx", decoder="argmax", training_data="x")
    assert report.point_agreement >= 0.99 and report.max_abs_diff < 1e-3
    assert (report.spec.decoder, report.spec.training_data) == ("argmax", "x")

    results = {}
    for name, model in (("pt", run / "best.pt"), ("onnx", path)):
        out = tmp_path / f"{name}.json"
        argv = [
            "evaluate",
            "--model",
            str(model),
            "--data",
            str(kp_layout),
            "--split",
            "test",
            "--json",
            str(out),
        ]
        assert cli([*argv, "--face-occlusion"]) == 0
        results[name] = json.loads(out.read_text())
    pt, ox = results["pt"], results["onnx"]
    assert pt["decoder"] == "wa" and pt["face_occlusion"] is True and pt["crop"]["padding"] == 0.15
    assert pt["metrics"]["frames"] == 3 and pt["metrics"]["keypoint_set"] == "nycu22"
    for key in ("PCKsh@0.1", "PCKsh@0.02/17", "mKS", "mKS/17"):
        assert pt["metrics"][key] == pytest.approx(ox["metrics"][key], abs=1e-3), key
    assert math.isfinite(pt["metrics"]["mKS"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--out", "x", "--loss", "mse"], "--loss: keypoints only (add --task keypoints)"),
        (["train", "--out", "x", "--task", "keypoints", "--aux-loss"], "--aux-loss: segmentation only"),
        (
            ["train", "--out", "x", "--task", "keypoints", "--input-size", "100"],
            "--input-size: keypoint input must",
        ),
        (["train", "--out", "x", "--task", "keypoints", "--arch", "lraspp"], "--arch: keypoints take"),
        (["train", "--out", "x", "--task", "keypoints", "--sigma", "0"], "--sigma: must be 0.5..8"),
        (["train", "--out", "x", "--task", "keypoints", "--rotation", "200"], "--rotation: must be 0..180"),
        (["train", "--out", "x", "--task", "keypoints", "--loss", "l1"], "argument --loss: invalid choice"),
        (["train", "--out", "x", "--arch", "mnv3-large"], "--arch: must be one of deeplabv3, lraspp"),
        (["evaluate", "--model", "m.tflite"], "m.tflite: unknown model kind '.tflite'"),
    ],
)
def test_flag_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli(argv)
    err = capsys.readouterr().err
    assert rc in (2, 4) and message in err and err.count("\n") == 1, err


@pytest.mark.slow
def test_evaluate_task_must_match_the_model(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli(["evaluate", "--task", "segmentation", "--model", str(run / "last.pt")])
    err = capsys.readouterr().err
    assert rc == 2 and f"--task segmentation: {run / 'last.pt'} is a keypoints model" in err


def test_keypoint_flags_on_a_segmentation_model_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seg = tmp_path / "seg.pt"
    torch.save(
        {"format": 1, "arch": "lraspp", "model": {}, "spec": {}}, seg
    )  # a segmentation checkpoint's keys
    rc = cli(["export", "--checkpoint", str(seg), "--out", str(tmp_path / "x.onnx"), "--decoder", "wa"])
    assert rc == 2 and "--decoder: keypoint models only" in capsys.readouterr().err
    rc = cli(["evaluate", "--model", str(seg), "--face-occlusion"])
    assert rc == 2 and "--face-occlusion: keypoint models only" in capsys.readouterr().err
