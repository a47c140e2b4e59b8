"""From a :class:`~pipeline.config.Config` to a ready (not started) :class:`~pipeline.runtime.pipeline.Pipeline`.

Order matters for clean failures: the source is checked first, then the ZeroMQ socket and the
metrics port are bound (so a TensorRT engine build can be announced in status records, and a
taken port fails fast), then the model is loaded, and only then are output files created (at their first record), so
a bad input never leaves a half-written output behind.

Several sources (``sources:`` or repeated ``--source``) share the model, the tracker thread and
the JSONL/CSV/ZeroMQ outputs (records name their source); each source gets its own recordings
(:func:`recording_path`) and its own status topic.

Every image that leaves the process (recordings, ``frame.*`` messages) goes through the head
pixelation of ``privacy`` (:func:`overlay_renderer`, :func:`raw_renderer`).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import cv2
import numpy as np

from pipeline import REPO_ROOT
from pipeline.config import Config, evolve
from pipeline.frames import Result
from pipeline.infer.backends import Backend, create_backend
from pipeline.infer.inference import BatchInferenceStage, InferenceStage
from pipeline.infer.preprocess import Preprocessor
from pipeline.observe.health import HealthStatus
from pipeline.postprocess.stage import Postprocessor
from pipeline.postprocess.tracking import PartTracker
from pipeline.publish.zmq_publisher import ZmqPublisher
from pipeline.publish.zmq_sink import ZmqSink
from pipeline.render.overlay import OverlayRenderer, OverlayStyle
from pipeline.render.privacy import blur_head
from pipeline.runtime.pipeline import Pipeline
from pipeline.runtime.queues import Policy
from pipeline.session.engine_status import EngineBuildStatus
from pipeline.sinks.base import Sink
from pipeline.sinks.csv import CsvSink
from pipeline.sinks.jsonl import JsonlSink
from pipeline.sinks.video import VideoSink
from pipeline.sinks.window import WindowSink
from pipeline.sources import Source, open_source
from pipeline.sources.base import default_policy

if TYPE_CHECKING:
    from pipeline.observe.metrics_server import MetricsServer

Renderer = Callable[[Result], np.ndarray]
log = logging.getLogger(__name__)


def resolve_model_path(path: str) -> Path:
    """``path`` as given if it exists, else relative to the repository (for the bundled default)."""
    p = Path(path)
    if p.exists() or p.is_absolute():
        return p
    bundled = REPO_ROOT / p
    return bundled if bundled.exists() else p


def load_backend(cfg: Config, publisher: ZmqPublisher | None = None) -> Backend:
    """Load the configured model with the configured backend; an engine build (TensorRT) is
    announced on stderr and, with ``publisher``, as ``building_engine`` status records."""
    m = cfg.model
    m = evolve(m, max_batch=wanted_batch(cfg))  # GPU engines: a batch profile 1..this
    announce = EngineBuildStatus([s.id for s in cfg.source_list], publisher)
    try:
        return create_backend(m, resolve_model_path(m.path), on_build=announce)
    finally:
        announce.stop()


def _stages(cfg: Config, backend: Backend, max_batch: int) -> tuple[Any, Any, Postprocessor]:
    """(preprocess, infer, postprocess) callables for the backend: batched inference when
    ``max_batch`` > 1, letterbox/arg-max on the GPU when ``model.gpu_preprocess`` and the
    backend runs on one (ignored with a warning otherwise)."""
    tracker = PartTracker(cfg.tracker) if cfg.tracker.enabled else None
    infer = BatchInferenceStage(backend) if max_batch > 1 else InferenceStage(backend)
    if cfg.model.gpu_preprocess and backend.on_gpu:
        from pipeline.infer.gpu_ops import DeviceMaps, GpuPreprocessor

        post = Postprocessor(backend.spec, cfg.postprocess.min_area_px, tracker, maps=DeviceMaps("cuda"))
        return GpuPreprocessor(backend.spec, "cuda"), infer, post
    if cfg.model.gpu_preprocess:
        log.warning("model.gpu_preprocess: ignored, %s runs on the CPU", backend.name)
    return (
        Preprocessor(backend.spec),
        infer,
        Postprocessor(backend.spec, cfg.postprocess.min_area_px, tracker),
    )


def wanted_batch(cfg: Config) -> int:
    """``model.max_batch``, or with 0 (auto) one frame per source."""
    return cfg.model.max_batch or len(cfg.source_list)


def batch_size(cfg: Config, backend: Backend) -> int:
    """Frames inferred together: :func:`wanted_batch`; in auto mode no more than the model takes
    (its batch dimension may be fixed at 1)."""
    if cfg.model.max_batch:
        return cfg.model.max_batch
    return max(1, min(wanted_batch(cfg), int(backend.max_batch)))


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


@dataclass
class LiveOutputs:
    """What lives beside the pipeline's sinks and outlasts them: the ZeroMQ publisher (it sends the
    final ``stopped`` status after the last record), the monitor window (it shows health) and the
    metrics endpoint (``--metrics-port``; it answers until the very end).

    ``close`` order: pipeline joined → final status published → publisher closed → metrics closed.
    """

    publisher: ZmqPublisher | None = None
    window: WindowSink | None = None
    metrics: MetricsServer | None = None

    def health_listeners(self) -> list[Callable[[HealthStatus], None]]:
        """Callables for :class:`~pipeline.observe.health.HealthReporter` (status topic, window HUD)."""
        out: list[Callable[[HealthStatus], None]] = []
        if self.publisher is not None:
            out.append(self.publisher.status_listener())
        if self.window is not None:
            out.append(self.window.on_health)
        if self.metrics is not None:
            out.append(self.metrics.on_health)
        return out

    def close(self, final: Sequence[HealthStatus] = ()) -> None:
        """Publish ``final`` (each source's ``stopped``/``error`` status), then release the socket."""
        if self.publisher is not None:
            for status in final:
                self.publisher.publish_status(status)
            self.publisher.close()
        if self.metrics is not None:
            self.metrics.close()


def overlay_renderer(cfg: Config) -> Renderer:
    """A new overlay renderer (it keeps trails, so one per consuming thread), head pixelated per
    ``privacy``. Returns (height, width, 3) uint8 RGB; never writes into ``result.image``."""
    privacy = cfg.privacy if cfg.privacy.blur_head else None
    return OverlayRenderer(OverlayStyle(alpha=cfg.display.alpha), cfg.display.trail_s, privacy)


def raw_renderer(cfg: Config) -> Renderer:
    """The frame as captured, head pixelated per ``privacy`` (a copy only when it pixelates)."""
    return functools.partial(blur_head, cfg=cfg.privacy)


def make_sinks(cfg: Config, policies: Mapping[str, Policy], publisher: ZmqPublisher | None) -> list[Sink]:
    """The sinks ``cfg`` asks for (``policies``: source id → queue policy). Each source gets its own
    recordings, following its policy: every frame from files, the newest (never holding up
    inference) from live sources."""
    sinks: list[Sink] = []
    if publisher is not None:
        sinks.append(ZmqSink(publisher, cfg.zmq, render=overlay_renderer(cfg)))
    if cfg.output.jsonl:
        sinks.append(JsonlSink(cfg.output.jsonl))
    if cfg.output.csv:
        sinks.append(CsvSink(cfg.output.csv))
    rec = cfg.record
    several = len(policies) > 1
    for sid, policy in policies.items():
        for path, render, flag in (
            (rec.overlay, overlay_renderer, "--record"),
            (rec.raw, raw_renderer, "--record-raw"),
        ):
            if path:
                out = recording_path(path, sid, several)
                sinks.append(VideoSink(out, render(cfg), rec.crf, flag, policy, source_id=sid))
    return sinks


def open_sources(cfg: Config) -> list[Source]:
    """Every configured source, checked (a missing file fails here, before the model loads)."""
    return [open_source(s) for s in cfg.source_list]


def build_pipeline(
    cfg: Config,
    extra_sinks: list[Sink] | None = None,
    source: Source | Sequence[Source] | None = None,
    backend: Backend | None = None,
    live: LiveOutputs | None = None,
) -> Pipeline:
    """Sources, model, tracker, stages and sinks wired together as ``cfg`` says.

    ``source``: use these instead of opening ``cfg``'s (each matched to the ``cfg`` source entry
    with its id, for the queue policy). With ``live`` given, a ZeroMQ publisher is created into it
    when ``cfg.zmq.endpoint`` is set (the caller closes it: :meth:`LiveOutputs.close`), a metrics
    server when ``cfg.metrics.port`` is set (bound before the model loads; its latency sink joins
    the sinks and the pipeline is attached to it), and its window (if any) becomes a sink.
    """
    limit_opencv_threads()
    limit_malloc_arenas()
    if source is None:
        sources = open_sources(cfg)
    else:
        sources = list(source) if isinstance(source, Sequence) else [source]
    modes = {s.id: s.mode for s in cfg.source_list}
    policies: dict[str, Policy] = {}
    for src in sources:
        mode = modes.get(src.source_id, cfg.source.mode)
        policies[src.source_id] = default_policy(src) if mode == "auto" else mode
    if live is not None and cfg.zmq.endpoint:
        live.publisher = ZmqPublisher(cfg.zmq)
    try:
        if live is not None and live.metrics is None and cfg.metrics.port:
            from pipeline.observe.metrics_server import MetricsServer

            live.metrics = MetricsServer(cfg.metrics)
        backend = backend or load_backend(cfg, live.publisher if live else None)
        sinks = make_sinks(cfg, policies, live.publisher if live else None)
    except BaseException:
        if live is not None:
            live.close()
        raise
    if live is not None and live.window is not None:
        sinks.append(live.window)
    if live is not None and live.metrics is not None:
        sinks.append(live.metrics.sink())
    sinks.extend(extra_sinks or [])
    max_batch = batch_size(cfg, backend)
    preprocess, infer, postprocess = _stages(cfg, backend, max_batch)
    pipeline = Pipeline(
        sources=sources,
        preprocess=preprocess,
        infer=infer,
        postprocess=postprocess,
        sinks=sinks,
        policy=policies,
        capacity=cfg.queues.capacity or None,
        max_frames=cfg.run.max_frames or None,
        drain_s=cfg.queues.drain_s,
        max_batch=max_batch,
        batch_wait_s=cfg.model.batch_wait_ms / 1000.0,
    )
    if live is not None and live.metrics is not None:
        live.metrics.attach(pipeline.counters)
    return pipeline
