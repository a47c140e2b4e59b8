"""Assembles source → preprocess → inference → postprocess → sinks as threads (design.md §3).

Lifecycle: ``start()``; then either the source ends (files) or ``stop()`` is called (signals,
``--duration``); ``join()`` waits for every thread and re-raises the first error.

``stop()`` is graceful: capture ends and the frames already captured are still processed and
written (within ``drain_s`` seconds; after that everything is aborted).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np

from pipeline.errors import InfantStreamError, SourceError, StageError
from pipeline.frames import Frame, Inferred, Prepared, Result
from pipeline.queues import Policy, StageQueue
from pipeline.sinks.base import Sink
from pipeline.sources.base import Source, default_policy
from pipeline.stage import BatchStage, RunContext, Stage, StageStats

log = logging.getLogger(__name__)

CAPACITY: Final[dict[Policy, int]] = {"latest": 1, "lossless": 4}
"""Default queue length between stages, per policy."""
JOIN_GRACE_S: Final = 1.0
"""How long join() waits for a capture thread stuck in a network call after an abort."""


class BatchInfer(Protocol):
    """An inference function that also takes batches (e.g. :class:`pipeline.inference.BatchInferenceStage`)."""

    def __call__(self, item: Prepared) -> Inferred: ...

    def batch(self, items: Sequence[Prepared]) -> Sequence[Inferred]: ...


@dataclass(frozen=True)
class StageCount:
    """A stage's counters at one instant (see :class:`pipeline.stage.StageStats`)."""

    name: str
    processed: int
    busy_s: float
    queue_len: int
    dropped: int


@dataclass(frozen=True)
class PipelineCounters:
    """A snapshot of the whole pipeline, taken by :meth:`Pipeline.counters`.

    Attributes:
        at: ``time.monotonic()`` of the snapshot.
        state: the source's state, or ``stopped`` / ``error`` once the pipeline has ended.
        stages: capture, preprocess, inference, postprocess, then one per sink.
        dropped: frames dropped between stages (not counting sink queues).
        latency_ms: recent capture → postprocess-done latencies.
    """

    source_id: str
    at: float
    state: str
    stages: tuple[StageCount, ...]
    dropped: int
    latency_ms: tuple[float, ...]


class _Capture(threading.Thread):
    """Reads the source into the first queue; a source error ends capture but lets frames drain."""

    def __init__(self, source: Source, outbox: StageQueue[Frame], ctx: RunContext, max_frames: int | None):
        super().__init__(name="capture", daemon=True)
        self.source = source
        self.outbox = outbox
        self.ctx = ctx
        self.max_frames = max_frames
        self.stats = StageStats()

    def run(self) -> None:
        try:
            t0 = time.perf_counter()
            for frame in self.source.frames(self.ctx.capture_stop):
                self.stats.add(time.perf_counter() - t0)
                if not self.outbox.put(frame, self.ctx.abort):
                    break
                if self.max_frames is not None and self.stats.processed >= self.max_frames:
                    break
                t0 = time.perf_counter()
        except SourceError as exc:
            self.ctx.source_failed(self.name, exc)
        except BaseException as exc:  # noqa: BLE001 - recorded and re-raised by Pipeline.join()
            self.ctx.fail(self.name, exc)
        finally:
            self.outbox.close()


