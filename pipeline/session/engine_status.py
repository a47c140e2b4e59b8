"""The ``building_engine`` state: TensorRT engine builds take minutes, and users must see why.

While :func:`~pipeline.infer.backends.create_backend` builds an engine (first run on a GPU, or a stale
cache entry), one line goes to stderr and, when publishing, ``status.<source>`` carries
``state: "building_engine"`` once a second until the build ends.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from pipeline.lifecycle import HealthStatus, State
from pipeline.publish.publisher import ZmqPublisher


class EngineBuildStatus:
    """``on_build`` callback for the backend factory; :meth:`stop` once the backend is loaded.

    Args:
        source_ids: the source(s) whose status topics carry the state.
        publisher: where the heartbeat goes (None = stderr line only).
        interval_s: heartbeat period.
    """

    def __init__(
        self,
        source_ids: Sequence[str],
        publisher: ZmqPublisher | None,
        interval_s: float = 1.0,
        stream: TextIO | None = None,
    ) -> None:
        self.source_ids = list(source_ids)
        self.publisher = publisher
        self.interval_s = interval_s
        self.stream = stream or sys.stderr
        self.building = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def status(self) -> list[HealthStatus]:
        """The heartbeats published while building (no stage has run yet), one per source."""
        return [HealthStatus(sid, State.BUILDING_ENGINE, {}, 0, 0, float("nan")) for sid in self.source_ids]

    def __call__(self, reason: str) -> None:
        """Called by the backend when it starts building (``reason``: why the cache did not serve)."""
        self.building = True
        print(f"infant-stream: building TensorRT engine ({reason}); this can take minutes", file=self.stream)
        if self.publisher is not None and self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="engine-status", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        assert self.publisher is not None
        while True:
            for status in self.status():
                self.publisher.publish_status(status)
            if self._stop.wait(self.interval_s):
                return

    def stop(self) -> None:
        """The backend is loaded (or failed): end the heartbeat."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
