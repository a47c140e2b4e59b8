"""A source thinned to a frame rate: every frame is decoded, only one per ``1 / fps`` seconds goes on."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

from pipeline.frames import Frame
from pipeline.lifecycle import State
from pipeline.sources.base import Source


class SampledSource:
    """``source``'s frames at most ``fps`` per second of its own clock (``pts_s``), renumbered.

    The first frame always goes on; then a frame goes on when its ``pts_s`` reaches the next sample
    time (previous sample + ``1 / fps``; a frame without ``pts_s`` always goes on). Frames left out
    are not drops: the ones kept get consecutive ``seq`` numbers, so no record reports them as
    ``dropped_since_last``. Everything else (id, state, counters) is the wrapped source's.
    """

    def __init__(self, source: Source, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.source = source
        self.interval_s = 1.0 / fps
        self.source_id = source.source_id
        self.live = source.live
        self.description = source.description
        self.kept = 0
        self.seen = 0

    @property
    def state(self) -> State:
        return self.source.state

    @state.setter
    def state(self, value: State) -> None:
        self.source.state = value

    @property
    def reconnects(self) -> int:
        return self.source.reconnects

    @reconnects.setter
    def reconnects(self, value: int) -> None:
        self.source.reconnects = value

    @property
    def timestamp_repairs(self) -> int:
        return self.source.timestamp_repairs

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        due: float | None = None
        for frame in self.source.frames(stop):
            self.seen += 1
            pts = frame.meta.pts_s
            if pts is not None and due is not None and pts < due - 1e-6:
                continue
            if pts is not None:
                due = pts + self.interval_s if due is None else due + self.interval_s
                if due <= pts:  # a gap in the stream: count from this frame
                    due = pts + self.interval_s
            meta = dataclasses.replace(frame.meta, seq=self.kept)
            self.kept += 1
            yield Frame(meta, frame.image)
