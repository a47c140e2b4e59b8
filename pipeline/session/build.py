"""The pieces a run is built from, made from a :class:`~pipeline.config.Config`: model, stages, sinks.

Order matters for clean failures: the source is checked first, then the ZeroMQ socket and the
metrics port are bound (so a TensorRT engine build can be announced in status records, and a
taken port fails fast), then the model is loaded, and only then are output files created (at their first record), so
a bad input never leaves a half-written output behind.

Pose (keypoints): with a pose model (``pose:``, :func:`load_pose_model`) a pose stage runs on its own
thread between inference and postprocess (:class:`~pipeline.pose.stage.PoseStage`); without a
segmentation model (``model.path`` "", ``--no-seg``) the pose model alone is the inference stage, on the
letterboxed frame (:class:`~pipeline.pose.stage.PoseOnly`).

Several sources (``sources:`` or repeated ``--source``) share the model, the tracker thread and
the JSONL/CSV/ZeroMQ outputs (records name their source); each source gets its own recordings
(:func:`recording_path`) and its own status topic.

Every image that leaves the process (recordings, ``frame.*`` messages) goes through the privacy
decision of its frame (``privacy.mode``, made once in postprocessing and stated in the record;
:func:`overlay_renderer`, :func:`raw_renderer`).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import cv2
import numpy as np

from pipeline import REPO_ROOT
from pipeline.config import Config, Policy, evolve
from pipeline.contract.geometry import Letterbox
from pipeline.contract.model_meta import ModelSpec
from pipeline.errors import ConfigError
from pipeline.frames import Frame, Prepared
from pipeline.infer.backends import Backend, create_backend
from pipeline.infer.backends.ort_providers import CPU_EP, OrtOptions
from pipeline.infer.inference import InferenceStage
from pipeline.infer.preprocess import Preprocessor
from pipeline.pose.model import PoseModel
from pipeline.pose.stage import PoseOnly, PoseStage
from pipeline.postprocess.parts import logits_to_maps
from pipeline.postprocess.stage import Postprocessor
from pipeline.publish.publisher import ZmqPublisher
from pipeline.render import Renderer
from pipeline.render.overlay import OverlayRenderer, OverlayStyle
from pipeline.render.privacy import protect
from pipeline.runtime.pipeline import Pipeline
from pipeline.runtime.sink import OutputFailures, Sink, Tap
from pipeline.runtime.threads import ThreadPlan, available_cores, plan_threads
from pipeline.session.engine_status import EngineBuildStatus
from pipeline.sinks.csv import CsvSink
from pipeline.sinks.images import ImageFileSink
from pipeline.sinks.jsonl import JsonlSink
from pipeline.sinks.video import VideoSink
from pipeline.sinks.video_writer import SUFFIXES
from pipeline.sources import ImageSource, Source, open_source
from pipeline.sources.base import queue_policy

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

DEFAULT_POSE_MODEL: Final = "models/infant-pose.onnx"
REMOTE_WORKERS: Final = 4
"""Inference workers for a model on a server (``model.workers`` 0): requests in flight at once."""
"""The shipped pose model: run by default (``pose.model`` null) when the file exists."""


def resolve_model_path(path: str) -> Path:
    """``path`` as given if it exists, else relative to the repository (for the bundled default)."""
    p = Path(path)
    if p.exists() or p.is_absolute():
        return p
    bundled = REPO_ROOT / p
    return bundled if bundled.exists() else p


def _models_per_frame(cfg: Config, default: str | Path = DEFAULT_POSE_MODEL) -> int:
    """Models that run on every frame: segmentation (unless ``--no-seg``) and the pose model (when
    it will load: enabled, and given or the shipped file there), at least 1."""
    pose = cfg.pose.enabled and (cfg.pose.model is not None or resolve_model_path(str(default)).is_file())
    return max(1, int(bool(cfg.model.path)) + int(pose))


def segmentation_threads(cfg: Config, cores: int | None = None, live: bool = False) -> ThreadPlan:
    """Workers and intra-op threads of the segmentation model (:mod:`pipeline.runtime.threads`)."""
    n = cores or available_cores()
    return plan_threads(n, _models_per_frame(cfg), cfg.model.workers, cfg.model.threads, live=live)


def pose_threads(
    cfg: Config, cores: int | None = None, default: str | Path = DEFAULT_POSE_MODEL, live: bool = False
) -> ThreadPlan:
    """Workers and intra-op threads of the pose model (``pose.threads`` 0: ``model.threads`` when set)."""
    n = cores or available_cores()
    return plan_threads(
        n, _models_per_frame(cfg, default), cfg.pose.workers, cfg.pose.threads or cfg.model.threads, live=live
    )


def load_backend(cfg: Config, publisher: ZmqPublisher | None = None) -> Backend:
    """Load the configured model with the configured backend (intra-op threads from
    :func:`segmentation_threads`); an engine build (TensorRT) is announced on stderr and, with
    ``publisher``, as ``building_engine`` status records."""
    m = cfg.model
    # GPU engines: a batch profile 1..max_batch
    m = evolve(m, max_batch=wanted_batch(cfg), threads=segmentation_threads(cfg).intra)
    announce = EngineBuildStatus([s.id for s in cfg.source_list], publisher)
    try:
        return create_backend(m, resolve_model_path(m.path), on_build=announce)
    finally:
        announce.stop()


def pose_model_path(cfg: Config, default: str | Path = DEFAULT_POSE_MODEL) -> Path | None:
    """The pose model file to run, or None: ``pose.enabled`` off, or ``pose.model`` null and the shipped
    ``default`` is not there (said in one info line). A given ``pose.model`` is returned as resolved
    (:func:`resolve_model_path`; a missing file fails when it loads)."""
    if not cfg.pose.enabled:
        return None
    if cfg.pose.model is not None:
        return resolve_model_path(cfg.pose.model)
    path = resolve_model_path(str(default))
    if not path.is_file():
        log.info("pose: no pose model (%s is not there; --pose-model PATH runs one)", default)
        return None
    return path


def load_pose_model(cfg: Config, default: str | Path = DEFAULT_POSE_MODEL) -> PoseModel | None:
    """The configured pose model, loaded (:func:`pose_model_path`), on ``model.providers`` (the TensorRT
    EP is not used for it yet) with the intra-op threads of :func:`pose_threads` and ``pose.flip_test``.

    Raises:
        ConfigError: no segmentation model (``model.path`` "") and no pose model: nothing to run.
        ModelError: the pose model cannot be loaded or is not a keypoints model (one line).
    """
    path = pose_model_path(cfg, default)
    if path is None:
        if not cfg.model.path:
            raise ConfigError(
                'model.path is "" (--no-seg) and there is no pose model (pose.model, --pose-model): '
                "nothing to run"
            )
        return None
    options = OrtOptions(
        providers=cfg.model.providers,
        intra_op_threads=pose_threads(cfg, default=default).intra,
        spin=cfg.model.spin,
    )
    return PoseModel(path, options, flip_test=cfg.pose.flip_test)


Maps = Callable[[Any, Letterbox], tuple[np.ndarray, np.ndarray]]
"""Logits (C, out_h, out_w) float32 + letterbox → host (class map (h, w) uint8, score map (h, w) float32)."""


def data_path(spec: ModelSpec, on_device: bool) -> tuple[Callable[[Frame], Prepared], Maps]:
    """(preprocess, logits → maps): numpy on the host, or with ``on_device`` on the GPU
    (:mod:`pipeline.infer.gpu_ops`), where the data stays on the device from preprocess to
    postprocess: the frame goes up as uint8, :class:`~pipeline.infer.inference.InferenceStage`
    calls ``backend.infer_device`` on the device tensors, and only the class and score maps come
    back (one upload and two small downloads per frame). The device path has only run on torch's
    ``cpu`` device so far (tests); on CUDA it is unverified (docs/gpu.md).
    """
    if not on_device:
        return Preprocessor(spec), logits_to_maps
    from pipeline.infer.gpu_ops import DeviceMaps, GpuPreprocessor

    return GpuPreprocessor(spec, "cuda"), DeviceMaps("cuda")


def segmentation_stages(
    cfg: Config, backend: Backend
) -> tuple[Callable[[Frame], Prepared], InferenceStage, Postprocessor]:
    """(preprocess, infer, postprocess) for the backend; the one place the data path is chosen:
    on the device (:func:`data_path`) with ``model.gpu_preprocess`` and a backend on the GPU, else
    numpy on the host (``gpu_preprocess`` with a CPU backend is ignored with a warning)."""
    on_device = cfg.model.gpu_preprocess and backend.on_gpu and backend.spec.input_dtype == "float32"
    if cfg.model.gpu_preprocess and not on_device:
        why = "runs on the CPU" if not backend.on_gpu else "takes uint8 pixels"
        log.warning("model.gpu_preprocess: ignored, %s %s", backend.name, why)
    pre, maps = data_path(backend.spec, on_device)
    return pre, InferenceStage(backend), postprocessor(cfg, backend.spec, maps)


def postprocessor(cfg: Config, spec: ModelSpec, maps: Maps = logits_to_maps) -> Postprocessor:
    """The postprocess stage of a run: parts of ``spec``'s classes, the tracker ``cfg`` asks for."""
    tracker = None
    if cfg.tracker.enabled:
        from pipeline.postprocess.tracking import PartTracker  # SciPy/filterpy: ~0.6 s, only when tracking

        tracker = PartTracker(cfg.tracker)
    # the joints are smoothed when tracking is on at all (--no-tracking publishes raw points too)
    joints = evolve(cfg.tracker.keypoints, enabled=cfg.tracker.enabled and cfg.tracker.keypoints.enabled)
    return Postprocessor(
        spec, cfg.postprocess.min_area_px, tracker, maps=maps, privacy=cfg.privacy, keypoints=joints
    )


