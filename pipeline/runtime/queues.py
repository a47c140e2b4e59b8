"""Bounded queues between pipeline threads, with the two drop policies of :data:`pipeline.config.Policy`.

``latest``   when full, the oldest item is dropped (and counted); the producer never waits,
             so latency stays bounded on live sources.
``lossless`` when full, the producer waits (in short slices, watching the abort event); every
             item is delivered, for files.

A queue is closed by its producer with :meth:`StageQueue.close`; the consumer then gets
:data:`END` after the last item. ``END`` is never dropped.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Final, Generic, Protocol, TypeVar

from pipeline.config import Policy

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)

POLL_S: Final = 0.05
"""Longest a blocked put/get waits before looking at the abort event again (seconds)."""


class _End:
    def __repr__(self) -> str:
        return "END"


END: Final = _End()
"""Returned by :meth:`StageQueue.get` once the queue is closed and empty."""


class StageQueue(Generic[T]):
    """A bounded FIFO between two threads. Thread-safe; one producer, one consumer.

    Args:
        cond: a condition shared with other queues (the lanes of a
            :class:`~pipeline.runtime.lanes.LaneQueue`, so one consumer can wait on all of them).
    """

    def __init__(
        self,
        name: str,
        capacity: int,
        policy: Policy,
        cond: threading.Condition | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"queue {name}: capacity must be >= 1, got {capacity}")
        self.name = name
        self.capacity = capacity
        self.policy: Policy = policy
        self._items: deque[T] = deque()
        self._closed = False
        self._dropped = 0
        self.accepted = 0
        """Items put so far (dropped ones included)."""
        self._cond = cond or threading.Condition()

    @property
    def closed(self) -> bool:
        """The producer has closed the queue (items may still be queued)."""
        return self._closed

    @property
    def dropped(self) -> int:
        """Items dropped so far (``latest`` policy only)."""
        return self._dropped

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T, abort: threading.Event) -> bool:
        """Add ``item``; returns False (item not added) when ``abort`` is set while waiting."""
        with self._cond:
            if self.policy == "latest":
                while len(self._items) >= self.capacity:
                    self._items.popleft()
                    self._dropped += 1
            else:
                while len(self._items) >= self.capacity:
                    if abort.is_set():
                        return False
                    self._cond.wait(POLL_S)
            self._items.append(item)
            self.accepted += 1
            self._cond.notify_all()
            return True

    def get(self, timeout: float = POLL_S) -> T | _End | None:
        """Next item, :data:`END` when closed and drained, or None after ``timeout`` seconds."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            return END if self._closed else None

    def pop_nowait(self) -> T | None:
        """The next item or None when empty, without waiting (caller holds the shared condition)."""
        with self._cond:
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more items will come; the consumer gets :data:`END` after the last one."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Inbox(Protocol[T_co]):
    """What a stage reads: a :class:`StageQueue` or a :class:`~pipeline.runtime.lanes.LaneQueue`."""

    name: str

    def get(self, timeout: float = POLL_S) -> T_co | _End | None: ...

    def __len__(self) -> int: ...

    @property
    def dropped(self) -> int: ...


class Outbox(Protocol[T_contra]):
    """What a stage writes: a :class:`StageQueue` or a :class:`~pipeline.runtime.lanes.Router`."""

    name: str

    def put(self, item: T_contra, abort: threading.Event) -> bool: ...

    def close(self) -> None: ...
