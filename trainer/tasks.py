"""The two model tasks of the trainer's ``train``, ``evaluate`` and ``export`` commands: which module runs a
command for ``segmentation`` and for ``keypoints``, and how a model file says which task it does.

``train`` takes ``--task`` (default segmentation). ``evaluate`` and ``export`` read the task from the
model itself (ONNX ``metadata_props`` key ``infant_stream.task``, checkpoint key ``task``; absent =
segmentation); an explicit ``evaluate --task`` must agree with it. Nothing heavy is imported here.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from pipeline.errors import ConfigError, ModelError

SEGMENTATION: Final = "segmentation"
KEYPOINTS: Final = "keypoints"


def model_task(path: Path) -> str:
    """``segmentation`` or ``keypoints``: the task of a ``.pt`` checkpoint or an ``.onnx`` model.

    Raises:
        ModelError: missing or unreadable file, or an unknown suffix.
    """
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        import onnx

        from pipeline.contract.pose_meta import task_of

        if not path.is_file():
            raise ModelError(f"{path}: ONNX model not found")
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # noqa: BLE001 - protobuf raises many types for damaged files
            raise ModelError(f"{path}: not a readable ONNX file ({type(exc).__name__})") from None
        return task_of({p.key: p.value for p in proto.metadata_props})
    if suffix in (".pt", ".pth"):
        from trainer.checkpoint import load_checkpoint

        return str(load_checkpoint(path).get("task", SEGMENTATION))
    raise ModelError(f"{path}: unknown model kind {suffix!r} (expected .pt checkpoint or .onnx)")


def runs_task(
    modules: Mapping[str, str],
    model_attr: str | None = None,
    keypoint_only: Mapping[str, str] | None = None,
) -> Callable[[argparse.Namespace], int]:
    """A command ``func`` that runs ``modules[task].main(args)``, importing the module when called.

    Args:
        modules: task → module with ``main(args)``.
        model_attr: the namespace attribute holding the model file whose task decides; None = ``args.task``.
        keypoint_only: attribute → flag of options a segmentation model does not take (set = ConfigError).
    """

    def main(args: argparse.Namespace) -> int:
        asked = getattr(args, "task", None)
        task = asked or SEGMENTATION
        if model_attr is not None:
            model = Path(getattr(args, model_attr))
            task = model_task(model)
            if asked is not None and asked != task:
                raise ConfigError(f"--task {asked}: {model} is a {task} model")
        if task == SEGMENTATION:
            given = [
                f for a, f in (keypoint_only or {}).items() if getattr(args, a, None) not in (None, False)
            ]
            if given:
                raise ConfigError(f"{given[0]}: keypoint models only")
        return int(importlib.import_module(modules[task]).main(args))

    return main
