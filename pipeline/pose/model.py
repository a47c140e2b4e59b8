"""A keypoint (pose) model in ONNX Runtime: its contract, its outputs, and decoding to model-input pixels.

The contract (:class:`~pipeline.contract.pose_meta.PoseSpec`) comes from the ONNX ``metadata_props`` when
they say ``infant_stream.task = keypoints`` (the trainer's exporter writes them), else from a sidecar YAML
next to a third-party model (``model.onnx`` → ``model.yaml``, the same keys without the prefix)::

    keypoints: [nose, left_eye, right_eye, ...]   # required; index = keypoint id
    input_size: [256, 192]                        # [height, width] px
    mean: [0.485, 0.456, 0.406]                   # (pixel / 255 - mean) / std
    std: [0.229, 0.224, 0.225]
    output: simcc                                 # heatmap | simcc
    simcc_split: 2.0                              # SimCC bins per input px
    crop_padding: 0.25                            # body box padding per side, fraction

Output kinds: ``heatmap``, one output (N, K, h, w) with h·stride = H, w·stride = W; ``simcc``, two
outputs (N, K, W·k) and (N, K, H·k) as RTMPose exports them, told apart by their names (``simcc_x`` /
``simcc_y``, or any names whose parts are ``x`` and ``y``), else by their lengths (W·k vs H·k), else by
order (x first, as RTMPose).

Execution providers: the run's ``model.providers`` (CUDA or CPU; ``auto`` = CUDA > CPU). The TensorRT
execution provider is not used for the pose model yet (its engine profile is built for the segmentation
input; later work), so ``auto`` on a TensorRT machine runs the pose model on the CUDA EP.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import yaml

from pipeline.contract.pose_meta import KEY_TASK, TASK_KEYPOINTS, PoseSpec, task_of
from pipeline.errors import InfantStreamError, ModelError
from pipeline.infer.backends.gpu_info import gpu_driver_present
from pipeline.infer.backends.onnxruntime import check_model_file, open_session
from pipeline.infer.backends.ort_providers import (
    CPU_EP,
    CUDA_EP,
    TRT_EP,
    OrtOptions,
    build_providers,
    choose_providers,
)
from pipeline.pose.decode import decode_heatmaps, decode_simcc, heatmap_to_input
from pipeline.pose.flip import flip_permutation, merge_heatmaps, merge_simcc, with_mirror

log = logging.getLogger(__name__)

SIDECAR_KEYS: Final = frozenset(
    {
        "task",
        "keypoints",
        "skeleton",
        "sides",
        "facial",
        "input_size",
        "mean",
        "std",
        "output",
        "heatmap_stride",
        "heatmap_sigma",
        "activation",
        "decoder",
        "simcc_split",
        "crop_padding",
        "architecture",
        "training_data",
        "metrics",
    }
)
"""The keys a sidecar YAML may hold (:meth:`PoseSpec.from_mapping`'s fields, and ``task``)."""
DEFAULT_MAX_BATCH: Final = 64
"""Most crops per model call when the model's batch dimension is dynamic."""


def sidecar_path(path: Path) -> Path:
    """The sidecar YAML of a model file: same folder and stem, ``.yaml``."""
    return path.with_suffix(".yaml")


def read_sidecar(path: Path) -> PoseSpec:
    """The :class:`PoseSpec` of a sidecar YAML.

    Raises:
        ModelError: unreadable, not YAML, not a mapping, an unknown key, or a malformed field (one line,
            naming the file and the field).
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"{path}: cannot read the sidecar ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}:" if mark is not None else ""
        raise ModelError(f"{path}:{at} not valid YAML") from None
    if not isinstance(data, dict):
        raise ModelError(
            f"{path}: must be a mapping of pose fields (keypoints, input_size, ...), got {type(data).__name__}"
        )
    unknown = sorted(str(k) for k in data if k not in SIDECAR_KEYS)
    if unknown:
        raise ModelError(f"{path}: {unknown[0]}: unknown key (known: {', '.join(sorted(SIDECAR_KEYS))})")
    if data.get("task", TASK_KEYPOINTS) != TASK_KEYPOINTS:
        raise ModelError(f"{path}: task: must be {TASK_KEYPOINTS}, got {data['task']!r}")
    return _spec(lambda: PoseSpec.from_mapping(data, str(path)), path)


def _spec(read: Any, where: Path) -> PoseSpec:
    """``read()``, with a malformed value that the contract lets through as a Python error made one line."""
    try:
        spec: PoseSpec = read()
    except InfantStreamError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"{where}: malformed pose field ({exc})") from None
    return spec


def read_pose_spec(path: Path, props: dict[str, str]) -> tuple[PoseSpec, str]:
    """(spec, where it came from) of the model at ``path`` with ONNX metadata ``props``.

    Keypoints metadata wins; a model whose metadata names another task is refused; otherwise the
    sidecar YAML is read.

    Raises:
        ModelError: not a keypoints model (no such metadata, no sidecar), or the spec is malformed.
    """
    if task_of(props) == TASK_KEYPOINTS:
        return _spec(lambda: PoseSpec.from_props(props, str(path)), path), "metadata"
    side = sidecar_path(path)
    if KEY_TASK in props:
        raise ModelError(f"{path}: is a {task_of(props)} model, not a keypoints (pose) model")
    if side.is_file():
        return read_sidecar(side), str(side)
    raise ModelError(
        f"{path}: not a keypoints (pose) model: its metadata has no {KEY_TASK} = {TASK_KEYPOINTS} "
        f"and there is no sidecar {side.name} next to it"
    )


def _static(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and value > 0 else None


def _axis_of(name: str) -> str | None:
    """``x`` or ``y`` when one of the name's parts is exactly that letter (``simcc_x``, ``pred-y``)."""
    parts = set(re.split(r"[^a-z0-9]+", name.lower()))
    has_x, has_y = "x" in parts, "y" in parts
    return "x" if has_x and not has_y else "y" if has_y and not has_x else None


@dataclass(frozen=True)
class ModelIO:
    """The tensors of a pose model: the input's name, and the output names the decoder reads
    (one for ``heatmap``; x then y for ``simcc``). ``max_batch``: most crops per call."""

    input_name: str
    outputs: tuple[str, ...]
    max_batch: int


def check_pose_io(session: Any, spec: PoseSpec, where: str) -> ModelIO:
    """The model's tensors, checked against its spec.

    Args:
        session: an ``onnxruntime.InferenceSession``.
        spec: the model's contract.
        where: the model path, named in errors.
    Raises:
        ModelError: not one (N, 3, H, W) float32 input of the spec's size, or outputs that do not fit
            the spec's output kind and keypoint count (one line naming the tensor).
    """
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"{where}: a pose model must have 1 input (an image batch), has {len(inputs)}")
    inp = inputs[0]
    shape = inp.shape
    if len(shape) != 4 or _static(shape[1]) not in (None, 3):
        raise ModelError(f"{where}: input {inp.name} must be (N, 3, H, W), is {shape}")
    if inp.type != "tensor(float)":
        raise ModelError(f"{where}: input {inp.name} must be float32, is {inp.type}")
    h, w = _static(shape[2]), _static(shape[3])
    if (h is not None and h != spec.input_hw[0]) or (w is not None and w != spec.input_hw[1]):
        raise ModelError(
            f"{where}: input {inp.name} is {shape[2]}×{shape[3]}, its pose spec says input_size "
            f"{list(spec.input_hw)}"
        )
    k = len(spec.keypoints.names)
    outs = session.get_outputs()
    if spec.output == "heatmap":
        maps = [o for o in outs if len(o.shape) == 4]
        if len(maps) != 1:
            raise ModelError(f"{where}: a heatmap model needs one (N, K, h, w) output, has {len(maps)}")
        out = maps[0]
        got_k = _static(out.shape[1])
        if got_k is not None and got_k != k:
            raise ModelError(f"{where}: output {out.name} has {got_k} keypoints, its pose spec names {k}")
        names: tuple[str, ...] = (out.name,)
    else:
        vecs = [o for o in outs if len(o.shape) == 3]
        if len(vecs) != 2:
            raise ModelError(f"{where}: a SimCC model needs two (N, K, bins) outputs (x, y), has {len(vecs)}")
        vecs = _simcc_order(vecs, spec)
        for o, size in zip(vecs, (spec.input_hw[1], spec.input_hw[0]), strict=True):
            got_k, bins = _static(o.shape[1]), _static(o.shape[2])
            if got_k is not None and got_k != k:
                raise ModelError(f"{where}: output {o.name} has {got_k} keypoints, its pose spec names {k}")
            if bins is not None and bins != round(size * spec.simcc_split):
                raise ModelError(
                    f"{where}: output {o.name} has {bins} bins, expected {size} px × simcc_split "
                    f"{spec.simcc_split:g} = {round(size * spec.simcc_split)}"
                )
        names = (vecs[0].name, vecs[1].name)
    return ModelIO(inp.name, names, _static(shape[0]) or DEFAULT_MAX_BATCH)


