"""The trainer's commands as the CLI registers them, without importing torch: ``--help`` and flag
errors answer at once (the first torch import can take many seconds); the command's own module, and
torch with it, is imported when the command runs.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

from trainer.config import add_train_arguments


def module_doc(module: str) -> str | None:
    """The docstring of ``module``, read from its source (the module is not imported)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    return ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8")))


def runs(module: str) -> Callable[[argparse.Namespace], int]:
    """The ``main(args)`` of ``module``, imported when called."""

    def main(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module).main(args))

    return main


def register_train(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train the body-part segmentation model on a prepared dataset",
        description=module_doc("trainer.train"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_arguments(p)
    p.set_defaults(func=runs("trainer.train"))


def register_evaluate(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``evaluate`` subcommand."""
    p = subparsers.add_parser(
        "evaluate",
        help="Dice / mIoU of a .pt checkpoint or .onnx model on a prepared split (YIBP protocol)",
        description=module_doc("trainer.evaluate"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, default=Path("data"), help="prepared dataset folder (default: data)")
    p.add_argument("--split", default="val", choices=("train", "val", "test"), help="split to score (val)")
    p.add_argument("--model", type=Path, required=True, help="checkpoint (.pt) or exported model (.onnx)")
    p.add_argument("--json", type=Path, default=None, help="also write the metrics to this JSON file")
    p.add_argument("--batch-size", type=int, default=8, help="frames per model call (8)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help="(auto)")
    p.set_defaults(func=runs("trainer.evaluate"))


def register_export(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``export`` subcommand."""
    p = subparsers.add_parser(
        "export",
        help="export a training checkpoint to ONNX (with pipeline metadata and a parity check)",
        description=module_doc("trainer.export"),
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
    p.set_defaults(func=runs("trainer.export"))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``train``, ``evaluate`` and ``export``."""
    register_train(subparsers)
    register_evaluate(subparsers)
    register_export(subparsers)
