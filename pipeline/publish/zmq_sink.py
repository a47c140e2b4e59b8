"""ZeroMQ sink: publishes each result as ``parts.<source>``, and optionally overlay JPEGs.

Messages (multipart, never pickled):

``parts.<source>``  ``[topic, record]``: the schema-1 record (pipeline/publish/record.py) as UTF-8 JSON.
``frame.<source>``  ``[topic, header, jpeg]`` (only with ``zmq.frames``, at most ``zmq.frame_fps``
                    per second): ``header`` is UTF-8 JSON ``{"schema": 1, "source", "seq",
                    "capture_ts", "width", "height", "encoding": "jpeg"}`` (``seq`` matches the
                    record of the same frame; width/height are the JPEG's pixels); ``jpeg`` is the
                    encoded image (baseline JPEG, BGR as OpenCV writes it; any decoder reads it).
``status.<source>`` published by :meth:`~pipeline.publish.zmq_publisher.ZmqPublisher.status_listener`,
                    not by this sink.

The sink borrows a :class:`~pipeline.publish.zmq_publisher.ZmqPublisher` and never closes it: the
owner closes it after the final status message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import cv2
import numpy as np

from pipeline.config import ZmqConfig
from pipeline.frames import Result
from pipeline.publish.record import SCHEMA, encode, to_record
from pipeline.publish.zmq_publisher import ZmqPublisher
from pipeline.runtime.queues import Policy

Renderer = Callable[[Result], np.ndarray]
"""Result → (H, W, 3) uint8 RGB image to publish (the overlay, head pixelated)."""


class ZmqSink:
    """Publishes records (every result that reaches it) and rate-limited frames.

    Its queue is ``latest`` (length 64, ~2 s at 30 fps): publishing never slows inference; only
    when this thread is starved that long are the oldest results dropped (counted by the pipeline
    as the sink queue's drops). With 8, a loaded 2-core machine dropped records of a file run.

    Args:
        publisher: the shared publisher (not closed by this sink).
        cfg: ``frames``, ``frame_fps``, ``jpeg_quality``.
        render: the image of a result for ``frame.*`` messages; None = the captured frame itself
            (no overlay, no privacy filter: pass a renderer whenever frames leave the machine).
    """

    name = "zmq"
    policy: Policy = "latest"
    capacity = 64

    def __init__(self, publisher: ZmqPublisher, cfg: ZmqConfig, render: Renderer | None = None) -> None:
        self.publisher = publisher
        self.cfg = cfg
        self.render = render
        self.records = 0
        self.frames = 0
        self._period_s = 1.0 / cfg.frame_fps
        self._next_frame = 0.0

    def write(self, result: Result) -> None:
        source = result.meta.source_id
        record = to_record(result, time.monotonic())
        self.publisher.publish(f"parts.{source}", encode(record).encode("utf-8"))
        self.records += 1
        if self.cfg.frames:
            now = time.monotonic()
            if now >= self._next_frame:
                self._next_frame += self._period_s
                if self._next_frame <= now:  # first frame, or after a pause: restart the cadence
                    self._next_frame = now + self._period_s
                self._publish_frame(result)

    def _publish_frame(self, result: Result) -> None:
        """JPEG-encode ``render(result)`` and publish ``frame.<source>``."""
        rgb = result.image if self.render is None else self.render(result)
        ok, jpeg = cv2.imencode(
            ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, self.cfg.jpeg_quality]
        )
        if not ok:
            raise RuntimeError(f"JPEG encoding of frame {result.meta.seq} failed")
        m = result.meta
        header = {
            "schema": SCHEMA,
            "source": m.source_id,
            "seq": m.seq,
            "capture_ts": round(m.capture_wall, 4),
            "width": int(rgb.shape[1]),
            "height": int(rgb.shape[0]),
            "encoding": "jpeg",
        }
        self.publisher.publish(
            f"frame.{m.source_id}", json.dumps(header, separators=(",", ":")).encode("utf-8"), jpeg.tobytes()
        )
        self.frames += 1

    def close(self) -> None:
        """Nothing to release: the publisher belongs to whoever created it."""
