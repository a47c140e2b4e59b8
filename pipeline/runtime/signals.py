"""SIGINT/SIGTERM as a request to stop, for the long-running commands (``run``, ``subscribe``).

Inside ``with StopSignals(...)`` the two signals no longer raise KeyboardInterrupt: they are
recorded in ``received`` and handed to ``on_signal``; the previous handlers come back on exit.
The exit code of a command stopped this way is ``128 + signal number`` (130 SIGINT, 143 SIGTERM).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType


class StopSignals:
    """Records SIGINT/SIGTERM and calls ``on_signal(signum, first)`` (``first``: no signal before).

    Handlers run on the main thread between bytecodes: ``on_signal`` must be quick and must not block.
    """

    def __init__(self, on_signal: Callable[[int, bool], None] | None = None, install: bool = True) -> None:
        self.on_signal = on_signal
        self.install = install
        self.received: int | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        """Install the handlers (not with ``install`` False: then nothing is received, for code run
        off the main thread, where Python cannot set signal handlers)."""
        if self.install:
            self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = signum
        if self.on_signal is not None:
            self.on_signal(signum, first)

    def exit_code(self, otherwise: int = 0) -> int:
        """``128 + signum`` when a signal came, else ``otherwise``."""
        return otherwise if self.received is None else 128 + self.received
