"""The contract between the trainer's ONNX exporter and the pipeline.

The exporter writes these keys into the ONNX file's ``metadata_props``; the pipeline reads
them to preprocess frames exactly as training did. Both sides import this module, so a key
is spelled in one place only. Every value is a string; structured values are JSON.

A model without these keys (any third-party ONNX segmentation model) gets :data:`DEFAULT_SPEC`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from pipeline.contract.classes import CLASS_COLORS_RGB, CLASS_NAMES
from pipeline.errors import ModelError

PREFIX: Final = "infant_stream."
KEY_FORMAT: Final = PREFIX + "format"  # "1": version of this key set
KEY_CLASSES: Final = PREFIX + "classes"  # JSON list of class names; index = class id
KEY_COLORS: Final = PREFIX + "colors"  # JSON list of [r, g, b] (0..255), one per class
KEY_INPUT_SIZE: Final = PREFIX + "input_size"  # JSON [height, width] in pixels
KEY_MEAN: Final = PREFIX + "mean"  # JSON [r, g, b], pixel/255 units
KEY_STD: Final = PREFIX + "std"  # JSON [r, g, b], pixel/255 units
KEY_LETTERBOX: Final = PREFIX + "letterbox"  # "center" or "topleft": where the resized image sits
KEY_PAD_VALUE: Final = PREFIX + "pad_value"  # integer 0..255, the raw pixel value of the padding
KEY_ARCHITECTURE: Final = PREFIX + "architecture"  # e.g. "deeplabv3_mobilenet_v3_large"
KEY_TRAINING_DATA: Final = PREFIX + "training_data"  # free text: what the model was trained on
KEY_METRICS: Final = PREFIX + "metrics"  # JSON object of validation metrics
KEY_INPUT_DTYPE: Final = PREFIX + "input_dtype"  # "float32" (normalised, default) or "uint8" (raw pixels)

FORMAT_VERSION: Final = "1"
LetterboxAlign = Literal["center", "topleft"]
InputDtype = Literal["float32", "uint8"]
INPUT_DTYPES: Final = ("float32", "uint8")


@dataclass(frozen=True)
class ModelSpec:
    """What the pipeline must know about a segmentation model besides its weights.

    Attributes:
        class_names: index = class id.
        colors: RGB 0..255 per class, same length as ``class_names``.
        input_hw: model input (height, width) in pixels.
        mean, std: per-channel RGB normalisation, applied as ``(pixel / 255 - mean) / std``.
        letterbox: ``center`` pads both sides equally, ``topleft`` pads right and bottom only.
        pad_value: raw pixel value (0..255) of the padded border, before normalisation.
        input_dtype: ``float32``: the input is normalised with ``mean``/``std`` (the exporter's
            models); ``uint8``: the input is the letterboxed RGB pixels and the graph normalises
            (``export-triton --uint8-input``: 4× fewer bytes per request).
    """

    class_names: tuple[str, ...] = CLASS_NAMES
    colors: tuple[tuple[int, int, int], ...] = CLASS_COLORS_RGB
    input_hw: tuple[int, int] = (512, 512)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    letterbox: LetterboxAlign = "center"
    pad_value: int = 0
    architecture: str = "unknown"
    training_data: str = "unknown"
    metrics: Mapping[str, float] = field(default_factory=dict)
    input_dtype: InputDtype = "float32"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_props(self) -> dict[str, str]:
        """Serialise to ONNX ``metadata_props`` (all values strings)."""
        return {
            KEY_FORMAT: FORMAT_VERSION,
            KEY_CLASSES: json.dumps(list(self.class_names)),
            KEY_COLORS: json.dumps([list(c) for c in self.colors]),
            KEY_INPUT_SIZE: json.dumps(list(self.input_hw)),
            KEY_MEAN: json.dumps(list(self.mean)),
            KEY_STD: json.dumps(list(self.std)),
            KEY_LETTERBOX: self.letterbox,
            KEY_PAD_VALUE: str(self.pad_value),
            KEY_ARCHITECTURE: self.architecture,
            KEY_TRAINING_DATA: self.training_data,
            KEY_METRICS: json.dumps(dict(self.metrics)),
            **({KEY_INPUT_DTYPE: self.input_dtype} if self.input_dtype != "float32" else {}),
        }

    @classmethod
    def from_props(
        cls, props: Mapping[str, str], where: str, input_hw: tuple[int, int] | None = None
    ) -> ModelSpec:
        """Read a spec from ONNX ``metadata_props``; missing keys take the defaults.

        Args:
            props: the model's metadata (key → string).
            where: the model path, named in errors.
            input_hw: (height, width) fixed by the graph itself, which wins over the metadata.
        Raises:
            ModelError: a key is present but malformed (names the key and the value).
        """
        d = cls()

        def load(key: str, default: Any) -> Any:
            if key not in props:
                return default
            try:
                return json.loads(props[key])
            except json.JSONDecodeError:
                raise ModelError(f"{where}: metadata {key}: not JSON: {props[key]!r}") from None

        names = tuple(str(n) for n in load(KEY_CLASSES, d.class_names))
        colors = tuple(tuple(int(v) for v in c) for c in load(KEY_COLORS, d.colors))
        hw = load(KEY_INPUT_SIZE, d.input_hw)
        mean = tuple(float(v) for v in load(KEY_MEAN, d.mean))
        std = tuple(float(v) for v in load(KEY_STD, d.std))
        align = props.get(KEY_LETTERBOX, d.letterbox)
        pad = props.get(KEY_PAD_VALUE, str(d.pad_value))
        metrics = load(KEY_METRICS, {})
        if len(colors) != len(names) or any(len(c) != 3 for c in colors):
            raise ModelError(f"{where}: metadata {KEY_COLORS}: need one [r,g,b] per class, got {colors}")
        if not (isinstance(hw, list | tuple) and len(hw) == 2 and all(int(v) > 0 for v in hw)):
            raise ModelError(f"{where}: metadata {KEY_INPUT_SIZE}: need [height, width] > 0, got {hw}")
        if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
            raise ModelError(f"{where}: metadata mean/std: need 3 values each, std > 0, got {mean}, {std}")
        if align not in ("center", "topleft"):
            raise ModelError(f"{where}: metadata {KEY_LETTERBOX}: must be center or topleft, got {align!r}")
        dtype = props.get(KEY_INPUT_DTYPE, d.input_dtype)
        if dtype not in INPUT_DTYPES:
            raise ModelError(f"{where}: metadata {KEY_INPUT_DTYPE}: must be float32 or uint8, got {dtype!r}")
        if not pad.isdigit() or not 0 <= int(pad) <= 255:
            raise ModelError(f"{where}: metadata {KEY_PAD_VALUE}: must be an integer 0..255, got {pad!r}")
        return cls(
            class_names=names,
            colors=colors,  # type: ignore[arg-type]
            input_hw=input_hw or (int(hw[0]), int(hw[1])),
            mean=mean,  # type: ignore[arg-type]
            std=std,  # type: ignore[arg-type]
            letterbox=align,  # type: ignore[arg-type]
            pad_value=int(pad),
            architecture=props.get(KEY_ARCHITECTURE, d.architecture),
            training_data=props.get(KEY_TRAINING_DATA, d.training_data),
            metrics={str(k): float(v) for k, v in dict(metrics).items()},
            input_dtype=dtype,  # type: ignore[arg-type]
        )


DEFAULT_SPEC: Final = ModelSpec()
