"""The configuration models: one frozen pydantic model per section of ``configs/*.yaml`` (the field types
and vocabularies are in :mod:`pipeline.config.fields`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from pipeline.config.fields import (
    BackendName,
    Count,
    DisplayMode,
    Host,
    Motion,
    NonNegative,
    Positive,
    Precision,
    PrivacyMode,
    SourceId,
    SourceMode,
    Text,
    Transport,
    _replaced,
    _Section,
)
from pipeline.config.rules import RULE, endpoint_problem, show
from pipeline.config.serve import ServeConfig


class SourceConfig(_Section):
    """Where frames come from. ``uri``: file, image or folder, URL, camera index or /dev/videoN.

    ``id``: names the source in records, topics (``parts.<id>``) and metric labels: letters,
    digits, ``_`` and ``-``. Network streams retry forever by default (``reconnect_attempts`` 0)
    with a backoff from ``reconnect_initial_s`` doubling up to ``reconnect_max_s``; the 2 s cap
    keeps the time from a camera's return to the first frame under ~3 s. Timeouts and backoffs are
    seconds; ``width``/``height`` pixels and ``fps`` frames per second requested from a camera
    (0 = its default). ``sequence``: a folder of images is a frame sequence (tracked across images,
    like video frames); by default each image is an independent still (nothing tracked from one
    image into the next).
    """

    uri: Text = ""
    id: SourceId = "cam0"
    mode: SourceMode = "auto"
    realtime: bool = False
    loop: bool = False
    transport: Transport = "tcp"
    open_timeout_s: Positive = 5.0
    read_timeout_s: Positive = 5.0
    stall_timeout_s: Positive = 5.0
    reconnect_initial_s: Positive = 0.5
    reconnect_max_s: Positive = 2.0
    reconnect_attempts: Count = 0
    width: Count = 0
    height: Count = 0
    fps: NonNegative = 0.0
    sequence: bool = False


class ModelConfig(_Section):
    """The segmentation model and how to run it (the pose model, ``pose:``, runs with the same
    providers, spin and, by default, threads).

    Attributes:
        path: ONNX segmentation model file; "" = none (``--no-seg``): the pose model runs alone on
            the letterboxed frame (no parts).
        backend: ``onnxruntime`` (CPU, CUDA or TensorRT execution providers), ``tensorrt``
            (the TensorRT Python API with a cached engine; GPU only) or ``triton`` (a Triton
            Inference Server at ``triton_url`` runs it; ``path`` still gives the metadata).
        providers: ONNX Runtime providers, ``auto`` = TensorRT > CUDA > CPU.
        threads: ONNX Runtime intra-op threads of each inference worker; 0 = from the core count
            (pipeline/runtime/threads.py: 1 on 2 cores, up to cores / workers on bigger machines).
        workers: inference threads, each running its own frames with the same session (frames in
            flight, order kept); 0 = from the core count (2 on 2 cores, at most 4; 1 on a GPU).
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
        triton_url, triton_model, triton_timeout_s: ``triton``: the server's gRPC address
            (``HOST:PORT``), the model's name there ("" = the file's stem) and each call's timeout.
            With ``workers`` 0 the triton backend keeps 4 requests in flight (network time overlaps).
        triton_give_up_s: when the server stops answering mid-run, sources report
            ``backend_unavailable`` and inference retries (backoff up to 1 s) until it is back; after
            this many seconds the run fails instead. 0 = wait for ever (as live sources reconnect).
        triton_shared_memory: send inputs and take outputs through system shared memory (the server
            must be on this host: ``--triton-url 127.0.0.1:PORT``) instead of in the gRPC messages.
    """

    path: Text = "models/infant-seg.onnx"
    backend: BackendName = "onnxruntime"
    providers: Text = "auto"
    threads: Count = 0
    workers: Count = 0
    spin: bool = False
    precision: Precision = "fp16"
    engine_cache: Text = ""
    calibration: Text = ""
    max_batch: Annotated[int, Field(ge=0, le=256)] = 0
    batch_wait_ms: NonNegative = 2.0
    gpu_preprocess: bool = False
    triton_url: Text = ""
    triton_model: Text = ""
    triton_timeout_s: Positive = 5.0
    triton_give_up_s: NonNegative = 0.0
    triton_shared_memory: bool = False


class PoseConfig(_Section):
    """The keypoint (pose) model: two-stage, on the crop of the infant that segmentation finds (one
    subject per camera), or alone on the letterboxed frame without a segmentation model.

    Attributes:
        enabled: run a pose model (``--no-pose``: off).
        model: its ONNX file (``--pose-model``); null = the shipped ``models/infant-pose.onnx`` when
            that file exists (else no pose stage, said in one info line). A keypoints model:
            ``infant_stream.task`` = ``keypoints`` in its metadata, or a sidecar YAML beside it
            (``model.onnx`` → ``model.yaml``).
        threads: ONNX Runtime intra-op threads of each pose worker; 0 = ``model.threads`` when that is
            set, else from the core count (pipeline/runtime/threads.py).
        workers: pose threads (crops in flight, order kept); 0 = from the core count.
        flip_test: also run every crop mirrored and average the two answers (``--no-flip-test``: off);
            twice the pose model's cost, more accurate joints (docs/benchmarks.md, pipeline/pose/flip.py).
    """

    enabled: bool = True
    model: Text | None = None
    threads: Count = 0
    workers: Count = 0
    flip_test: bool = True

    @field_validator("model")
    @classmethod
    def _a_path(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise PydanticCustomError(
                RULE,
                "must be a file path, or null for the shipped pose model, got {value}",
                {"value": show(value)},
            )
        return value


class PostprocessConfig(_Section):
    """Mask → parts. ``min_area_px``: smallest region (original pixels) reported as an instance."""

    min_area_px: Annotated[int, Field(ge=1)] = 100


class QueueConfig(_Section):
    """Queues between stages. ``capacity`` 0 = by policy (latest 1, lossless 4); ``drain_s``:
    seconds the queued frames may take to finish at a stop."""

    capacity: Count = 0
    drain_s: Positive = 5.0


class KeypointTrackerConfig(_Section):
    """Kalman smoothing of the pose model's joints (pipeline/postprocess/tracking/keypoints.py): one
    track per keypoint, identified by name (left and right limbs never merge). Same motion models and
    coasting rules as the part tracker; the names mean what they mean in :class:`TrackerConfig`.

    Attributes:
        enabled: smooth the joints (smoothed positions, velocities, coasting) or publish the decoder's
            points as they are (``smoothed``/``velocity``/``uncertainty`` null).
        min_score: a joint whose decoder confidence (0..1) is below this is not measured this frame:
            its track coasts (``predicted``) or, without one, the joint is absent.
        measurement_noise_px: position std (px) of a joint with confidence 1; a joint of confidence
            ``s`` gets ``measurement_noise_px / s``.
        process_noise: as the part tracker's; joints (hands, feet) turn faster than part centroids.
            Chosen on the demo clip with the shipped pose model (docs/benchmarks.md): 1500 halves the
            jitter of the error (smoothed/raw 0.50; 3000: 0.63, 1000: 0.44) with the lowest smoothed
            error (6.34 px mean; 3000: 6.37, 1000: 6.35).
    """

    enabled: bool = True
    min_score: Annotated[float, Field(ge=0, le=1)] = 0.3
    motion: Motion = "constant_velocity"
    process_noise: Positive = 1500.0
    measurement_noise_px: Positive = 4.0
    max_coast_s: NonNegative = 0.5
    min_hits_to_coast: Annotated[int, Field(ge=1)] = 2
    coast_damping_per_s: NonNegative = 4.0
    coast_max_speed_px_s: Positive = 600.0


class TrackerConfig(_Section):
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
        coast_damping_per_s: rate (1/s) at which a coasting track's velocity decays: ``τ`` seconds
            after its last region it moves at ``v·e^(−rate·τ)`` and has travelled at most
            ``v/rate`` in all; 0 = keeps its velocity.
        coast_max_speed_px_s: a coasting track starts from its last velocity capped at this speed
            (px/s; the direction is kept).
        keypoints: the pose model's joints (:class:`KeypointTrackerConfig`); smoothed only when
            ``enabled`` is on too.
    """

    enabled: bool = True
    motion: Motion = "constant_velocity"
    process_noise: Positive = 1000.0
    measurement_noise_px: Positive = 4.0
    reference_area_px: Positive = 2000.0
    gate_chi2: Positive = 13.8
    max_coast_s: NonNegative = 1.0
    min_hits_to_coast: Annotated[int, Field(ge=1)] = 3
    coast_damping_per_s: NonNegative = 2.0
    coast_max_speed_px_s: Positive = 600.0
    keypoints: KeypointTrackerConfig = Field(default_factory=KeypointTrackerConfig)


