"""The source interface and the pieces every source shares (timestamps, stamping, pacing, state)."""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final, Literal, Protocol, TypeVar

import numpy as np

from pipeline.config import Policy, SourceConfig, SourceMode
from pipeline.frames import Frame, FrameMeta
from pipeline.lifecycle import State

log = logging.getLogger(__name__)


class Source(Protocol):
    """Something that yields decoded frames.

    Attributes:
        source_id: id used in records and topics.
        live: True for cameras and streams (default queue policy ``latest``), False for files.
        state: what the source is doing now (for status lines and records).
        description: what to call the source in messages (credentials masked).
        reconnects: times the source was reopened after a loss or stall (0 for files).
        timestamp_repairs: frames whose timestamp was missing or not after the previous frame's and
            was repaired (:class:`Timeline`); 0 for a source whose clock was always right.
    """

    source_id: str
    live: bool
    state: State
    description: str
    reconnects: int

    @property
    def timestamp_repairs(self) -> int: ...

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Yield frames until the end of the stream or until ``stop`` is set.

        Frames carry strictly increasing ``pts_s`` (or None for every frame, for stills): every
        source stamps through a :class:`FrameStamper`, whose :class:`Timeline` repairs the clock.
        Blocking calls inside wait at most a bounded time, so ``stop`` is seen promptly.
        Raises:
            SourceError: the source cannot be opened or its data is damaged; frames yielded
                before the error are valid.
        """
        ...


Options = TypeVar("Options")


def options_from(cls: type[Options], cfg: SourceConfig) -> Options:
    """A source's option dataclass ``cls`` (its fields are ``source:`` keys) from a ``source:`` section:
    one place where those settings are copied, so their defaults stay the config's."""
    fields: Any = dataclasses.fields(cls)  # type: ignore[arg-type]
    return cls(**{f.name: getattr(cfg, f.name) for f in fields})


def queue_policy(source: Source, mode: SourceMode = "auto") -> Policy:
    """The queue policy of ``source``: ``mode`` itself, or with ``auto`` by kind: ``latest`` for
    live sources (latency stays bounded), ``lossless`` for files (every frame processed)."""
    if mode != "auto":
        return mode
    return "latest" if source.live else "lossless"


Clock = Literal["pts", "dts", "index"]

DEFAULT_INTERVAL_S: Final = 1.0 / 25
"""Frame interval assumed before a source's rate or spacing is known."""
MAX_TIME_S: Final = 1e9
"""Timestamps beyond ±this (31 years; float seconds still resolve 1 µs there) are garbage: missing."""
TRUST_AFTER_FRAMES: Final = 16
"""A container clock that went backwards (or stood still) is not used again until it has advanced
this many frames in a row (about the longest B-frame reordering window)."""


