"""One run, owned in one place: a :class:`Session` opens everything a run needs, runs it, and closes it.

What it owns, in the order it opens them (a bad input fails before anything is written):

1. the sources (checked: a missing file or bad URL fails here);
2. the ZeroMQ publisher (``--zmq``: bound now, so a taken port fails before the model loads, and a
   TensorRT engine build can be announced as ``building_engine`` status records);
3. the metrics endpoint (``--metrics-port``: bound now, for the same reason);
4. the models: the segmentation backend (none with ``model.path`` "": ``--no-seg``), then the pose
   model (``pose:``; none when off or when the default pose model is not there);
5. the monitor window (``display.mode``) and the file/recording sinks (files are created at their
   first record, so a run that produces nothing leaves nothing behind);
6. the pipeline (threads) and the health reporter.

Shutdown, defined here once (:meth:`Session.close`): the pipeline ends (drained, or aborted after
``queues.drain_s``) → the health reporter stops → each source's final ``stopped``/``error`` status is
published → the publisher flushes and closes → the metrics endpoint closes. Sinks, including the
window, close on their own threads as the pipeline ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.infer.backends import Backend
from pipeline.lifecycle import HealthStatus, State
from pipeline.observe.health import HealthReporter, health_between, stderr_line
from pipeline.publish.publisher import ZmqPublisher
from pipeline.runtime.counters import PipelineCounters
from pipeline.runtime.pipeline import Pipeline
from pipeline.runtime.signals import StopSignals
from pipeline.runtime.sink import OutputFailures, Sink
from pipeline.session.build import (
    build_pipeline,
    image_inputs,
    limit_malloc_arenas,
    limit_opencv_threads,
    load_backend,
    load_pose_model,
    make_sinks,
    open_sources,
    overlay_renderer,
    queue_policies,
    warn_privacy_off,
)
from pipeline.sinks.window import WindowSink, open_window
from pipeline.sources.base import Source

if TYPE_CHECKING:
    from pipeline.observe.metrics_server import MetricsServer


class Session:
    """Everything one ``infant-stream run`` starts, as a context manager.

    ``with Session(cfg) as session: code = session.run()``; leaving the block closes whatever was
    opened, also when opening failed half-way.

    Args:
        cfg: the run's configuration.
        sources: use these instead of opening ``cfg``'s (tests, benchmarks).
        backend: use this segmentation model instead of loading ``cfg.model``.
        extra_sinks: more sinks beside those ``cfg`` asks for.
        window: open the monitor window when ``cfg.display`` asks for one (off for embedding).

    Attributes (after opening): ``pipeline``, ``publisher``, ``metrics``, ``window``, ``failures``.
    """

    def __init__(
        self,
        cfg: Config,
        sources: Sequence[Source] | None = None,
        backend: Backend | None = None,
        extra_sinks: Sequence[Sink] = (),
        window: bool = True,
    ) -> None:
        self.cfg = cfg
        self._sources = sources
        self._backend = backend
        self._extra_sinks = tuple(extra_sinks)
        self._want_window = window
        self.failures = OutputFailures()
        self.publisher: ZmqPublisher | None = None
        self.metrics: MetricsServer | None = None
        self.window: WindowSink | None = None
        self.pipeline: Pipeline | None = None
        self.reporter: HealthReporter | None = None
        self.elapsed_s = 0.0
        self._t0 = 0.0
        self._closed = False
        self._final: list[HealthStatus] = []

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> Session:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        """Open everything in the order of the module docstring (see there why)."""
        cfg = self.cfg
        if cfg.output.features_s and not cfg.zmq.endpoint:
            raise ConfigError("output.features_s (--features): live features go out over ZeroMQ: needs --zmq")
        limit_opencv_threads()
        limit_malloc_arenas()
        sources = list(self._sources) if self._sources is not None else open_sources(cfg)
        warn_privacy_off(cfg)
        if cfg.zmq.endpoint:
            self.publisher = ZmqPublisher(cfg.zmq, render=overlay_renderer(cfg), failures=self.failures)
        if cfg.metrics.port:
            from pipeline.observe.metrics_server import MetricsServer

            self.metrics = MetricsServer(cfg.metrics)
        backend = self._backend
        if backend is None and cfg.model.path:
            backend = load_backend(cfg, self.publisher)
        pose = load_pose_model(cfg)
        if self._want_window:
            self.window = open_window(cfg, on_quit=self.stop)
        sinks = make_sinks(cfg, queue_policies(cfg, sources), image_inputs(sources))
        if self.window is not None:
            sinks.append(self.window)
        if self.metrics is not None:
            sinks.append(self.metrics.sink())
        if cfg.output.features_s and self.publisher is not None:
            from pipeline.sinks.features import FeaturesSink

            sinks.append(
                FeaturesSink(cfg.output.features_s, cfg.output.features_every_s, self.publisher.publish)
            )
        sinks.extend(self._extra_sinks)
        taps = [self.publisher] if self.publisher is not None else []
        self.pipeline = build_pipeline(cfg, sources, backend, sinks, taps, self.failures, pose)
        if self.metrics is not None:
            self.metrics.attach(self.pipeline.counters)
        listeners = [
            *([self.publisher.publish_status] if self.publisher else []),
            *([self.window.on_health] if self.window else []),
            *([self.metrics.on_health] if self.metrics else []),
            *([stderr_line()] if cfg.output.progress else []),
        ]
        self.reporter = HealthReporter(self.pipeline.counters, listeners)

    def run(self, handle_signals: bool = True) -> int:
        """Start, wait for the end (every source ended, ``run.duration_s`` passed, a signal, or the
        window's quit key), join; returns the exit code (0, or 128+N after signal N). A failure
        (a stage, a critical sink, a source) is raised after everything was shut down in order.

        ``handle_signals`` False: SIGINT/SIGTERM are left alone (a run on a worker thread of a
        server, which owns the signals; :meth:`stop` and :meth:`cancel` end it instead)."""
        pipeline, reporter = self._opened()
        t0 = self._t0 = time.monotonic()
        start = pipeline.counters()

        def on_signal(signum: int, first: bool) -> None:
            """The first signal stops gracefully (queued frames are written); a second one aborts."""
            if first:
                pipeline.stop()
            else:
                pipeline.abort()

        with StopSignals(on_signal if handle_signals else None, install=handle_signals) as signals:
            pipeline.start()
            reporter.start()
            try:
                duration = self.cfg.run.duration_s
                while not pipeline.wait(0.2):
                    if duration and time.monotonic() - t0 >= duration:
                        pipeline.stop()
                pipeline.join()
            finally:
                self.elapsed_s = time.monotonic() - t0
                self._final = health_between(start, pipeline.counters())
                self.close()
        return signals.exit_code()

    def stop(self) -> None:
        """Ask for a graceful end (safe from any thread; the window's quit key calls it)."""
        if self.pipeline is not None:
            self.pipeline.stop()

    def cancel(self) -> None:
        """End now, queued frames not written (safe from any thread; a cancelled job)."""
        if self.pipeline is not None:
            self.pipeline.abort()

    def close(self) -> None:
        """Shut down in the one defined order (module docstring). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.reporter is not None:
            self.reporter.stop()
        if self.pipeline is not None and self.pipeline.running:
            self.pipeline.abort()
            self.pipeline.wait(5.0)
        if self.publisher is not None:
            for status in self._final:
                self.publisher.publish_status(status)
            self.publisher.close()
        if self.metrics is not None:
            self.metrics.close()
        if self.window is not None and self.pipeline is None:
            self.window.close()  # never became a sink: close it here

    # -- state ------------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The run's :class:`State`: starting until the pipeline runs, then its state."""
        if self.pipeline is None:
            return State.STARTING
        return self.pipeline.counters().state

    def counters(self) -> PipelineCounters:
        """A snapshot of the pipeline's counters (after opening)."""
        return self._opened()[0].counters()

    def summary(self) -> list[str]:
        """One line per source: frames, fps, drops (and reconnects and final state when notable).

        A source that ended before the run is counted over its own time (run start → its last
        result), not over the whole run.
        """
        lines = []
        for src in self.counters().sources:
            out = src.processed("postprocess")
            span = self.elapsed_s
            if src.state.ended and src.last_result_at is not None:
                span = min(span, src.last_result_at - self._t0)
            extra = f", {src.reconnects} reconnects" if src.reconnects else ""
            extra += f", {src.timestamp_repairs} timestamps repaired" if src.timestamp_repairs else ""
            extra += ", failed" if src.state == State.ERROR else ""
            lines.append(
                f"{src.source_id}: {out} frames in {span:.1f} s "
                f"({out / max(span, 1e-9):.1f} fps), {src.dropped} dropped{extra}"
            )
        for name in self.failures.names:
            lines.append(f"output {name} failed and was stopped: {self.failures.reason(name)}")
        return lines

    def _opened(self) -> tuple[Pipeline, HealthReporter]:
        if self.pipeline is None or self.reporter is None:
            raise RuntimeError("session: use it as a context manager (or call open()) first")
        return self.pipeline, self.reporter


def print_summary(session: Session) -> None:
    """The summary lines on stderr, prefixed like every other message."""
    for line in session.summary():
        print(f"infant-stream: {line}", file=sys.stderr)