ZMQ_DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
"""Where ``--zmq`` without a value publishes and where ``subscribe`` without one listens (loopback)."""


class ZmqConfig(_Section):
    """ZeroMQ PUB socket (docs/architecture.md). ``endpoint`` empty = not publishing.

    Attributes:
        endpoint: e.g. ``tcp://127.0.0.1:5555`` (what ``--zmq`` without a value uses).
        connect: connect to ``endpoint`` (a broker/XSUB) instead of binding it.
        send_hwm: messages queued per subscriber before ZeroMQ drops for that subscriber.
        frames: also publish ``frame.<source>`` JPEGs of the overlay (pixelated as ``privacy`` decides).
        frame_fps: at most this many ``frame.*`` messages per second.
        jpeg_quality: 1..100.
        curve_secret_key: the publisher's CURVE secret key file (zmq.auth format); empty = no encryption.
        curve_clients_dir: folder of allowed subscribers' public key files; empty = any client
            that knows the server's public key.
    """

    endpoint: Text = ""
    connect: bool = False
    send_hwm: Annotated[int, Field(ge=1)] = 1000
    frames: bool = False
    frame_fps: Positive = 5.0
    jpeg_quality: Annotated[int, Field(ge=1, le=100)] = 80
    curve_secret_key: Text = ""
    curve_clients_dir: Text = ""

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        problem = endpoint_problem(value)
        if problem is not None:
            raise PydanticCustomError(
                RULE, "{problem}, got {value}", {"problem": problem, "value": show(value)}
            )
        return value


