"""The ZeroMQ PUB socket of design.md §3, owned by one thread so no caller can ever block on it.

Messages are multipart ``[topic, json]`` (``parts.<source>``, ``status.<source>``) or
``[topic, json header, jpeg]`` (``frame.<source>``, see :mod:`pipeline.publish.zmq_sink`); never pickled.

Why a thread: ZeroMQ sockets are not thread-safe, and the pipeline publishes from the ZeroMQ
sink's thread while the health reporter publishes status from its own. :meth:`ZmqPublisher.publish`
only appends to a bounded in-process queue (the oldest message is dropped, and counted, when it
is full); the publisher thread is the only one that touches the socket.

Where messages can be lost (all counted except the last):

- ``dropped_queue``: the in-process queue was full (the thread fell behind; rare);
- ``dropped_hwm``: ``zmq.Again`` on a non-blocking send (a *connected* PUB with no peer yet);
- inside libzmq: a bound PUB socket silently drops a message for one subscriber whose
  ``SNDHWM`` queue is full (a slow or dead subscriber). By design it never blocks or reports it,
  so other subscribers and the pipeline are unaffected; a subscriber sees it as a gap in ``seq``.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final

import zmq

from pipeline.config import ZmqConfig
from pipeline.errors import ConfigError
from pipeline.loopback import is_loopback_host
from pipeline.observe.health import HealthStatus
from pipeline.publish.curve import check_clients_dir, load_secret_pair
from pipeline.publish.record import encode, status_record

log = logging.getLogger(__name__)

LINGER_MS: Final = 200
"""How long closing the socket may wait to push out what libzmq still holds."""
QUEUE_SIZE: Final = 256
"""Default length of the in-process queue (messages)."""
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


class ZmqPublisher:
    """One PUB socket on its own thread; :meth:`publish` from any thread, never blocking.

    Args:
        cfg: endpoint, bind/connect, ``send_hwm`` and CURVE key files.
        queue_size: in-process queue length (messages); when full, the oldest is dropped.

    Raises:
        ConfigError: at construction, one line naming ``--zmq <endpoint>`` (address in use,
            bad endpoint) or the key file/folder; nothing has been published then.

    Ownership: whoever creates it closes it, after the last message (the final ``stopped``
    status). :class:`~pipeline.publish.zmq_sink.ZmqSink` only borrows it.
    """

    def __init__(self, cfg: ZmqConfig, queue_size: int = QUEUE_SIZE) -> None:
        if not cfg.endpoint:
            raise ConfigError(f"{ENDPOINT_FLAG}: no endpoint given (e.g. tcp://127.0.0.1:5555)")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.cfg = cfg
        self.endpoint = cfg.endpoint
        self.queue_size = queue_size
        self.sent = 0
        self.dropped_queue = 0
        self.dropped_hwm = 0
        self._queue: collections.deque[tuple[bytes, ...]] = collections.deque()
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

    def publish(self, topic: str, payload: bytes, *more: bytes) -> None:
        """Queue one multipart message ``[topic, payload, *more]``; returns at once.

        Never blocks: when the queue is full the oldest message is dropped (``dropped_queue``).
        After :meth:`close` it does nothing.
        """
        message = (topic.encode("utf-8"), payload, *more)
        with self._cond:
            if self._closing:
                return
            while len(self._queue) >= self.queue_size:
                self._queue.popleft()
                self.dropped_queue += 1
            self._queue.append(message)
            self._cond.notify()

    def publish_status(self, status: HealthStatus) -> None:
        """Publish ``status.<source>`` (schema-1 status record with this publisher's counters)."""
        record = status_record(status, time.time(), publisher=self.stats())
        self.publish(f"status.{status.source_id}", encode(record).encode("utf-8"))

    def status_listener(self) -> Callable[[HealthStatus], None]:
        """A :class:`~pipeline.observe.health.HealthReporter` listener publishing every status."""
        return self.publish_status

    def stats(self) -> dict[str, int]:
        """Counters for status records: sent, dropped_queue, dropped_hwm, queued (messages)."""
        return {
            "sent": self.sent,
            "dropped_queue": self.dropped_queue,
            "dropped_hwm": self.dropped_hwm,
            "queued": len(self._queue),
        }

    @property
    def dropped(self) -> int:
        """Messages this process dropped (queue + EAGAIN); per-subscriber HWM drops are not seen."""
        return self.dropped_queue + self.dropped_hwm

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

    def _loop(self, sock: zmq.Socket[Any]) -> None:
        """Send queued messages until closed; at close, flush until the deadline, drop the rest."""
        warned = False
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait(0.5)
                if self._closing and (not self._queue or time.monotonic() > self._flush_deadline):
                    self.dropped_queue += len(self._queue)
                    self._queue.clear()
                    return
                message = self._queue.popleft()
            try:
                sock.send_multipart(message, flags=zmq.NOBLOCK, copy=len(message[-1]) < 65536)
                self.sent += 1
            except zmq.Again:
                self.dropped_hwm += 1
            except zmq.ZMQError as exc:
                self.dropped_hwm += 1
                if not warned:
                    log.warning(
                        "zmq: send failed on %s (%s); message dropped", self.endpoint, zmq_reason(exc)
                    )
                    warned = True
