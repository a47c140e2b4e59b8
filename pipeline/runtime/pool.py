"""A batch stage run by several worker threads at once, its results handed on in the order taken.

Why: on the CPU a small model runs much faster as several frames in flight, each with one ONNX Runtime
thread, than as one frame at a time with several (:mod:`pipeline.runtime.threads`). ONNX Runtime's
``InferenceSession.run`` may be called from several threads at once, and it releases the GIL while it
runs, so the workers share one session (one copy of the weights).

How order is kept: a worker takes a batch and a ticket together under one lock (tickets count up in
the order batches leave the inbox). After its work it leaves the results in a reorder buffer and goes
back for the next batch at once; whichever worker finds the next ticket's results there hands them on,
and every later ticket that is ready with them, one worker at a time (the others only deposit). So the
next stage sees exactly the order a single thread would produce, per source and across sources, and no
worker idles waiting for a slower one (a first version made the early worker wait for its turn: its
core idled: segmentation alone on the demo clip went from 129 to 156 frames/s when it stopped waiting,
docs/benchmarks.md).
At most ``2 × workers`` batches are in flight (taken, not yet handed on), which bounds the buffer and
the extra latency a slow batch can cause.

End and errors: every worker stops when the inbox ends (a closed, drained queue answers END to each of
them) or the run aborts; the stage thread (worker 0) joins the others before its outboxes close, so no
result is put after the close. An error in any worker is recorded in the run context, which aborts the
run (results not yet handed on are dropped: every wait checks ``abort``).
"""

from __future__ import annotations

import threading
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
        give_up_s: float = 0.0,
    ) -> None:
        if workers < 1:
            raise ValueError(f"{name}: need workers >= 1, got {workers}")
        super().__init__(name, work, inbox, outboxes, ctx, max_batch, max_wait_s, on_close, give_up_s)
        self.workers = workers
        self._take = threading.Lock()
        self._turn = threading.Condition()
        self._stats_lock = threading.Lock()
        self._next_ticket = 0
        self._handed_on = 0
        self._pending: dict[int, Sequence[Out]] = {}
        self._emitting = False
        self.max_ahead = 2 * workers

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
            self.ctx.abort.set()  # every wait of the helpers checks abort; run() records the error
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
                with self._turn:  # bounded reorder buffer: at most ``max_ahead`` batches in flight
                    while self._next_ticket - self._handed_on >= self.max_ahead and not abort.is_set():
                        self._turn.wait(POLL_S)
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
            done = self.call(batch)
            if done is None:
                break
            outs, busy = done
            with self._stats_lock:
                self.stats.add(busy, len(batch))
            self._hand_on(ticket, outs)

    def _hand_on(self, ticket: int, outs: Sequence[Out]) -> None:
        """Leave ``outs`` in the reorder buffer; unless another worker is already handing results on,
        hand on every result whose turn has come, in ticket order (outside the lock: a full outbox
        blocks only this worker)."""
        abort = self.ctx.abort
        with self._turn:
            self._pending[ticket] = outs
            if self._emitting:
                return  # the worker handing on will reach this ticket in its turn
            self._emitting = True
        while True:
            with self._turn:
                ready = self._pending.pop(self._handed_on, None)
                if ready is None or abort.is_set():
                    self._emitting = False
                    self._turn.notify_all()
                    return
            for out in ready:
                for box in self.outboxes:
                    box.put(out, abort)
            with self._turn:
                self._handed_on += 1
                self._turn.notify_all()