def pose_only_stages(
    cfg: Config, pose: PoseModel
) -> tuple[Callable[[Frame], Prepared], PoseOnly, Postprocessor]:
    """(preprocess, infer, postprocess) without a segmentation model: frames letterboxed into the pose
    input, the pose model as the inference stage, postprocessing with no class map (no parts; the
    privacy decision is then the whole frame unless ``privacy.mode`` is ``off``). ``gpu_preprocess``
    is ignored (host path) with a warning."""
    if cfg.model.gpu_preprocess:
        log.warning("model.gpu_preprocess: ignored without a segmentation model (model.path is empty)")
    only = PoseOnly(pose)
    return only.preprocessor(), only, postprocessor(cfg, ModelSpec())


def wanted_batch(cfg: Config) -> int:
    """``model.max_batch``, or with 0 (auto) one frame per source."""
    return cfg.model.max_batch or len(cfg.source_list)


def batch_size(cfg: Config, backend: Backend | PoseModel) -> int:
    """Frames inferred together: :func:`wanted_batch`; in auto mode no more than the model takes
    (its batch dimension may be fixed at 1; the pose model's when it runs alone)."""
    if cfg.model.max_batch:
        return cfg.model.max_batch
    most = backend.io.max_batch if isinstance(backend, PoseModel) else backend.max_batch
    return max(1, min(wanted_batch(cfg), int(most)))


