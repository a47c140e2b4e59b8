"""Live views: the newest state of every source that ``infant-stream run --zmq`` publishers send.

One thread (:class:`LiveHub`) subscribes to each configured publisher (``parts.``, ``status.``,
``frame.`` and ``features.`` topics), checks every message (:func:`pipeline.publish.subscriber.describe`)
and keeps, per source: the newest overlay frame (a JPEG the publisher already hid as its privacy setting
says), the newest status (state, per-stage fps, drops), the newest movement features (``run
--features``), the record rate and latency, and the last
``history_s`` seconds of part and joint positions. Browsers read :meth:`LiveHub.view` at their own
pace (``pipeline.web.app``'s WebSocket, rate-limited): nothing they do reaches this thread, and
this thread never waits for them, so a slow or stalled browser cannot slow the publisher or the hub.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import zmq

from pipeline.publish.subscriber import CurveKeys, subscriber_socket
from pipeline.sinks.received import describe
from pipeline.web.answers import joint_xy, part_xy

log = logging.getLogger(__name__)

TOPICS: Final = ("parts.", "status.", "frame.", "features.")
POLL_MS: Final = 100
RATE_WINDOW_S: Final = 2.0
"""Records per second are counted over this many seconds."""
SILENT_AFTER_S: Final = 3.0
"""A source with no message for this long shows as ``silent`` (status heartbeats come once a second)."""
MAX_SOURCES: Final = 64
"""Sources kept per hub (a publisher inventing ids cannot grow memory without bound)."""

Sample = tuple[float, list[list[float]], list[list[float]]]
"""(capture_ts, [[class_id, x, y], ...] parts, [[keypoint id, x, y], ...] joints): one record's positions."""


@dataclass
class _Source:
    """What the hub knows of one source (guarded by the hub's lock)."""

    endpoint: str
    state: str = "starting"
    status: dict[str, Any] | None = None
    last_seen: float = 0.0
    frame: bytes | None = None
    frame_seq: int = -1
    frame_size: tuple[int, int] = (0, 0)
    arrivals: collections.deque[float] = field(default_factory=collections.deque)
    latency_ms: float | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)
    keypoints: list[dict[str, Any]] = field(default_factory=list)
    history: collections.deque[Sample] = field(default_factory=collections.deque)
    records: int = 0
    features: dict[str, Any] | None = None


LIVE_FEATURES: Final = ("speed_median", "dominant_hz", "bursts_per_min")
"""The per-limb features a live card shows (of ``features.<source>``, :mod:`pipeline.sinks.features`)."""


def live_features(message: Mapping[str, Any]) -> dict[str, Any]:
    """What a live card shows of a ``features.<source>`` message: the window, and per limb a few features
    (null where too thin), plus the left-right asymmetry of arms and legs (ValueError when malformed)."""
    values = message["features"]
    if not isinstance(values, dict):
        raise ValueError("features: not an object")

    def number(key: str) -> float | None:
        v = values.get(key)
        return round(float(v), 3) if isinstance(v, int | float) else None

    return {
        "window_s": float(message["window_s"]),
        "end_ts": float(message["end_ts"]),
        "points_from": str(message.get("points_from", "")),
        "limbs": {
            limb: {f: number(f"{limb}_{f}") for f in LIVE_FEATURES}
            for limb in ("arm_l", "arm_r", "leg_l", "leg_r")
        },
        "asymmetry": {pair: number(f"{pair}_asymmetry") for pair in ("arm", "leg")},
    }


def positions(record: Mapping[str, Any]) -> Sample:
    """The positions of one parts record: each part's smoothed (else raw) centroid, each joint's
    smoothed (else raw) point, rounded to 0.1 px."""
    parts = []
    for p in record.get("parts", ()):
        xy = part_xy(p)
        if xy is not None:
            parts.append([p["class_id"], round(xy[0], 1), round(xy[1], 1)])
    joints = []
    for k in record.get("keypoints") or ():
        xy = joint_xy(k)
        if xy is not None:
            joints.append([k["id"], round(xy[0], 1), round(xy[1], 1)])
    return float(record.get("capture_ts") or 0.0), parts, joints