class MetricsConfig(_Section):
    """The optional HTTP endpoint with Prometheus ``/metrics`` and ``/healthz`` (no authentication).

    Attributes:
        port: TCP port to serve on; 0 = no endpoint.
        host: address to bind; 127.0.0.1 (loopback) by default, 0.0.0.0 = every interface (warns).
    """

    port: Annotated[int, Field(ge=0, le=65535)] = 0
    host: Host = "127.0.0.1"


class DisplayConfig(_Section):
    """The monitor window. ``mode``: ``auto`` (on when a display exists), ``on`` or ``off``.

    The window starts hiding what every output hides (``privacy.mode``, fail-closed by default);
    key ``b`` switches the local view between that and no pixelation (``off`` runs: between none
    and ``fail_closed``). The view never changes what the outputs get.

    Attributes:
        alpha: opacity of the coloured mask over the frame, 0..1.
        trail_s: seconds of centroid history drawn as trails.
    """

    mode: DisplayMode = "auto"
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.45
    trail_s: NonNegative = 3.0

    @model_validator(mode="before")
    @classmethod
    def _no_blur_head(cls, data: Any) -> Any:
        return _replaced(
            data,
            "blur_head",
            "blur_head was removed: the window starts as privacy.mode says (fail_closed by default) "
            "and key b toggles it; remove the key",
        )


class RecordConfig(_Section):
    """H.264 recordings (PyAV). ``overlay``/``raw``: mp4 paths (empty = none).

    Attributes:
        overlay: the frames with the overlay drawn.
        raw: the frames as captured (still pixelated as ``privacy.mode`` says).
        crf: x264 constant rate factor (0 lossless .. 51 worst; 23 default).
    """

    overlay: Text = ""
    raw: Text = ""
    crf: Annotated[int, Field(ge=0, le=51)] = 23


