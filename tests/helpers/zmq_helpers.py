"""Real ZeroMQ sockets for tests: free loopback endpoints, SUB sockets, the slow-joiner handshake."""

from __future__ import annotations

import time

import pytest
import zmq

from pipeline.publish.publisher import ZmqPublisher
from tests.helpers.procs import free_port


def endpoint() -> str:
    """A free ``tcp://127.0.0.1:PORT``."""
    return f"tcp://127.0.0.1:{free_port()}"


def sub_socket(ctx: zmq.Context, ep: str, *topics: bytes, rcvhwm: int = 1000) -> zmq.Socket:
    """A SUB socket connected to ``ep``, subscribed to ``topics`` (none given = everything)."""
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVHWM, rcvhwm)
    s.connect(ep)
    for t in topics or (b"",):
        s.setsockopt(zmq.SUBSCRIBE, t)
    return s


def handshake(
    pub: ZmqPublisher, sub: zmq.Socket, topic: str = "status.ping", deadline_s: float = 5.0
) -> None:
    """Publish pings on ``topic`` until the subscriber gets one (the slow-joiner problem), then drain."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        pub.publish(topic, b"{}")
        if sub.poll(50):
            break
    else:
        pytest.fail("subscriber never connected")
    while sub.poll(100):
        sub.recv_multipart()
