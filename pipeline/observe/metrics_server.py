"""The optional HTTP endpoint (``--metrics-port``): Prometheus text on ``/metrics``, ``/healthz``.

Lifecycle (driven by :mod:`pipeline.session.build` and :mod:`pipeline.cli.run`):

1. :class:`MetricsServer` binds in its constructor, before the model loads, so a taken port fails
   at once with one line (``--metrics-port 9100: cannot bind 127.0.0.1:9100 (Address already in
   use)``, exit 2) and no output file is created. It serves from then on, on its own daemon
   thread: until a pipeline is attached ``/healthz`` says ``starting`` (503) and ``/metrics`` has
   only the process, platform and ``build_info`` metrics.
2. :meth:`MetricsServer.attach` hands it the built pipeline's ``counters``; :meth:`sink` is the
   :class:`~pipeline.observe.metrics.MetricsSink` that feeds the latency histograms, and
   :meth:`on_health` the health listener that feeds ``fps``.
3. :meth:`MetricsServer.close` (last, after the final status) stops serving and frees the port.

Routes: ``GET /metrics`` (Prometheus text ``version=0.0.4``, or OpenMetrics / text 1.0.0 when the
scraper's ``Accept`` header asks for it), ``GET /healthz`` (JSON, see
:func:`pipeline.metrics.health_verdict`: 200 only when every source is ``running``), anything
else 404. There is no authentication: the default host is 127.0.0.1, and binding any other
address logs a warning. Request lines are never logged.
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

from prometheus_client.exposition import choose_encoder

from pipeline.config import MetricsConfig
from pipeline.errors import ConfigError
from pipeline.lifecycle import HealthStatus
from pipeline.loopback import is_loopback_host
from pipeline.observe.metrics import CountersFn, MetricsSink, PipelineCollector, health_verdict, make_registry

log = logging.getLogger(__name__)

PORT_FLAG: Final = "--metrics-port"
REQUEST_TIMEOUT_S: Final = 5.0
"""A client that sends nothing for this long is disconnected (it cannot hold a thread forever)."""
CLOSE_TIMEOUT_S: Final = 5.0


def host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: MetricsServer

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup of the host (slow where DNS is broken)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up mid-answer is not worth a traceback on stderr."""
        log.debug("metrics: request from %s failed", client_address, exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_TIMEOUT_S

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        owner = self.server.owner
        if path not in ("/metrics", "/healthz"):
            self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n")
            return
        try:
            if path == "/metrics":
                encode, content_type = choose_encoder(self.headers.get("Accept", ""))
                self._send(200, content_type, encode(owner.registry))
            else:
                code, doc = health_verdict(owner.collector.snapshot())
                self._send(code, "application/json", (json.dumps(doc) + "\n").encode("utf-8"))
        except OSError:
            raise  # the client went away: handle_error
        except Exception as exc:  # noqa: BLE001 - answered as 500 and logged, never silent
            log.warning("metrics: %s failed: %s: %s", path, type(exc).__name__, exc)
            self._send(500, "text/plain; charset=utf-8", b"failed\n")

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silence the stdlib's per-request line on stderr."""


class MetricsServer:
    """Serves ``/metrics`` and ``/healthz`` on ``cfg.host:cfg.port`` from a daemon thread.

    Raises:
        ConfigError: at construction, one line naming ``--metrics-port`` and the address when it
            cannot bind (port in use, no such address, permission).

    ``port``: the bound port (useful with ``cfg.port`` 0 in tests: the system picks a free one).
    """

    def __init__(self, cfg: MetricsConfig) -> None:
        self.cfg = cfg
        self.collector = PipelineCollector()
        self.registry, self.histogram = make_registry(self.collector)
        cls = _Server6 if ":" in cfg.host else _Server
        try:
            self._httpd = cls((cfg.host, cfg.port), _Handler)
        except OSError as exc:  # in use, no such address or host name, permission
            reason = exc.strerror or str(exc)
            where = host_port(cfg.host, cfg.port)
            raise ConfigError(f"{PORT_FLAG} {cfg.port}: cannot bind {where} ({reason})") from None
        self._httpd.owner = self
        self.port = int(self._httpd.server_address[1])
        self.address = host_port(cfg.host, self.port)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="metrics-http", daemon=True
        )
        self._thread.start()
        self._closed = False
        if not is_loopback_host(cfg.host):
            log.warning(
                "metrics are served without authentication on %s (reachable from other machines; "
                "the default --metrics-host is 127.0.0.1)",
                self.address,
            )

    def attach(self, counters: CountersFn) -> None:
        """Serve this pipeline's counters from now on (``Pipeline.counters``)."""
        self.collector.attach(counters)

    def on_health(self, status: HealthStatus) -> None:
        """:class:`~pipeline.observe.health.HealthReporter` listener: the ``fps`` gauges."""
        self.collector.on_health(status)

    def sink(self) -> MetricsSink:
        """A new sink feeding this server's latency histograms (add it to the pipeline's sinks)."""
        return MetricsSink(self.histogram)

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def close(self) -> None:
        """Stop serving and free the port; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(CLOSE_TIMEOUT_S)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