class PrivacyConfig(_Section):
    """Pixelation of every image that leaves the process (recordings, ``frame.*`` messages, the
    window's first view), decided once per frame (``pipeline.render.privacy.decide``; the record's
    ``privacy`` key says what was applied).

    Attributes:
        mode: :data:`PrivacyMode`; ``fail_closed`` (default) hides the whole image unless the model
            finds a confident head.
        min_head_score: ``fail_closed``: the head class's mean softmax probability over its pixels
            (the record's ``classes`` score of ``head``) must be at least this ...
        min_head_area_px: ... and its pixel count (``area_px``) at least this, for the head region
            alone to be pixelated; otherwise the whole image is.
        block_px: mosaic cell size in frame pixels (a whole image: never finer than 1/32 of its
            longer side).
        margin_px: the head region is grown by this many pixels first.
        min_keypoint_score: facial keypoints (the pose model's facial points, its head point and
            ears) observed with at least this confidence also show the head: the region grows to
            cover their box. They never count as a head found under ``fail_closed`` (only the head
            class does); in ``head`` mode they are pixelated even without a head class.
        keypoint_pad: that box is first grown on every side by this fraction of its longer side
            (the points mark the face's inside, not its outline).
    """

    mode: PrivacyMode = "fail_closed"
    min_head_score: Annotated[float, Field(ge=0, le=1)] = 0.8
    min_head_area_px: Annotated[int, Field(ge=1)] = 400
    block_px: Annotated[int, Field(ge=2)] = 16
    margin_px: Count = 8
    min_keypoint_score: Annotated[float, Field(ge=0, le=1)] = 0.5
    keypoint_pad: NonNegative = 0.75

    @model_validator(mode="before")
    @classmethod
    def _no_blur_head(cls, data: Any) -> Any:
        return _replaced(
            data,
            "blur_head",
            "blur_head was replaced by mode (fail_closed, head, frame or off); remove it "
            "(blur_head: false is mode: off)",
        )


class OutputConfig(_Section):
    """Where results go. ``jsonl``/``csv``: file paths (empty = none); ``progress``: stderr health line.
    ``features_s``: publish live movement features (``features.<source>`` over ZeroMQ, README "Movement
    analysis") from a rolling window this many seconds long, every ``features_every_s`` seconds;
    0 = off. Needs ``zmq.endpoint``."""

    jsonl: Text = ""
    csv: Text = ""
    progress: bool = True
    features_s: NonNegative = 0.0
    features_every_s: Positive = 5.0


class RunConfig(_Section):
    """When to stop: after ``max_frames`` frames or ``duration_s`` seconds (0 = never)."""

    max_frames: Count = 0
    duration_s: NonNegative = 0.0


class Config(_Section):
    """The whole configuration of ``infant-stream run`` (and ``serve``: its ``serve`` section).

    ``source`` describes the one source, or with ``sources`` (a list) the defaults every entry of
    ``sources`` starts from (each entry overrides what it names; ``null`` is like ``{}``; ids must
    differ).
    """

    source: SourceConfig = Field(default_factory=SourceConfig)
    sources: tuple[SourceConfig, ...] = ()
    model: ModelConfig = Field(default_factory=ModelConfig)
    pose: PoseConfig = Field(default_factory=PoseConfig)
    postprocess: PostprocessConfig = Field(default_factory=PostprocessConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    queues: QueueConfig = Field(default_factory=QueueConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    zmq: ZmqConfig = Field(default_factory=ZmqConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    display: DisplayConfig = Field(default_factory=DisplayConfig)
    record: RecordConfig = Field(default_factory=RecordConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

    @property
    def source_list(self) -> tuple[SourceConfig, ...]:
        """The sources to open: ``sources`` if given, else ``(source,)``."""
        return self.sources or (self.source,)

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, data: Any) -> Any:
        """Each mapping (or null) of a ``sources`` list on top of the ``source`` section."""
        if not isinstance(data, dict) or not isinstance(data.get("sources"), list | tuple):
            return data
        base = data.get("source")
        base = dict(base) if isinstance(base, SourceConfig) else base if isinstance(base, dict) else {}
        entries = [{**base, **(e or {})} if isinstance(e, dict) or e is None else e for e in data["sources"]]
        return {**data, "sources": entries}

    @field_validator("sources", mode="before")
    @classmethod
    def _a_list(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(value)
        raise PydanticCustomError(RULE, "must be a list, got {kind}", {"kind": type(value).__name__})

    @model_validator(mode="after")
    def _distinct_ids(self) -> Config:
        seen: set[str] = set()
        for i, src in enumerate(self.sources):
            if src.id in seen:
                rule = PydanticCustomError(RULE, "{id} is used by another source", {"id": repr(src.id)})
                details = InitErrorDetails(type=rule, loc=("sources", i, "id"), input=src.id)
                raise ValidationError.from_exception_data("Config", [details])
            seen.add(src.id)
        return self
