"""The source interface and the pieces every source shares (stamping, pacing, state)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from pipeline.config import Policy, SourceMode
from pipeline.frames import Frame, FrameMeta
from pipeline.lifecycle import State


class Source(Protocol):
    """Something that yields decoded frames.

    Attributes:
        source_id: id used in records and topics.
        live: True for cameras and streams (default queue policy ``latest``), False for files.
        state: what the source is doing now (for status lines and records).
        description: what to call the source in messages (credentials masked).
        reconnects: times the source was reopened after a loss or stall (0 for files).
    """

    source_id: str
    live: bool
    state: State
    description: str
    reconnects: int

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Yield frames until the end of the stream or until ``stop`` is set.

        Blocking calls inside wait at most a bounded time, so ``stop`` is seen promptly.
        Raises:
            SourceError: the source cannot be opened or its data is damaged; frames yielded
                before the error are valid.
        """
        ...


def queue_policy(source: Source, mode: SourceMode = "auto") -> Policy:
    """The queue policy of ``source``: ``mode`` itself, or with ``auto`` by kind: ``latest`` for
    live sources (latency stays bounded), ``lossless`` for files (every frame processed)."""
    if mode != "auto":
        return mode
    return "latest" if source.live else "lossless"


class FrameStamper:
    """Numbers frames and takes their capture time as they leave the decoder."""

    def __init__(self, source_id: str) -> None:
        self.source_id = source_id
        self.next_seq = 0

    def stamp(self, image: np.ndarray, pts_s: float | None) -> Frame:
        """Wrap a decoded RGB image (H, W, 3) uint8 into a :class:`Frame` with the next seq."""
        h, w = image.shape[:2]
        meta = FrameMeta(
            source_id=self.source_id,
            seq=self.next_seq,
            capture_mono=time.monotonic(),
            capture_wall=time.time(),
            pts_s=pts_s,
            width=int(w),
            height=int(h),
        )
        self.next_seq += 1
        return Frame(meta=meta, image=image)


class Pacer:
    """Releases frames no faster than their timestamps say (emulates a camera from a file)."""

    def __init__(self) -> None:
        self._origin: tuple[float, float] | None = None  # (monotonic, pts) of the first frame

    def wait(self, pts_s: float, stop: threading.Event) -> None:
        """Sleep until ``pts_s`` seconds of stream time have passed since the first frame."""
        now = time.monotonic()
        if self._origin is None:
            self._origin = (now, pts_s)
            return
        due = self._origin[0] + (pts_s - self._origin[1])
        if due > now:
            stop.wait(due - now)
