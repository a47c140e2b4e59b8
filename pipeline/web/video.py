"""One uploaded video through a real run: the same :class:`~pipeline.session.session.Session` as
``infant-stream run --mode lossless`` (every frame, or ``fps`` frames per second of video), on the
thread that calls :func:`run_video`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.config import Config, Policy, evolve
from pipeline.errors import InfantStreamError
from pipeline.frames import Result
from pipeline.record import record_of
from pipeline.runtime.sink import Sink
from pipeline.session.build import open_sources, overlay_renderer
from pipeline.session.session import Session
from pipeline.sources.base import Source
from pipeline.sources.sampled import SampledSource
from pipeline.web.analyzer import IMAGE_SOURCE
from pipeline.web.answers import png_base64
from pipeline.web.uploads import FIELD


def video_config(
    base: Config, video: Path, outputs: Mapping[str, Path] | None = None, max_frames: int = 0
) -> Config:
    """``base`` made into the run of one uploaded ``video``: source ``upload``, lossless, no window,
    no publishing, no metrics endpoint, no progress line; ``outputs`` (``jsonl``, ``csv``,
    ``overlay``: paths) written as ``run --jsonl --csv --record`` writes them."""
    out = outputs or {}
    src = evolve(base.source, uri=str(video), id=IMAGE_SOURCE, mode="lossless", realtime=False, loop=False)
    return evolve(
        base,
        source=src,
        sources=(),
        display=evolve(base.display, mode="off"),
        output=evolve(
            base.output, jsonl=str(out.get("jsonl", "")), csv=str(out.get("csv", "")), progress=False
        ),
        record=evolve(base.record, overlay=str(out.get("overlay", "")), raw=""),
        zmq=evolve(base.zmq, endpoint=""),
        metrics=evolve(base.metrics, port=0),
        run=evolve(base.run, max_frames=max_frames, duration_s=0.0),
    )


class Progress:
    """A lossless sink counting the results of a video run (and, with ``keep``, keeping their records
    and the first frame's overlay as PNG base64, for ``/analyze_video``'s one answer)."""

    name, capacity, critical = "progress", 64, True
    policy: Policy = "lossless"

    def __init__(self, cfg: Config, keep: bool = False) -> None:
        self.frames = 0
        self.keep = keep
        self.records: list[Mapping[str, Any]] = []
        self.first_overlay: str | None = None
        self._render = overlay_renderer(cfg) if keep else None
        self.last_at = 0.0
        """``time.monotonic()`` of the newest result (0.0 before the first)."""

    def write(self, result: Result) -> None:
        if self.keep:
            self.records.append(record_of(result)[0])
            if self._render is not None and self.first_overlay is None:
                self.first_overlay = png_base64(self._render(result))
                self._render = None
        self.frames += 1
        self.last_at = time.monotonic()

    def close(self) -> None:
        pass


def run_video(
    cfg: Config,
    sinks: Sequence[Sink],
    sample_fps: float = 0.0,
    on_session: Callable[[Session], None] | None = None,
    cancelled: threading.Event | None = None,
) -> None:
    """Run ``cfg`` (from :func:`video_config`) to the end of its video on this thread.

    ``sample_fps`` > 0: only that many frames per second of video go through (:class:`SampledSource`).
    ``on_session`` gets the open session before it starts (to cancel it from another thread);
    a ``cancelled`` event already set means the run does not start.

    Raises:
        InfantStreamError: one line naming the upload as ``file`` (never a server path): a damaged or
            truncated video (after every frame decoded before the damage was processed and written),
            a model or output failure.
    """
    video = cfg.source.uri
    try:
        sources: list[Source] = list(open_sources(cfg))
        if sample_fps > 0:
            sources = [SampledSource(s, sample_fps) for s in sources]
        with Session(cfg, sources=sources, extra_sinks=sinks, window=False) as session:
            if on_session is not None:
                on_session(session)
            if cancelled is not None and cancelled.is_set():
                return
            session.run(handle_signals=False)
    except InfantStreamError as exc:
        raise type(exc)(str(exc).replace(video, FIELD)) from None
