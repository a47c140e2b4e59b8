"""Prometheus metrics of a running pipeline: what is scraped, and the health verdict of ``/healthz``.

The HTTP side lives in :mod:`pipeline.observe.metrics_server`. Everything here writes into a *private*
:class:`~prometheus_client.CollectorRegistry` (never the global one), so two servers or a test
and a server never share samples.

Metric families (prefix ``infant_stream_``; ``source`` is the source id, ``stage`` one of
capture, preprocess, inference, postprocess, and pose with a pose model):

- ``frames_total{source,stage}`` (counter): this source's frames the stage has handled;
- ``dropped_frames_total{source}`` (counter): frames dropped between stages (``latest`` policy);
- ``reconnects_total{source}`` (counter): times the source was reopened;
- ``timestamp_repairs_total{source}`` (counter): frames whose timestamp was missing or out of
  order (not after the previous frame's) and was repaired so that times increase strictly;
- ``source_state{source,state}`` (gauge): 1 for the current state, 0 for the others
  (:class:`~pipeline.lifecycle.State`);
- ``backend_outages_total`` (counter): times the server that runs the model (Triton) stopped
  answering; while it is down every running source's state is ``backend_unavailable``;
- ``source_info{source,uri}`` (gauge, 1): the source's description, credentials masked;
- ``fps{source,stage}`` (gauge): items per second over the last health interval;
- ``sink_dropped_total{sink}`` (counter): results a sink's queue dropped;
- ``output_failures_total{output}`` (counter, 0 or 1): a best-effort output failed and was stopped;
- ``stage_latency_seconds{source,stage}`` (histogram): per result, stage preprocess, inference,
  postprocess, pose (the record's ``latency_ms.pose``: 0 for every frame without a pose model) or
  capture_to_publish;
- ``build_info{version}`` (gauge, 1): there from the start, beside the process metrics.

Counters, states and fps are read from :meth:`Pipeline.counters` at scrape time by
:class:`PipelineCollector`; the latency histograms are fed by :class:`MetricsSink`, an ordinary
sink (``latest`` policy, so it can never hold up the pipeline; what it drops is counted in
``sink_dropped_total{sink="metrics"}``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Final

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline import __version__
from pipeline.config import Policy
from pipeline.frames import Result
from pipeline.lifecycle import HealthStatus, State
from pipeline.runtime.counters import PipelineCounters
from pipeline.sources.urls import mask_url

PREFIX: Final = "infant_stream_"
STATES: Final = tuple(State)
"""Source states, each a ``source_state`` sample (1 for the current one)."""
LATENCY_STAGES: Final = ("preprocess", "inference", "postprocess", "pose", "capture_to_publish")
BUCKETS_S: Final = (0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0)
"""Latency histogram bounds, seconds: 1 ms (a preprocess step) to 2 s (a stuck stage); +Inf added."""
SINK_CAPACITY: Final = 256
"""Queue length of :class:`MetricsSink` (it only updates counters, so it keeps up easily)."""

CountersFn = Callable[[], PipelineCounters]


def health_verdict(counters: PipelineCounters | None) -> tuple[int, dict[str, Any]]:
    """``(HTTP status, JSON body)`` of ``/healthz``.

    Body: ``{"status": "ok"|"degraded"|"starting"|"stopped", "sources": {id: state}}``.

    - ``ok`` (200): every source is ``running`` and no stage failed.
    - ``starting`` (503): no pipeline attached yet (the model is loading), or every source is
      ``starting``/``running`` with at least one still starting.
    - ``stopped`` (503): the pipeline has ended, or every source has ended (``stopped``/``error``).
    - ``degraded`` (503): anything else while it runs: a source reconnecting, stalled, ended or
      failed while others go on, or a failed stage.

    Only ``ok`` is 200, so a plain HTTP probe (load balancer, Kubernetes, ``curl -f``) treats a
    camera that is reconnecting or a finished run as unhealthy; the body says which.
    """
    if counters is None:
        return 503, {"status": "starting", "sources": {}}
    states = {s.source_id: s.state for s in counters.sources}
    values = set(states.values())
    if counters.state == State.STOPPED or values <= {State.STOPPED, State.ERROR}:
        status = "stopped"
    elif counters.state == State.RUNNING and values == {State.RUNNING}:
        status = "ok"
    elif counters.state == State.RUNNING and values <= {State.STARTING, State.RUNNING}:
        status = "starting"
    else:
        status = "degraded"
    return (200 if status == "ok" else 503), {"status": status, "sources": states}


class PipelineCollector(Collector):
    """Turns :meth:`Pipeline.counters` into metric families at each scrape (values are current).

    Before :meth:`attach` it yields nothing. ``fps`` comes from the latest
    :class:`~pipeline.observe.health.HealthStatus` of each source (:meth:`on_health`, a
    :class:`~pipeline.observe.health.HealthReporter` listener); a source that has ended reports 0.
    """

    def __init__(self) -> None:
        self._counters: CountersFn | None = None
        self._fps: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def attach(self, counters: CountersFn) -> None:
        self._counters = counters

    def snapshot(self) -> PipelineCounters | None:
        """The attached pipeline's counters now (None before :meth:`attach`)."""
        fn = self._counters
        return fn() if fn is not None else None

    def on_health(self, status: HealthStatus) -> None:
        with self._lock:
            self._fps[status.source_id] = dict(status.fps)

    def collect(self) -> Iterator[Metric]:
        counters = self.snapshot()
        if counters is None:
            return
        frames = CounterMetricFamily(
            PREFIX + "frames", "Frames of a source handled by a stage.", labels=["source", "stage"]
        )
        dropped = CounterMetricFamily(
            PREFIX + "dropped_frames", "Frames of a source dropped between stages.", labels=["source"]
        )
        reconnects = CounterMetricFamily(
            PREFIX + "reconnects", "Times a source was reopened after a loss or stall.", labels=["source"]
        )
        repairs = CounterMetricFamily(
            PREFIX + "timestamp_repairs",
            "Frames of a source whose timestamp was missing or out of order and was repaired.",
            labels=["source"],
        )
        state = GaugeMetricFamily(
            PREFIX + "source_state", "1 for the source's current state.", labels=["source", "state"]
        )
        info = GaugeMetricFamily(
            PREFIX + "source_info", "The source's URI or path (credentials masked).", labels=["source", "uri"]
        )
        fps = GaugeMetricFamily(
            PREFIX + "fps", "Items per second over the last health interval.", labels=["source", "stage"]
        )
        with self._lock:
            rates = {sid: dict(v) for sid, v in self._fps.items()}
        for src in counters.sources:
            sid = src.source_id
            ended = src.state.ended
            for st in src.stages:
                frames.add_metric([sid, st.name], st.processed)
                if sid in rates:
                    fps.add_metric([sid, st.name], 0.0 if ended else rates[sid].get(st.name, 0.0))
            dropped.add_metric([sid], src.dropped)
            reconnects.add_metric([sid], src.reconnects)
            repairs.add_metric([sid], src.timestamp_repairs)
            for name in STATES:
                state.add_metric([sid, name], 1.0 if src.state == name else 0.0)
            info.add_metric([sid, mask_url(src.description)], 1.0)
        sinks = CounterMetricFamily(
            PREFIX + "sink_dropped", "Results dropped by a sink's queue.", labels=["sink"]
        )
        for st in counters.shared:
            if st.name.startswith("sink:"):
                sinks.add_metric([st.name.removeprefix("sink:")], st.dropped)
        failures = CounterMetricFamily(
            PREFIX + "output_failures",
            "1 once a best-effort output (window, ZeroMQ frames, live recording) failed and was stopped.",
            labels=["output"],
        )
        outputs = [st.name.removeprefix("sink:") for st in counters.shared if st.name.startswith("sink:")]
        for output in dict.fromkeys([*outputs, *counters.failed_outputs]):
            failures.add_metric([output], 1.0 if output in counters.failed_outputs else 0.0)
        outages = CounterMetricFamily(
            PREFIX + "backend_outages", "Times the server that runs the model stopped answering."
        )
        outages.add_metric([], counters.backend_outages)
        yield from (frames, dropped, reconnects, repairs, state, info, fps, sinks, failures, outages)


