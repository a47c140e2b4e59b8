"""The subscriber's side of the ZeroMQ output: a SUB socket, with CURVE when the publisher encrypts
(``infant-stream subscribe`` and the web app's live views both connect through here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import zmq

from pipeline.errors import ConfigError
from pipeline.publish.curve import load_public_key, load_secret_pair
from pipeline.publish.publisher import zmq_reason

CurveKeys = tuple[bytes, bytes, bytes]
"""(the publisher's public key, this subscriber's public key, its secret key), Z85 text."""


def curve_keys(server_key: str, client_key: str, flags: tuple[str, str]) -> CurveKeys | None:
    """The CURVE keys from the two key files (None when neither is given).

    ``flags``: how the user named the two files (e.g. ``--curve-server-key``), for the messages.
    Raises ConfigError when only one is given or a file is unreadable.
    """
    if bool(server_key) != bool(client_key):
        raise ConfigError(f"{flags[0]} and {flags[1]}: give both or neither")
    if not server_key:
        return None
    return (load_public_key(server_key, flags[0]), *load_secret_pair(client_key, flags[1]))


def subscriber_socket(
    ctx: zmq.Context[Any], endpoint: str, topics: Sequence[str] = ("",), keys: CurveKeys | None = None
) -> zmq.Socket[Any]:
    """A SUB socket (linger 0) connected to ``endpoint`` and subscribed to each topic prefix.

    Raises ConfigError (one line naming the endpoint) when it cannot connect.
    """
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = keys
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        sock.close(0)
        raise ConfigError(f"{endpoint}: cannot connect ({zmq_reason(exc)})") from None
    for topic in topics or ("",):
        sock.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
    return sock