def _simcc_order(vecs: list[Any], spec: PoseSpec) -> list[Any]:
    """The two SimCC outputs as [x, y]: by name, else by length (W·k vs H·k), else in order."""
    axes = [_axis_of(o.name) for o in vecs]
    if sorted(a or "" for a in axes) == ["x", "y"]:
        return vecs if axes[0] == "x" else vecs[::-1]
    wx, hy = (round(v * spec.simcc_split) for v in (spec.input_hw[1], spec.input_hw[0]))
    lens = [_static(o.shape[2]) for o in vecs]
    if wx != hy and None not in lens and sorted(lens) == sorted([wx, hy]):  # type: ignore[type-var]
        return vecs if lens[0] == wx else vecs[::-1]
    return vecs


def pose_providers(requested: str, available: list[str], gpu_driver: bool) -> list[str]:
    """The execution providers of the pose model: those :func:`choose_providers` picks, with the
    TensorRT EP (not used for pose models yet) replaced by the CUDA EP when that is installed; CPU
    when nothing else is left."""
    chosen = choose_providers(requested, available, gpu_driver)
    names: list[str] = []
    for p in chosen:
        q = CUDA_EP if p == TRT_EP and CUDA_EP in available else p
        if q != TRT_EP and q not in names:
            names.append(q)
    return names or [CPU_EP]


