"""One pipeline stage = one thread running one function between bounded queues.

:class:`StageThread` is the thread (error handling, closing the outboxes, ``on_close``); its two
kinds are :class:`Stage` (the function takes one item) and :class:`BatchStage` (it takes a list of
the items queued, formed by :func:`pipeline.runtime.batching.collect_batch`).

Error handling (docs/architecture.md): each thread catches everything at its top, records it in the
shared :class:`RunContext` and stops the pipeline; ``Pipeline.join()`` re-raises the first
error. A *source* error (damaged file, lost camera) is different: frames already captured
are still processed and written before the error is reported, so no produced data is lost.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from pipeline.runtime.batching import collect_batch
from pipeline.runtime.outage import Outage, call_while_unavailable
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
        batches: calls of the stage function (= ``processed`` for an item stage; for a batch
            stage ``processed / batches`` is the mean batch size, :attr:`mean_batch`).
    """

    def __init__(self) -> None:
        self.processed = 0
        self.busy_s = 0.0
        self.batches = 0

    def add(self, seconds: float, items: int = 1) -> None:
        """One call of the stage function on ``items`` >= 1 items taking ``seconds``."""
        self.processed += items
        self.batches += 1
        self.busy_s += seconds

    @property
    def mean_batch(self) -> float:
        """Mean items per call so far (0.0 before the first call)."""
        return self.processed / self.batches if self.batches else 0.0


class StageThread(threading.Thread, Generic[In, Out], ABC):
    """One stage's thread: takes from ``inbox``, sends each result to every outbox.

    :meth:`run` owns the error handling: whatever :meth:`loop` raises is recorded in ``ctx`` (which
    stops the pipeline). When the loop ends, for whatever reason, the outboxes are closed so the
    next stage ends too, and ``on_close`` runs last (sinks close their files there).
    The two kinds: :class:`Stage` (one item per call) and :class:`BatchStage` (a list per call).
    """

    def __init__(
        self,
        name: str,
        inbox: Inbox[In],
        outboxes: Sequence[Outbox[Out]],
        ctx: RunContext,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
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

    @abstractmethod
    def loop(self) -> None:
        """Take and handle items until the inbox ends or the pipeline aborts; errors propagate to
        :meth:`run`."""


class Stage(StageThread[In, Out]):
    """Runs ``work(item)`` for every item of ``inbox`` and sends each non-None result to every outbox."""

    def __init__(
        self,
        name: str,
        work: Callable[[In], Out | None],
        inbox: Inbox[In],
        outboxes: Sequence[Outbox[Out]],
        ctx: RunContext,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name, inbox, outboxes, ctx, on_close)
        self.work = work

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


class BatchStage(StageThread[In, Out]):
    """Runs ``work(batch)`` on lists of up to ``max_batch`` items (formed by
    :func:`pipeline.runtime.batching.collect_batch`: what is queued, waiting at most ``max_wait_s``
    after the first item) and sends the results, one per item in order, to every outbox.

    ``max_batch`` 1 is a batch of one item per call, without waiting. ``stats`` count items;
    ``stats.batches`` counts calls (``stats.mean_batch`` is the mean batch size).

    A call that raises :class:`~pipeline.errors.ServiceUnavailable` (the model's server is down) is
    retried with the same batch until it succeeds (:mod:`pipeline.runtime.outage`; ``outage`` says
    whether the service is down now), or fails the run after ``give_up_s`` (> 0) seconds.
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
        give_up_s: float = 0.0,
    ) -> None:
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError(
                f"{name}: need max_batch >= 1 and max_wait_s >= 0, got {max_batch}, {max_wait_s}"
            )
        super().__init__(name, inbox, outboxes, ctx, on_close)
        self.work = work
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.give_up_s = give_up_s
        self.outage = Outage()

    def call(self, batch: list[In]) -> tuple[Sequence[Out], float] | None:
        """``work(batch)`` and its seconds, retried while its service is unavailable; None on abort."""
        return call_while_unavailable(
            self.name, lambda: self.work(batch), self.outage, self.ctx.abort, self.give_up_s
        )

    def loop(self) -> None:
        while not self.ctx.abort.is_set():
            batch = collect_batch(self.inbox, self.max_batch, self.max_wait_s, self.ctx.abort)
            if batch is None:
                continue
            if batch is END:
                break
            assert isinstance(batch, list)
            done = self.call(batch)
            if done is None:
                break
            outs, seconds = done
            self.stats.add(seconds, len(batch))
            for out in outs:
                for box in self.outboxes:
                    box.put(out, self.ctx.abort)
