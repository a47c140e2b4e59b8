"""``infant-stream run``: flags and config → a :class:`~pipeline.session.session.Session`, run until the
sources end, the duration passes, a signal comes or the window is closed."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.config import ZMQ_DEFAULT_ENDPOINT, Config, evolve, load_config, override
from pipeline.errors import ConfigError

# flag → (config field, argparse options)
OVERRIDES: dict[str, tuple[str, dict[str, Any]]] = {
    "--model": ("model.path", {"help": "ONNX segmentation model (default models/infant-seg.onnx)"}),
    "--pose-model": (
        "pose.model",
        {
            "metavar": "PATH",
            "help": "ONNX keypoint model run on the infant's crop (default models/infant-pose.onnx "
            "when it exists); its metadata or a sidecar PATH.yaml describes it",
        },
    ),
    "--providers": ("model.providers", {"help": "auto, or ONNX Runtime providers, comma-separated"}),
    "--backend": (
        "model.backend",
        {"help": "onnxruntime (default), tensorrt (TensorRT API, GPU) or triton (a Triton server)"},
    ),
    "--triton-url": (
        "model.triton_url",
        {"metavar": "HOST:PORT", "help": "backend triton: the server's gRPC address"},
    ),
    "--triton-model": (
        "model.triton_model",
        {
            "metavar": "NAME",
            "help": "backend triton: the model's name on the server (default: the --model file's stem)",
        },
    ),
    "--precision": ("model.precision", {"help": "GPU engines: fp32, fp16 (default) or int8"}),
    "--engine-cache": ("model.engine_cache", {"help": "TensorRT engine folder (default models/.engines)"}),
    "--calibration": ("model.calibration", {"help": "int8: folder of frames or a video to calibrate from"}),
    "--max-batch": (
        "model.max_batch",
        {"type": int, "help": "frames inferred together (default 0: one frame per source)"},
    ),
    "--threads": ("model.threads", {"type": int, "help": "inference threads (0 = all cores)"}),
    "--mode": ("source.mode", {"help": "queue policy: latest (live) or lossless (files); default by source"}),
    "--jsonl": ("output.jsonl", {"help": "write one JSON record per frame to this file"}),
    "--csv": ("output.csv", {"help": "write one CSV row per part per frame to this file"}),
    "--features": (
        "output.features_s",
        {
            "type": float,
            "nargs": "?",
            "const": 30.0,
            "metavar": "SECONDS",
            "help": "publish live movement features (features.<source>, with --zmq) from the last "
            "SECONDS (default 30) every output.features_every_s",
        },
    ),
    "--zmq": (
        "zmq.endpoint",
        {
            "nargs": "?",
            "const": ZMQ_DEFAULT_ENDPOINT,
            "metavar": "ENDPOINT",
            "help": f"publish records over ZeroMQ PUB (default endpoint {ZMQ_DEFAULT_ENDPOINT})",
        },
    ),
    "--zmq-curve-key": (
        "zmq.curve_secret_key",
        {"help": "CURVE secret key file: encrypt ZeroMQ (infant-stream keys)"},
    ),
    "--zmq-curve-clients": (
        "zmq.curve_clients_dir",
        {
            "help": "folder of allowed subscribers' CURVE public keys (default: any client with the server key)"
        },
    ),
    "--metrics-port": (
        "metrics.port",
        {"type": int, "metavar": "N", "help": "serve Prometheus /metrics and /healthz on this HTTP port"},
    ),
    "--metrics-host": (
        "metrics.host",
        {"metavar": "HOST", "help": "address for --metrics-port (default 127.0.0.1; 0.0.0.0 warns)"},
    ),
    "--record": ("record.overlay", {"help": "record the overlay video (H.264 mp4) to this file"}),
    "--record-raw": (
        "record.raw",
        {"help": "record the frames as captured (pixelated as --privacy says) to this file"},
    ),
    "--privacy": (
        "privacy.mode",
        {
            "metavar": "MODE",
            "help": "what outgoing images hide: fail_closed (default: the head when the model is sure "
            "of it, else the whole image), head, frame (always the whole image) or off (warns)",
        },
    ),
    "--max-frames": ("run.max_frames", {"type": int, "help": "stop after N frames"}),
    "--duration": ("run.duration_s", {"type": float, "help": "stop after S seconds"}),
    "--min-area": ("postprocess.min_area_px", {"type": int, "help": "smallest part region in pixels"}),
}
# switch → (config field, value it sets, help)
FLAGS: dict[str, tuple[str, Any, str]] = {
    "--realtime": ("source.realtime", True, "pace a file to its frame rate, like a camera"),
    "--triton-shared-memory": (
        "model.triton_shared_memory",
        True,
        "backend triton: tensors through system shared memory (the server on this host)",
    ),
    "--loop": ("source.loop", True, "restart a file at its end"),
    "--sequence": (
        "source.sequence",
        True,
        "an image folder is a frame sequence: track parts across its images (default: independent stills)",
    ),
    "--no-progress": ("output.progress", False, "no health line on stderr"),
    "--no-tracking": ("tracker.enabled", False, "publish raw regions only (no Kalman tracks)"),
    "--zmq-connect": ("zmq.connect", True, "connect the PUB socket to the endpoint instead of binding"),
    "--zmq-frames": (
        "zmq.frames",
        True,
        "also publish frame.<source> JPEG overlays (pixelated as --privacy says)",
    ),
    "--display": ("display.mode", "on", "show the monitor window (default: when a display exists)"),
    "--no-display": ("display.mode", "off", "no monitor window"),
    "--no-blur": ("privacy.mode", "off", "same as --privacy off: pixelate nothing (warns)"),
    "--gpu-preprocess": ("model.gpu_preprocess", True, "letterbox/normalise/arg-max on the GPU (torch CUDA)"),
    "--no-pose": ("pose.enabled", False, "no keypoint model (segmentation only)"),
    "--no-flip-test": (
        "pose.flip_test",
        False,
        "run the pose model once per crop (default: also mirrored, averaged; twice the cost)",
    ),
    "--no-seg": (
        "model.path",
        "",
        "no segmentation model: the pose model runs alone on the whole (letterboxed) frame",
    ),
}
CONFLICTS: tuple[tuple[str, str, str], ...] = (
    ("--privacy", "--no-blur", " (--no-blur is --privacy off)"),
    ("--pose-model", "--no-pose", ""),
    ("--model", "--no-seg", ""),
)
"""Flags that contradict each other: (flag, switch, hint)."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("run", help="segment a video source and write/publish the parts")
    p.add_argument("--config", help="YAML config (see configs/); flags override it")
    p.add_argument(
        "--source",
        action="append",
        help="video file, image/folder, rtsp/http URL, camera index or /dev/videoN; repeat for "
        "several sources in one process (replaces the config's sources)",
    )
    p.add_argument(
        "--source-id",
        action="append",
        help="id of the source in records and topics (default cam0; cam0, cam1, ... for several); "
        "repeat once per --source",
    )
    for flag, (_, opts) in OVERRIDES.items():
        p.add_argument(flag, default=None, **opts)
    for flag, (_, _, text) in FLAGS.items():
        p.add_argument(flag, action="store_true", help=text)
    p.set_defaults(func=main)


