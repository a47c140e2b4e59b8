"""Once-a-second health: per-stage FPS, drops, latency and state, as a status snapshot.

The :class:`HealthReporter` thread turns :class:`~pipeline.pipeline.PipelineCounters` into a
:class:`HealthStatus` every interval and hands it to listeners (the stderr progress line here;
the ZeroMQ ``status.<source>`` topic later).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from pipeline.pipeline import Pipeline, PipelineCounters, percentile


@dataclass(frozen=True)
class HealthStatus:
    """Pipeline health over the last interval.

    Attributes:
        fps: stage name → items per second over the interval.
        dropped: frames dropped between stages since the start.
        frames_out: results produced since the start.
        latency_p50_ms: median capture → postprocess latency of recent frames (NaN if none).
    """

    source_id: str
    state: str
    fps: dict[str, float]
    dropped: int
    frames_out: int
    latency_p50_ms: float


def health_between(prev: PipelineCounters, cur: PipelineCounters) -> HealthStatus:
    """Rates between two snapshots of the same pipeline."""
    dt = max(cur.at - prev.at, 1e-6)
    before = {s.name: s.processed for s in prev.stages}
    fps = {s.name: (s.processed - before.get(s.name, 0)) / dt for s in cur.stages}
    out = next((s.processed for s in cur.stages if s.name == "postprocess"), 0)
    return HealthStatus(
        source_id=cur.source_id,
        state=cur.state,
        fps=fps,
        dropped=cur.dropped,
        frames_out=out,
        latency_p50_ms=percentile(cur.latency_ms[-64:], 50),
    )


def format_health(h: HealthStatus) -> str:
    """The one-line progress/health text printed on stderr."""
    short = {"capture": "cap", "preprocess": "pre", "inference": "inf", "postprocess": "post"}
    rates = " ".join(f"{short[k]} {v:.1f}" for k, v in h.fps.items() if k in short)
    lat = "-" if h.latency_p50_ms != h.latency_p50_ms else f"{h.latency_p50_ms:.0f} ms"
    return (
        f"[{h.source_id}] {h.state} | fps {rates} | frames {h.frames_out} | drops {h.dropped} | latency {lat}"
    )


class HealthReporter(threading.Thread):
    """Calls every listener with a :class:`HealthStatus` each ``interval_s`` until stopped."""

    def __init__(self, pipeline: Pipeline, interval_s: float = 1.0) -> None:
        super().__init__(name="health", daemon=True)
        self.pipeline = pipeline
        self.interval_s = interval_s
        self.listeners: list[Callable[[HealthStatus], None]] = []
        self._stop = threading.Event()
        self.last: HealthStatus | None = None

    def run(self) -> None:
        prev = self.pipeline.counters()
        while not self._stop.wait(self.interval_s):
            cur = self.pipeline.counters()
            self.last = health_between(prev, cur)
            prev = cur
            for listener in self.listeners:
                listener(self.last)

    def stop(self) -> None:
        self._stop.set()


def stderr_line(stream: TextIO = sys.stderr) -> Callable[[HealthStatus], None]:
    """A listener printing :func:`format_health` to ``stream``."""

    def emit(h: HealthStatus) -> None:
        print(format_health(h), file=stream, flush=True)

    return emit
