"""A Triton model repository of ONNX models (``infant-stream export-triton``), written whole or not at all.

Layout (Triton's): ``OUT/<name>/config.pbtxt`` and ``OUT/<name>/1/model.onnx`` per model. The config says
``platform: "onnxruntime_onnx"``, ``max_batch_size``, ``dynamic_batching`` (preferred sizes, max queue
delay), ``instance_group``, the input and output with their dims (batch dimension left out: Triton's), and
the model's own metadata (``infant_stream.*``) as ``parameters``, so a client reads classes, mean/std and
input size from the server (:class:`~pipeline.infer.backends.triton.TritonBackend`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipeline.errors import ModelError

Kind = Literal["cpu", "gpu"]
TYPES = {"tensor(float)": "TYPE_FP32", "tensor(uint8)": "TYPE_UINT8", "tensor(float16)": "TYPE_FP16"}


@dataclass(frozen=True)
class Tensor:
    """One input or output: name, Triton data type, dims without the batch dimension (-1 = variable)."""

    name: str
    data_type: str
    dims: tuple[int, ...]


@dataclass(frozen=True)
class Served:
    """What the config of one model says besides its tensors.

    Attributes:
        max_batch: ``max_batch_size`` (frames per executed batch).
        preferred: ``preferred_batch_size`` of the dynamic batcher.
        queue_delay_us: ``max_queue_delay_microseconds``: how long a request may wait for others.
        instances: model instances (``instance_group count``).
        kind: ``cpu`` (``KIND_CPU``) or ``gpu`` (``KIND_GPU``: the onnxruntime backend on CUDA).
        tensorrt: "" or a precision (``FP16``, ``FP32``): the onnxruntime backend runs the model through
            TensorRT (``gpu_execution_accelerator``: Triton builds the engine on the server's GPU at
            load, so no plan file has to match that GPU); GPU kind only.
    """

    max_batch: int = 8
    preferred: tuple[int, ...] = (4, 8)
    queue_delay_us: int = 2000
    instances: int = 1
    kind: Kind = "cpu"
    tensorrt: str = ""


def _dims(values: list[int]) -> str:
    return "[ " + ", ".join(str(v) for v in values) + " ]"


def config_text(
    name: str, inputs: list[Tensor], outputs: list[Tensor], metadata: dict[str, str], served: Served
) -> str:
    """The ``config.pbtxt`` of one ONNX model (protobuf text format of Triton's ``ModelConfig``)."""

    def tensors(items: list[Tensor]) -> str:
        rows = [
            f'  {{ name: "{t.name}" data_type: {t.data_type} dims: {_dims(list(t.dims))} }}' for t in items
        ]
        return "[\n" + ",\n".join(rows) + "\n]"

    preferred = [b for b in served.preferred if b <= served.max_batch]
    lines = [
        f'name: "{name}"',
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {served.max_batch}",
        f"input {tensors(inputs)}",
        f"output {tensors(outputs)}",
        "dynamic_batching {",
        *([f"  preferred_batch_size: {_dims(preferred)}"] if preferred else []),
        f"  max_queue_delay_microseconds: {served.queue_delay_us}",
        "}",
        f"instance_group [ {{ count: {served.instances} kind: KIND_{served.kind.upper()} }} ]",
    ]
    if served.tensorrt:
        lines += [
            "optimization { execution_accelerators { gpu_execution_accelerator: [ {",
            '  name: "tensorrt"',
            f'  parameters {{ key: "precision_mode" value: "{served.tensorrt}" }}',
            '  parameters { key: "max_workspace_size_bytes" value: "1073741824" }',
            "} ] } }",
        ]
    for key in sorted(metadata):
        lines.append(
            f"parameters {{ key: {json.dumps(key)} value: {{ string_value: {json.dumps(metadata[key])} }} }}"
        )
    return "\n".join(lines) + "\n"


def describe_onnx(
    path: Path, data: bytes | None = None
) -> tuple[list[Tensor], list[Tensor], dict[str, str], int]:
    """(inputs, outputs, metadata, the model's own batch limit or 0) of an ONNX file (or of ``data``,
    the serialised model made from it); output dims are measured by running it once on a zero input
    (symbolic dims become concrete).

    Raises ModelError (one line naming the file) when it cannot be loaded or its batch is not dynamic.
    """
    import onnxruntime as ort

    if data is None and not path.is_file():
        raise ModelError(f"{path}: model file not found")
    try:
        session = ort.InferenceSession(data or str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
        raise ModelError(f"{path}: cannot load model ({str(exc).splitlines()[0][:200]})") from None
    feeds: dict[str, Any] = {}
    inputs = []
    batch_limit = 0
    for i in session.get_inputs():
        if i.type not in TYPES or any(not isinstance(d, int) for d in i.shape[1:]):
            raise ModelError(
                f"{path}: input {i.name} must be {', '.join(TYPES)} with fixed dims past the batch"
            )
        if isinstance(i.shape[0], int):
            batch_limit = int(i.shape[0])
        inputs.append(Tensor(i.name, TYPES[i.type], tuple(int(d) for d in i.shape[1:])))
        dtype = (
            np.float32 if i.type == "tensor(float)" else np.uint8 if i.type == "tensor(uint8)" else np.float16
        )
        feeds[i.name] = np.zeros((1, *inputs[-1].dims), dtype)
    results = session.run(None, feeds)
    outputs = [
        Tensor(o.name, TYPES.get(o.type, "TYPE_FP32"), tuple(int(d) for d in r.shape[1:]))
        for o, r in zip(session.get_outputs(), results, strict=True)
    ]
    return inputs, outputs, dict(session.get_modelmeta().custom_metadata_map), batch_limit


def _uint8(path: Path) -> bytes:
    from pipeline.infer.backends.onnxruntime import read_model_io
    from pipeline.infer.uint8_input import uint8_model

    spec, _, _ = read_model_io(path)
    return uint8_model(path, spec)


def write_repository(
    out: Path, models: dict[str, Path], served: Served, force: bool = False, uint8_input: str = ""
) -> list[Path]:
    """Write ``out`` with one Triton model per ``name → ONNX file``; returns the config files.
    ``uint8_input``: the name of a segmentation model to write with a uint8 pixel input and the
    normalisation in its graph (:mod:`pipeline.infer.uint8_input`).

    Built in a temporary folder beside ``out`` and moved into place only when complete: a failure
    leaves nothing (and an existing ``out`` untouched). An existing non-empty ``out`` needs ``force``.

    Raises:
        ConfigError: ``out`` exists and is not empty (without ``force``), or is a file.
        ModelError: a model cannot be read, or its batch dimension is fixed.
    """
    from pipeline.files import whole_folder

    configs = []
    with whole_folder(out, force) as staging:
        for name, path in models.items():
            data = _uint8(path) if name == uint8_input else None
            inputs, outputs, metadata, limit = describe_onnx(path, data)
            if limit:
                raise ModelError(
                    f"{path}: its batch dimension is fixed at {limit}; Triton batching needs it dynamic"
                )
            folder = staging / name
            (folder / "1").mkdir(parents=True)
            if data is None:
                shutil.copyfile(path, folder / "1" / "model.onnx")
            else:
                (folder / "1" / "model.onnx").write_bytes(data)
            (folder / "config.pbtxt").write_text(config_text(name, inputs, outputs, metadata, served))
            configs.append(out / name / "config.pbtxt")
    return configs