class Timeline:
    """Presentation times of one source's frames, made strictly increasing: the one place where
    every source's timestamps are repaired.

    Decoders hand frames out in presentation order, but the timestamps attached to them are not
    always right: DivX/Xvid "packed B-frame" AVI files give each frame the pts of the wrong
    packet (0.04, 0.12, 0.08, 0.20, 0.16, ... s), RTSP streams start without one, a damaged
    stream repeats one. :meth:`place` turns each frame's container timestamps into a time that is
    always after the previous frame's:

    1. Which clock (FFmpeg's *best effort timestamp*, ``guess_correct_pts``, which PyAV does not
       expose): the frame's ``pts``; else, when pts went backwards or stood still within the last
       :data:`TRUST_AFTER_FRAMES` frames or is missing, its packet ``dts`` (monotonic in decode
       order, and in a packed AVI exactly one frame behind the presentation time); else, when
       neither can be trusted, the frame index: the previous time plus one frame interval
       (``1 / fps`` when the rate is known, else the last good spacing).
    2. Each clock has its own offset, fixed when it is first used so that its first frame lands
       one interval after the previous frame (the very first frame keeps its own time: a file
       that starts at 1.4 s stays at 1.4 s). A clock in use advances strictly, so the offsets never
       let time go back; should they (a clock coming back after a gap), that clock is re-based.
    3. :meth:`restart` begins a new segment (a looping file starting again, a stream reopened):
       its first frame is placed one interval, or ``gap_s`` if longer, after the previous frame,
       so a reconnect's real outage shows as a gap and a loop never runs backwards.

    Forward jumps are kept (dropped frames, a paused camera: real time).

    Attributes:
        repairs: frames whose timestamp was out of order (pts not after the previous frame's)
            or missing (no pts and no dts, except frames before a segment's first timestamp, such
            as an RTSP stream's first frame) or had to be moved forward.
        first_repair: what the first repair was, for a warning (None before one).
    """

    def __init__(self) -> None:
        self.repairs = 0
        self.first_repair: str | None = None
        self._last: float | None = None  # the previous frame's time
        self._interval = DEFAULT_INTERVAL_S  # the last good spacing
        self._clock: Clock | None = None  # the clock that timed the previous frame
        self.restart()

    def restart(self, gap_s: float = 0.0) -> None:
        """Begin a new segment: the container's clocks start afresh (a loop, a reconnect); the next
        frame is placed ``max(one interval, gap_s)`` after the previous one."""
        self._start_gap = gap_s
        self._frames = 0  # frames placed in this segment
        self._prev: dict[Clock, float] = {}  # each container clock's previous value
        self._faulted: dict[Clock, int] = {}  # frame number of each clock's last fault
        self._offset: dict[Clock, float] = {}
        self._timed = False  # a frame of this segment had a container timestamp
        self._clock = None

    def _step(self, fps: float | None) -> float:
        return 1.0 / fps if fps is not None and 1.0 <= fps <= 1000.0 else self._interval

    def _usable(self, clock: Clock, value: float | None) -> bool:
        """Note ``value`` of a container clock; True when it may time this frame."""
        if value is None:
            return False
        prev = self._prev.get(clock)
        self._prev[clock] = value
        if prev is not None and value <= prev:
            self._faulted[clock] = self._frames
            self._offset.pop(clock, None)  # when trusted again, it starts afresh one interval on
            return False
        fault = self._faulted.get(clock)
        return fault is None or self._frames - fault >= TRUST_AFTER_FRAMES

    def place(self, pts_s: float | None, dts_s: float | None = None, fps: float | None = None) -> float:
        """The time (s) of the next frame, from its container ``pts_s`` and ``dts_s`` (None =
        missing), at the container's nominal rate ``fps`` (None = unknown). Always after the
        previous frame's time. A timestamp that is not finite or beyond :data:`MAX_TIME_S` counts
        as missing."""
        pts_s = pts_s if pts_s is not None and abs(pts_s) <= MAX_TIME_S else None
        dts_s = dts_s if dts_s is not None and abs(dts_s) <= MAX_TIME_S else None
        step = self._step(fps)
        pts_prev = self._prev.get("pts")
        anomaly: str | None = None
        if pts_s is not None and pts_prev is not None and pts_s <= pts_prev:
            anomaly = f"pts {pts_s:.4f} s after {pts_prev:.4f} s"
        pts_ok = self._usable("pts", pts_s)
        dts_ok = self._usable("dts", dts_s)
        clock: Clock = "pts" if pts_ok else "dts" if dts_ok else "index"
        raw = pts_s if clock == "pts" else dts_s if clock == "dts" else None
        last = self._last
        # where a frame goes when its clock has no say: one interval on (a new segment: the gap)
        if last is None:
            after = 0.0
        elif self._frames == 0:
            after = last + max(step, self._start_gap)
        else:
            after = last + step
        if raw is None:
            t = after
            if self._timed and pts_s is None and dts_s is None:
                anomaly = "no timestamp"
        else:
            offset = self._offset.get(clock)
            if last is None:  # the very first frame keeps its own time
                t = raw
            elif offset is None:  # a clock's first frame in this segment: one interval on
                t = after
            elif raw + offset > last:
                t = raw + offset
            else:  # the clock came back behind the timeline: re-base it
                t = after
                anomaly = anomaly or f"{clock} {raw:.4f} s behind the previous frame"
            self._offset[clock] = t - raw
            self._timed = True
            if last is not None and clock == self._clock and clock != "index":
                self._interval = min(max(t - last, 1e-3), 1.0)
        if last is not None and t <= last:  # a step lost to float rounding at huge times
            t = math.nextafter(last, math.inf)
        self._clock = clock
        self._last = t
        self._frames += 1
        if anomaly is not None:
            self.repairs += 1
            if self.first_repair is None:
                self.first_repair = anomaly
        return t


class FrameStamper:
    """Numbers frames, times them through the source's :class:`Timeline` and takes their capture
    time as they leave the decoder. Every source stamps its frames here.

    Args:
        source_id: the source's id.
        description: what to call the source in the one-time warning about repaired timestamps
            (credentials masked); default ``source_id``.
        timed: False for stills (an image folder): every frame's ``pts_s`` is None.
    """

    def __init__(self, source_id: str, description: str | None = None, timed: bool = True) -> None:
        self.source_id = source_id
        self.description = description or source_id
        self.next_seq = 0
        self.timeline: Timeline | None = Timeline() if timed else None
        self._warned = False

    @property
    def repairs(self) -> int:
        """Frames whose timestamp was repaired (:attr:`Timeline.repairs`)."""
        return self.timeline.repairs if self.timeline is not None else 0

    def restart(self, gap_s: float = 0.0) -> None:
        """The source starts a new segment (:meth:`Timeline.restart`): a loop, a reconnect."""
        if self.timeline is not None:
            self.timeline.restart(gap_s)

    def stamp(
        self,
        image: np.ndarray,
        pts_s: float | None,
        dts_s: float | None = None,
        fps: float | None = None,
        pace: Callable[[float], None] | None = None,
    ) -> Frame:
        """Wrap a decoded RGB image (H, W, 3) uint8 into a :class:`Frame` with the next seq.

        ``pts_s``/``dts_s``: the frame's container timestamps, seconds (None = missing); ``fps``
        the nominal rate; the frame's ``pts_s`` is :meth:`Timeline.place`'s repaired time (None
        when not ``timed``). ``pace(t)``, if given, is called with that time before the capture
        time is taken (a file played in real time waits there).
        """
        t: float | None = None
        if self.timeline is not None:
            before = self.timeline.repairs
            t = self.timeline.place(pts_s, dts_s, fps)
            if self.timeline.repairs > before and not self._warned:
                self._warned = True
                log.warning(
                    "%s: timestamps out of order or missing from frame %d on (%s); repaired so "
                    "that they increase (counted as timestamp_repairs in status records and metrics)",
                    self.description,
                    self.next_seq,
                    self.timeline.first_repair,
                )
            if pace is not None:
                pace(t)
        h, w = image.shape[:2]
        meta = FrameMeta(
            source_id=self.source_id,
            seq=self.next_seq,
            capture_mono=time.monotonic(),
            capture_wall=time.time(),
            pts_s=t,
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
