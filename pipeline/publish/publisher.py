"""The ZeroMQ PUB socket (README "Live outputs"): one thread owns it, fed by one queue.

Messages are multipart, never pickled:

``parts.<source>``  ``[topic, record]``: the result's schema-1 record (:mod:`pipeline.record`), the
                    same UTF-8 JSON bytes the JSONL file gets.
``status.<source>`` ``[topic, status]``: once a second, and a final ``stopped``/``error`` status.
``frame.<source>``  ``[topic, header, jpeg]`` (only with ``zmq.frames``, at most ``zmq.frame_fps`` per
                    second): ``header`` is UTF-8 JSON ``{"schema": 1, "source", "seq", "capture_ts",
                    "width", "height", "encoding": "jpeg"}`` (``seq`` matches the record of the same
                    frame; width/height are the JPEG's pixels); ``jpeg`` a baseline JPEG of the
                    rendered image (overlay, hidden as the frame's privacy decision says: the
                    record's ``privacy`` key).

One hop: :meth:`ZmqPublisher.write` (a :class:`~pipeline.runtime.sink.Tap`, called on the postprocess
thread) and :meth:`ZmqPublisher.publish_status` (the health thread) only append to one bounded
in-process queue and return; the publisher's own thread is the only one that touches the socket, and
it renders and encodes the ``frame.*`` JPEGs too, so nothing heavy runs on a pipeline thread.
ZeroMQ sockets are not thread-safe: that is why one thread owns it.

Where messages can be lost (``dropped`` counts all but the last, once):

- the queue was full (the thread fell behind): the oldest queued message is dropped;
- ``zmq.Again`` on a non-blocking send (a *connected* PUB with no peer yet), or a send error;
- inside libzmq: a bound PUB socket silently drops a message for one subscriber whose ``SNDHWM``
  queue is full (a slow or dead subscriber). By design it never blocks or reports it, so other
  subscribers and the pipeline are unaffected; a subscriber sees it as a gap in ``seq``.

A failure to render or encode a frame is best-effort: logged once, recorded as the failed output
``zmq-frames`` (status records and metrics), frames stop, records go on.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import cv2
import zmq

from pipeline.config import PrivacyConfig, ZmqConfig
from pipeline.errors import ConfigError
from pipeline.frames import Result
from pipeline.lifecycle import HealthStatus
from pipeline.loopback import is_loopback_host
from pipeline.publish.curve import check_clients_dir, load_secret_pair
from pipeline.record import SCHEMA, encode, record_of, status_record
from pipeline.render import Renderer
from pipeline.render.privacy import protect
from pipeline.runtime.sink import OutputFailures

log = logging.getLogger(__name__)

LINGER_MS: Final = 200
"""How long closing the socket may wait to push out what libzmq still holds."""
_DEFAULT_PRIVACY: Final = PrivacyConfig()
QUEUE_SIZE: Final = 256
"""Default length of the in-process queue (messages; ~8 s of records at 30 fps)."""
FLUSH_S: Final = 1.0
"""Default time :meth:`ZmqPublisher.close` gives the thread to send what is queued."""
START_TIMEOUT_S: Final = 10.0
"""Longest the constructor waits for the thread to bind (binding itself is immediate)."""

ENDPOINT_FLAG: Final = "--zmq"
KEY_FLAG: Final = "--zmq-curve-key"
CLIENTS_FLAG: Final = "--zmq-curve-clients"
"""Labels in error messages: the ``run`` flags of ``zmq.endpoint``, ``zmq.curve_secret_key``,
``zmq.curve_clients_dir``."""


def zmq_reason(exc: zmq.ZMQError) -> str:
    """The error text without pyzmq's ``(addr=...)`` suffix (the caller names the endpoint)."""
    return zmq.strerror(exc.errno) if exc.errno is not None else str(exc)


def is_loopback(endpoint: str) -> bool:
    """True when ``endpoint`` cannot be reached from another machine (loopback TCP, ipc, inproc)."""
    transport, _, rest = endpoint.partition("://")
    if transport in ("ipc", "inproc"):
        return True
    if transport != "tcp":
        return False
    return is_loopback_host(rest.rsplit(":", 1)[0].split(";")[-1])


FRAMES_OUTPUT: Final = "zmq-frames"
"""The name a frame-encoding failure is recorded under."""


@dataclass(frozen=True)
class _FrameJob:
    """A ``frame.*`` message still to render and encode (on the publisher thread)."""

    result: Result


_Item = tuple[bytes, ...] | _FrameJob