def refuse_empty(flag: str, value: object) -> None:
    """A flag given with an empty value (``--zmq ''``) is a mistake, never a silent "off"."""
    if isinstance(value, str) and not value.strip():
        raise ConfigError(f"{flag}: empty value (leave the flag out to use the default)")


def apply_flags(
    cfg: Config,
    args: argparse.Namespace,
    overrides: Mapping[str, tuple[str, Any]],
    flags: Mapping[str, tuple[str, Any, str]],
    conflicts: Sequence[tuple[str, str, str]] = (),
) -> Config:
    """``cfg`` with the given ``overrides`` (flag → (field, ...)) and switches (``flags``: flag → (field,
    value, ...)) applied, each checked like YAML; a flag given with its ``conflicts`` partner, two switches
    of one field, or an empty value is a ConfigError naming them (``run`` and ``serve`` share this)."""

    def given(flag: str) -> Any:
        return getattr(args, flag[2:].replace("-", "_"))

    for flag, switch, hint in conflicts:
        if given(flag) is not None and given(switch):
            raise ConfigError(f"{flag} and {switch}: give one or the other{hint}")
    for flag, (dotted, _) in overrides.items():
        value = given(flag)
        if value is not None:
            refuse_empty(flag, value)
            cfg = override(cfg, dotted, value, flag)
    seen: dict[str, str] = {}
    for flag, (dotted, value, _) in flags.items():
        if given(flag):
            if dotted in seen:
                raise ConfigError(f"{seen[dotted]} and {flag}: give one or the other")
            seen[dotted] = flag
            cfg = override(cfg, dotted, value, flag)
    return cfg


def config_from_args(args: argparse.Namespace) -> Config:
    """The YAML config (or defaults) with every given flag applied on top."""
    for flag in ("--source", "--source-id"):
        for value in getattr(args, flag[2:].replace("-", "_")) or ():
            refuse_empty(flag, value)
    cfg = apply_flags(load_config(args.config), args, OVERRIDES, FLAGS, CONFLICTS)
    return with_sources(cfg, args.source, args.source_id)


def with_sources(cfg: Config, uris: list[str] | None, ids: list[str] | None) -> Config:
    """``cfg`` with the ``--source``/``--source-id`` lists applied.

    One ``--source`` sets ``source.uri`` (and drops a config's ``sources`` list); several make
    ``sources`` from ``source`` (ids from ``--source-id``, else cam0, cam1, ...). ``--source-id``
    alone renames the config's source(s), one id per source.
    """
    if not uris and not ids:
        return cfg
    entries = [evolve(cfg.source, where="--source", uri=u) for u in uris] if uris else list(cfg.source_list)
    if ids:
        if len(ids) != len(entries):
            what = "--source values" if uris else "sources"
            raise ConfigError(f"--source-id: {len(ids)} ids given for {len(entries)} {what}")
        for name in ids:
            override(Config(), "source.id", name, "--source-id")  # checks the id alone, like any value
        entries = [evolve(e, where="--source-id", id=n) for e, n in zip(entries, ids, strict=True)]
    elif len(entries) > 1:
        entries = [evolve(e, id=f"cam{i}") for i, e in enumerate(entries)]
    if len(entries) == 1:
        return evolve(cfg, source=entries[0], sources=())
    return evolve(cfg, where="--source-id", sources=tuple(entries))  # ids must differ


def main(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    # imported once the flags and config are valid: a bad flag answers in ~0.2 s, not after
    # loading OpenCV, PyAV, ONNX Runtime and SciPy (~1 s)
    from pipeline.session.session import Session, print_summary

    with Session(cfg) as session:
        try:
            return session.run()
        finally:
            print_summary(session)
