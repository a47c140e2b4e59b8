"""Tiny keypoint (pose) models built in the test with onnx.helper, whose answers are known exactly, and
scenes for them.

Both models see keypoint 0 in the red channel and keypoint 1 in the green channel (blue is ignored):

* the heatmap model averages each channel over ``stride`` × ``stride`` blocks (AveragePool), so its
  heatmaps peak where the crop is red / green;
* the SimCC model takes each channel's maximum over the rows (x) and over the columns (y), repeats every
  value ``split`` times (k bins per input pixel) and scales it to logits: the arg-max bin of a channel is
  ``split`` × the brightest column (row).

Their spec: input 64×48 (H×W), mean 0, std 1, keypoints ``red`` and ``green``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from pipeline.contract.pose_meta import PoseSpec

NAMES = ["red", "green"]
INPUT_HW = (64, 48)


def pose_spec(output: str = "heatmap", **extra: Any) -> PoseSpec:
    """The toy models' spec (``extra`` overrides sidecar-style keys)."""
    fields: dict[str, Any] = {
        "keypoints": NAMES,
        "input_size": list(INPUT_HW),
        "mean": [0.0, 0.0, 0.0],
        "std": [1.0, 1.0, 1.0],
        "output": output,
        "heatmap_stride": 4,
        "activation": "none",
        "decoder": "argmax",
        "simcc_split": 2.0,
        "crop_padding": 0.1,
        **extra,
    }
    return PoseSpec.from_mapping(fields, "test")


def _select() -> onnx.TensorProto:
    w = np.zeros((2, 3, 1, 1), np.float32)
    w[0, 0] = w[1, 1] = 1.0  # keypoint 0 ← red, keypoint 1 ← green
    return helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel())


def _save(graph: onnx.GraphProto, path: Path, props: dict[str, str] | None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in (props or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def heatmap_model(
    path: Path,
    spec: PoseSpec | None = None,
    props: dict[str, str] | None = None,
    input_hw: tuple[int | str, int | str] = INPUT_HW,
) -> Path:
    """Write the heatmap model; its metadata is ``props`` if given, else ``spec.to_props()`` (a spec of
    :func:`pose_spec` by default); ``props={}`` writes a model without metadata (for sidecars)."""
    spec = spec or pose_spec("heatmap")
    s = spec.heatmap_stride
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, *input_hw])
    y = helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, ["batch", 2, "h", "w"])
    nodes = [
        helper.make_node("Conv", ["input", "W"], ["c"]),
        helper.make_node("AveragePool", ["c"], ["heatmaps"], kernel_shape=[s, s], strides=[s, s]),
    ]
    graph = helper.make_graph(nodes, "heatmap", [x], [y], initializer=[_select()])
    return _save(graph, path, spec.to_props() if props is None else props)


def simcc_model(
    path: Path,
    spec: PoseSpec | None = None,
    names: tuple[str, str] = ("simcc_x", "simcc_y"),
    y_first: bool = False,
    props: dict[str, str] | None = None,
) -> Path:
    """Write the SimCC model with outputs named ``names`` (x, y), listed y first with ``y_first``."""
    spec = spec or pose_spec("simcc")
    k = int(spec.simcc_split)
    h, w = spec.input_hw
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, h, w])
    out_x = helper.make_tensor_value_info(names[0], TensorProto.FLOAT, ["batch", 2, w * k])
    out_y = helper.make_tensor_value_info(names[1], TensorProto.FLOAT, ["batch", 2, h * k])
    nodes = [helper.make_node("Conv", ["input", "W"], ["c"])]
    for axis, reduce_axis, name in (("x", 2, names[0]), ("y", 3, names[1])):
        nodes += [
            helper.make_node("ReduceMax", ["c"], [f"m{axis}"], axes=[reduce_axis], keepdims=0),
            helper.make_node("Unsqueeze", [f"m{axis}", "last"], [f"u{axis}"]),
            helper.make_node("Expand", [f"u{axis}", "reps"], [f"e{axis}"]),
            helper.make_node("Reshape", [f"e{axis}", "flat"], [f"r{axis}"]),
            helper.make_node("Mul", [f"r{axis}", "gain"], [name]),
        ]
    inits = [
        _select(),
        helper.make_tensor("last", TensorProto.INT64, [1], [3]),
        helper.make_tensor("reps", TensorProto.INT64, [4], [1, 1, 1, k]),
        helper.make_tensor("flat", TensorProto.INT64, [3], [0, 0, -1]),
        helper.make_tensor("gain", TensorProto.FLOAT, [], [20.0]),
    ]
    outputs = [out_y, out_x] if y_first else [out_x, out_y]
    graph = helper.make_graph(nodes, "simcc", [x], outputs, initializer=inits)
    return _save(graph, path, spec.to_props() if props is None else props)


def blob(image: np.ndarray, channel: int, centre: tuple[float, float], sigma: float) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with a Gaussian spot (peak 255, ``sigma`` px) added to ``channel`` at
    ``centre`` (x, y) frame px (pixel centres at integers); returns a new image."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    g = 255.0 * np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2.0 * sigma * sigma))
    out = image.astype(np.float64)
    out[..., channel] = np.maximum(out[..., channel], g)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


TORSO = (100, 60, 220, 180)
"""The test infant: a dark blue rectangle (torso for the colour model) in a black 320×240 frame."""
RED_AT, GREEN_AT = (135.3, 100.6), (185.7, 150.2)


def infant_scene(
    red: tuple[float, float] = RED_AT,
    green: tuple[float, float] = GREEN_AT,
    sigma: float = 9.0,
    size: tuple[int, int] = (320, 240),
    torso: tuple[int, int, int, int] | None = TORSO,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB: black, a (0, 0, 100) torso rectangle, a red and a green Gaussian spot."""
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    if torso is not None:
        x0, y0, x1, y1 = torso
        img[y0:y1, x0:x1] = (0, 0, 100)
    return blob(blob(img, 0, red, sigma), 1, green, sigma)
