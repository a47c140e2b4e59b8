"""A segmentation model that takes the letterboxed uint8 pixels and normalises inside its graph.

Why: a remote server (Triton) receives 1 byte per pixel and channel instead of 4 (a 192×192 frame is
108 KiB instead of 432 KiB), and the client skips the float conversion. The graph computes exactly
what :func:`pipeline.infer.preprocess.normalize` does — ``pixel * (1 / (255 std)) - mean / std`` per
channel, float32 — in front of the unchanged model; its metadata says ``infant_stream.input_dtype:
uint8`` so every reader (:class:`~pipeline.infer.preprocess.Preprocessor`, the backends) sends pixels.
Needs the ``onnx`` package (``pip install 'infant-stream[triton]'``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.contract.model_meta import KEY_INPUT_DTYPE, ModelSpec
from pipeline.errors import ModelError

PIXELS = "pixels"
"""The new input's name: (N, 3, H, W) uint8, RGB, letterboxed."""


def uint8_model(path: Path, spec: ModelSpec) -> bytes:
    """The serialised ONNX model of ``path`` (a float32-input segmentation model described by ``spec``)
    with a uint8 ``pixels`` input and the normalisation in front.

    Raises:
        ModelError: ``onnx`` is missing, the file cannot be read, or it already takes uint8.
    """
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise ModelError(
            "--uint8-input: needs the onnx package (pip install 'infant-stream[triton]')"
        ) from None
    if spec.input_dtype != "float32":
        raise ModelError(f"{path}: already takes {spec.input_dtype} pixels")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - onnx raises DecodeError and others
        raise ModelError(f"{path}: cannot read the ONNX model ({str(exc).splitlines()[0][:200]})") from None
    graph = model.graph
    (old,) = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    std = np.asarray(spec.std, np.float32).reshape(1, 3, 1, 1)
    mean = np.asarray(spec.mean, np.float32).reshape(1, 3, 1, 1)
    scale = (1.0 / (255.0 * std)).astype(np.float32)
    offset = (mean / std).astype(np.float32)
    dims = [d.dim_param or d.dim_value for d in old.type.tensor_type.shape.dim]
    pixels = helper.make_tensor_value_info(PIXELS, TensorProto.UINT8, dims)
    nodes = [
        helper.make_node("Cast", [PIXELS], ["pixels_f32"], to=TensorProto.FLOAT, name="uint8_cast"),
        helper.make_node("Mul", ["pixels_f32", "uint8_scale"], ["pixels_scaled"], name="uint8_scale"),
        helper.make_node("Sub", ["pixels_scaled", "uint8_offset"], [old.name], name="uint8_offset"),
    ]
    graph.initializer.extend(
        [numpy_helper.from_array(scale, "uint8_scale"), numpy_helper.from_array(offset, "uint8_offset")]
    )
    kept = [n for n in graph.node]
    del graph.node[:]
    graph.node.extend([*nodes, *kept])
    graph.input.remove(old)
    graph.input.insert(0, pixels)
    props = {p.key: p for p in model.metadata_props}
    if KEY_INPUT_DTYPE in props:
        props[KEY_INPUT_DTYPE].value = "uint8"
    else:
        entry = model.metadata_props.add()
        entry.key, entry.value = KEY_INPUT_DTYPE, "uint8"
    onnx.checker.check_model(model)
    return model.SerializeToString()