class ZmqPublisher:
    """One PUB socket on its own thread; :meth:`write`/:meth:`publish` from any thread, never blocking.

    Args:
        cfg: endpoint, bind/connect, ``send_hwm``, CURVE key files, ``frames``/``frame_fps``/
            ``jpeg_quality``.
        render: the image of a result for ``frame.*`` messages; None = the captured frame hidden
            as its privacy decision says (:func:`pipeline.render.privacy.protect`, default mosaic).
        queue_size: in-process queue length (messages); when full, the oldest is dropped.
        failures: where a frame-encoding failure is recorded (shared with the pipeline's sinks).

    Raises:
        ConfigError: at construction, one line naming ``--zmq <endpoint>`` (address in use,
            bad endpoint) or the key file/folder; nothing has been published then.

    Ownership: whoever creates it closes it, after the last message (the final ``stopped``
    status); the pipeline only calls :meth:`write`.
    """

    name = "zmq"
    critical = False

    def __init__(
        self,
        cfg: ZmqConfig,
        render: Renderer | None = None,
        queue_size: int = QUEUE_SIZE,
        failures: OutputFailures | None = None,
    ) -> None:
        if not cfg.endpoint:
            raise ConfigError(f"{ENDPOINT_FLAG}: no endpoint given (e.g. tcp://127.0.0.1:5555)")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.cfg = cfg
        self.endpoint = cfg.endpoint
        self.render = render
        self.queue_size = queue_size
        self.failures = failures or OutputFailures()
        self.sent = 0
        self.dropped = 0
        """Messages this process dropped (queue full, EAGAIN, send errors); per-subscriber HWM
        drops inside libzmq are not seen."""
        self.records = 0
        self.frames = 0
        self._frames_on = cfg.frames
        self._period_s = 1.0 / cfg.frame_fps
        self._next_frame = 0.0
        self._queue: collections.deque[_Item] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._flush_deadline = 0.0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._server_keys: tuple[bytes, bytes] | None = None
        self.allowed_clients = 0
        """Client public keys allowed (0 = any client that knows the server's public key)."""
        if cfg.curve_secret_key:
            self._server_keys = load_secret_pair(cfg.curve_secret_key, KEY_FLAG)
            if cfg.curve_clients_dir:
                self.allowed_clients = len(check_clients_dir(cfg.curve_clients_dir, CLIENTS_FLAG))
        elif cfg.curve_clients_dir:
            raise ConfigError(
                f"{CLIENTS_FLAG} {cfg.curve_clients_dir}: needs {KEY_FLAG} (the server's secret key)"
            )
        self._thread = threading.Thread(target=self._run, name="zmq-publisher", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise ConfigError(f"{ENDPOINT_FLAG} {cfg.endpoint}: the publisher did not start")
        if self._error is not None:
            self._thread.join(2.0)
            error = self._error
            if isinstance(error, ConfigError):
                raise error
            raise ConfigError(f"{ENDPOINT_FLAG} {cfg.endpoint}: {error}")
        if not self._server_keys and not is_loopback(cfg.endpoint):
            log.warning(
                "zmq: %s %s is reachable from other machines and not encrypted; "
                "records go out in clear text (use CURVE keys: infant-stream keys --help)",
                "connecting to" if cfg.connect else "binding",
                cfg.endpoint,
            )

    # -- any thread ----------------------------------------------------------------------------

    def _enqueue(self, item: _Item) -> None:
        with self._cond:
            if self._closing:
                return
            while len(self._queue) >= self.queue_size:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(item)
            self._cond.notify()

    def publish(self, topic: str, payload: bytes, *more: bytes) -> None:
        """Queue one multipart message ``[topic, payload, *more]``; returns at once (after
        :meth:`close` it does nothing)."""
        self._enqueue((topic.encode("utf-8"), payload, *more))

    def write(self, result: Result) -> None:
        """Queue ``parts.<source>`` with the result's record, and a ``frame.<source>`` when one is
        due (``zmq.frames``, at most ``frame_fps`` a second). O(1): the JPEG is made later, on the
        publisher thread."""
        source = result.meta.source_id
        self.publish(f"parts.{source}", record_of(result)[1])
        self.records += 1
        if self._frames_on:
            now = time.monotonic()
            if now >= self._next_frame:
                self._next_frame += self._period_s
                if self._next_frame <= now:  # first frame, or after a pause: restart the cadence
                    self._next_frame = now + self._period_s
                self._enqueue(_FrameJob(result))

    def publish_status(self, status: HealthStatus) -> None:
        """Publish ``status.<source>`` (schema-1 status record with this publisher's counters)."""
        record = status_record(status, time.time(), publisher=self.stats())
        self.publish(f"status.{status.source_id}", encode(record).encode("utf-8"))

    def status_listener(self) -> Callable[[HealthStatus], None]:
        """A :class:`~pipeline.observe.health.HealthReporter` listener publishing every status."""
        return self.publish_status

    def stats(self) -> dict[str, int]:
        """Counters for status records: sent, dropped, queued (messages)."""
        return {"sent": self.sent, "dropped": self.dropped, "queued": len(self._queue)}

    def close(self, flush_s: float = FLUSH_S) -> None:
        """Send what is queued (at most ``flush_s`` seconds), then close the socket and context.

        Idempotent; returns within about ``flush_s`` + :data:`LINGER_MS`.
        """
        with self._cond:
            if not self._closing:
                self._closing = True
                self._flush_deadline = time.monotonic() + flush_s
            self._cond.notify()
        self._thread.join(flush_s + LINGER_MS / 1000.0 + 2.0)
        if self._thread.is_alive():
            log.warning("zmq: publisher thread did not stop within %.1f s", flush_s + 2.0)

    def __enter__(self) -> ZmqPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the publisher thread ------------------------------------------------------------------

    def _open(self, ctx: zmq.Context[Any]) -> tuple[zmq.Socket[Any], Any]:
        """The configured PUB socket (and the authenticator, if any), bound or connected.

        On any error everything opened here is closed again, so ``ctx.term()`` cannot hang.
        """
        cfg = self.cfg
        auth = None
        sock = ctx.socket(zmq.PUB)
        try:
            sock.setsockopt(zmq.SNDHWM, cfg.send_hwm)
            sock.setsockopt(zmq.LINGER, LINGER_MS)
            if self._server_keys is not None:
                from zmq.auth import CURVE_ALLOW_ANY
                from zmq.auth.thread import ThreadAuthenticator

                auth = ThreadAuthenticator(ctx)
                auth.start()
                auth.configure_curve(domain="*", location=cfg.curve_clients_dir or CURVE_ALLOW_ANY)
                sock.curve_publickey, sock.curve_secretkey = self._server_keys
                sock.curve_server = True
            if cfg.connect:
                sock.connect(cfg.endpoint)
            else:
                sock.bind(cfg.endpoint)
        except BaseException as exc:
            sock.close(0)
            if auth is not None:
                auth.stop()
            if isinstance(exc, zmq.ZMQError):
                verb = "connect" if cfg.connect else "bind"
                reason = zmq_reason(exc)
                raise ConfigError(f"{ENDPOINT_FLAG} {cfg.endpoint}: cannot {verb} ({reason})") from None
            raise
        return sock, auth

    def _run(self) -> None:
        ctx: zmq.Context[Any] = zmq.Context()
        try:
            sock, auth = self._open(ctx)
        except BaseException as exc:  # noqa: BLE001 - handed to the constructor, which raises it
            self._error = exc
            ctx.term()
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop(sock)
        finally:
            sock.close(LINGER_MS)
            if auth is not None:
                auth.stop()
            ctx.term()

    def _frame_message(self, result: Result) -> tuple[bytes, ...] | None:
        """``[topic, header, jpeg]`` of ``render(result)``; None (and frames stop) when it fails."""
        try:
            rgb = protect(result, _DEFAULT_PRIVACY) if self.render is None else self.render(result)
            ok, jpeg = cv2.imencode(
                ".jpg",
                cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, self.cfg.jpeg_quality],
            )
            if not ok:
                raise RuntimeError(f"JPEG encoding of frame {result.meta.seq} failed")
        except Exception as exc:  # noqa: BLE001 - best-effort output: recorded, frames stop
            self._frames_on = False
            self.failures.record(FRAMES_OUTPUT, exc)
            return None
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
        topic = f"frame.{m.source_id}".encode()
        return topic, json.dumps(header, separators=(",", ":")).encode("utf-8"), jpeg.tobytes()

    def _loop(self, sock: zmq.Socket[Any]) -> None:
        """Send queued messages until closed; at close, flush until the deadline, drop the rest."""
        warned = False
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait(0.5)
                if self._closing and (not self._queue or time.monotonic() > self._flush_deadline):
                    self.dropped += len(self._queue)
                    self._queue.clear()
                    return
                item = self._queue.popleft()
            message = self._frame_message(item.result) if isinstance(item, _FrameJob) else item
            if message is None:
                continue
            try:
                sock.send_multipart(message, flags=zmq.NOBLOCK, copy=len(message[-1]) < 65536)
                self.sent += 1
                if isinstance(item, _FrameJob):
                    self.frames += 1
            except zmq.Again:
                self.dropped += 1
            except zmq.ZMQError as exc:
                self.dropped += 1
                if not warned:
                    log.warning(
                        "zmq: send failed on %s (%s); message dropped", self.endpoint, zmq_reason(exc)
                    )
                    warned = True
