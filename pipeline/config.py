"""Typed configuration: frozen dataclasses loaded once from YAML, CLI overrides on top.

Every field has a default here (``configs/default.yaml`` shows them all, and a test keeps the
two equal). Validation names the file, the dotted field and the bad value in one line.
"""

from __future__ import annotations

import dataclasses
import math
import re
import reprlib
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from pipeline.errors import ConfigError

T = TypeVar("T")


def _gt(low: float) -> dict[str, Any]:
    return {"check": (lambda v: v > low), "rule": f"must be > {low}"}


def _ge(low: float) -> dict[str, Any]:
    return {"check": (lambda v: v >= low), "rule": f"must be >= {low}"}


def _between(low: float, high: float) -> dict[str, Any]:
    return {"check": (lambda v: low <= v <= high), "rule": f"must be {low}..{high}"}


Policy = Literal["latest", "lossless"]
"""Queue policy between stages: ``latest`` drops the oldest queued item when full (live sources:
latency stays bounded), ``lossless`` makes the producer wait (files: every frame processed)."""

SourceMode = Literal["auto", "latest", "lossless"]
"""A source's ``mode``: a :data:`Policy`, or ``auto`` (by kind: ``latest`` live, ``lossless`` files)."""

SOURCE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a source id may be: it becomes a ZeroMQ topic part, a metric label and a file-name part."""


@dataclass(frozen=True)
class SourceConfig:
    """Where frames come from. ``uri``: file, image or folder, URL, camera index or /dev/videoN.

    ``id``: names the source in records, topics (``parts.<id>``) and metric labels: letters,
    digits, ``_`` and ``-``. Network streams retry forever by default (``reconnect_attempts`` 0)
    with a backoff from ``reconnect_initial_s`` doubling up to ``reconnect_max_s``; the 2 s cap
    keeps the time from a camera's return to the first frame under ~3 s.
    """

    uri: str = ""
    id: str = field(
        default="cam0",
        metadata={
            "check": lambda v: SOURCE_ID.fullmatch(v) is not None,
            "rule": "must be 1-64 letters, digits, _ or -",
        },
    )
    mode: SourceMode = "auto"
    realtime: bool = False
    loop: bool = False
    transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: float = field(default=5.0, metadata=_gt(0))
    read_timeout_s: float = field(default=5.0, metadata=_gt(0))
    stall_timeout_s: float = field(default=5.0, metadata=_gt(0))
    reconnect_initial_s: float = field(default=0.5, metadata=_gt(0))
    reconnect_max_s: float = field(default=2.0, metadata=_gt(0))
    reconnect_attempts: int = field(default=0, metadata=_ge(0))
    width: int = field(default=0, metadata=_ge(0))
    height: int = field(default=0, metadata=_ge(0))
    fps: float = field(default=0.0, metadata=_ge(0))


@dataclass(frozen=True)
class ModelConfig:
    """The segmentation model and how to run it.

    Attributes:
        path: ONNX model file.
        backend: ``onnxruntime`` (CPU, CUDA or TensorRT execution providers) or ``tensorrt``
            (the TensorRT Python API with a cached engine; GPU only).
        providers: ONNX Runtime providers, ``auto`` = TensorRT > CUDA > CPU.
        threads: ONNX Runtime intra-op threads (0 = all cores).
        spin: let idle ONNX Runtime threads spin.
        precision: GPU engines: ``fp32``, ``fp16`` or ``int8`` (needs ``calibration``).
        engine_cache: folder for TensorRT engines (ORT's TensorRT EP and the ``tensorrt`` backend);
            "" = ``models/.engines`` beside the repository's models.
        calibration: INT8 only: a folder of frames (images or a video) to calibrate from.
        max_batch: frames inferred together; batches form from what is queued, across sources.
            0 = auto: one frame per source (1 with a single source) when the model takes batches;
            1 = no batching.
        batch_wait_ms: longest wait for a batch to fill once its first frame is there.
        gpu_preprocess: letterbox/normalise and arg-max on the GPU (torch CUDA) when one is used.
    """

    path: str = "models/infant-seg.onnx"
    backend: Literal["onnxruntime", "tensorrt"] = "onnxruntime"
    providers: str = "auto"
    threads: int = field(default=0, metadata=_ge(0))
    spin: bool = False
    precision: Literal["fp32", "fp16", "int8"] = "fp16"
    engine_cache: str = ""
    calibration: str = ""
    max_batch: int = field(default=0, metadata=_between(0, 256))
    batch_wait_ms: float = field(default=2.0, metadata=_ge(0))
    gpu_preprocess: bool = False


@dataclass(frozen=True)
class PostprocessConfig:
    """Mask → parts. ``min_area_px``: smallest region (original pixels) reported as an instance."""

    min_area_px: int = field(default=100, metadata=_ge(1))


@dataclass(frozen=True)
class QueueConfig:
    """Queues between stages. ``capacity`` 0 = by policy (latest 1, lossless 4)."""

    capacity: int = field(default=0, metadata=_ge(0))
    drain_s: float = field(default=5.0, metadata=_gt(0))


@dataclass(frozen=True)
class TrackerConfig:
    """Kalman tracking of part centroids (pipeline/postprocess/tracking/), one track per part instance.

    Attributes:
        enabled: track parts (track ids, smoothed centroids, velocities) or publish raw regions only.
        motion: ``constant_velocity`` or ``constant_acceleration`` state model.
        process_noise: std of the unmodelled acceleration (px/s², constant velocity) or jerk
            (px/s³, constant acceleration).
        measurement_noise_px: centroid std (px) of a region of ``reference_area_px`` with score 1;
            smaller or less confident regions get proportionally more.
        reference_area_px: the region area at which ``measurement_noise_px`` applies.
        gate_chi2: Mahalanobis gate (squared, 2 dof): 13.8 keeps 99.9 % of true matches.
        max_coast_s: how long a track without a region is predicted before it ends.
        min_hits_to_coast: frames a track must have been observed in before it may coast; younger
            tracks (fragments, short false positives) end at their first miss.
    """

    enabled: bool = True
    motion: Literal["constant_velocity", "constant_acceleration"] = "constant_velocity"
    process_noise: float = field(default=1000.0, metadata=_gt(0))
    measurement_noise_px: float = field(default=4.0, metadata=_gt(0))
    reference_area_px: float = field(default=2000.0, metadata=_gt(0))
    gate_chi2: float = field(default=13.8, metadata=_gt(0))
    max_coast_s: float = field(default=1.0, metadata=_ge(0))
    min_hits_to_coast: int = field(default=3, metadata=_ge(1))


@dataclass(frozen=True)
class ZmqConfig:
    """ZeroMQ PUB socket (docs/architecture.md). ``endpoint`` empty = not publishing.

    Attributes:
        endpoint: e.g. ``tcp://127.0.0.1:5555`` (what ``--zmq`` without a value uses).
        connect: connect to ``endpoint`` (a broker/XSUB) instead of binding it.
        send_hwm: messages queued per subscriber before ZeroMQ drops for that subscriber.
        frames: also publish ``frame.<source>`` JPEGs of the overlay (head-blurred by ``privacy``).
        frame_fps: at most this many ``frame.*`` messages per second.
        jpeg_quality: 1..100.
        curve_secret_key: the publisher's CURVE secret key file (zmq.auth format); empty = no encryption.
        curve_clients_dir: folder of allowed subscribers' public key files; empty = any client
            that knows the server's public key.
    """

    endpoint: str = ""
    connect: bool = False
    send_hwm: int = field(default=1000, metadata=_ge(1))
    frames: bool = False
    frame_fps: float = field(default=5.0, metadata=_gt(0))
    jpeg_quality: int = field(default=80, metadata=_between(1, 100))
    curve_secret_key: str = ""
    curve_clients_dir: str = ""


@dataclass(frozen=True)
class MetricsConfig:
    """The optional HTTP endpoint with Prometheus ``/metrics`` and ``/healthz`` (no authentication).

    Attributes:
        port: TCP port to serve on; 0 = no endpoint.
        host: address to bind; 127.0.0.1 (loopback) by default, 0.0.0.0 = every interface (warns).
    """

    port: int = field(default=0, metadata=_between(0, 65535))
    host: str = field(
        default="127.0.0.1",
        metadata={
            "check": lambda v: bool(v.strip()),
            "rule": "must not be empty (0.0.0.0 = every interface)",
        },
    )


@dataclass(frozen=True)
class DisplayConfig:
    """The monitor window. ``mode``: ``auto`` (on when a display exists), ``on`` or ``off``.

    Attributes:
        alpha: opacity of the coloured mask over the frame, 0..1.
        trail_s: seconds of centroid history drawn as trails.
        blur_head: start with the head pixelated in the window (key ``b`` toggles).
    """

    mode: Literal["auto", "on", "off"] = "auto"
    alpha: float = field(default=0.45, metadata=_between(0, 1))
    trail_s: float = field(default=3.0, metadata=_ge(0))
    blur_head: bool = False


@dataclass(frozen=True)
class RecordConfig:
    """H.264 recordings (PyAV). ``overlay``/``raw``: mp4 paths (empty = none).

    Attributes:
        overlay: the frames with the overlay drawn.
        raw: the frames as captured (head still pixelated when ``privacy.blur_head``).
        crf: x264 constant rate factor (0 lossless .. 51 worst; 23 default).
    """

    overlay: str = ""
    raw: str = ""
    crf: int = field(default=23, metadata=_between(0, 51))


@dataclass(frozen=True)
class PrivacyConfig:
    """Head pixelation for every image that leaves the process (recordings, ``frame.*`` messages).

    Attributes:
        blur_head: pixelate the head class.
        block_px: mosaic cell size in frame pixels.
        margin_px: the head region is grown by this many pixels first.
    """

    blur_head: bool = True
    block_px: int = field(default=16, metadata=_ge(2))
    margin_px: int = field(default=8, metadata=_ge(0))


@dataclass(frozen=True)
class OutputConfig:
    """Where results go. ``jsonl``/``csv``: file paths (empty = none); ``progress``: stderr health line."""

    jsonl: str = ""
    csv: str = ""
    progress: bool = True


@dataclass(frozen=True)
class RunConfig:
    """When to stop: after ``max_frames`` frames or ``duration_s`` seconds (0 = never)."""

    max_frames: int = field(default=0, metadata=_ge(0))
    duration_s: float = field(default=0.0, metadata=_ge(0))


@dataclass(frozen=True)
class Config:
    """The whole configuration of ``infant-stream run``.

    ``source`` describes the one source, or with ``sources`` (a list) the defaults every entry of
    ``sources`` starts from (each entry overrides what it names; ids must differ).
    """

    source: SourceConfig = field(default_factory=SourceConfig)
    sources: tuple[SourceConfig, ...] = field(default=(), metadata={"inherits": "source"})
    model: ModelConfig = field(default_factory=ModelConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    queues: QueueConfig = field(default_factory=QueueConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    zmq: ZmqConfig = field(default_factory=ZmqConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    record: RecordConfig = field(default_factory=RecordConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @property
    def source_list(self) -> tuple[SourceConfig, ...]:
        """The sources to open: ``sources`` if given, else ``(source,)``."""
        return self.sources or (self.source,)

    def check(self, where: str) -> None:
        """Rules across fields: distinct source ids."""
        seen: set[str] = set()
        for i, src in enumerate(self.sources):
            if src.id in seen:
                raise ConfigError(f"{where}.sources[{i}].id: {src.id!r} is used by another source")
            seen.add(src.id)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict = 2, 60, 60, 4, 4


def _show(value: Any) -> str:
    """A short one-line repr of a config value for error messages (never raises)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<an integer of {value.bit_length()} bits>"
    try:
        text = _SHORT.repr(value)
    except (ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    return text.replace("\n", "\\n").replace("\r", "\\r")


def key_label(key: Any) -> str:
    """A config key as it appears in messages: plain when printable text, else its short repr."""
    return key if isinstance(key, str) and key.isprintable() else _show(key)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against a type hint (bool, int, float, str, Literal, nested dataclass)."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{where}: must be one of {', '.join(map(str, allowed))}, got {_show(value)}")
        return value
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if value is None else _coerce(value, args[0], where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false, got {_show(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: must be an integer, got {_show(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: must be a number, got {_show(value)}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(f"{where}: must be a finite number, got {_show(value)}")
        return number
    if hint is str:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ConfigError(f"{where}: must be a string, got {_show(value)}")
        if isinstance(value, int) and value.bit_length() > 200:
            raise ConfigError(f"{where}: must be a string, got {_show(value)}")
        return str(value)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: must be a list, got {type(value).__name__}")
        item = typing.get_args(hint)[0]
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if is_dataclass(hint):
        return from_mapping(hint, value, where)  # type: ignore[arg-type]
    raise ConfigError(f"{where}: unsupported type {hint}")


def from_mapping(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass ``cls`` from a YAML mapping, naming ``where.key`` in every error."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or key not in known:
            raise ConfigError(f"{where}.{key_label(key)}: unknown key (known: {', '.join(known)})")
        base = known[key].metadata.get("inherits")
        if base is not None and isinstance(value, list):
            value = _inherit(data.get(base), value)
        values[key] = _coerce(value, hints[key], f"{where}.{key}")
    obj = cls(**values)
    validate(obj, where)
    return obj


def _inherit(defaults: Any, entries: list[Any]) -> list[Any]:
    """Each mapping of ``entries`` on top of the ``defaults`` mapping (non-mappings left as they are)."""
    base = defaults if isinstance(defaults, dict) else {}
    return [{**base, **(e or {})} if isinstance(e, dict) or e is None else e for e in entries]


def _check(f: dataclasses.Field[Any], value: Any, where: str) -> None:
    """Apply a field's ``check`` metadata (if any) to ``value``; errors name ``where``."""
    check = f.metadata.get("check")
    if check is not None and not check(value):
        raise ConfigError(f"{where}: {f.metadata['rule']}, got {_show(value)}")


def validate(obj: Any, where: str) -> None:
    """Check every field of a config dataclass; raise ConfigError naming the first bad one."""
    for f in fields(obj):
        _check(f, getattr(obj, f.name), f"{where}.{f.name}")
    whole = getattr(obj, "check", None)
    if callable(whole):
        whole(where)


def load_config(path: str | Path | None) -> Config:
    """Read a YAML config (None = all defaults). Raises ConfigError with the file named."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read config ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}:{at} not valid YAML") from None
    except (ValueError, RecursionError) as exc:  # e.g. a 5000-digit number, nesting too deep
        raise ConfigError(
            f"{p}: cannot read config ({type(exc).__name__}: value too large or too deep)"
        ) from None
    return from_mapping(Config, data, str(p))


def override(cfg: Config, dotted: str, value: Any, flag: str) -> Config:
    """``cfg`` with field ``section.name`` set to ``value``, checked like YAML; errors name ``flag``.

    A ``source.*`` field is set in every entry of ``sources`` too (a flag applies to all sources).
    """
    section, name = dotted.split(".")
    sub = getattr(cfg, section)
    hint = typing.get_type_hints(type(sub))[name]
    coerced = _coerce(value, hint, flag)
    _check(next(f for f in fields(sub) if f.name == name), coerced, flag)
    cfg = replace(cfg, **{section: replace(sub, **{name: coerced})})
    if section == "source" and cfg.sources:
        cfg = replace(cfg, sources=tuple(replace(s, **{name: coerced}) for s in cfg.sources))
    return cfg


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def as_dict(cfg: Config) -> dict[str, Any]:
    """Plain nested dict (lists for tuples) of a config: what ``configs/default.yaml`` spells out."""
    return _plain(dataclasses.asdict(cfg))  # type: ignore[no-any-return]
