"""What both exporters share (:mod:`trainer.export`, :mod:`trainer.pose.export`): writing a torch model to an
ONNX file with its ``metadata_props``, and the torch-vs-ONNX Runtime parity check that follows.

The graph has one input, :data:`INPUT_NAME` (N, 3, H, W) float32 with a dynamic batch axis N, and one output
whose name the task picks. A file that fails to export or to pass ``onnx.checker`` is removed, and so is one
whose parity is below the task's minimum: nothing half-right is left behind.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import torch

from pipeline.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

INPUT_NAME: Final = "input"


def check_opset(opset: int) -> None:
    """Raises ConfigError unless ``opset`` is 11 up to the installed onnx package's newest."""
    import onnx

    if not 11 <= opset <= onnx.defs.onnx_opset_version():
        raise ConfigError(f"--opset: must be 11..{onnx.defs.onnx_opset_version()}, got {opset}")


def write_onnx(
    module: torch.nn.Module,
    out: Path,
    input_hw: tuple[int, int],
    output_name: str,
    opset: int,
    props: Mapping[str, str],
    doc_string: str,
) -> None:
    """Export ``module`` (in the mode it is in) to ``out`` with ``props`` as ``metadata_props``, producer
    ``infant-stream`` and ``doc_string``; check it with ``onnx.checker``.

    Args:
        input_hw: (height, width) px of the dummy input traced; the batch axis is dynamic.
    Raises:
        ModelError: the export or the check failed (one line; the file is removed).
    """
    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, *input_hw)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
            torch.onnx.export(
                module,
                (dummy,),
                str(out),
                input_names=[INPUT_NAME],
                output_names=[output_name],
                dynamic_axes={INPUT_NAME: {0: "batch"}, output_name: {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        proto = onnx.load(str(out))
        del proto.metadata_props[:]
        for key, value in props.items():
            proto.metadata_props.add(key=key, value=value)
        proto.producer_name = "infant-stream"
        proto.doc_string = doc_string
        onnx.checker.check_model(proto)
        onnx.save(proto, str(out))
    except Exception as exc:  # noqa: BLE001 - exporter/checker raise many types; one line for users
        out.unlink(missing_ok=True)
        raise ModelError(f"{out}: ONNX export failed ({type(exc).__name__}: {exc})") from None


def normaliser(mean: Sequence[float], std: Sequence[float]) -> Callable[[np.ndarray], np.ndarray]:
    """``pixels`` (3, H, W) 0..255 → ``(pixels / 255 − mean) / std`` (3, H, W) float32, per channel."""
    m = np.asarray(mean, np.float32)[:, None, None]
    s = np.asarray(std, np.float32)[:, None, None]

    def norm(pixels: np.ndarray) -> np.ndarray:
        return ((pixels.astype(np.float32) / 255.0 - m) / s).astype(np.float32)

    return norm


def parity(
    reference: Callable[[torch.Tensor], torch.Tensor],
    candidate: Callable[[np.ndarray], np.ndarray],
    batches: Sequence[np.ndarray],
    agreement: Callable[[np.ndarray, np.ndarray], tuple[int, int]],
    onnx_path: Path,
) -> tuple[float, float]:
    """Torch ``reference`` vs ONNX Runtime ``candidate`` over ``batches`` (N, 3, H, W) float32.

    Args:
        agreement: (torch output, ORT output) → (agreeing units, units compared) of one batch.
    Returns:
        (max |torch − ORT| output value, agreeing units / units compared over all batches).
    Raises:
        ModelError: an ORT output shape differs from torch's.
    """
    max_diff, agree, total = 0.0, 0, 0
    for batch in batches:
        with torch.inference_mode():
            ref = reference(torch.from_numpy(batch)).numpy()
        got = candidate(batch)
        if got.shape != ref.shape:
            raise ModelError(f"{onnx_path}: ONNX output shape {got.shape} != torch output shape {ref.shape}")
        max_diff = max(max_diff, float(np.abs(got - ref).max()))
        a, n = agreement(ref, got)
        agree += a
        total += n
    return max_diff, agree / total


def reject_below(out: Path, agreement: float, minimum: float, message: str) -> None:
    """Remove ``out`` and raise ModelError(``out: message``) when ``agreement`` is below ``minimum``."""
    if agreement < minimum:
        out.unlink(missing_ok=True)
        raise ModelError(f"{out}: {message}")
