"""H.264 encoding of RGB frames with real (variable) timestamps, written so a crash leaves a playable file.

Crash safety is bounded in *time*, at any frame rate: a process killed even by SIGKILL leaves a
file that plays up to at most :data:`FRAGMENT_S` (1 s) plus one frame before the last frame it was
handed (measured: 10 fps 1.1 s, 25 fps 1.04 s; before, fragments followed keyframes every 2 s and
x264 held 11 frames of lookahead, so 3.1 s at 10 fps and 2.44 s at 25 fps were lost):

* Container: ``.mp4`` (also ``.m4v``/``.mov``) is written as *fragmented* MP4
  (``movflags=frag_keyframe+empty_moov+default_base_moof``, ``frag_duration`` = :data:`FRAGMENT_S`)
  with ``flush_packets=1``: a fragment (moof+mdat) is cut at every keyframe and whenever it holds
  :data:`FRAGMENT_S` of video, and goes to disk whole. ``.mkv`` (Matroska) is written
  progressively the same way, a cluster at most every :data:`FRAGMENT_S` (``cluster_time_limit``).
  A fragment need not start with a keyframe: players read the file from its start.
* Encoder: libx264 holds no frame back: no B-frames (``bf=0``: a fragmented MP4 cannot carry the edit
  list that hides B-frame reordering delay, so with B-frames every timestamp would come out
  shifted; without them decoded pts equal the written ones exactly) and no rate-control lookahead
  (``rc-lookahead=0``; the default lookahead is counted in frames — 10 at ``veryfast``, a second at
  10 fps, ten at 1 fps). Its price: no macroblock-tree rate control, about 16 % more bytes at the
  same ``crf`` (measured on vtest.avi, 768×576).

A graceful :meth:`H264Writer.close` flushes the encoder and writes the trailer.

Encoder settings: libx264, yuv420p, ``preset`` (default ``veryfast``), ``crf``. A keyframe is forced
every ``keyframe_s`` seconds of *timestamps* (not frame counts: the frame rate is variable): the
seeking granularity.

Timestamps: the stream time base is 1/90000 s (:data:`TICK_HZ`); a frame's pts is its time minus
the first frame's time. Sources guarantee strictly increasing frame times
(:class:`pipeline.sources.base.Timeline`); :class:`Ticks` still keeps the pts strictly increasing
whatever it is given (see there).

Colour: frames come in RGB (the pipeline's order); the RGB → yuv420p conversion (BT.601, limited
range) happens inside PyAV/swscale at this boundary only.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import av
import cv2
import numpy as np

TICK_HZ: Final = 90_000
"""Stream time base: ticks per second (the MPEG 90 kHz clock)."""

NOMINAL_FPS: Final = 30
"""Declared stream rate when the real one is unknown (timestamps, not this, define playback)."""

SMPTE170M: Final = 6
"""AVCOL_SPC/PRI/TRC_SMPTE170M: BT.601 (525-line) matrix, primaries and transfer."""
MPEG_RANGE: Final = 1
"""AVCOL_RANGE_MPEG: limited (16..235) range."""

MP4_SUFFIXES: Final = (".mp4", ".m4v", ".mov")
MKV_SUFFIXES: Final = (".mkv",)
SUFFIXES: Final = MP4_SUFFIXES + MKV_SUFFIXES

FRAGMENT_S: Final = 1.0
"""Longest stretch of video held in memory before it is written (an MP4 fragment, a Matroska
cluster): what a crash can lose, plus one frame."""
MP4_OPTIONS: Final = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "frag_duration": str(round(FRAGMENT_S * 1_000_000)),
    "flush_packets": "1",
}
MKV_OPTIONS: Final = {"cluster_time_limit": str(round(FRAGMENT_S * 1000)), "flush_packets": "1"}


class Ticks:
    """Frame times in seconds → strictly increasing integer pts in ticks of ``1 / tick_hz`` s.

    pts = round((t − t_first) · tick_hz). Times that do not advance are repaired:

    * a time *before or equal to* the previous one rebases the clock: that frame is placed one
      typical frame interval (the last good interval, or 1/30 s at first) after the previous frame,
      and later frames keep their spacing from there — the recording never runs backwards or
      squeezes a whole loop into a few ticks;
    * two times closer than one tick get the previous pts + 1 tick.

    Forward jumps (dropped frames, a pause) are kept: they are real time.

    Sources guarantee strictly increasing frame times (:class:`pipeline.sources.base.Timeline`), so
    this repair is a safety net that recordings of the pipeline's sources never need. (It is not a
    timestamp repair for a whole stream: fed times that go back and forth, as packed-B-frame AVI
    files gave before the sources repaired them, each rebase adds an interval and the recording
    grows longer than its source — 11.8 s for a 4 s clip.)
    """

    def __init__(self, tick_hz: int = TICK_HZ, default_interval_s: float = 1.0 / NOMINAL_FPS) -> None:
        self.tick_hz = tick_hz
        self._interval_s = default_interval_s
        self._t0: float | None = None
        self._offset_s = 0.0
        self._last_s: float | None = None
        self._last_pts = -1
        self.rebased = 0
        """How many times the clock went back or stood still and was rebased."""

    def __call__(self, t_s: float) -> int:
        """The pts (ticks) of a frame at time ``t_s`` seconds."""
        if self._t0 is None:
            self._t0 = t_s
        x = t_s + self._offset_s
        if self._last_s is not None:
            if x <= self._last_s:
                self._offset_s += self._last_s + self._interval_s - x
                x = self._last_s + self._interval_s
                self.rebased += 1
            else:
                self._interval_s = min(max(x - self._last_s, 1e-3), 1.0)
        self._last_s = x
        pts = max(round((x - self._t0) * self.tick_hz), self._last_pts + 1)
        self._last_pts = pts
        return pts


def even_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) rounded *up* to even numbers (yuv420p needs even sizes)."""
    return width + (width & 1), height + (height & 1)


