"""One pipeline stage = one thread running one function between bounded queues.

Error handling (design.md §3): each thread catches everything at its top, records it in the
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

from pipeline.queues import END, StageQueue

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
        """The source failed: record the error, stop capture, let queued frames drain."""
        with self._lock:
            self._errors.append((where, exc))
        self.capture_stop.set()

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
        recent_ms: last durations in milliseconds (bounded).
    """

    def __init__(self) -> None:
        self.processed = 0
        self.busy_s = 0.0
        self.recent_ms: deque[float] = deque(maxlen=256)

    def add(self, seconds: float) -> None:
        self.processed += 1
        self.busy_s += seconds
        self.recent_ms.append(seconds * 1000.0)


class Stage(threading.Thread, Generic[In, Out]):
    """Runs ``work(item)`` for every item of ``inbox`` and sends each non-None result to every outbox.

    When the inbox ends (:data:`END`), the outboxes are closed so the next stage ends too.
    ``on_close`` runs last, whatever happened (sinks close their files there).
    """

    def __init__(
        self,
        name: str,
        work: Callable[[In], Out | None],
        inbox: StageQueue[In],
        outboxes: Sequence[StageQueue[Out]],
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
