"""The trainer's commands as the CLI registers them, without importing torch: ``--help`` and flag
errors answer at once (the first torch import can take many seconds); the command's own module, and
torch with it, is imported when the command runs.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
from pathlib import Path

from trainer.config import TASKS, add_train_arguments
from trainer.tasks import runs_task

TRAIN_MODULES = {"segmentation": "trainer.train", "keypoints": "trainer.pose.train"}
EVALUATE_MODULES = {"segmentation": "trainer.evaluate", "keypoints": "trainer.pose.evaluate"}
EXPORT_MODULES = {"segmentation": "trainer.export", "keypoints": "trainer.pose.export"}


def module_doc(module: str) -> str | None:
    """The docstring of ``module``, read from its source (the module is not imported)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    return ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8")))


def register_train(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train the body-part segmentation or the keypoint model on a prepared dataset",
        description=f"{module_doc('trainer.train')}\n\n{module_doc('trainer.pose.train')}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_arguments(p)
    p.set_defaults(func=runs_task(TRAIN_MODULES))


def register_evaluate(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``evaluate`` subcommand."""
    p = subparsers.add_parser(
        "evaluate",
        help="Dice / mIoU (segmentation) or PCKsh / mKS (keypoints) of a .pt or .onnx model on a split",
        description=f"{module_doc('trainer.evaluate')}\n\n{module_doc('trainer.pose.evaluate')}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, default=Path("data"), help="prepared dataset folder (default: data)")
    p.add_argument("--split", default="val", choices=("train", "val", "test"), help="split to score (val)")
    p.add_argument("--model", type=Path, required=True, help="checkpoint (.pt) or exported model (.onnx)")
    p.add_argument("--json", type=Path, default=None, help="also write the metrics to this JSON file")
    p.add_argument("--batch-size", type=int, default=8, help="frames per model call (8)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help="(auto)")
    p.add_argument(
        "--task", default=None, choices=TASKS, help="check the model's task (default: read from the model)"
    )
    p.add_argument(
        "--decoder", default=None, choices=("argmax", "wa"), help="keypoints: decoding (default: the model's)"
    )
    p.add_argument(
        "--face-occlusion", action="store_true", help="keypoints: mosaic the labelled faces before cropping"
    )
    p.add_argument(
        "--no-flip-test",
        action="store_true",
        help="keypoints: one pass per crop (default: also mirrored and averaged, as the pipeline runs)",
    )
    p.set_defaults(
        func=runs_task(
            EVALUATE_MODULES,
            "model",
            {"decoder": "--decoder", "face_occlusion": "--face-occlusion", "no_flip_test": "--no-flip-test"},
        )
    )


def register_export(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``export`` subcommand."""
    p = subparsers.add_parser(
        "export",
        help="export a training checkpoint to ONNX (with pipeline metadata and a parity check)",
        description=f"{module_doc('trainer.export')}\n\n{module_doc('trainer.pose.export')}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--checkpoint", type=Path, required=True, help="training checkpoint (.pt), e.g. runs/x/best.pt"
    )
    p.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    p.add_argument(
        "--input-size", type=int, default=None, help="square input side, px (default: training size)"
    )
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (17)")
    p.add_argument(
        "--training-data", default=None, help="override the training-data description in the metadata"
    )
    p.add_argument(
        "--decoder",
        default=None,
        choices=("argmax", "wa"),
        help="keypoints: decoder written into the metadata (default: the training one)",
    )
    p.set_defaults(func=runs_task(EXPORT_MODULES, "checkpoint", {"decoder": "--decoder"}))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``train``, ``evaluate`` and ``export``."""
    register_train(subparsers)
    register_evaluate(subparsers)
    register_export(subparsers)
