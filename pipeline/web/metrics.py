"""The web app's own Prometheus metrics (served at ``/metrics`` through prometheus_client's ASGI app).

- ``infant_stream_web_requests_total{route, code}``: requests answered, by route template;
- ``infant_stream_web_request_seconds{route}``: time to answer (the response's start);
- ``infant_stream_web_analyze_image_seconds``: server-side time of ``/analyze_image``;
- ``infant_stream_web_jobs{state}``: jobs per state now;
- ``infant_stream_web_live_messages_total{kind}`` and ``..._live_rejected_total``: what the live
  hub received from the publishers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline.web.uploads import ASGIApp, Message, Receive, Scope, Send

ROUTES: Final = (
    (re.compile(r"^/jobs/[^/]+/files/[^/]+$"), "/jobs/{id}/files/{kind}"),
    (re.compile(r"^/jobs/[^/]+/tracks$"), "/jobs/{id}/tracks"),
    (re.compile(r"^/jobs/[^/]+$"), "/jobs/{id}"),
    (re.compile(r"^/live/[^/]+/frame\.jpg$"), "/live/{source}/frame.jpg"),
    (re.compile(r"^/static/.*$"), "/static/{file}"),
)
KNOWN: Final = frozenset(
    ("/", "/health", "/healthz", "/metrics", "/analyze_image", "/analyze_video", "/jobs", "/live", "/live/ws")
)


def route_label(path: str) -> str:
    """The route template a path belongs to (``other`` for unknown paths: labels stay few)."""
    if path in KNOWN:
        return path
    for pattern, label in ROUTES:
        if pattern.match(path):
            return label
    return "other"


class _State(Collector):
    """Jobs per state and the live hub's counters, read when scraped."""

    def __init__(
        self, jobs: Callable[[], dict[str, int]], live: Callable[[], tuple[dict[str, int], int]]
    ) -> None:
        self.jobs = jobs
        self.live = live

    def collect(self) -> Iterator[Metric]:
        g = GaugeMetricFamily("infant_stream_web_jobs", "video jobs per state", labels=["state"])
        for state, n in self.jobs().items():
            g.add_metric([state], n)
        yield g
        received, rejected = self.live()
        c = CounterMetricFamily(
            "infant_stream_web_live_messages", "messages the live hub accepted, per kind", labels=["kind"]
        )
        for kind, n in received.items():
            c.add_metric([kind], n)
        yield c
        yield CounterMetricFamily(
            "infant_stream_web_live_rejected", "malformed live messages skipped", value=rejected
        )


class WebMetrics:
    """The registry and the instruments; :meth:`middleware` counts every HTTP request."""

    def __init__(
        self, jobs: Callable[[], dict[str, int]], live: Callable[[], tuple[dict[str, int], int]]
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "infant_stream_web_requests", "HTTP requests answered", ["route", "code"], registry=self.registry
        )
        self.seconds = Histogram(
            "infant_stream_web_request_seconds", "time to answer, s", ["route"], registry=self.registry
        )
        self.analyze_image = Histogram(
            "infant_stream_web_analyze_image_seconds",
            "server-side time of /analyze_image (decode, models, PNGs), s",
            buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
            registry=self.registry,
        )
        self.registry.register(_State(jobs, live))

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """``app`` with every HTTP request counted and timed by route template."""

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            route, t0 = route_label(scope["path"]), time.perf_counter()

            async def observed(message: Message) -> None:
                if message["type"] == "http.response.start":
                    self.requests.labels(route, str(message["status"])).inc()
                    self.seconds.labels(route).observe(time.perf_counter() - t0)
                await send(message)

            await app(scope, receive, observed)

        return counted

    @staticmethod
    def serving(app: ASGIApp, exporter: ASGIApp) -> ASGIApp:
        """``app``, with ``GET /metrics`` answered by ``exporter`` (prometheus_client's ASGI app)."""

        async def switch(scope: Scope, receive: Receive, send: Send) -> None:
            target = exporter if scope["type"] == "http" and scope["path"] == "/metrics" else app
            await target(scope, receive, send)

        return switch
