"""A batch stage run by several worker threads at once, its results handed on in the order taken.

Why: on the CPU a small model runs much faster as several frames in flight, each with one ONNX Runtime
thread, than as one frame at a time with several (:mod:`pipeline.runtime.threads`). ONNX Runtime's
``InferenceSession.run`` may be called from several threads at once, and it releases the GIL while it
runs, so the workers share one session (one copy of the weights).

How order is kept: a worker takes a batch and a ticket together under one lock (tickets count up in
the order batches leave the inbox); after its work it waits until every earlier ticket has been handed
on, then puts its results and passes the turn. So the next stage sees exactly the order a single thread
would produce, per source and across sources. A worker that finishes early waits for the one before it;
that wait is part of the frame's capture→publish latency, not of the stage's busy time.

End and errors: every worker stops when the inbox ends (a closed, drained queue answers END to each of
them) or the run aborts; the stage thread (worker 0) joins the others before its outboxes close, so no
result is put after the close. An error in any worker is recorded in the run context, which aborts the
run (the tickets behind it are never waited for: every wait checks ``abort``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from pipeline.runtime.batching import collect_batch
from pipeline.runtime.queues import END, POLL_S, Inbox, Outbox
from pipeline.runtime.stage import BatchStage, RunContext

In = TypeVar("In")
Out = TypeVar("Out")


class PoolStage(BatchStage[In, Out]):
    """:class:`~pipeline.runtime.stage.BatchStage` with ``workers`` threads (this one and
    ``workers − 1`` more), results in take order. ``work`` must be safe to call from several threads.

    ``stats.busy_s`` sums the workers' time in ``work`` (core-seconds: it can exceed wall time).
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
        workers: int,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"{name}: need workers >= 1, got {workers}")
        super().__init__(name, work, inbox, outboxes, ctx, max_batch, max_wait_s, on_close)
        self.workers = workers
        self._take = threading.Lock()
        self._turn = threading.Condition()
        self._stats_lock = threading.Lock()
        self._next_ticket = 0
        self._handed_on = 0

    def loop(self) -> None:
        helpers = [
            threading.Thread(target=self._guarded, name=f"{self.name}:{i}", daemon=True)
            for i in range(1, self.workers)
        ]
        for t in helpers:
            t.start()
        try:
            self._work_loop()
        except BaseException:
            self.ctx.abort.set()  # the helpers stop waiting for this worker's turn; run() records the error
            raise
        finally:
            for t in helpers:
                t.join()

    def _guarded(self) -> None:
        try:
            self._work_loop()
        except BaseException as exc:  # noqa: BLE001 - recorded; Pipeline.join() re-raises it
            self.ctx.fail(self.name, exc)

    def _work_loop(self) -> None:
        abort = self.ctx.abort
        while not abort.is_set():
            with self._take:
                batch = collect_batch(self.inbox, self.max_batch, self.max_wait_s, abort)
                if batch is None or batch is END:
                    ticket = -1
                else:
                    ticket = self._next_ticket
                    self._next_ticket += 1
            if batch is END:
                break
            if batch is None:
                continue
            assert isinstance(batch, list)
            t0 = time.perf_counter()
            outs = self.work(batch)
            busy = time.perf_counter() - t0
            with self._stats_lock:
                self.stats.add(busy, len(batch))
            with self._turn:
                while self._handed_on != ticket:
                    if abort.is_set():
                        return
                    self._turn.wait(POLL_S)
                for out in outs:
                    for box in self.outboxes:
                        box.put(out, abort)
                self._handed_on += 1
                self._turn.notify_all()
