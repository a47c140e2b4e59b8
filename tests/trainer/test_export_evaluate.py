"""Export (ONNX parity, metadata) and evaluation (checkpoint vs ONNX, protocol geometry)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from pipeline.contract.geometry import compute_letterbox, letterbox_image
from pipeline.contract.model_meta import LetterboxAlign, ModelSpec
from pipeline.errors import ConfigError, ModelError
from tests.trainer.yibp_data import class_map
from trainer import commands, export
from trainer.checkpoint import load_checkpoint
from trainer.config import TrainConfig
from trainer.evaluate import evaluate_split, prediction_on_canvas, truth_on_canvas
from trainer.export import export_onnx
from trainer.metrics import SegmentationScores
from trainer.predictors import open_predictor
from trainer.train import run_training


@pytest.fixture(scope="module")
def checkpoint(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """best.pt of a 4-step LR-ASPP run at 64x64 input."""
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(
        data=prepared,
        out=out,
        arch="lraspp",
        input_size=64,
        batch_size=4,
        epochs=2,
        workers=0,
        device="cpu",
        lr=5e-3,
    )
    summary = run_training(cfg, progress=False)
    assert summary.best_checkpoint is not None
    return summary.best_checkpoint


@pytest.fixture(scope="module")
def onnx_model(
    checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, export.ExportReport]:
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    return path, export_onnx(checkpoint, path)


def test_export_parity_and_metadata_round_trip(
    checkpoint: Path, onnx_model: tuple[Path, export.ExportReport]
) -> None:
    path, report = onnx_model
    assert report.argmax_agreement >= 0.999 and report.max_abs_diff < 1e-3
    proto = onnx.load(str(path))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert [o.name for o in proto.graph.output] == ["out"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, 64, 64]
    props = {p.key: p.value for p in proto.metadata_props}
    spec = ModelSpec.from_props(props, str(path))
    ckpt = load_checkpoint(checkpoint)
    assert spec.input_hw == (64, 64) and spec.architecture == "lraspp_mobilenet_v3_large"
    assert spec.class_names == ("background", "head", "arm", "torso", "leg") and spec.letterbox == "center"
    assert spec.training_data.startswith("Youtube-Infant-Body-Parsing (train 8, val 4, test 4 frames)")
    assert spec.metrics["val_fg_dice"] == pytest.approx(ckpt["metrics"]["fg_dice"])
    assert spec == report.spec
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"input": np.zeros((3, 3, 64, 64), np.float32)})
    assert len(out) == 1 and out[0].shape == (3, 5, 64, 64)  # dynamic batch, aux dropped


def test_export_other_input_size_and_errors(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parser = argparse.ArgumentParser()
    commands.register_export(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "m96.onnx"
    args = parser.parse_args(
        ["export", "--checkpoint", str(checkpoint), "--out", str(out), "--input-size", "96"]
    )
    args.func(args)
    pred = open_predictor(out)
    assert pred.spec.input_hw == (96, 96) and pred.logits(np.zeros((1, 3, 96, 96), np.float32)).shape == (
        1,
        5,
        96,
        96,
    )
    with pytest.raises(ModelError, match="checkpoint not found"):
        export_onnx(tmp_path / "nope.pt", tmp_path / "x.onnx")
    with pytest.raises(ConfigError, match="--opset"):
        export_onnx(checkpoint, tmp_path / "x.onnx", opset=99)
    monkeypatch.setattr(export, "check_parity", lambda *_: (0.5, 0.99))
    with pytest.raises(ModelError, match=r"disagrees with torch on 1\.000 % of pixels"):
        export_onnx(checkpoint, tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


def test_evaluate_checkpoint_and_onnx_agree(
    prepared: Path, checkpoint: Path, onnx_model: tuple[Path, export.ExportReport], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    by_pt = evaluate_split(open_predictor(checkpoint), prepared, "val", progress=False)
    by_onnx = evaluate_split(open_predictor(onnx_model[0]), prepared, "val", progress=False)
    assert by_pt.keys() == by_onnx.keys() and by_pt["frames"] == 4
    for key, value in by_pt.items():
        if math.isnan(value):
            assert math.isnan(by_onnx[key]), key
        else:
            assert by_onnx[key] == pytest.approx(value, abs=1e-3), key
    # The checkpoint recorded the same validation numbers during training.
    assert load_checkpoint(checkpoint)["metrics"]["fg_dice"] == pytest.approx(by_pt["fg_dice"], abs=1e-6)

    parser = argparse.ArgumentParser()
    commands.register_evaluate(parser.add_subparsers(dest="command", required=True))
    out_json = tmp_path / "m.json"
    args = parser.parse_args(
        [
            "evaluate",
            "--data",
            str(prepared),
            "--split",
            "val",
            "--model",
            str(onnx_model[0]),
            "--json",
            str(out_json),
        ]
    )
    assert args.func(args) == 0
    doc = json.loads(out_json.read_text())
    assert doc["split"] == "val" and doc["eval_size"] == 256
    assert doc["metrics"]["fg_dice"] == pytest.approx(by_onnx["fg_dice"])
    table = capsys.readouterr().out
    assert "foreground" in table and "torso" in table


@pytest.mark.parametrize(("h", "w"), [(48, 64), (72, 40), (300, 200)])
@pytest.mark.parametrize(
    ("in_hw", "align"), [((256, 256), "center"), ((64, 64), "center"), ((96, 128), "topleft")]
)
def test_prediction_reaches_the_256_canvas(
    h: int, w: int, in_hw: tuple[int, int], align: LetterboxAlign
) -> None:
    """A perfect prediction on the model canvas lands on the truth's 256x256 canvas at any input size."""
    truth = class_map(h, w, seed=5)
    box = compute_letterbox((h, w), in_hw, align)
    on_model = letterbox_image(truth, box, 0, interpolation=cv2.INTER_NEAREST)
    pred = prediction_on_canvas(on_model, box)
    ref = truth_on_canvas(truth)
    assert pred.shape == ref.shape == (256, 256) and pred.dtype == np.uint8
    scores = SegmentationScores()
    scores.update(pred, ref)
    got = scores.summary()
    if in_hw == (256, 256) and align == "center":
        assert np.array_equal(pred, ref)  # same geometry: no resampling at all
    assert got["fg_dice"] > 0.85 and got["mean_part_dice"] > 0.7
    long_side = max(h, w)
    assert ref[: (256 - round(h * 256 / long_side)) // 2].sum() == 0  # zero padding is background
