"""Once-a-second health per source: per-stage FPS, drops, reconnects, latency and state.

The :class:`HealthReporter` thread turns :class:`~pipeline.runtime.counters.PipelineCounters` into one
:class:`HealthStatus` per source every interval and hands each to the listeners (the stderr
progress line, the ZeroMQ ``status.<source>`` topic, the window HUD).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import TextIO

from pipeline.lifecycle import HealthStatus
from pipeline.runtime.counters import PipelineCounters, percentile


def health_between(prev: PipelineCounters, cur: PipelineCounters) -> list[HealthStatus]:
    """Each source's rates between two snapshots of the same pipeline, in source order."""
    dt = max(cur.at - prev.at, 1e-6)
    out = []
    for src in cur.sources:
        old = next((s for s in prev.sources if s.source_id == src.source_id), None)
        before = {s.name: s.processed for s in old.stages} if old else {}
        out.append(
            HealthStatus(
                source_id=src.source_id,
                state=src.state,
                fps={s.name: (s.processed - before.get(s.name, 0)) / dt for s in src.stages},
                dropped=src.dropped,
                frames_out=src.processed("postprocess"),
                latency_p50_ms=percentile(src.latency_ms[-64:], 50),
                reconnects=src.reconnects,
                timestamp_repairs=src.timestamp_repairs,
                failed_outputs=cur.failed_outputs,
            )
        )
    return out


def format_health(h: HealthStatus) -> str:
    """The one-line progress/health text printed on stderr."""
    short = {"capture": "cap", "preprocess": "pre", "inference": "inf", "pose": "pose", "postprocess": "post"}
    rates = " ".join(f"{v} {h.fps[k]:.1f}" for k, v in short.items() if k in h.fps)
    lat = "-" if h.latency_p50_ms != h.latency_p50_ms else f"{h.latency_p50_ms:.0f} ms"
    again = f" | reconnects {h.reconnects}" if h.reconnects else ""
    again += f" | timestamps repaired {h.timestamp_repairs}" if h.timestamp_repairs else ""
    return (
        f"[{h.source_id}] {h.state} | fps {rates} | frames {h.frames_out} | drops {h.dropped} | "
        f"latency {lat}{again}"
    )


class HealthReporter(threading.Thread):
    """Calls every listener with each source's :class:`HealthStatus` every ``interval_s`` until stopped.

    ``last``: the latest statuses, in source order (empty before the first interval).
    """

    def __init__(
        self,
        counters: Callable[[], PipelineCounters],
        listeners: Sequence[Callable[[HealthStatus], None]] = (),
        interval_s: float = 1.0,
    ) -> None:
        """``counters``: a snapshot of the run (:meth:`Pipeline.counters`); ``listeners`` are called
        with each source's status every ``interval_s`` seconds, on this thread."""
        super().__init__(name="health", daemon=True)
        self.counters = counters
        self.interval_s = interval_s
        self.listeners: list[Callable[[HealthStatus], None]] = list(listeners)
        self._stop = threading.Event()
        self.last: list[HealthStatus] = []

    def run(self) -> None:
        prev = self.counters()
        while not self._stop.wait(self.interval_s):
            cur = self.counters()
            self.last = health_between(prev, cur)
            prev = cur
            for status in self.last:
                for listener in self.listeners:
                    listener(status)

    def stop(self) -> None:
        self._stop.set()


def stderr_line(stream: TextIO = sys.stderr) -> Callable[[HealthStatus], None]:
    """A listener printing :func:`format_health` to ``stream``: once a second per running source;
    a source that has ended (``stopped``/``error``) is printed once, then left out while the
    others go on."""
    ended: set[str] = set()

    def emit(h: HealthStatus) -> None:
        if h.source_id in ended:
            return
        if h.state.ended:
            ended.add(h.source_id)
        print(format_health(h), file=stream, flush=True)

    return emit