class LiveHub:
    """Subscribes to ``endpoints`` on its own thread (:meth:`start`, :meth:`close`).

    Args:
        endpoints: publisher addresses (``tcp://host:port``).
        history_s: seconds of positions kept per source.
        keys: CURVE keys for encrypted publishers (:func:`pipeline.publish.subscriber.curve_keys`).

    Attributes:
        received: messages accepted so far, per topic kind (``parts``, ``status``, ``frame``).
        rejected: malformed messages skipped.
    """

    def __init__(
        self, endpoints: Sequence[str], history_s: float = 30.0, keys: CurveKeys | None = None
    ) -> None:
        self.endpoints = tuple(endpoints)
        self.history_s = history_s
        self._keys = keys
        self._ctx: zmq.Context[Any] = zmq.Context()
        self._sockets = [subscriber_socket(self._ctx, e, TOPICS, keys) for e in self.endpoints]
        self._sources: dict[str, _Source] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="live-hub", daemon=True)
        self.received = dict.fromkeys(("parts", "status", "frame", "features"), 0)
        self.rejected = 0

    def start(self) -> None:
        if self.endpoints:
            self._thread.start()

    def close(self) -> None:
        """Stop the thread, close the sockets. Idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        for sock in self._sockets:
            sock.close(0)
        self._sockets = []
        self._ctx.term()

    # -- the receiving thread --------------------------------------------------------------------

    def _loop(self) -> None:
        poller = zmq.Poller()
        where = {}
        for endpoint, sock in zip(self.endpoints, self._sockets, strict=True):
            poller.register(sock, zmq.POLLIN)
            where[sock] = endpoint
        while not self._stop.is_set():
            for sock, _ in poller.poll(POLL_MS):
                for _ in range(256):  # drain what is there, then look at the stop event again
                    try:
                        message = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.accept(where[sock], message)

    def accept(self, endpoint: str, message: list[bytes], now: float | None = None) -> bool:
        """Take one received message from ``endpoint``; False (counted, logged once per kind of
        problem at debug level) when it is malformed or from one source too many."""
        now = time.monotonic() if now is None else now
        try:
            topic, _, record = describe(message)
        except ValueError as exc:
            self.rejected += 1
            log.debug("live: malformed message from %s skipped: %s", endpoint, exc)
            return False
        kind, _, source_id = topic.partition(".")
        if kind not in self.received or not source_id:
            self.rejected += 1
            return False
        with self._lock:
            src = self._sources.get(source_id)
            if src is None:
                if len(self._sources) >= MAX_SOURCES:
                    self.rejected += 1
                    return False
                src = self._sources[source_id] = _Source(endpoint)
            try:
                if kind == "frame":
                    header = json.loads(message[1])
                    seq = int(header.get("seq", src.frame_seq + 1))
                    size = (int(header.get("width", 0)), int(header.get("height", 0)))
                    src.frame, src.frame_seq, src.frame_size = message[2], seq, size
                elif kind == "status":
                    status = json.loads(message[1])
                    src.status, src.state = status, str(status.get("state", src.state))
                elif kind == "features":
                    src.features = live_features(json.loads(message[1]))
                elif record is not None:
                    self._add_record(src, record, now)
            except (ValueError, TypeError, KeyError, IndexError) as exc:  # well-formed JSON, wrong values
                self.rejected += 1
                log.debug("live: message from %s skipped: %s: %s", endpoint, type(exc).__name__, exc)
                return False
            src.endpoint, src.last_seen = endpoint, now
            self.received[kind] += 1
        return True

    def _add_record(self, src: _Source, record: Mapping[str, Any], now: float) -> None:
        """One parts record into ``src`` (read whole first: a bad value raises before anything changes)."""
        sample = positions(record)
        latency = (record.get("latency_ms") or {}).get("capture_to_publish")
        parts = [dict(p) for p in record.get("parts", ())]
        keypoints = [dict(k) for k in record.get("keypoints") or ()]
        src.records += 1
        src.arrivals.append(now)
        while src.arrivals and src.arrivals[0] < now - RATE_WINDOW_S:
            src.arrivals.popleft()
        src.latency_ms = float(latency) if isinstance(latency, int | float) else None
        src.parts, src.keypoints = parts, keypoints
        src.history.append(sample)
        while src.history and src.history[0][0] < sample[0] - self.history_s:
            src.history.popleft()

    # -- what browsers read ----------------------------------------------------------------------

    def source_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._sources)

    def frame(self, source_id: str) -> tuple[bytes, int] | None:
        """(the newest overlay JPEG, its seq) of ``source_id``; None when none has come."""
        with self._lock:
            src = self._sources.get(source_id)
            return None if src is None or src.frame is None else (src.frame, src.frame_seq)

    def view(self, source_id: str, since_ts: float = 0.0, now: float | None = None) -> dict[str, Any] | None:
        """One source's state for a browser (None when unknown): state (``silent`` when nothing
        came for :data:`SILENT_AFTER_S`), record rate here, latency, the publisher's status, the
        newest parts and joints, the frame's seq, and the positions newer than ``since_ts``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            src = self._sources.get(source_id)
            if src is None:
                return None
            recent = [a for a in src.arrivals if a >= now - RATE_WINDOW_S]
            fps = len(recent) / RATE_WINDOW_S if recent else 0.0
            silent = now - src.last_seen > SILENT_AFTER_S
            status = src.status or {}
            return {
                "source": source_id,
                "endpoint": src.endpoint,
                "state": "silent" if silent else src.state,
                "fps": round(fps, 1),
                "latency_ms": None if src.latency_ms is None else round(src.latency_ms, 1),
                "publisher_fps": status.get("fps", {}),
                "dropped": status.get("dropped", {}),
                "records": src.records,
                "frame_seq": src.frame_seq,
                "frame_size": list(src.frame_size),
                "parts": src.parts,
                "keypoints": src.keypoints,
                "features": src.features,
                "history": [list(s) for s in src.history if s[0] > since_ts],
            }
