"""Evaluation geometry end to end with an oracle model (heatmaps made from the labels: a stand-in, because a
trained model that is exactly right cannot exist): crop from the GT box → decode → back to image pixels must
give the labels back, for each activation the metadata can name."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.contract.keypoints import COCO17, NYCU22
from pipeline.contract.pose_meta import Activation, Decoder, PoseSpec
from pipeline.errors import ConfigError
from tests.trainer.pose.stick_figures import make_keypoint_layout
from trainer.pose import evaluate
from trainer.pose.dataset import PoseDataset, usable_samples
from trainer.pose.evaluate import evaluate_samples, load_samples, predict_samples
from trainer.pose.layout import read_split


class OraclePredictor:
    """Returns, for the samples in order, their perfect target heatmaps expressed in ``activation`` units."""

    def __init__(self, spec: PoseSpec, data: Path, split: str) -> None:
        self.spec = spec
        ds = PoseDataset(usable_samples(read_split(data, split)), spec)
        self.targets = [ds[i][1].numpy() for i in range(len(ds))]
        self.calls = 0

    def heatmaps(self, batch: np.ndarray) -> np.ndarray:
        t = np.stack(self.targets[self.calls : self.calls + len(batch)]).astype(np.float64)
        self.calls += len(batch)
        if self.spec.activation == "softmax":
            return np.log(np.maximum(t, 1e-30)).astype(np.float32)  # softmax(log g) = g / Σ g
        if self.spec.activation == "sigmoid":
            p = np.clip(t, 1e-6, 1 - 1e-6)
            return np.log(p / (1 - p)).astype(np.float32)
        return t.astype(np.float32)


@pytest.mark.parametrize(
    ("activation", "decoder", "beta"),
    [
        ("none", "argmax", 0.02),
        ("sigmoid", "argmax", 0.02),
        ("softmax", "argmax", 0.02),
        ("softmax", "wa", 0.1),
    ],
)
def test_an_oracle_scores_full_marks(
    kp_layout: Path, activation: Activation, decoder: Decoder, beta: float
) -> None:
    spec = PoseSpec(keypoints=NYCU22, input_hw=(128, 128), activation=activation, decoder=decoder)
    samples = load_samples(kp_layout, "test", NYCU22.names)
    report, pred = evaluate_samples(
        OraclePredictor(spec, kp_layout, "test"), samples, batch_size=2, progress=False
    )
    assert report.frames == report.frames_scored == 3
    assert report.pck[beta] == 1.0 and report.pck_nonfacial[beta] == 1.0
    assert report.mks > (0.999 if decoder == "argmax" else 0.97)
    labelled = pred.truth[..., 2] > 0
    err = np.linalg.norm(pred.points - pred.truth[..., :2], axis=-1)[labelled]
    assert err.max() < (0.05 if decoder == "argmax" else 1.5), err.max()
    assert pred.scores[labelled].min() > 0.9 and pred.bboxes.shape == (3, 4)


def test_a_shifted_model_loses_points(kp_layout: Path) -> None:
    """The same oracle with every heatmap rolled 2 px right: errors of 2 · crop scale in image px."""
    spec = PoseSpec(keypoints=NYCU22, input_hw=(128, 128))
    oracle = OraclePredictor(spec, kp_layout, "test")
    oracle.targets = [np.roll(t, 2, axis=2) for t in oracle.targets]
    samples = load_samples(kp_layout, "test", NYCU22.names)
    pred = predict_samples(oracle, samples, "argmax", progress=False)
    labelled = pred.truth[..., 2] > 0
    dx = (pred.points[..., 0] - pred.truth[..., 0])[labelled]
    # 2 heatmap px = 8 input px; one input px = (crop box width / 128) image px
    boxes = np.array([s.bbox for s in samples])
    side = np.maximum(boxes[:, 2], boxes[:, 3]) * 1.3
    expected = np.broadcast_to((8 * side / 128)[:, None], labelled.shape)[labelled]
    inner = np.abs(dx - expected) < 0.05  # points whose peak did not roll off the map edge
    assert inner.mean() > 0.8


def test_other_keypoint_set_or_empty_split_is_a_config_error(kp_layout: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"test.json: keypoint set nycu22 \(22 points\) is not the model's \(17"
    ):
        load_samples(kp_layout, "test", tuple(f"p{i}" for i in range(17)))
    empty = make_keypoint_layout(tmp_path / "empty", {"test": 0})
    with pytest.raises(ConfigError, match=r"test\.json: no usable labelled infant to evaluate"):
        load_samples(empty, "test", NYCU22.names)


def test_coco17_model_gets_coco_ap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``evaluate`` on a COCO-17 set adds COCO AP; the model is the oracle (open_pose_predictor replaced:
    an exactly right model cannot exist)."""
    data = make_keypoint_layout(tmp_path / "coco", {"test": 4}, kset=COCO17)
    spec = PoseSpec(keypoints=COCO17, input_hw=(128, 128))
    monkeypatch.setattr(evaluate, "open_pose_predictor", lambda *_: OraclePredictor(spec, data, "test"))
    args = argparse.Namespace(
        model=Path("oracle.onnx"), data=data, split="test", decoder=None, face_occlusion=False,
        batch_size=3, device="cpu", json=tmp_path / "out.json", no_flip_test=True,
    )  # fmt: skip
    assert evaluate.main(args) == 0
    out = capsys.readouterr().out
    assert "4 crops from the GT body box (padding 0.15), 4 with a body size; decoder argmax" in out
    assert "COCO keypoints (OKS, body-box area): AP 100.0, AP50 100.0, AP75 100.0, AR 100.0" in out
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["coco"] == {"AP": 1.0, "AP50": 1.0, "AP75": 1.0, "AR": 1.0}
    assert doc["metrics"]["keypoint_set"] == "coco17" and doc["metrics"]["PCKsh@0.02"] == 1.0
