"""Network streams (RTSP/RTSPS, HTTP(S)/HLS, RTMP, SRT) via PyAV, reconnecting forever by default.

State machine::

    starting ─first frame─▶ running ─no frame for stall_timeout_s─▶ stalled ─reopened, frames─▶ running
       │                       └─stream ended / read error─▶ reconnecting ◀─open fails─┘
       └─open fails─▶ reconnecting ─reopened, frames─▶ running
    stop (any state) ─▶ stopped;   reconnect_attempts failed opens in a row ─▶ error

``stalled`` shows as soon as no frame has arrived for ``stall_timeout_s`` (while the read is still
blocked: the connection is up but nothing comes); a network read blocks at most
``min(read_timeout_s, stall_timeout_s)``, so a stalled stream is abandoned and reopened right after.
A lost stream is reopened at once, then after a capped exponential backoff per failed open
(``reconnect_initial_s * 2**attempt``, at most ``reconnect_max_s``). Every log line masks credentials.

Frame times: the stream's timestamps, made strictly increasing by the stamper's
:class:`~pipeline.sources.base.Timeline`; a reopened stream (whose clock starts afresh) goes on
after the previous connection's last frame by the real time the outage took.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import av

from pipeline.config import SourceConfig, Transport
from pipeline.errors import SourceError
from pipeline.frames import Frame
from pipeline.lifecycle import State
from pipeline.sources.av_decode import DecodeReport, decode_rgb, open_video
from pipeline.sources.base import FrameStamper, options_from
from pipeline.sources.urls import ffmpeg_reason, mask_url, why_unreachable

PROBE_US = 500_000
"""FFmpeg's stream analysis on open, µs. Its default (5 s at most, ~2 s on RTSP) delays every
(re)connect; the stream description (SDP) already names the codec, 0.5 s of packets does the rest."""

log = logging.getLogger(__name__)
_DEFAULT = SourceConfig()


@dataclass(frozen=True)
class StreamOptions:
    """Network settings of a stream source (seconds unless stated); defaults: :class:`SourceConfig`'s.

    Attributes:
        transport: RTSP transport, ``tcp`` (robust) or ``udp`` (lower latency, loses packets).
        open_timeout_s: longest wait for the stream to open.
        read_timeout_s: longest a single network read may block.
        stall_timeout_s: no decoded frame for this long → the stream is stalled and reopened.
        reconnect_initial_s, reconnect_max_s: backoff start and cap.
        reconnect_attempts: failed attempts in a row before giving up; 0 = retry forever.
    """

    transport: Transport = _DEFAULT.transport
    open_timeout_s: float = _DEFAULT.open_timeout_s
    read_timeout_s: float = _DEFAULT.read_timeout_s
    stall_timeout_s: float = _DEFAULT.stall_timeout_s
    reconnect_initial_s: float = _DEFAULT.reconnect_initial_s
    reconnect_max_s: float = _DEFAULT.reconnect_max_s
    reconnect_attempts: int = _DEFAULT.reconnect_attempts

    @classmethod
    def from_config(cls, cfg: SourceConfig) -> StreamOptions:
        """The network settings of a ``source:`` section."""
        return options_from(cls, cfg)


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based): capped exponential."""
    return float(min(maximum, initial * (2.0 ** min(attempt, 30))))


class StreamSource:
    """Frames from a network URL, reopened after every failure until stopped."""

    live = True

    def __init__(self, url: str, source_id: str = "cam0", options: StreamOptions | None = None):
        self.url = url
        self.source_id = source_id
        self.options = options or StreamOptions()
        self._state: State = State.STARTING
        self._last_frame = time.monotonic()  # when the last frame (or the open) happened
        self.description = mask_url(url)
        self.reconnects = 0
        self._stamper: FrameStamper | None = None
        self._last_yield: float | None = None  # monotonic time the last frame was handed out

    @property
    def timestamp_repairs(self) -> int:
        """Frames whose timestamp was missing or out of order and was repaired."""
        return self._stamper.repairs if self._stamper is not None else 0

    @property
    def state(self) -> State:
        """The state now: ``running`` turns ``stalled`` once no frame came for ``stall_timeout_s``."""
        if self._state == State.RUNNING and self._silent_s() >= self.options.stall_timeout_s:
            return State.STALLED
        return self._state

    @state.setter
    def state(self, value: State) -> None:
        self._state = value

    def _silent_s(self) -> float:
        return time.monotonic() - self._last_frame

    def _scrub(self, text: str) -> str:
        """``text`` (an FFmpeg message) with the URL's credentials masked."""
        return text.replace(self.url, self.description)

    def _why_not_open(self, exc: BaseException) -> str:
        """Why opening failed, in words: the network's answer when the server cannot be reached
        (refused, timed out, unreachable, unknown host), else FFmpeg's message without its errno."""
        unreachable = why_unreachable(self.url, min(self.options.open_timeout_s, 2.0))
        if unreachable is not None:
            return self._scrub(unreachable)
        return self._scrub(f"the server answered but the stream did not open: {ffmpeg_reason(exc, self.url)}")

    def _av_options(self) -> dict[str, str]:
        opts = {"analyzeduration": str(PROBE_US)}
        if self.url.lower().startswith(("rtsp://", "rtsps://")):
            opts["rtsp_transport"] = self.options.transport
        return opts

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        stamper = self._stamper = FrameStamper(self.source_id, self.description)
        failures = 0
        o = self.options
        read_timeout = min(o.read_timeout_s, o.stall_timeout_s)
        while not stop.is_set():
            try:
                container = open_video(self.url, self._av_options(), timeout=(o.open_timeout_s, read_timeout))
            except (av.FFmpegError, ValueError, OSError) as exc:
                why = self._why_not_open(exc)
                failures += 1
                self._state = State.RECONNECTING
                if o.reconnect_attempts and failures >= o.reconnect_attempts:
                    self._state = State.ERROR
                    raise SourceError(
                        f"{self.description}: cannot open after {failures} attempts ({why})"
                    ) from None
                delay = backoff_delay(failures - 1, o.reconnect_initial_s, o.reconnect_max_s)
                log.warning("%s: cannot open (%s); retrying in %.1f s", self.description, why, delay)
                stop.wait(delay)
                continue
            failures = 0
            self._last_frame = time.monotonic()
            report = DecodeReport()
            try:
                yield from self._read(container, report, stamper, stop)
            finally:
                container.close()
            if stop.is_set():
                break
            if self._silent_s() >= o.stall_timeout_s:
                self._state = State.STALLED
                why = f"no frame for {o.stall_timeout_s:.1f} s"
            else:
                self._state = State.RECONNECTING
                why = self._scrub(report.error or "stream ended")
            self.reconnects += 1
            log.warning("%s: %s; reconnecting", self.description, why)
        self._state = State.STOPPED

    def _read(
        self, container: object, report: DecodeReport, stamper: FrameStamper, stop: threading.Event
    ) -> Iterator[Frame]:
        first = True
        for image, pts, dts in decode_rgb(
            container, report, frame_timeout_s=self.options.stall_timeout_s, low_delay=True
        ):
            if stop.is_set():
                return
            self._last_frame = time.monotonic()
            if self._state != State.RUNNING:
                log.info("%s: receiving frames", self.description)
            self._state = State.RUNNING
            if first and self._last_yield is not None:
                # a reopened stream's clock starts afresh: its times go on after the outage
                stamper.restart(gap_s=self._last_frame - self._last_yield)
            first = False
            self._last_yield = time.monotonic()
            yield stamper.stamp(image, pts, dts, report.fps)
            self._last_frame = time.monotonic()  # a consumer that held the frame is not a stall