def recording_path(path: str, source_id: str, several: bool) -> str:
    """Where ``source_id``'s recording goes: ``{source}`` in ``path`` is replaced by the id; with
    several sources and no ``{source}``, ``-<id>`` goes before the suffix (out.mp4 → out-cam1.mp4)."""
    if "{source}" in path:
        return path.replace("{source}", source_id)
    if not several:
        return path
    p = Path(path)
    return str(p.with_name(f"{p.stem}-{source_id}{p.suffix}"))


M_ARENA_MAX: Final = -8
"""glibc ``mallopt`` parameter: the most malloc arenas (per-thread memory pools) the process may use."""
MALLOC_ARENAS: Final = 2


def limit_malloc_arenas() -> bool:
    """Cap glibc's malloc arenas at :data:`MALLOC_ARENAS` (Linux/glibc only; True if applied).

    With one arena per busy thread (up to 8 × cores), freed frame buffers stay spread over many
    pools: measured with ``tools/soak.py``, RSS climbed ~30 MiB over the first 3 minutes of a run
    (Python's own heap flat at ~62 MiB per tracemalloc) and a 2-minute soak showed +3.8 to +5.1 %
    growth. With 2 arenas: growth −0.3 to +1.9 %, RSS ~30 MiB lower, child CPU unchanged.
    Must run before the stage threads start; ``MALLOC_ARENA_MAX`` in the environment does the same.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS))
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to cap
        return False


def limit_opencv_threads() -> None:
    """One OpenCV worker per calling thread: the stages already run in parallel, and OpenCV's own
    pool would compete with ONNX Runtime for the same cores (measured: +8 % pipeline fps on 2 cores)."""
    cv2.setNumThreads(1)


def overlay_renderer(cfg: Config) -> Renderer:
    """A new overlay renderer (it keeps trails, so one per consuming thread), each frame hidden as
    its privacy decision says. Returns (height, width, 3) uint8 RGB; never writes into ``result.image``."""
    return OverlayRenderer(OverlayStyle(alpha=cfg.display.alpha), cfg.display.trail_s, cfg.privacy)


def warn_privacy_off(cfg: Config) -> bool:
    """Log one warning when ``privacy.mode`` is ``off`` (an explicit choice: recordings, ``frame.*``
    messages and the window's first view then show faces); True if it warned."""
    if cfg.privacy.mode != "off":
        return False
    log.warning(
        "privacy.mode off: images that leave the process (recordings, frame messages, the window) "
        "are not pixelated; faces are shown"
    )
    return True


def raw_renderer(cfg: Config) -> Renderer:
    """The frame as captured, hidden as its privacy decision says (a copy only when it pixelates)."""
    return functools.partial(protect, cfg=cfg.privacy)


def image_inputs(sources: Sequence[Source]) -> dict[str, Path]:
    """Source id → the image file or folder it reads, for the sources that read image files."""
    return {s.source_id: s.path for s in sources if isinstance(s, ImageSource)}


def make_sinks(
    cfg: Config, policies: Mapping[str, Policy], images: Mapping[str, Path] | None = None
) -> list[Sink]:
    """The file and recording sinks ``cfg`` asks for (``policies``: source id → queue policy;
    ``images``: source id → image file or folder, for image sources, :func:`image_inputs`). Each
    source gets its own recordings, following its policy: every frame from files (critical), the
    newest (never holding up inference; best-effort) from live sources.

    An image source's recording is a folder with one image per input image, each of its own size
    (:class:`~pipeline.sinks.images.ImageFileSink`), unless its path ends in a video suffix (then
    one video, images of other sizes letterboxed into the first one's size). The CSV gets the
    ``image`` column when a source reads images.
    """
    images = images or {}
    sinks: list[Sink] = []
    if cfg.output.jsonl:
        sinks.append(JsonlSink(cfg.output.jsonl))
    if cfg.output.csv:
        sinks.append(CsvSink(cfg.output.csv, image_column=bool(images)))
    rec = cfg.record
    several = len(policies) > 1
    for sid, policy in policies.items():
        folders: dict[Path, str] = {}
        for path, render, flag in (
            (rec.overlay, overlay_renderer, "--record"),
            (rec.raw, raw_renderer, "--record-raw"),
        ):
            if not path:
                continue
            out = recording_path(path, sid, several)
            if sid in images and Path(out).suffix.lower() not in SUFFIXES:
                folder, given = Path(out).resolve(), images[sid].resolve()
                if folder == (given if given.is_dir() else given.parent):
                    raise ConfigError(
                        f"{flag} {out}: is the folder of the input images (would overwrite them)"
                    )
                if folder in folders:
                    raise ConfigError(f"{folders[folder]} and {flag}: give them different folders")
                folders[folder] = flag
                sinks.append(ImageFileSink(out, render(cfg), flag, source_id=sid))
            else:
                sinks.append(VideoSink(out, render(cfg), rec.crf, flag, policy, source_id=sid))
    return sinks


def open_sources(cfg: Config) -> list[Source]:
    """Every configured source, checked (a missing file fails here, before the model loads)."""
    return [open_source(s) for s in cfg.source_list]


def queue_policies(cfg: Config, sources: Sequence[Source]) -> dict[str, Policy]:
    """Source id → queue policy: the source's ``mode``, where ``auto`` means by kind."""
    modes = {s.id: s.mode for s in cfg.source_list}
    return {src.source_id: queue_policy(src, modes.get(src.source_id, cfg.source.mode)) for src in sources}


def stage_workers(
    cfg: Config, backend: Backend | None, pose: PoseModel | None, live: bool = False
) -> tuple[int, int]:
    """(inference workers, pose workers) of a pipeline over ``backend`` and ``pose``: the thread plans
    (:func:`segmentation_threads`, :func:`pose_threads`; ``live``: every source is ``latest``), one
    worker for a model on a GPU and :data:`REMOTE_WORKERS` for one on a server (requests in flight)
    unless ``workers`` is configured. Without segmentation the pose model
    is the inference stage (its workers run it; pose workers 1, unused); without a pose model pose
    workers are 1 (unused)."""
    pose_workers = 1
    if pose is not None:
        gpu = pose.provider != CPU_EP
        pose_workers = cfg.pose.workers or (1 if gpu else pose_threads(cfg, live=live).workers)
    if backend is None:
        return pose_workers, 1
    seg = cfg.model.workers or (
        REMOTE_WORKERS
        if backend.remote
        else 1
        if backend.on_gpu
        else segmentation_threads(cfg, live=live).workers
    )
    return seg, pose_workers


def build_pipeline(
    cfg: Config,
    sources: Sequence[Source],
    backend: Backend | None,
    sinks: Sequence[Sink] = (),
    taps: Sequence[Tap] = (),
    failures: OutputFailures | None = None,
    pose: PoseModel | None = None,
) -> Pipeline:
    """The stages of ``backend`` (and of the ``pose`` model: its own stage after inference) wired
    between ``sources`` and the outputs as ``cfg`` says (not started); ``backend`` None = no
    segmentation, the pose model alone (:func:`pose_only_stages`). The sinks are given, not made
    here: :class:`~pipeline.session.session.Session` owns what a run opens."""
    pose_step: PoseStage | None = None
    infer: InferenceStage | PoseOnly
    policies = queue_policies(cfg, sources)
    live = all(p == "latest" for p in policies.values())
    infer_workers, pose_workers = stage_workers(cfg, backend, pose, live)
    if backend is None:
        if pose is None:
            raise ConfigError('model.path is "" (--no-seg) and there is no pose model: nothing to run')
        max_batch = batch_size(cfg, pose)
        preprocess, infer, postprocess = pose_only_stages(cfg, pose)
    else:
        max_batch = batch_size(cfg, backend)
        preprocess, infer, postprocess = segmentation_stages(cfg, backend)
        pose_step = PoseStage(pose, postprocess.maps) if pose is not None else None
    log.info("threads: inference %d worker(s), pose %d worker(s)", infer_workers, pose_workers if pose else 0)
    return Pipeline(
        sources=sources,
        preprocess=preprocess,
        infer=infer,
        pose=pose_step,
        postprocess=postprocess,
        sinks=sinks,
        taps=taps,
        failures=failures,
        policy=policies,
        capacity=cfg.queues.capacity or None,
        max_frames=cfg.run.max_frames or None,
        drain_s=cfg.queues.drain_s,
        max_batch=max_batch,
        batch_wait_s=cfg.model.batch_wait_ms / 1000.0,
        infer_workers=infer_workers,
        pose_workers=pose_workers,
        unavailable_give_up_s=cfg.model.triton_give_up_s,
    )