class PoseModel:
    """A loaded keypoint model (ONNX Runtime).

    Attributes:
        path: the ONNX file.
        name: the model's name in records (its file stem).
        spec: its contract; ``spec_from``: ``metadata`` or the sidecar's path.
        io: its tensors (:class:`ModelIO`).
        provider: the first execution provider of the session.
        flip_test: every crop also runs mirrored and the two answers are averaged (:mod:`pipeline.pose.flip`;
            twice the model cost per crop).
    """

    def __init__(self, path: str | Path, options: OrtOptions | None = None, flip_test: bool = False) -> None:
        import onnxruntime as ort  # heavy: imported when a model is loaded

        self.path = Path(path)
        self.name = self.path.stem
        o = options or OrtOptions()
        check_model_file(self.path)
        names = pose_providers(o.providers, ort.get_available_providers(), gpu_driver_present())
        plain = OrtOptions(
            providers=",".join(names),
            intra_op_threads=o.intra_op_threads,
            inter_op_threads=o.inter_op_threads,
            spin=o.spin,
            device_id=o.device_id,
            cudnn_conv_algo_search=o.cudnn_conv_algo_search,
        )
        providers = build_providers(plain, names, True, "input", (0, 0), ort.__version__)
        self.session = open_session(self.path, plain, providers)
        props = dict(self.session.get_modelmeta().custom_metadata_map)
        self.spec, self.spec_from = read_pose_spec(self.path, props)
        self.io = check_pose_io(self.session, self.spec, str(self.path))
        self.provider = self.session.get_providers()[0]
        self.flip_test = flip_test
        self._perm = flip_permutation(self.spec.keypoints)
        for _ in range(o.warmup_runs):
            self.run(np.zeros((1, 3, *self.spec.input_hw), np.float32))
        log.info(
            "%s: pose model (%s, %d keypoints, input %dx%d, spec from %s) on %s",
            self.path,
            self.spec.output,
            len(self.spec.keypoints.names),
            self.spec.input_hw[1],
            self.spec.input_hw[0],
            self.spec_from,
            self.provider,
        )
        if flip_test:
            log.info("%s: flip test on (each crop also runs mirrored)", self.path)

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        return self.spec.keypoints.names

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised crops (N, 3, H, W) float32 → ((N, K, 2) float32 (x, y) model-input px with pixel
        centres at integers, (N, K) float32 scores 0..1). Runs at most ``io.max_batch`` crops per call;
        with ``flip_test`` the crops and their mirror images go through together and are merged
        before decoding.

        Raises:
            ModelError: an output's shape does not fit the spec (checked on every call: dynamic shapes).
        """
        xys, scores = [], []
        step = max(1, self.io.max_batch // 2) if self.flip_test else self.io.max_batch
        for start in range(0, len(batch), step):
            chunk = batch[start : start + step]
            raw = self._infer(with_mirror(chunk) if self.flip_test else chunk)
            xy, score = self.decode(self._merge(raw) if self.flip_test else raw)
            xys.append(xy)
            scores.append(score)
        return np.concatenate(xys), np.concatenate(scores)

    def _infer(self, batch: np.ndarray) -> list[np.ndarray]:
        """Raw outputs (``io.outputs`` order) of ``batch``, in calls of at most ``io.max_batch`` crops."""
        m = self.io.max_batch
        parts = [
            self.session.run(
                list(self.io.outputs), {self.io.input_name: np.ascontiguousarray(batch[i : i + m])}
            )
            for i in range(0, len(batch), m)
        ]
        return [np.concatenate([np.asarray(p[j]) for p in parts]) for j in range(len(self.io.outputs))]

    def _merge(self, raw: list[np.ndarray]) -> list[np.ndarray]:
        """Raw outputs of a :func:`with_mirror` batch → the merged outputs of its plain half."""
        if self.spec.output == "heatmap":
            return [merge_heatmaps(raw[0], self._perm)]
        return list(merge_simcc(raw[0], raw[1], self._perm, self.spec.simcc_split))

    def decode(self, raw: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs (in ``io.outputs`` order) → (xy model-input px, scores), as :meth:`run`."""
        s = self.spec
        h, w = s.input_hw
        k = len(s.keypoints.names)
        if s.output == "heatmap":
            (hm,) = raw
            if (
                hm.ndim != 4
                or hm.shape[1] != k
                or hm.shape[2] * s.heatmap_stride != h
                or (hm.shape[3] * s.heatmap_stride != w)
            ):
                raise ModelError(
                    f"{self.path}: heatmaps are {hm.shape}, expected (N, {k}, {h}/{s.heatmap_stride}, "
                    f"{w}/{s.heatmap_stride}) for input {h}×{w} and heatmap_stride {s.heatmap_stride}"
                )
            xy, score = decode_heatmaps(hm, s.activation, s.decoder, s.heatmap_sigma)
            return heatmap_to_input(xy, s.heatmap_stride), score
        x, y = raw
        for v, size, axis in ((x, w, "x"), (y, h, "y")):
            if v.ndim != 3 or v.shape[1] != k or v.shape[2] != round(size * s.simcc_split):
                raise ModelError(
                    f"{self.path}: SimCC {axis} output is {v.shape}, expected (N, {k}, "
                    f"{round(size * s.simcc_split)})"
                )
        return decode_simcc(x, y, s.simcc_split)
