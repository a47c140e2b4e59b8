"""One pipeline stage = one thread running one function between bounded queues.

Error handling (docs/architecture.md): each thread catches everything at its top, records it in the
shared :class:`RunContext` and stops the pipeline; ``Pipeline.join()`` re-raises the first
error. A *source* error (damaged file, lost camera) is different: frames already captured
are still processed and written before the error is reported, so no produced data is lost.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from pipeline.runtime.batching import collect_batch
from pipeline.runtime.queues import END, Inbox, Outbox

In = TypeVar("In")
Out = TypeVar("Out")


class RunContext:
    """Events and errors shared by every thread of one pipeline.

    Attributes:
        capture_stop: set to end capture; the stages then drain what is queued and finish.
        abort: set to stop every thread now (errors, or a drain that takes too long).
    """

    def __init__(self) -> None:
        self.capture_stop = threading.Event()
        self.abort = threading.Event()
        self._errors: list[tuple[str, BaseException]] = []
        self._lock = threading.Lock()

    def fail(self, where: str, exc: BaseException) -> None:
        """A stage failed: record the error and stop everything."""
        with self._lock:
            self._errors.append((where, exc))
        self.capture_stop.set()
        self.abort.set()

    def source_failed(self, where: str, exc: BaseException) -> None:
        """A source failed: record the error; its frames already captured drain, and the other
        sources carry on (the pipeline ends when every source has ended)."""
        with self._lock:
            self._errors.append((where, exc))

    @property
    def errors(self) -> list[tuple[str, BaseException]]:
        """(thread name, exception) in the order they happened."""
        with self._lock:
            return list(self._errors)


class StageStats:
    """Counters one thread writes and the monitor reads (plain numbers; torn reads are harmless).

    Attributes:
        processed: items handled so far.
        busy_s: seconds spent in the stage function.
        recent_ms: last durations in milliseconds (bounded); per item (a batch's time / its size).
        batches: calls of the stage function (= ``processed`` for a one-item stage).
        recent_batch: sizes of the last batches (bounded; empty for a one-item stage).
    """

    def __init__(self) -> None:
        self.processed = 0
        self.busy_s = 0.0
        self.recent_ms: deque[float] = deque(maxlen=256)
        self.batches = 0
        self.recent_batch: deque[int] = deque(maxlen=256)

    def add(self, seconds: float) -> None:
        self.processed += 1
        self.batches += 1
        self.busy_s += seconds
        self.recent_ms.append(seconds * 1000.0)

    def add_batch(self, seconds: float, size: int) -> None:
        """One call of a batch stage function on ``size`` >= 1 items taking ``seconds``."""
        self.processed += size
        self.batches += 1
        self.busy_s += seconds
        self.recent_ms.append(seconds * 1000.0 / size)
        self.recent_batch.append(size)


class Stage(threading.Thread, Generic[In, Out]):
    """Runs ``work(item)`` for every item of ``inbox`` and sends each non-None result to every outbox.

    When the inbox ends (:data:`END`), the outboxes are closed so the next stage ends too.
    ``on_close`` runs last, whatever happened (sinks close their files there).
    """

    def __init__(
        self,
        name: str,
        work: Callable[[In], Out | None],
        inbox: Inbox[In],
        outboxes: Sequence[Outbox[Out]],
        ctx: RunContext,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.work = work
        self.inbox = inbox
        self.outboxes = tuple(outboxes)
        self.ctx = ctx
        self.on_close = on_close
        self.stats = StageStats()

    def run(self) -> None:
        try:
            self.loop()
        except BaseException as exc:  # noqa: BLE001 - recorded and re-raised by Pipeline.join()
            self.ctx.fail(self.name, exc)
        finally:
            for box in self.outboxes:
                box.close()
            if self.on_close is not None:
                try:
                    self.on_close()
                except BaseException as exc:  # noqa: BLE001
                    self.ctx.fail(self.name, exc)

    def loop(self) -> None:
        """Handle items until the inbox ends or the pipeline aborts (errors propagate to :meth:`run`)."""
        while not self.ctx.abort.is_set():
            item = self.inbox.get()
            if item is None:
                continue
            if item is END:
                break
            t0 = time.perf_counter()
            out = self.work(item)  # type: ignore[arg-type]
            self.stats.add(time.perf_counter() - t0)
            if out is not None:
                for box in self.outboxes:
                    box.put(out, self.ctx.abort)


def _unbatched(item: object) -> None:
    raise TypeError("a BatchStage calls its batch function, never a one-item work function")


class BatchStage(Stage[In, Out]):
    """Like :class:`Stage`, but ``work`` takes a list of up to ``max_batch`` items (formed by
    :func:`pipeline.batching.collect_batch`) and returns their results, which are sent to every
    outbox one by one, in order. Counters count items; ``stats.recent_batch`` holds batch sizes.
    """

    def __init__(
        self,
        name: str,
        work: Callable[[list[In]], Sequence[Out]],
        inbox: Inbox[In],
        outboxes: Sequence[Outbox[Out]],
        ctx: RunContext,
        max_batch: int,
        max_wait_s: float,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name, _unbatched, inbox, outboxes, ctx, on_close)
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError(
                f"{name}: need max_batch >= 1 and max_wait_s >= 0, got {max_batch}, {max_wait_s}"
            )
        self.batch_work = work
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s

    def loop(self) -> None:
        while not self.ctx.abort.is_set():
            batch = collect_batch(self.inbox, self.max_batch, self.max_wait_s, self.ctx.abort)
            if batch is None:
                continue
            if batch is END:
                break
            assert isinstance(batch, list)
            t0 = time.perf_counter()
            outs = self.batch_work(batch)
            self.stats.add_batch(time.perf_counter() - t0, len(batch))
            for out in outs:
                for box in self.outboxes:
                    box.put(out, self.ctx.abort)
