"""Decoding a PyAV container into RGB frames, tolerating damaged packets.

Shared by the file and the network-stream sources. Frames come out in presentation order with the
container's raw timestamps (pts and the packet dts, either may be missing or out of order); the
sources' :class:`~pipeline.sources.base.Timeline` turns them into strictly increasing times.

MPEG-4 Part 2 video in AVI may use DivX/Xvid "packed B-frames" (a P-frame and the next B-frame
in one AVI chunk, then a placeholder chunk): such streams go through FFmpeg's
``mpeg4_unpack_bframes`` bitstream filter, which restores one frame per packet (as FFmpeg
itself advises; a stream that is not packed passes through unchanged).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import av
import numpy as np
from av.bitstream import BitStreamFilterContext, bitstream_filters_available

MAX_BAD_PACKETS_IN_A_ROW: Final = 200
"""After this many undecodable packets in a row, the rest of the stream is treated as garbage."""
UNPACK_BFRAMES: Final = "mpeg4_unpack_bframes"
"""FFmpeg's bitstream filter for DivX/Xvid packed B-frames."""


class Decoded(NamedTuple):
    """One decoded frame: RGB image (H, W, 3) uint8 and its container timestamps (s, None = missing)."""

    image: np.ndarray
    pts_s: float | None
    dts_s: float | None


@dataclass
class DecodeReport:
    """What one pass over a container found (filled while decoding).

    Attributes:
        frames: frames decoded.
        bad_packets: packets the decoder rejected (damaged data).
        concealed_frames: frames decoded from damaged data (the decoder flagged them corrupt and
            patched the missing parts by error concealment); they are still yielded.
        error: the demuxer/decoder error that ended the pass early, if any.
        declared_frames: frame count the container header declares (0 = unknown).
        declared_duration_s: duration the container header declares (None = unknown).
        last_pts_s: the latest container timestamp (pts or dts) of a decoded frame.
        fps: the stream's nominal frame rate (None = unknown).
        bitstream_filter: the bitstream filter the packets went through (None = none).
    """

    frames: int = 0
    bad_packets: int = 0
    concealed_frames: int = 0
    error: str | None = None
    declared_frames: int = 0
    declared_duration_s: float | None = None
    last_pts_s: float | None = None
    fps: float | None = None
    bitstream_filter: str | None = None

    def damage(self) -> str | None:
        """One line describing damage or truncation, or None when the pass looks complete."""
        if self.error is not None:
            return f"read error after {self.frames} frames: {self.error}"
        found = []
        if self.bad_packets:
            found.append(f"{self.bad_packets} damaged packets skipped")
        if self.concealed_frames:
            found.append(f"{self.concealed_frames} damaged frames concealed")
        if found:
            return f"{', '.join(found)} ({self.frames} frames decoded)"
        if self.declared_frames and self.frames < self.declared_frames:
            return f"file ends early: {self.frames} of {self.declared_frames} frames decoded (truncated?)"
        if self.declared_duration_s and self.last_pts_s is not None and self.fps:
            missing = self.declared_duration_s - (self.last_pts_s + 1.0 / self.fps)
            if missing > 2.0 / self.fps + 0.5:
                return (
                    f"file ends early at {self.last_pts_s:.2f} s of {self.declared_duration_s:.2f} s "
                    f"({self.frames} frames decoded; truncated?)"
                )
        return None


def open_video(url: str, options: dict[str, str] | None = None, timeout: Any = None) -> Any:
    """Open ``url`` with PyAV and check it has a video stream. Raises av.FFmpegError / ValueError."""
    container = av.open(url, mode="r", options=options or {}, timeout=timeout)
    if not container.streams.video:
        container.close()
        raise ValueError("no video stream")
    return container


def _unpacker(container: Any, stream: Any) -> BitStreamFilterContext | None:
    """``mpeg4_unpack_bframes`` for MPEG-4 Part 2 video in AVI, when this FFmpeg has it, else None."""
    if stream.codec_context.name != "mpeg4" or "avi" not in container.format.name.split(","):
        return None
    if UNPACK_BFRAMES not in bitstream_filters_available:
        return None
    try:
        return BitStreamFilterContext(UNPACK_BFRAMES, stream)
    except (av.FFmpegError, ValueError):
        return None


def _filtered(bsf: BitStreamFilterContext | None, packet: Any) -> list[Any]:
    """The packets to decode for one demuxed ``packet`` (the empty end-of-stream packet drains
    the filter first, then still flushes the decoder)."""
    if bsf is None:
        return [packet]
    if packet.size == 0:
        return [*bsf.filter(None), packet]
    return list(bsf.filter(packet))


def _seconds(value: int | None, time_base: Any) -> float | None:
    return float(value * time_base) if value is not None and time_base else None


def decode_rgb(
    container: Any, report: DecodeReport, frame_timeout_s: float | None = None, low_delay: bool = False
) -> Iterator[Decoded]:
    """Yield every decodable frame, in presentation order, with its raw container timestamps.

    Damaged packets are skipped and counted in ``report``, as are frames the decoder flags corrupt
    (yielded: error concealment patched them, as live streams need); a demuxer error ends the pass and is
    recorded in ``report.error`` (never raised), so the caller decides how to report it.
    ``frame_timeout_s`` (live streams): packets that keep coming without a decodable frame for this
    long end the pass too (``report.error`` says so), as a silent stream's timed-out read does.

    Decoder threads: files use FFmpeg's frame and slice threading (``AUTO``: the most throughput);
    ``low_delay`` (live streams) uses slice threading only, because frame threading holds back
    ``thread_count − 1`` frames before the first comes out (measured: 2 frames on 2 cores, 66 ms at
    30 fps; on 16 cores 16 frames, over half a second of added latency).
    """
    stream = container.streams.video[0]
    stream.thread_type = "SLICE" if low_delay else "AUTO"
    report.declared_frames = int(stream.frames or 0)
    if container.duration:
        report.declared_duration_s = container.duration / 1_000_000
    rate = stream.average_rate or stream.guessed_rate
    report.fps = float(rate) if rate else None
    unpack = _unpacker(container, stream)
    report.bitstream_filter = UNPACK_BFRAMES if unpack is not None else None
    bad_in_row = 0
    last_frame = time.monotonic()
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except (av.FFmpegError, OSError) as exc:
            report.error = str(exc)
            return
        if frame_timeout_s is not None and time.monotonic() - last_frame >= frame_timeout_s:
            report.error = f"no frame decoded for {frame_timeout_s:g} s"
            return
        try:
            decoded = [f for pkt in _filtered(unpack, packet) for f in stream.decode(pkt)]
        except av.FFmpegError:
            report.bad_packets += 1
            bad_in_row += 1
            if bad_in_row >= MAX_BAD_PACKETS_IN_A_ROW:
                report.error = f"{bad_in_row} undecodable packets in a row"
                return
            continue
        bad_in_row = 0
        for frame in decoded:
            pts = _seconds(frame.pts, frame.time_base)
            dts = _seconds(frame.dts, frame.time_base)
            report.frames += 1
            report.concealed_frames += bool(frame.is_corrupt)
            seen = [t for t in (report.last_pts_s, pts, dts) if t is not None]
            report.last_pts_s = max(seen) if seen else None
            yield Decoded(frame.to_ndarray(format="rgb24"), pts, dts)
            last_frame = time.monotonic()  # the time the caller held the frame does not count
