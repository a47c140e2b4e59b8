"""Video files decoded with PyAV; optionally paced to real time and looped (a camera emulator)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import av

from pipeline.errors import SourceError
from pipeline.frames import Frame
from pipeline.lifecycle import State
from pipeline.sources.av_decode import DecodeReport, decode_rgb, open_video
from pipeline.sources.base import FrameStamper, Pacer

log = logging.getLogger(__name__)


class FileSource:
    """Frames of a video file (any container/codec FFmpeg reads).

    Args:
        path: the file.
        source_id: id for records.
        realtime: release frames at the file's own rate (pts), as a camera would.
        loop: start again at the end (pts keep increasing across loops).

    Frame times are the file's own timestamps made strictly increasing by the stamper's
    :class:`~pipeline.sources.base.Timeline` (repairs counted in :attr:`timestamp_repairs`).
    """

    live = False
    reconnects = 0

    def __init__(
        self, path: str | Path, source_id: str = "file0", realtime: bool = False, loop: bool = False
    ):
        self.path = Path(path)
        self.source_id = source_id
        self.realtime = realtime
        self.loop = loop
        self.state: State = State.STARTING
        self.description = str(self.path)
        self.last_report = DecodeReport()
        self._stamper: FrameStamper | None = None

    @property
    def timestamp_repairs(self) -> int:
        """Frames whose timestamp was missing or out of order and was repaired."""
        return self._stamper.repairs if self._stamper is not None else 0

    def check(self) -> None:
        """Fail early, with one line, if the file cannot be a video."""
        if not self.path.exists():
            raise SourceError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise SourceError(f"{self.path}: not a file")
        self._open().close()  # type: ignore[attr-defined]

    def _open(self) -> object:
        try:
            return open_video(str(self.path))
        except (av.FFmpegError, ValueError, OSError) as exc:
            raise SourceError(f"{self.path}: not a readable video ({exc})") from None

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such file")
        stamper = self._stamper = FrameStamper(self.source_id, self.description)
        pacer = Pacer()

        def pace(t: float) -> None:
            pacer.wait(t, stop)

        while not stop.is_set():
            container = self._open()
            report = DecodeReport()
            self.last_report = report
            self.state = State.RUNNING
            try:
                for image, pts, dts in decode_rgb(container, report):
                    if stop.is_set():
                        break
                    yield stamper.stamp(image, pts, dts, report.fps, pace if self.realtime else None)
            finally:
                container.close()  # type: ignore[attr-defined]
            damage = report.damage()
            if damage is not None and not stop.is_set():
                self.state = State.ERROR
                raise SourceError(f"{self.path}: {damage}")
            if not self.loop or report.frames == 0:
                break
            stamper.restart()  # the next pass continues one frame after this one's last
        self.state = State.STOPPED
