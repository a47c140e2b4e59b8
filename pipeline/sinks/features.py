"""Live movement features: ``features.<source>`` over ZeroMQ every few seconds, from a rolling window of
the run's own records, computed by the same code as ``infant-stream analyze``
(:func:`pipeline.analysis.analyze.analyze`).

Message (schema 1, JSON): ``{"schema": 1, "source", "start_ts", "end_ts"`` (Unix s of the window's first
and last frame), ``"window_s"``, ``"frames"``, ``"points_from"`` (``joints``/``parts``/""),
``"features": {column: value}`` (the per-limb and left-right columns of ``features.csv``; a feature with
too little data in the window is null) ``, "thin": {column: why}}``.

A best-effort sink on its own thread (``latest`` policy: when a computation takes longer than the records
arriving meanwhile, the oldest queued records are dropped, never the pipeline held up). No pixels.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from pipeline.config import Policy
from pipeline.frames import Result

MIN_WINDOW_FRAMES: Final = 10
"""No message before the window holds this many frames."""


class FeaturesSink:
    """Keeps each source's last ``window_s`` seconds of records; every ``every_s`` seconds (capture time)
    sends that source's features through ``publish(topic, payload)``.

    Args:
        window_s: the rolling window, seconds.
        every_s: how often each source's features go out, seconds.
        publish: sends one ``[topic, payload]`` message (the run's ZeroMQ publisher).
    """

    name = "features"
    policy: Policy = "latest"
    capacity = 256
    critical = False

    def __init__(self, window_s: float, every_s: float, publish: Callable[[str, bytes], None]) -> None:
        from pipeline.analysis.analyze import AnalysisOptions

        self.window_s, self.every_s, self.publish = window_s, every_s, publish
        self.options = AnalysisOptions(window_s=0.0)  # the whole window's features, no sub-windows
        self._records: dict[str, deque[dict[str, Any]]] = {}
        self._last: dict[str, float] = {}
        self.sent = 0

    def write(self, result: Result) -> None:
        record = result.record
        if record is None:
            return
        sid = str(record["source"])
        window = self._records.setdefault(sid, deque())
        window.append(dict(record))
        now = float(record["capture_ts"])
        while window and now - float(window[0]["capture_ts"]) > self.window_s:
            window.popleft()
        last = self._last.setdefault(sid, now)
        if now - last >= self.every_s and len(window) >= MIN_WINDOW_FRAMES:
            self._last[sid] = now
            self.publish(f"features.{sid}", features_message(list(window), self.window_s, self.options))
            self.sent += 1

    def close(self) -> None:
        self._records.clear()


def features_message(records: list[dict[str, Any]], window_s: float, options: Any) -> bytes:
    """The ``features.<source>`` payload of one window of records (module docstring)."""
    from pipeline.analysis.analyze import analyze
    from pipeline.analysis.recording import from_records

    a = analyze(from_records(records, "live"), options)
    body = {
        "schema": 1,
        "source": a.recording.source,
        "start_ts": records[0]["capture_ts"],
        "end_ts": records[-1]["capture_ts"],
        "window_s": window_s,
        "frames": len(records),
        "points_from": a.points_from,
        "features": {k: (round(v, 4) if math.isfinite(v) else None) for k, v in a.features.items()},
        "thin": {k: v.removeprefix("thin: ") for k, v in a.verdicts.items() if v != "ok"},
    }
    return json.dumps(body, separators=(",", ":")).encode("utf-8")