def fit_frame(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``rgb`` (H, W, 3) uint8 made exactly ``size`` = (width, height), even.

    A frame of the recording's source size with odd dims (``size`` is that size rounded up to even)
    is padded by one replicated column/row on the right/bottom: no pixel is lost and coordinates are
    unchanged. A frame of any other size (a stream that came back at another resolution, images of
    different sizes) is letterboxed: scaled to fit inside ``size`` with its aspect ratio kept, centred,
    the rest black. Never writes into ``rgb``; may return it unchanged.
    """
    width, height = size
    h, w = rgb.shape[:2]
    if (w, h) == (width, height):
        return rgb
    if even_size(w, h) == (width, height):
        return cv2.copyMakeBorder(rgb, 0, height - h, 0, width - w, cv2.BORDER_REPLICATE)
    scale = min(width / w, height / h)
    sw, sh = max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale)))
    scaled = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.zeros((height, width, 3), np.uint8)
    x0, y0 = (width - sw) // 2, (height - sh) // 2
    out[y0 : y0 + sh, x0 : x0 + sw] = scaled
    return out


class H264Writer:
    """One H.264 file being written; the file is created by the constructor.

    Args:
        path: ``.mp4``/``.m4v``/``.mov`` (fragmented MP4) or ``.mkv``.
        width, height: frame size in pixels, both even.
        crf: x264 constant rate factor, 0..51.
        preset: x264 preset (``veryfast`` keeps up with 720p on one core, see tools/ docs).
        threads: encoder threads (1 or 2: the pipeline's stages already use the cores).
        keyframe_s: a keyframe at least this often, seconds of timestamps (fragments are cut
            more often: :data:`FRAGMENT_S`).

    Raises av.FFmpegError / OSError when the file or the encoder cannot be opened.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        crf: int = 23,
        preset: str = "veryfast",
        threads: int = 1,
        keyframe_s: float = 2.0,
    ) -> None:
        if width % 2 or height % 2 or width < 2 or height < 2:
            raise ValueError(f"frame size must be even and >= 2, got {width}x{height}")
        self.path = Path(path)
        self.width, self.height = width, height
        self.frames = 0
        self.ticks = Ticks()
        self._key_every = round(keyframe_s * TICK_HZ)
        self._last_key: int | None = None
        suffix = self.path.suffix.lower()
        options = MKV_OPTIONS if suffix in MKV_SUFFIXES else MP4_OPTIONS
        fmt = "matroska" if suffix in MKV_SUFFIXES else "mp4"
        self._container: Any = av.open(str(self.path), mode="w", format=fmt, options=dict(options))
        try:
            stream: Any = self._container.add_stream("libx264", rate=NOMINAL_FPS)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = Fraction(1, TICK_HZ)
            stream.codec_context.time_base = Fraction(1, TICK_HZ)
            stream.codec_context.thread_count = threads
            # Tag what swscale's RGB → yuv420p conversion does (BT.601, limited range), so players do
            # not guess BT.709 for HD sizes and shift the colours.
            cc = stream.codec_context
            cc.colorspace = cc.color_primaries = cc.color_trc = SMPTE170M
            cc.color_range = MPEG_RANGE
            # g: a backstop only; keyframes are forced by time in write(). bf, rc-lookahead: the
            # encoder holds no frame back (crash safety in time, module docstring).
            stream.options = {
                "preset": preset,
                "crf": str(crf),
                "bf": "0",
                "rc-lookahead": "0",
                "g": str(20 * NOMINAL_FPS),
            }
            stream.codec_context.open()
        except BaseException:
            self._container.close()
            raise
        self._stream = stream
        self._closed = False

    def write(self, rgb: np.ndarray, t_s: float) -> None:
        """Encode ``rgb`` (height, width, 3) uint8 RGB captured at ``t_s`` seconds (any clock)."""
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(
                f"{self.path}: frame must be ({self.height}, {self.width}, 3) uint8, "
                f"got {rgb.shape} {rgb.dtype}"
            )
        pts = self.ticks(t_s)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = pts
        frame.time_base = Fraction(1, TICK_HZ)
        if self._last_key is None or pts - self._last_key >= self._key_every:
            frame.pict_type = av.video.frame.PictureType.I
            self._last_key = pts
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder, write the trailer and close the file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()
