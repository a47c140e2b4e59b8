"""Recording sink: rendered frames → H.264 file with the frames' real timestamps.

Which image is recorded is the caller's choice (``render``): the overlay, or the raw frame with the
head pixelated. Encoding details (fragmented MP4, crash safety, keyframes, timestamps) live in
:mod:`pipeline.sinks.video_writer`.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from pipeline.config import Policy
from pipeline.errors import ConfigError
from pipeline.frames import FrameMeta, Result
from pipeline.render import Renderer
from pipeline.sinks.outfile import prepare_output
from pipeline.sinks.video_writer import SUFFIXES, H264Writer, even_size, fit_frame


class VideoSink:
    """Writes ``render(result)`` for every result it gets to ``path`` (H.264, yuv420p).

    The folder is created and checked at construction (ConfigError naming ``flag``); the file is
    created with the first frame, so a run that fails before producing a frame leaves no file.
    The frame size is the first rendered frame's, rounded up to even (odd sizes are padded by
    one replicated column/row); later frames of another size are letterboxed into it (aspect kept,
    :func:`~pipeline.sinks.video_writer.fit_frame`).

    Timestamps: a frame's time is ``meta.pts_s`` (the stream's clock, strictly increasing: every
    source repairs it, :class:`pipeline.sources.base.Timeline`) when the first frame has one, else
    ``meta.capture_mono``; a later frame lacking ``pts_s`` is placed after the previous one by the
    capture-clock interval. So the recording lasts as long as its source (within a frame); should
    a time still not increase, :class:`pipeline.sinks.video_writer.Ticks` keeps the pts increasing.

    Policy: ``lossless`` (every result recorded; the pipeline waits for the encoder) for file
    sources, ``latest`` for live sources (the encoder can never hold up inference; when it falls
    ``capacity`` results behind, the oldest queued result is dropped and the recording shows the gap
    in real time).

    Attributes:
        frames: frames written so far.
        closed: True once :meth:`close` ran.
    """

    def __init__(
        self,
        path: str | Path,
        render: Renderer,
        crf: int = 23,
        flag: str = "--record",
        policy: Policy = "lossless",
        capacity: int = 32,
        preset: str = "veryfast",
        threads: int = 1,
        keyframe_s: float = 2.0,
        source_id: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.source_id = source_id
        self.name = f"video:{self.path.name}"
        self.policy: Policy = policy
        self.capacity = capacity
        self.critical = policy == "lossless"
        """A file run's recording is data the user asked to keep (its failure ends the run); a live
        source's recording is best-effort (a failure stops the recording, the run goes on)."""
        self.render = render
        self.flag = flag
        self.crf, self.preset, self.threads, self.keyframe_s = crf, preset, threads, keyframe_s
        if not 0 <= crf <= 51:
            raise ConfigError(f"{flag} {self.path}: crf must be 0..51, got {crf}")
        if self.path.suffix.lower() not in SUFFIXES:
            raise ConfigError(f"{flag} {self.path}: must end in {', '.join(SUFFIXES)}")
        prepare_output(self.path, flag)
        self._writer: H264Writer | None = None
        self._size: tuple[int, int] = (0, 0)
        self._use_pts = False
        self._last: tuple[float, float] | None = None  # (time, capture_mono) of the previous frame
        self.frames = 0
        self.closed = False

    def _time(self, meta: FrameMeta) -> float:
        """The frame's time in seconds on the clock chosen at the first frame."""
        if self._last is None:
            self._use_pts = meta.pts_s is not None
        if self._use_pts and meta.pts_s is not None:
            t = meta.pts_s
        elif self._use_pts and self._last is not None:
            t = self._last[0] + (meta.capture_mono - self._last[1])
        else:
            t = meta.capture_mono
        self._last = (t, meta.capture_mono)
        return t

    def _open(self, width: int, height: int) -> H264Writer:
        self._size = even_size(width, height)
        try:
            return H264Writer(self.path, *self._size, self.crf, self.preset, self.threads, self.keyframe_s)
        except (av.FFmpegError, OSError) as exc:
            raise ConfigError(f"{self.flag} {self.path}: cannot start the recording ({exc})") from None

    def write(self, result: Result) -> None:
        """Render, fit to the recording's size and encode one result (of ``source_id`` if set;
        other sources' results are ignored)."""
        if self.source_id is not None and result.meta.source_id != self.source_id:
            return
        rgb = self.render(result)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"{self.name}: render must return (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        if self._writer is None:
            self._writer = self._open(rgb.shape[1], rgb.shape[0])
        self._writer.write(fit_frame(rgb, self._size), self._time(result.meta))
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (nothing to do when no frame came)."""
        if self.closed:
            return
        self.closed = True
        if self._writer is not None:
            self._writer.close()
