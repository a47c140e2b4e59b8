"""Assembles sources → preprocess → inference → [pose] → postprocess → sinks as threads (docs/architecture.md).

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from pipeline.config import Policy
from pipeline.errors import InfantStreamError, SourceError, StageError
from pipeline.frames import Frame, Inferred, Prepared, Result
from pipeline.lifecycle import State
from pipeline.runtime.counters import PipelineCounters, SourceCounters, StageCount, percentile
from pipeline.runtime.lanes import LaneQueue, Router
from pipeline.runtime.pool import PoolStage
from pipeline.runtime.queues import StageQueue
from pipeline.runtime.sink import GuardedSink, OutputFailures, Sink, Tap
from pipeline.runtime.stage import BatchStage, RunContext, Stage, StageStats, StageThread
from pipeline.sources.base import Source, queue_policy

log = logging.getLogger(__name__)

CAPACITY: Final[dict[Policy, int]] = {"latest": 1, "lossless": 4}
"""Default queue length between stages, per policy."""
JOIN_GRACE_S: Final = 1.0
"""How long join() waits for a capture thread stuck in a network call after an abort."""


class BatchInfer(Protocol):
    """Inference on a batch (:class:`pipeline.infer.inference.InferenceStage`): one
    :class:`Inferred` per item, in order. The pipeline calls it with 1..``max_batch`` items."""

    def batch(self, items: Sequence[Prepared]) -> list[Inferred]: ...


class BatchPose(Protocol):
    """The pose step on a batch of inferred frames (:class:`pipeline.pose.stage.PoseStage`): one
    :class:`Inferred` per item, in order, with its ``pose`` (and ``maps``) filled in."""

    def batch(self, items: Sequence[Inferred]) -> list[Inferred]: ...


class _Capture(threading.Thread):
    """Reads one source into its first queue; a source error ends this source only (its frames
    already captured still drain; other sources carry on)."""

    def __init__(
        self,
        name: str,
        source: Source,
        outbox: StageQueue[Frame],
        ctx: RunContext,
        max_frames: int | None,
        others_go_on: bool = False,
    ):
        """``others_go_on``: several sources, so a failure is logged when it happens (it is
        raised by ``Pipeline.join()`` at the end either way)."""
        super().__init__(name=name, daemon=True)
        self.source = source
        self.outbox = outbox
        self.ctx = ctx
        self.max_frames = max_frames
        self.others_go_on = others_go_on
        self.stats = StageStats()
        self.error: BaseException | None = None

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
            self.error = exc
            self.ctx.source_failed(self.name, exc)
            if self.others_go_on:
                log.warning("%s: %s; the other sources go on", self.source.source_id, exc)
        except BaseException as exc:  # noqa: BLE001 - recorded and re-raised by Pipeline.join()
            self.error = exc
            self.ctx.fail(self.name, exc)
        finally:
            self.outbox.close()


@dataclass
class _Chain:
    """One source's own part of the pipeline: capture thread, frame queue, preprocess thread."""

    source: Source
    frames: StageQueue[Frame]
    capture: _Capture
    preprocess: Stage[Frame, Prepared]


def _batch_stage(
    name: str,
    work: Callable[[list[Any]], Sequence[Any]],
    inbox: LaneQueue[Any],
    route: Router[Any],
    ctx: RunContext,
    max_batch: int,
    max_wait_s: float,
    workers: int,
    give_up_s: float,
) -> BatchStage[Any, Any]:
    """One thread (:class:`BatchStage`), or a :class:`PoolStage` of ``workers`` threads."""
    if workers > 1:
        return PoolStage(name, work, inbox, [route], ctx, max_batch, max_wait_s, workers, give_up_s=give_up_s)
    return BatchStage(name, work, inbox, [route], ctx, max_batch, max_wait_s, give_up_s=give_up_s)


def _policies(sources: Sequence[Source], policy: Policy | Mapping[str, Policy] | None) -> list[Policy]:
    if policy is None:
        return [queue_policy(s) for s in sources]
    if isinstance(policy, str):
        return [policy for _ in sources]
    return [policy.get(s.source_id) or queue_policy(s) for s in sources]


