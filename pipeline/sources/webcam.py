"""Local cameras through OpenCV (V4L2 on Linux): an index (``0``) or a device path (``/dev/video0``)."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from pipeline.config import SourceConfig
from pipeline.errors import SourceError
from pipeline.frames import Frame
from pipeline.lifecycle import State
from pipeline.sources.base import FrameStamper, options_from
from pipeline.sources.stream import backoff_delay

log = logging.getLogger(__name__)
_DEFAULT = SourceConfig()


Capture = Any
"""An OpenCV ``VideoCapture`` (or a stand-in with ``isOpened``/``read``/``set``/``release``)."""


@dataclass(frozen=True)
class WebcamOptions:
    """Requested capture format (0 = the camera's default) and reopen behaviour.

    Attributes:
        width, height: pixels; fps: frames per second. The camera may pick the nearest it supports.
        reconnect_initial_s, reconnect_max_s: backoff between reopen attempts after a camera that
            delivered frames stops (unplugged, driver reset), doubling up to the cap.
        reconnect_attempts: reopen attempts in a row before giving up; 0 = forever (like streams).
    """

    width: int = _DEFAULT.width
    height: int = _DEFAULT.height
    fps: float = _DEFAULT.fps
    reconnect_initial_s: float = _DEFAULT.reconnect_initial_s
    reconnect_max_s: float = _DEFAULT.reconnect_max_s
    reconnect_attempts: int = _DEFAULT.reconnect_attempts

    @classmethod
    def from_config(cls, cfg: SourceConfig) -> WebcamOptions:
        """The camera settings of a ``source:`` section."""
        return options_from(cls, cfg)


def device_path(device: int | str) -> Path | None:
    """The V4L2 device file of a camera index or ``/dev/videoN`` path (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    if isinstance(device, int):
        return Path(f"/dev/video{device}")
    return Path(device) if device.startswith("/dev/") else None


def open_capture(device: int | str) -> Capture:
    """OpenCV's capture of ``device`` with OpenCV's own logging silenced (a missing camera makes its
    backends print dozens of warnings; this source reports one line instead). V4L2 on Linux."""
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    if isinstance(device, int) and sys.platform.startswith("linux"):
        return cv2.VideoCapture(device, cv2.CAP_V4L2)
    return cv2.VideoCapture(device)


class WebcamSource:
    """Frames from a local camera. ``device`` may also be a file path (used by tests: no webcam here).

    A camera that is missing at the start is an error at once (:meth:`check`, one line, exit 3); a
    camera that stops delivering after it has (unplugged, driver reset) is reopened like a network
    stream: ``reconnecting`` with backoff, forever by default, ``running`` again at its next frame.

    Args:
        opener: how a capture is opened (tests replace the camera, which cannot exist here).
    """

    live = True

    def __init__(
        self,
        device: int | str,
        source_id: str = "cam0",
        options: WebcamOptions | None = None,
        opener: Callable[[int | str], Capture] = open_capture,
    ):
        self.device = device
        self.source_id = source_id
        self.options = options or WebcamOptions()
        self.opener = opener
        self.state: State = State.STARTING
        self.description = f"camera {device}"
        self.reconnects = 0
        self._stamper: FrameStamper | None = None

    @property
    def timestamp_repairs(self) -> int:
        """Frames whose time did not advance and was repaired (the monotonic clock's resolution)."""
        return self._stamper.repairs if self._stamper is not None else 0

    def check(self) -> None:
        """Fail now, with one line, when the camera is not there (before the model loads)."""
        path = device_path(self.device)
        if path is not None and not path.exists():
            raise SourceError(f"{self.description}: no such camera ({path} does not exist)")
        self._open().release()

    def _open(self) -> Capture:
        cap = self.opener(self.device)
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
        o = self.options
        failures = 0
        delivered = False
        t0: float | None = None
        while not stop.is_set():
            try:
                cap = self._open()
            except SourceError:
                if not delivered:
                    self.state = State.ERROR
                    raise  # never worked: a wrong index, not an unplugged camera
                failures += 1
                if o.reconnect_attempts and failures >= o.reconnect_attempts:
                    self.state = State.ERROR
                    raise SourceError(
                        f"{self.description}: gone, not back after {failures} reopen attempts"
                    ) from None
                self.state = State.RECONNECTING
                stop.wait(backoff_delay(failures - 1, o.reconnect_initial_s, o.reconnect_max_s))
                continue
            try:
                while not stop.is_set():
                    ok, bgr = cap.read()
                    if not ok:
                        break
                    if delivered and self.state != State.RUNNING:
                        self.reconnects += 1
                        log.warning("%s: delivering frames again", self.description)
                    failures, delivered = 0, True
                    self.state = State.RUNNING
                    now = time.monotonic()
                    t0 = now if t0 is None else t0
                    yield stamper.stamp(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), now - t0)
            finally:
                cap.release()
            if isinstance(self.device, str) and not self.device.startswith("/dev/"):
                break  # a file played through the camera interface: its end is the end
            if not stop.is_set():
                log.warning("%s: stopped delivering frames; reopening", self.description)
                self.state = State.RECONNECTING
        if self.state != State.ERROR:
            self.state = State.STOPPED
