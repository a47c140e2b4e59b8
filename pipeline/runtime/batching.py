"""Forming inference batches from a stage queue (docs/architecture.md; GPU issue part 4).

:func:`collect_batch` waits for a first item, then takes whatever else is queued, waiting at most
``max_wait_s`` after the first item for the batch to fill. A batch therefore never delays its first
frame by more than ``max_wait_s`` (plus one queue poll when the queue is idle), and under load the
batch size grows by itself to ``max_batch``.

End of stream: when the queue ends while a batch is forming, the partial batch is returned first;
the closed, empty queue then answers :data:`~pipeline.runtime.queues.END` on the next call.
"""

from __future__ import annotations

import threading
import time
from typing import TypeVar

from pipeline.runtime.queues import END, POLL_S, Inbox, _End

T = TypeVar("T")


def collect_batch(
    inbox: Inbox[T], max_batch: int, max_wait_s: float, abort: threading.Event
) -> list[T] | _End | None:
    """Up to ``max_batch`` items of ``inbox``, in queue order.

    Args:
        inbox: the queue to read (one consumer: the caller).
        max_batch: largest batch, >= 1.
        max_wait_s: longest wait (seconds, >= 0) for more items once the first is there; items
            already queued are always taken (up to ``max_batch``) even when it is 0.
        abort: checked every :data:`~pipeline.runtime.queues.POLL_S` while waiting for the first item.
    Returns:
        a non-empty list; :data:`END` when the queue is closed and drained; None when ``abort``
        was set before any item arrived.
    """
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    while True:
        if abort.is_set():
            return None
        first = inbox.get(POLL_S)
        if first is END:
            return END
        if first is not None:
            break
    batch: list[T] = [first]  # type: ignore[list-item]
    deadline = time.monotonic() + max(0.0, max_wait_s)
    while len(batch) < max_batch and not abort.is_set():
        remaining = deadline - time.monotonic()
        item = inbox.get(min(remaining, POLL_S) if remaining > 0 else 0.0)
        if item is END:
            break  # the queue is closed and empty: END comes on the next call
        if item is None:
            if remaining <= 0:
                break
            continue
        batch.append(item)  # type: ignore[arg-type]
    return batch
