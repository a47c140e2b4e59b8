"""One queue per source in front of a shared stage, read fairly (docs/architecture.md, several sources).

A :class:`LaneQueue` holds one :class:`~pipeline.runtime.queues.StageQueue` (a *lane*) per source, each
with that source's capacity and drop policy, all sharing one condition so the single consumer
(the shared inference or postprocess thread) can wait on all of them. :meth:`LaneQueue.get` takes
the lanes in turn (round robin), so a busy source cannot starve a quiet one, a ``latest`` lane drops
only its own source's frames, and a source that stalls or ends simply leaves its lane empty.

A :class:`Router` is the producing side for a shared stage: it puts each item into the lane of
the item's source.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from pipeline.config import Policy
from pipeline.runtime.queues import END, POLL_S, StageQueue, _End

T = TypeVar("T")


class LaneQueue(Generic[T]):
    """Per-source lanes read round robin by one consumer.

    Args:
        name: for counters and messages.
        lanes: source id → (capacity, policy), in source order.
    """

    def __init__(self, name: str, lanes: Mapping[str, tuple[int, Policy]]) -> None:
        if not lanes:
            raise ValueError(f"queue {name}: needs at least one lane")
        self.name = name
        self._cond = threading.Condition()
        self.lanes: dict[str, StageQueue[T]] = {
            key: StageQueue(f"{name}:{key}", cap, policy, cond=self._cond)
            for key, (cap, policy) in lanes.items()
        }
        self._order = list(self.lanes.values())
        self._next = 0

    def lane(self, key: str) -> StageQueue[T]:
        """The lane of source ``key`` (its producer puts and closes there)."""
        return self.lanes[key]

    @property
    def capacity(self) -> int:
        """Items the lanes hold together when full."""
        return sum(q.capacity for q in self._order)

    @property
    def dropped(self) -> int:
        """Items dropped by every lane so far."""
        return sum(q.dropped for q in self._order)

    def __len__(self) -> int:
        return sum(len(q) for q in self._order)

    def _pop(self) -> T | None:
        n = len(self._order)
        for k in range(n):
            i = (self._next + k) % n
            item = self._order[i].pop_nowait()
            if item is not None:
                self._next = (i + 1) % n
                return item
        return None

    def get(self, timeout: float = POLL_S) -> T | _End | None:
        """The next item of the next non-empty lane (round robin), :data:`END` once every lane is
        closed and drained, or None after ``timeout`` seconds."""
        with self._cond:
            item = self._pop()
            if item is None and not self._all_closed():
                self._cond.wait(timeout)
                item = self._pop()
            if item is not None:
                return item
            return END if self._all_closed() else None

    def _all_closed(self) -> bool:
        return all(q.closed for q in self._order)


class Router(Generic[T]):
    """Puts each item into its source's lane; closing it closes every lane (one producer)."""

    def __init__(self, lanes: LaneQueue[T], key: Callable[[T], str]) -> None:
        self.lanes = lanes
        self.key = key
        self.name = lanes.name

    def put(self, item: T, abort: threading.Event) -> bool:
        """Put ``item`` into the lane of ``key(item)``; False when ``abort`` was set while waiting."""
        return self.lanes.lane(self.key(item)).put(item, abort)

    def close(self) -> None:
        for q in self.lanes.lanes.values():
            q.close()
