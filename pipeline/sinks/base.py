"""The sink interface: where results go. Each sink runs on its own thread behind its own queue."""

from __future__ import annotations

from typing import Protocol

from pipeline.frames import Result
from pipeline.runtime.queues import Policy


class Sink(Protocol):
    """A consumer of results.

    Attributes:
        name: for thread names and status lines.
        policy: ``lossless`` for files (every record kept), ``latest`` for live views.
        capacity: its queue length.
    """

    name: str
    policy: Policy
    capacity: int

    def write(self, result: Result) -> None:
        """Consume one result (called on the sink's own thread, in order)."""
        ...

    def close(self) -> None:
        """Flush and release; called once, last, on the sink's thread."""
        ...
