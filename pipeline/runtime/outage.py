"""A shared stage whose remote service is down: wait, retry the same batch, resume when it answers.

A backend that runs the model elsewhere (a Triton Inference Server) raises
:class:`~pipeline.errors.ServiceUnavailable` when a call fails because the service is down, restarting
or too slow. The batch stage does not fail the run for it: :func:`call_while_unavailable` records the
outage in the stage's :class:`Outage` (every source of the pipeline then reports
``backend_unavailable``: status records, ``/healthz``, metrics, the HUD), waits with a backoff that
doubles from :data:`RETRY_INITIAL_S` to :data:`RETRY_MAX_S` (so the first frames follow within about a
second of the service's return), and calls again with the same batch. Frames queue meanwhile, by the
sources' policies: a live source keeps only its newest frame; a file's frames wait, none is lost.

The outage ends when a call succeeds; the run fails only if ``give_up_s`` (> 0) passes without one, or
ends when the run is stopped (the abort event).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final, TypeVar

from pipeline.errors import ServiceUnavailable

log = logging.getLogger("infant_stream.runtime")

RETRY_INITIAL_S: Final = 0.25
RETRY_MAX_S: Final = 1.0

T = TypeVar("T")


class Outage:
    """Whether a stage's service is down now, since when and why, and how many outages so far
    (written by the stage's worker threads, read by the monitor; thread-safe).

    Attributes:
        count: outages so far (each one counted once, however many retries it took).
        down_s: seconds spent in finished outages.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None
        self._reason = ""
        self.count = 0
        self.down_s = 0.0

    @property
    def active(self) -> bool:
        """The service is down now."""
        with self._lock:
            return self._since is not None

    @property
    def reason(self) -> str:
        """The last failure's one-line reason ("" when up)."""
        with self._lock:
            return self._reason

    def begin(self, reason: str) -> bool:
        """A call failed (``reason``: one line). True when this starts a new outage."""
        with self._lock:
            self._reason = reason
            if self._since is not None:
                return False
            self._since = time.monotonic()
            self.count += 1
            return True

    def end(self) -> float | None:
        """A call succeeded: the outage's length in seconds, or None when there was none."""
        with self._lock:
            if self._since is None:
                return None
            took = time.monotonic() - self._since
            self._since, self._reason = None, ""
            self.down_s += took
            return took

    def lasted(self) -> float:
        """Seconds the current outage has lasted (0.0 when up)."""
        with self._lock:
            return 0.0 if self._since is None else time.monotonic() - self._since


def call_while_unavailable(
    name: str, call: Callable[[], T], outage: Outage, abort: threading.Event, give_up_s: float = 0.0
) -> tuple[T, float] | None:
    """``call()``, again and again while it raises :class:`ServiceUnavailable`: its result and the
    seconds the call that succeeded took (waits and failed calls not counted); None if ``abort`` is set
    first. One warning line when an outage starts and one when it ends (never per retry).

    Raises:
        ServiceUnavailable: the outage has lasted ``give_up_s`` (> 0) seconds.
    """
    delay = RETRY_INITIAL_S
    while True:
        t0 = time.perf_counter()
        try:
            out = call()
        except ServiceUnavailable as exc:
            if outage.begin(str(exc)):
                log.warning("%s: %s; retrying until it answers", name, exc)
            if give_up_s > 0 and outage.lasted() >= give_up_s:
                raise ServiceUnavailable(f"{exc} (still after {give_up_s:g} s)") from None
            if abort.wait(delay):
                return None
            delay = min(delay * 2.0, RETRY_MAX_S)
            continue
        took = outage.end()
        if took is not None:
            log.warning("%s: the service answers again after %.1f s", name, took)
        return out, time.perf_counter() - t0
