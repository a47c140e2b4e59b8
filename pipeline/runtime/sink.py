"""Where results go: the :class:`Sink` interface, and what happens when one fails.

Each sink runs on its own thread behind its own queue (:class:`~pipeline.runtime.pipeline.Pipeline`
builds both). A sink is *critical* or *best-effort* by kind:

- critical (JSON Lines, CSV, the recordings of a file run): the data a user asked to keep. A failure
  is an error: the run stops and exits non-zero with one line naming the sink.
- best-effort (the monitor window, ZeroMQ frames, live recordings, the metrics histograms): a view
  of the run. A failure is logged once, counted (status records ``failed_outputs``, the metric
  ``infant_stream_output_failures_total{output}``), that sink stops, and the run goes on.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from pipeline.config import Policy
from pipeline.frames import Result

log = logging.getLogger(__name__)


class Sink(Protocol):
    """A consumer of results.

    Attributes:
        name: for thread names, status lines and failure reports.
        policy: ``lossless`` (every result kept; the pipeline waits) or ``latest`` (the oldest
            queued result is dropped when the sink falls ``capacity`` behind).
        capacity: its queue length.
        critical: a failure ends the run (True) or only this sink (False).
    """

    name: str
    policy: Policy
    capacity: int
    critical: bool

    def write(self, result: Result) -> None:
        """Consume one result (called on the sink's own thread, in order)."""
        ...

    def close(self) -> None:
        """Flush and release; called once, last, on the sink's thread."""
        ...


class Tap(Protocol):
    """An output with a thread and a queue of its own (the ZeroMQ publisher): ``write`` is called on
    the postprocess thread for every result and must return at once (it only enqueues). Its owner,
    not the pipeline, closes it. Always best-effort (``critical`` False)."""

    name: str
    critical: bool

    def write(self, result: Result) -> None:
        """Take one result; never blocks."""
        ...


class OutputFailures:
    """The best-effort outputs that failed during a run: each is logged once, with its reason.

    Shared by the pipeline's sink threads and outputs with threads of their own (the ZeroMQ
    publisher); read by counters, status records and metrics. Thread-safe.
    """

    def __init__(self) -> None:
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def record(self, name: str, exc: BaseException) -> bool:
        """Note that output ``name`` failed with ``exc``; True the first time (then it is logged)."""
        with self._lock:
            if name in self._failed:
                return False
            self._failed[name] = f"{type(exc).__name__}: {exc}"
        log.warning("%s failed (%s: %s); it is stopped, the run goes on", name, type(exc).__name__, exc)
        return True

    @property
    def names(self) -> tuple[str, ...]:
        """The failed outputs, in the order they failed."""
        with self._lock:
            return tuple(self._failed)

    def reason(self, name: str) -> str | None:
        """Why ``name`` failed (None if it did not)."""
        with self._lock:
            return self._failed.get(name)


class GuardedSink:
    """Runs a sink's (or a tap's) ``write``/``close`` with the failure rule of its kind.

    A critical sink's exception propagates (the stage records it and the run stops). A best-effort
    sink's first exception is recorded in ``failures``; from then on its results are consumed and
    discarded (its queue keeps draining, so a lossless producer never waits on a dead sink) and its
    ``close`` still runs, with any error there ignored.
    """

    def __init__(self, sink: Sink | Tap, failures: OutputFailures) -> None:
        self.sink = sink
        self.failures = failures
        self.failed = False

    def write(self, result: Result) -> None:
        if self.failed:
            return
        try:
            self.sink.write(result)
        except Exception as exc:
            if self.sink.critical:
                raise
            self.failed = True
            self.failures.record(self.sink.name, exc)

    def close(self) -> None:
        """Close a :class:`Sink` (taps are closed by their owner)."""
        if not hasattr(self.sink, "close"):
            return
        try:
            self.sink.close()
        except Exception as exc:
            if self.sink.critical and not self.failed:
                raise
            self.failures.record(self.sink.name, exc)
