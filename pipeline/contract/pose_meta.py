"""What the pipeline must know to run a keypoint (pose) model: the ``keypoints`` task's metadata.

The trainer's exporter writes these keys into the ONNX ``metadata_props`` (prefix ``infant_stream.``, as
:mod:`pipeline.contract.model_meta`; input size, mean and std reuse that module's keys). A third-party model
carries the same fields, without the prefix, in a sidecar YAML next to it (``model.onnx`` → ``model.yaml``),
read by :meth:`PoseSpec.from_mapping`.

Output kinds:

* ``heatmap``: one output (N, K, h, w); ``heatmap_stride`` input pixels per heatmap pixel; ``activation``
  says how raw values become probabilities (``none`` for MSE-trained maps, ``sigmoid`` for BCE logits,
  ``softmax`` for KCE logits: a spatial softmax over h·w); ``decoder`` ``argmax`` (with sub-pixel
  refinement) or ``wa`` (the expectation under the normalised map).
* ``simcc``: two outputs (N, K, W·k) and (N, K, H·k) (as RTMPose exports), ``simcc_split`` = k bins per
  input pixel; decoded by argmax per axis.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from pipeline.contract.keypoints import KeypointSet, facial_of, keypoint_set_for, side_of
from pipeline.contract.model_meta import (
    KEY_ARCHITECTURE,
    KEY_INPUT_SIZE,
    KEY_MEAN,
    KEY_METRICS,
    KEY_STD,
    KEY_TRAINING_DATA,
    PREFIX,
)
from pipeline.errors import ModelError

KEY_TASK: Final = PREFIX + "task"  # "segmentation" (absent = segmentation) or "keypoints"
KEY_KEYPOINTS: Final = PREFIX + "keypoints"  # JSON list of names; index = keypoint id
KEY_SKELETON: Final = PREFIX + "skeleton"  # JSON list of [i, j], 0-based
KEY_SIDES: Final = PREFIX + "sides"  # JSON list of "R" / "L" / "" per keypoint (optional)
KEY_FACIAL: Final = PREFIX + "facial"  # JSON list of facial keypoint ids (optional)
KEY_OUTPUT: Final = PREFIX + "output"  # "heatmap" or "simcc"
KEY_HEATMAP_STRIDE: Final = PREFIX + "heatmap_stride"  # input px per heatmap px (e.g. 4)
KEY_HEATMAP_SIGMA: Final = PREFIX + "heatmap_sigma"  # training Gaussian sigma, heatmap px
KEY_ACTIVATION: Final = PREFIX + "activation"  # "none", "sigmoid" or "softmax"
KEY_DECODER: Final = PREFIX + "decoder"  # "argmax" or "wa"
KEY_SIMCC_SPLIT: Final = PREFIX + "simcc_split"  # SimCC bins per input pixel
KEY_CROP_PADDING: Final = PREFIX + "crop_padding"  # body-box padding per side, fraction

TASK_SEGMENTATION: Final = "segmentation"
TASK_KEYPOINTS: Final = "keypoints"

OutputKind = Literal["heatmap", "simcc"]
Activation = Literal["none", "sigmoid", "softmax"]
Decoder = Literal["argmax", "wa"]


@dataclass(frozen=True)
class PoseSpec:
    """A keypoint model's contract.

    Attributes:
        keypoints: the keypoint set (names, skeleton, sides, facial ids).
        input_hw: model input (height, width), px.
        mean, std: RGB normalisation, ``(pixel / 255 - mean) / std``.
        output: ``heatmap`` or ``simcc``.
        heatmap_stride: input px per heatmap px (heatmap models).
        heatmap_sigma: the training target's Gaussian sigma, heatmap px (scales ``softmax`` scores).
        activation: raw output → probability (heatmap models).
        decoder: ``argmax`` or ``wa`` (heatmap models).
        simcc_split: bins per input px (SimCC models).
        crop_padding: fraction of the body box added on each side before cropping (as in training).
    """

    keypoints: KeypointSet
    input_hw: tuple[int, int] = (256, 192)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    output: OutputKind = "heatmap"
    heatmap_stride: int = 4
    heatmap_sigma: float = 2.0
    activation: Activation = "none"
    decoder: Decoder = "argmax"
    simcc_split: float = 2.0
    crop_padding: float = 0.15
    architecture: str = "unknown"
    training_data: str = "unknown"
    metrics: Mapping[str, float] = field(default_factory=dict)

    def to_props(self) -> dict[str, str]:
        """Serialise to ONNX ``metadata_props`` (all values strings)."""
        return {
            KEY_TASK: TASK_KEYPOINTS,
            KEY_KEYPOINTS: json.dumps(list(self.keypoints.names)),
            KEY_SKELETON: json.dumps([list(e) for e in self.keypoints.skeleton]),
            KEY_SIDES: json.dumps(list(self.keypoints.sides)),
            KEY_FACIAL: json.dumps(list(self.keypoints.facial)),
            KEY_INPUT_SIZE: json.dumps(list(self.input_hw)),
            KEY_MEAN: json.dumps(list(self.mean)),
            KEY_STD: json.dumps(list(self.std)),
            KEY_OUTPUT: self.output,
            KEY_HEATMAP_STRIDE: str(self.heatmap_stride),
            KEY_HEATMAP_SIGMA: str(self.heatmap_sigma),
            KEY_ACTIVATION: self.activation,
            KEY_DECODER: self.decoder,
            KEY_SIMCC_SPLIT: str(self.simcc_split),
            KEY_CROP_PADDING: str(self.crop_padding),
            KEY_ARCHITECTURE: self.architecture,
            KEY_TRAINING_DATA: self.training_data,
            KEY_METRICS: json.dumps(dict(self.metrics)),
        }

    @classmethod
    def from_props(cls, props: Mapping[str, str], where: str) -> PoseSpec:
        """Read a spec from ONNX ``metadata_props`` (prefixed keys, JSON/str values)."""
        plain: dict[str, Any] = {}
        for key, value in props.items():
            if not key.startswith(PREFIX):
                continue
            name = key[len(PREFIX) :]
            try:
                plain[name] = json.loads(value)
            except json.JSONDecodeError:
                plain[name] = value
        return cls.from_mapping(plain, where)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any], where: str) -> PoseSpec:
        """Read a spec from plain keys (a sidecar YAML, or unprefixed metadata).

        Required: ``keypoints`` (list of names). Everything else has the defaults above; ``skeleton``,
        ``sides`` and ``facial`` default to the known set's when the names match NYCU-22 or COCO-17,
        otherwise to no edges, the sides the names say (:func:`~pipeline.contract.keypoints.side_of`)
        and the ids of the facial names (:func:`~pipeline.contract.keypoints.facial_of`).

        Raises:
            ModelError: a field is malformed (names ``where`` and the field).
        """
        d = cls(keypoints=KeypointSet(name="none", names=("p",), skeleton=(), sides=("",)))

        def bad(name: str, why: str) -> ModelError:
            return ModelError(f"{where}: {name}: {why}, got {m.get(name)!r}")

        names = m.get("keypoints")
        if not isinstance(names, list | tuple) or not names or not all(isinstance(n, str) for n in names):
            raise bad("keypoints", "need a non-empty list of keypoint names")
        known = keypoint_set_for(tuple(names))
        try:
            skeleton = tuple((int(i), int(j)) for i, j in m.get("skeleton", known.skeleton if known else ()))
            sides = tuple(
                str(s) for s in m.get("sides", known.sides if known else tuple(side_of(n) for n in names))
            )
            facial = tuple(int(i) for i in m.get("facial", known.facial if known else facial_of(names)))
            kset = KeypointSet(
                name=known.name if known else "custom",
                names=tuple(names),
                skeleton=skeleton,
                sides=sides,
                facial=facial,
                sigmas=known.sigmas if known else (),
            )
        except (TypeError, ValueError) as e:
            raise ModelError(f"{where}: keypoints/skeleton/sides/facial: {e}") from None
        hw = m.get("input_size", list(d.input_hw))
        if not (
            isinstance(hw, list | tuple) and len(hw) == 2 and all(isinstance(v, int) and v > 0 for v in hw)
        ):
            raise bad("input_size", "need [height, width] as positive integers")
        mean, std = m.get("mean", list(d.mean)), m.get("std", list(d.std))
        if not (isinstance(mean, list | tuple) and len(mean) == 3):
            raise bad("mean", "need 3 numbers")
        if not (isinstance(std, list | tuple) and len(std) == 3 and all(float(s) > 0 for s in std)):
            raise bad("std", "need 3 numbers > 0")
        choices: dict[str, tuple[str, ...]] = {
            "output": ("heatmap", "simcc"),
            "activation": ("none", "sigmoid", "softmax"),
            "decoder": ("argmax", "wa"),
        }
        for name, allowed in choices.items():
            if name in m and m[name] not in allowed:
                raise bad(name, f"must be one of {', '.join(allowed)}")
        numbers: dict[str, float] = {}
        for name in ("heatmap_stride", "heatmap_sigma", "simcc_split", "crop_padding"):
            default = float(getattr(d, name))
            try:
                numbers[name] = float(m.get(name, default))
            except (TypeError, ValueError):
                raise bad(name, "need a number") from None
            if numbers[name] < 0 or (name != "crop_padding" and numbers[name] <= 0):
                raise bad(name, "need a positive number")
        metrics = m.get("metrics", {})
        return cls(
            keypoints=kset,
            input_hw=(int(hw[0]), int(hw[1])),
            mean=(float(mean[0]), float(mean[1]), float(mean[2])),
            std=(float(std[0]), float(std[1]), float(std[2])),
            output=m.get("output", d.output),
            heatmap_stride=int(numbers["heatmap_stride"]),
            heatmap_sigma=numbers["heatmap_sigma"],
            activation=m.get("activation", d.activation),
            decoder=m.get("decoder", d.decoder),
            simcc_split=numbers["simcc_split"],
            crop_padding=numbers["crop_padding"],
            architecture=str(m.get("architecture", d.architecture)),
            training_data=str(m.get("training_data", d.training_data)),
            metrics={str(k): float(v) for k, v in dict(metrics).items()} if isinstance(metrics, dict) else {},
        )


def task_of(props: Mapping[str, str]) -> str:
    """``segmentation`` or ``keypoints``: what a model's metadata says it does (absent = segmentation)."""
    return props.get(KEY_TASK, TASK_SEGMENTATION)
