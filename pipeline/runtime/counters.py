"""Snapshots of a running pipeline's counters, per source and for the shared stages.

Taken by :meth:`pipeline.runtime.pipeline.Pipeline.counters`; read by the health reporter (status lines and
records), the metrics endpoint and benchmarks. Plain frozen values: safe to hand to any thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.lifecycle import State

PER_SOURCE_STAGES = ("capture", "preprocess", "inference", "postprocess")
"""The stages counted per source, in pipeline order."""


@dataclass(frozen=True)
class StageCount:
    """A stage's counters at one instant (see :class:`pipeline.runtime.stage.StageStats`).

    Attributes:
        processed: items handled so far.
        busy_s: seconds spent in the stage function (for a shared stage seen per source: 0).
        queue_len: items waiting in its inbox now.
        dropped: items its inbox dropped so far (``latest`` policy).
    """

    name: str
    processed: int
    busy_s: float
    queue_len: int
    dropped: int


@dataclass(frozen=True)
class SourceCounters:
    """One source's share of the pipeline.

    Attributes:
        source_id: the source's id (records, topics, metric labels).
        description: what to call it in messages (credentials masked).
        state: ``starting``/``running``/``reconnecting``/``stalled`` while it runs, then
            ``stopped`` (ended) or ``error`` (failed; the other sources carry on).
        reconnects: times the source was reopened after a loss or stall.
        timestamp_repairs: frames whose timestamp was missing or out of order and was repaired
            (:class:`pipeline.sources.base.Timeline`).
        stages: capture, preprocess, inference, postprocess counts of this source's frames.
        dropped: this source's frames dropped between stages (not counting sink queues).
        latency_ms: recent capture → postprocess-done latencies of this source's frames.
        last_result_at: ``time.monotonic()`` of this source's latest result (None before the first):
            when an ended source stopped producing.
    """

    source_id: str
    description: str
    state: State
    reconnects: int
    stages: tuple[StageCount, ...]
    dropped: int
    latency_ms: tuple[float, ...]
    last_result_at: float | None = None
    timestamp_repairs: int = 0

    def processed(self, stage: str) -> int:
        """Items of this source that ``stage`` has handled."""
        return next((s.processed for s in self.stages if s.name == stage), 0)


@dataclass(frozen=True)
class PipelineCounters:
    """A snapshot of the whole pipeline.

    Attributes:
        at: ``time.monotonic()`` of the snapshot.
        state: ``error`` if any thread failed, ``stopped`` once the pipeline has ended, else
            ``running``.
        sources: one entry per source, in the pipeline's order.
        shared: the shared stages' own counters (inference, postprocess, then one per sink).
        failed_outputs: best-effort outputs that failed and were stopped (the run went on).
        backend_outages: times the model's service (a Triton server) stopped answering
            (:mod:`pipeline.runtime.outage`).
    """

    at: float
    state: State
    sources: tuple[SourceCounters, ...]
    shared: tuple[StageCount, ...]
    failed_outputs: tuple[str, ...] = ()
    backend_outages: int = 0

    @property
    def stages(self) -> tuple[StageCount, ...]:
        """Per-stage totals over every source (capture … postprocess), then the sinks."""
        rows = []
        shared = {s.name: s for s in self.shared}
        for name in PER_SOURCE_STAGES:
            per = [next(x for x in s.stages if x.name == name) for s in self.sources]
            own = shared.get(name)
            rows.append(
                StageCount(
                    name,
                    sum(x.processed for x in per),
                    own.busy_s if own else sum(x.busy_s for x in per),
                    own.queue_len if own else sum(x.queue_len for x in per),
                    sum(x.dropped for x in per),
                )
            )
        return (*rows, *(s for s in self.shared if s.name.startswith("sink:")))

    @property
    def dropped(self) -> int:
        """Frames dropped between stages, all sources."""
        return sum(s.dropped for s in self.sources)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``; NaN when empty."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")