class Pipeline:
    """One source, one model, any number of sinks.

    Args:
        source: where frames come from.
        preprocess, infer, postprocess: the stage functions.
        sinks: result consumers, each on its own thread and queue.
        policy: queue policy between stages; None = by source kind (latest for live, lossless for files).
        capacity: queue length between stages; None = by policy.
        max_frames: stop capture after this many frames.
        drain_s: after ``stop()``, how long queued frames may take to finish before abort.
        max_batch: frames inferred together; 1 = one at a time. Above 1, ``infer`` must have a
            ``batch`` method (:class:`BatchInfer`) and the inference thread is a
            :class:`~pipeline.stage.BatchStage` (still named ``inference``) that takes what is queued,
            up to ``max_batch``, waiting at most ``batch_wait_s`` after the first frame. The inferred
            queue is made at least ``max_batch`` long (a batch's results never drop each other) and,
            in ``lossless`` mode, the prepared queue too (so batches can form). In ``latest`` mode the
            prepared queue keeps its capacity (1 by default): a single live source rarely forms
            batches (at most what arrives within ``batch_wait_s``), which keeps its latency bounded;
            batching pays off with several sources or files.
        batch_wait_s: longest wait, seconds, for a batch to fill once its first frame is there.
    """

    def __init__(
        self,
        source: Source,
        preprocess: Callable[[Frame], Prepared],
        infer: Callable[[Prepared], Inferred],
        postprocess: Callable[[Inferred], Result],
        sinks: Sequence[Sink] = (),
        policy: Policy | None = None,
        capacity: int | None = None,
        max_frames: int | None = None,
        drain_s: float = 5.0,
        max_batch: int = 1,
        batch_wait_s: float = 0.002,
    ) -> None:
        if max_batch < 1 or batch_wait_s < 0:
            raise ValueError(
                f"pipeline: need max_batch >= 1, batch_wait_s >= 0; got {max_batch}, {batch_wait_s}"
            )
        batch_fn = getattr(infer, "batch", None)
        if max_batch > 1 and not callable(batch_fn):
            raise TypeError(
                f"pipeline: max_batch {max_batch} needs an infer with a batch() method (BatchInfer)"
            )
        self.source = source
        self.policy: Policy = policy or default_policy(source)
        cap = capacity or CAPACITY[self.policy]
        self.max_batch = max_batch
        prepared_cap = max(cap, max_batch) if self.policy == "lossless" else cap
        self.ctx = RunContext()
        self.drain_s = drain_s
        self._stop_at: float | None = None
        self._latency: deque[float] = deque(maxlen=512)
        self.q_frames: StageQueue[Frame] = StageQueue("frames", cap, self.policy)
        self.q_prepared: StageQueue[Prepared] = StageQueue("prepared", prepared_cap, self.policy)
        self.q_inferred: StageQueue[Inferred] = StageQueue("inferred", max(cap, max_batch), self.policy)
        sink_queues: list[StageQueue[Result]] = [StageQueue(s.name, s.capacity, s.policy) for s in sinks]

        def post(item: Inferred) -> Result:
            result = postprocess(item)
            self._latency.append((result.publish_mono - result.meta.capture_mono) * 1000.0)
            return result

        c = self.ctx
        self.capture = _Capture(source, self.q_frames, c, max_frames)
        inference: Stage[Prepared, Inferred]
        if max_batch > 1:

            def infer_batch(items: list[Prepared]) -> Sequence[Inferred]:
                return batch_fn(items)  # type: ignore[misc]

            inference = BatchStage(
                "inference", infer_batch, self.q_prepared, [self.q_inferred], c, max_batch, batch_wait_s
            )
        else:
            inference = Stage("inference", infer, self.q_prepared, [self.q_inferred], c)
        self.stages: list[Stage[Any, Any]] = [
            Stage("preprocess", preprocess, self.q_frames, [self.q_prepared], c),
            inference,
            Stage("postprocess", post, self.q_inferred, sink_queues, c),
        ]
        for sink, q in zip(sinks, sink_queues, strict=True):
            self.stages.append(Stage(f"sink:{sink.name}", sink.write, q, [], c, on_close=sink.close))
        self._started = False

    @property
    def threads(self) -> list[threading.Thread]:
        return [self.capture, *self.stages]

    def start(self) -> Pipeline:
        """Start every thread (sinks first, source last)."""
        for t in reversed(self.threads):
            t.start()
        self._started = True
        return self

    def stop(self) -> None:
        """Ask for a graceful end: capture stops, queued frames drain (at most ``drain_s``)."""
        if self._stop_at is None:
            self._stop_at = time.monotonic()
        self.ctx.capture_stop.set()

    def abort(self) -> None:
        """Stop every thread now; queued frames are discarded."""
        self.ctx.capture_stop.set()
        self.ctx.abort.set()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the pipeline to end by itself; True if it has."""
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not self.running

    def join(self) -> None:
        """Wait for every thread to end, then re-raise the first error (wrapped if unexpected).

        Enforces the drain deadline after ``stop()``; a capture thread stuck in a network call
        is left behind (it is a daemon) after :data:`JOIN_GRACE_S`.
        """
        aborted_at: float | None = None
        for t in self.stages:
            while t.is_alive():
                t.join(0.05)
                now = time.monotonic()
                if self._stop_at is not None and now - self._stop_at > self.drain_s and aborted_at is None:
                    log.warning("pipeline: drain took longer than %.1f s; aborting", self.drain_s)
                    self.ctx.abort.set()
                    aborted_at = now
        self.ctx.capture_stop.set()
        self.capture.join(JOIN_GRACE_S if self.ctx.abort.is_set() else None)
        errors = self.ctx.errors
        if errors:
            where, exc = errors[0]
            if isinstance(exc, InfantStreamError):
                raise exc
            raise StageError(f"{where} failed: {type(exc).__name__}: {exc}") from exc

    def counters(self) -> PipelineCounters:
        """A consistent-enough snapshot of every counter (for status lines and benchmarks)."""
        queues: list[StageQueue[Any]] = [self.q_frames, self.q_prepared, self.q_inferred]
        rows = [StageCount("capture", self.capture.stats.processed, self.capture.stats.busy_s, 0, 0)]
        for st in self.stages:
            q = st.inbox
            rows.append(StageCount(st.name, st.stats.processed, st.stats.busy_s, len(q), q.dropped))
        if self.ctx.errors:
            state = "error"
        elif self._started and not self.running:
            state = "stopped"
        else:
            state = self.source.state
        return PipelineCounters(
            source_id=self.source.source_id,
            at=time.monotonic(),
            state=state,
            stages=tuple(rows),
            dropped=sum(q.dropped for q in queues),
            latency_ms=tuple(self._latency),
        )


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``; NaN when empty."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")
