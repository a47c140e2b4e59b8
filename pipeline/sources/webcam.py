"""Local cameras through OpenCV (V4L2 on Linux): an index (``0``) or a device path (``/dev/video0``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2

from pipeline.config import SourceConfig
from pipeline.errors import SourceError
from pipeline.frames import Frame
from pipeline.lifecycle import State
from pipeline.sources.base import FrameStamper
from pipeline.sources.stream import backoff_delay

log = logging.getLogger(__name__)
_DEFAULT = SourceConfig()


@dataclass(frozen=True)
class WebcamOptions:
    """Requested capture format (0 = the camera's default) and reopen behaviour.

    Attributes:
        width, height: pixels; fps: frames per second. The camera may pick the nearest it supports.
        reopen_attempts: failed reads/opens in a row before giving up; 0 = forever.
    """

    width: int = _DEFAULT.width
    height: int = _DEFAULT.height
    fps: float = _DEFAULT.fps
    reopen_attempts: int = 5


class WebcamSource:
    """Frames from a local camera. ``device`` may also be a file path (used by tests: no webcam here)."""

    live = True

    def __init__(self, device: int | str, source_id: str = "cam0", options: WebcamOptions | None = None):
        self.device = device
        self.source_id = source_id
        self.options = options or WebcamOptions()
        self.state: State = State.STARTING
        self.description = f"camera {device}"
        self.reconnects = 0
        self._stamper: FrameStamper | None = None

    @property
    def timestamp_repairs(self) -> int:
        """Frames whose time did not advance and was repaired (the monotonic clock's resolution)."""
        return self._stamper.repairs if self._stamper is not None else 0

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self.device)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.description}: cannot open (no such camera, or it is busy)")
        o = self.options
        if o.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, o.width)
        if o.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, o.height)
        if o.fps:
            cap.set(cv2.CAP_PROP_FPS, o.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a backlog
        return cap

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        stamper = self._stamper = FrameStamper(self.source_id, self.description)
        failures = 0
        t0: float | None = None
        while not stop.is_set():
            try:
                cap = self._open()
            except SourceError:
                failures += 1
                if self.options.reopen_attempts and failures >= self.options.reopen_attempts:
                    self.state = State.ERROR
                    raise
                self.state = State.RECONNECTING
                stop.wait(backoff_delay(failures - 1, 0.5, 5.0))
                continue
            try:
                while not stop.is_set():
                    ok, bgr = cap.read()
                    if not ok:
                        break
                    failures = 0
                    self.state = State.RUNNING
                    now = time.monotonic()
                    t0 = now if t0 is None else t0
                    yield stamper.stamp(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), now - t0)
            finally:
                cap.release()
            if isinstance(self.device, str) and not self.device.startswith("/dev/"):
                break  # a file played through the camera interface: its end is the end
            failures += 1
            if self.options.reopen_attempts and failures >= self.options.reopen_attempts:
                self.state = State.ERROR
                raise SourceError(f"{self.description}: camera stopped delivering frames")
            self.state = State.RECONNECTING
            self.reconnects += 1
            log.warning("%s: no frame; reopening", self.description)
            stop.wait(backoff_delay(failures - 1, 0.5, 5.0))
        self.state = State.STOPPED