class MetricsSink:
    """Feeds the latency histograms from every result (Sink protocol: ``metrics``, ``latest``).

    Per result: ``timings`` of preprocess, inference and postprocess, and
    ``publish_mono - capture_mono`` as ``capture_to_publish`` (capture → postprocess done, the
    moment the result is handed to the sinks).
    """

    name = "metrics"
    policy: Policy = "latest"
    capacity = SINK_CAPACITY
    critical = False

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self._children: dict[str, tuple[Any, ...]] = {}

    def write(self, result: Result) -> None:
        sid = result.meta.source_id
        children = self._children.get(sid)
        if children is None:
            children = tuple(self.histogram.labels(sid, stage) for stage in LATENCY_STAGES)
            self._children[sid] = children
        t = result.timings
        pre, inf, post, pose, total = children
        pre.observe(t.preprocess_ms / 1000.0)
        inf.observe(t.inference_ms / 1000.0)
        post.observe(t.postprocess_ms / 1000.0)
        pose.observe(t.pose_ms / 1000.0)
        total.observe(max(0.0, result.publish_mono - result.meta.capture_mono))

    def close(self) -> None:
        """Nothing to flush (the histograms outlive the pipeline, in the server's registry)."""


def make_registry(collector: PipelineCollector) -> tuple[CollectorRegistry, Histogram]:
    """A private registry with the process and platform metrics, ``build_info``, ``collector``
    and the latency histogram (returned, for :class:`MetricsSink`)."""
    from prometheus_client import Gauge, PlatformCollector, ProcessCollector

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    build = Gauge(PREFIX + "build_info", "infant-stream version (value 1).", ["version"], registry=registry)
    build.labels(__version__).set(1)
    registry.register(collector)
    histogram = Histogram(
        PREFIX + "stage_latency_seconds",
        "Per-frame time in a stage, or from capture to publish (capture_to_publish).",
        ["source", "stage"],
        buckets=BUCKETS_S,
        registry=registry,
    )
    return registry, histogram