class Pipeline:
    """One or more sources, one model, any number of sinks.

    Each source has its own capture and preprocess threads and its own queues (with its own
    policy); inference and postprocess are shared and take the sources' frames in turn from
    per-source lanes (:class:`~pipeline.runtime.lanes.LaneQueue`), so batches form across sources and a
    source that stalls, fails or never connects neither stops nor slows the others. Results of
    every source go to every sink (records carry their ``source``).

    Args:
        sources: where frames come from (one source, or several with distinct ``source_id``).
        preprocess, postprocess: the stage functions (``preprocess`` is called from each
            source's thread, so it must not keep state; ``postprocess`` runs on one thread).
        infer: inference on batches (:class:`BatchInfer`), run by the ``inference`` thread, a
            :class:`~pipeline.runtime.stage.BatchStage` (:attr:`inference`).
        pose: the two-stage pose step (:class:`BatchPose`), or None. When given it runs on its own
            shared thread, ``pose`` (a :class:`~pipeline.runtime.stage.BatchStage`), between inference
            and postprocess, reading per-source lanes (``segmented``, sized like the inferred lanes)
            round robin and taking what is queued, up to ``max_batch``, without waiting.
        sinks: result consumers, each on its own thread and queue; a critical sink's failure stops
            the run, a best-effort sink's failure stops only that sink (:mod:`pipeline.runtime.sink`).
        taps: outputs with their own thread and queue (the ZeroMQ publisher), handed every result
            on the postprocess thread; best-effort.
        failures: where best-effort failures are recorded (shared with outputs outside the
            pipeline, such as the publisher's frame encoder); a new one by default.
        policy: queue policy between stages, for every source or per source id; None = by source
            kind (latest for live, lossless for files).
        capacity: queue length between stages; None = by policy.
        max_frames: stop each source's capture after this many frames.
        drain_s: after ``stop()``, how long queued frames may take to finish before abort.
        max_batch: most frames inferred together; 1 = one at a time (batches of one, no wait).
            Above 1 the inference thread takes what is queued across the sources, up to
            ``max_batch``, waiting at most ``batch_wait_s`` after the first frame. The inferred
            lanes are made at least ``max_batch`` long (a batch's results never drop each other)
            and, for ``lossless`` sources, the prepared lanes too (so batches can form from one
            file). A ``latest`` lane keeps its capacity (1 by default): a single live source rarely
            forms batches, which keeps its latency bounded; with several live sources a batch
            holds up to one frame of each.
        batch_wait_s: longest wait, seconds, for a batch to fill once its first frame is there.
        infer_workers, pose_workers: threads of the inference and pose stages; above 1 the stage is a
            :class:`~pipeline.runtime.pool.PoolStage` (batches in flight together, results in the order
            taken; ``infer`` / ``pose`` must then be callable from several threads at once).
        unavailable_give_up_s: when the model's service is down (``infer`` or ``pose`` raise
            :class:`~pipeline.errors.ServiceUnavailable`), how long they retry before the run fails;
            0 = until it is back (:mod:`pipeline.runtime.outage`). Meanwhile every source that has
            not ended reports ``backend_unavailable``.

    Attributes:
        inference: the inference thread; ``inference.stats.mean_batch`` is the mean batch size.
    """

    def __init__(
        self,
        sources: Source | Sequence[Source],
        preprocess: Callable[[Frame], Prepared],
        infer: BatchInfer,
        postprocess: Callable[[Inferred], Result],
        sinks: Sequence[Sink] = (),
        taps: Sequence[Tap] = (),
        failures: OutputFailures | None = None,
        policy: Policy | Mapping[str, Policy] | None = None,
        capacity: int | None = None,
        max_frames: int | None = None,
        drain_s: float = 5.0,
        max_batch: int = 1,
        batch_wait_s: float = 0.002,
        pose: BatchPose | None = None,
        infer_workers: int = 1,
        pose_workers: int = 1,
        unavailable_give_up_s: float = 0.0,
    ) -> None:
        if max_batch < 1 or batch_wait_s < 0 or infer_workers < 1 or pose_workers < 1:
            raise ValueError(
                "pipeline: need max_batch >= 1, batch_wait_s >= 0 and workers >= 1; got "
                f"{max_batch}, {batch_wait_s}, {infer_workers}, {pose_workers}"
            )
        srcs: list[Source] = list(sources) if isinstance(sources, Sequence) else [sources]
        ids = [s.source_id for s in srcs]
        if not srcs or len(set(ids)) != len(ids):
            raise ValueError(f"pipeline: need one or more sources with distinct ids, got {ids}")
        policies = _policies(srcs, policy)
        self.policy: Policy = policies[0]
        self.max_batch = max_batch
        self.ctx = RunContext()
        self.drain_s = drain_s
        self._stop_at: float | None = None
        self._latency: dict[str, deque[float]] = {i: deque(maxlen=512) for i in ids}
        self._done: dict[str, int] = dict.fromkeys(ids, 0)
        self._last_result: dict[str, float | None] = dict.fromkeys(ids)

        def cap(p: Policy) -> int:
            return capacity or CAPACITY[p]

        self.q_prepared: LaneQueue[Prepared] = LaneQueue(
            "prepared",
            {
                i: (max(cap(p), max_batch) if p == "lossless" else cap(p), p)
                for i, p in zip(ids, policies, strict=True)
            },
        )
        inferred_lanes = {i: (max(cap(p), max_batch), p) for i, p in zip(ids, policies, strict=True)}
        self.q_inferred: LaneQueue[Inferred] = LaneQueue("inferred", inferred_lanes)
        self.q_segmented: LaneQueue[Inferred] | None = (
            LaneQueue("segmented", inferred_lanes) if pose is not None else None
        )
        self.failures = failures or OutputFailures()
        sink_queues: list[StageQueue[Result]] = [StageQueue(s.name, s.capacity, s.policy) for s in sinks]
        tapped = [GuardedSink(t, self.failures) for t in taps]

        def post(item: Inferred) -> Result:
            result = postprocess(item)
            sid = result.meta.source_id
            self._latency[sid].append((result.publish_mono - result.meta.capture_mono) * 1000.0)
            self._done[sid] += 1
            self._last_result[sid] = result.publish_mono
            for tap in tapped:
                tap.write(result)
            return result

        c = self.ctx
        one = len(srcs) == 1
        self.chains: list[_Chain] = []
        for src, p in zip(srcs, policies, strict=True):
            suffix = "" if one else f":{src.source_id}"
            frames: StageQueue[Frame] = StageQueue(f"frames{suffix}", cap(p), p)
            capture = _Capture(f"capture{suffix}", src, frames, c, max_frames, others_go_on=not one)
            pre = Stage(f"preprocess{suffix}", preprocess, frames, [self.q_prepared.lane(src.source_id)], c)
            self.chains.append(_Chain(src, frames, capture, pre))

        def source_of(item: Inferred) -> str:
            return item.frame.meta.source_id

        route: Router[Inferred] = Router(self.q_inferred, source_of)
        self.pose: BatchStage[Inferred, Inferred] | None = None
        if pose is not None and self.q_segmented is not None:
            self.pose = _batch_stage(
                "pose",
                pose.batch,
                self.q_segmented,
                route,
                c,
                max_batch,
                0.0,
                pose_workers,
                unavailable_give_up_s,
            )
            route = Router(self.q_segmented, source_of)
        self.inference: BatchStage[Prepared, Inferred] = _batch_stage(
            "inference",
            infer.batch,
            self.q_prepared,
            route,
            c,
            max_batch,
            batch_wait_s,
            infer_workers,
            unavailable_give_up_s,
        )
        self.stages: list[StageThread[Any, Any]] = [
            *(ch.preprocess for ch in self.chains),
            self.inference,
            *([self.pose] if self.pose is not None else []),
            Stage("postprocess", post, self.q_inferred, sink_queues, c),
        ]
        for sink, q in zip(sinks, sink_queues, strict=True):
            guarded = GuardedSink(sink, self.failures)
            self.stages.append(Stage(f"sink:{sink.name}", guarded.write, q, [], c, on_close=guarded.close))
        self._started = False

    @property
    def sources(self) -> list[Source]:
        return [ch.source for ch in self.chains]

    @property
    def threads(self) -> list[threading.Thread]:
        return [*(ch.capture for ch in self.chains), *self.stages]

    def start(self) -> Pipeline:
        """Start every thread (sinks first, sources last)."""
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
        for ch in self.chains:
            ch.capture.join(JOIN_GRACE_S if self.ctx.abort.is_set() else None)
        errors = self.ctx.errors
        if errors:
            where, exc = errors[0]
            if isinstance(exc, InfantStreamError):
                raise exc
            raise StageError(f"{where} failed: {type(exc).__name__}: {exc}") from exc

    def _source_state(self, ch: _Chain, failed: bool) -> State:
        if ch.capture.error is not None or failed:
            return State.ERROR
        if self._started and not ch.capture.is_alive():
            return State.STOPPED
        if any(st.outage.active for st in self._model_stages):
            return State.BACKEND_UNAVAILABLE
        return ch.source.state

    @property
    def _model_stages(self) -> list[BatchStage[Any, Any]]:
        return [self.inference, *([self.pose] if self.pose is not None else [])]

    def counters(self) -> PipelineCounters:
        """A consistent-enough snapshot of every counter (for status lines, metrics, benchmarks)."""
        errors = self.ctx.errors
        stage_failed = any(not where.startswith("capture") for where, _ in errors)
        per_source = []
        for ch in self.chains:
            sid = ch.source.source_id
            prepared, inferred = self.q_prepared.lane(sid), self.q_inferred.lane(sid)
            segmented = self.q_segmented.lane(sid) if self.q_segmented is not None else None
            cap, pre = ch.capture.stats, ch.preprocess.stats
            # what inference has handed on (a lane is falsy when empty: test for None, not truth)
            infer_out = segmented if segmented is not None else inferred
            stages: tuple[StageCount, ...] = (
                StageCount("capture", cap.processed, cap.busy_s, 0, 0),
                StageCount("preprocess", pre.processed, pre.busy_s, len(ch.frames), ch.frames.dropped),
                StageCount("inference", infer_out.accepted, 0.0, len(prepared), prepared.dropped),
                StageCount("postprocess", self._done[sid], 0.0, len(inferred), inferred.dropped),
            )
            if segmented is not None:  # the pose stage's own inbox lane: its drops are this source's too
                stages += (StageCount("pose", inferred.accepted, 0.0, len(segmented), segmented.dropped),)
            per_source.append(
                SourceCounters(
                    source_id=sid,
                    description=ch.source.description,
                    state=self._source_state(ch, stage_failed),
                    reconnects=ch.source.reconnects,
                    stages=stages,
                    dropped=ch.frames.dropped
                    + prepared.dropped
                    + inferred.dropped
                    + (segmented.dropped if segmented is not None else 0),
                    latency_ms=tuple(self._latency[sid]),
                    last_result_at=self._last_result[sid],
                    timestamp_repairs=ch.source.timestamp_repairs,
                )
            )
        shared = [
            StageCount(st.name, st.stats.processed, st.stats.busy_s, len(st.inbox), st.inbox.dropped)
            for st in self.stages
            if not st.name.startswith("preprocess")
        ]
        if errors:
            state = State.ERROR
        elif self._started and not self.running:
            state = State.STOPPED
        else:
            state = State.RUNNING
        return PipelineCounters(
            at=time.monotonic(),
            state=state,
            sources=tuple(per_source),
            shared=tuple(shared),
            failed_outputs=self.failures.names,
            backend_outages=sum(st.outage.count for st in self._model_stages),
        )


__all__ = ["Pipeline", "PipelineCounters", "SourceCounters", "StageCount", "percentile"]
