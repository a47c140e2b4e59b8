"""``infant-stream subscribe ENDPOINT``: receive published messages, print them, save the records.

Every message is one line on stdout: ``<topic> <json>`` for ``parts.*``/``status.*``, and a short
``frame.<source> seq N WxH jpeg K bytes`` for ``frame.*`` (the image itself is never printed).
``--jsonl``/``--csv`` save the ``parts.*`` records (whole lines, flushed per record; CSV layout
in :mod:`pipeline.sinks.table`). Malformed messages give a warning on stderr and are skipped.

Ends after ``--count`` parts records (exit 0), on SIGINT/SIGTERM (exit 130/143, files complete),
or with exit 1 when nothing arrives for ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Final

import zmq

from pipeline.config import ZMQ_DEFAULT_ENDPOINT
from pipeline.config.rules import endpoint_problem
from pipeline.errors import ConfigError, InfantStreamError
from pipeline.publish.curve import load_public_key, load_secret_pair
from pipeline.publish.publisher import zmq_reason
from pipeline.runtime.signals import StopSignals
from pipeline.sinks.outfile import LineFile
from pipeline.sinks.table import CsvWriter, keypoint_rows, record_rows

POLL_MS: Final = 100
"""How often the receive loop looks at signals and the timeout."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "subscribe",
        help="receive published records over ZeroMQ: print or save them",
        description="Connect to a publisher (infant-stream run --zmq) and print each message as one line.",
    )
    p.add_argument(
        "endpoint",
        nargs="?",
        default=ZMQ_DEFAULT_ENDPOINT,
        help=f"publisher address (default {ZMQ_DEFAULT_ENDPOINT}, where run --zmq publishes)",
    )
    p.add_argument(
        "--topic",
        action="append",
        default=None,
        help="topic prefix to receive (repeatable; e.g. parts. status. frame.cam0); default all",
    )
    p.add_argument("--jsonl", help="append each parts record as one line to this file")
    p.add_argument("--csv", help="write one row per part per record to this CSV file")
    p.add_argument("--count", type=int, default=0, help="stop after N parts records (0 = never)")
    p.add_argument("--timeout", type=float, default=0.0, help="fail if nothing arrives for S seconds")
    p.add_argument("--quiet", action="store_true", help="do not print messages on stdout")
    p.add_argument("--curve-server-key", help="the publisher's public key file (NAME.key)")
    p.add_argument("--curve-client-key", help="this subscriber's secret key file (NAME.key_secret)")
    p.set_defaults(func=main)


def _warn(text: str) -> None:
    print(f"infant-stream: warning: {text}", file=sys.stderr, flush=True)


def _socket(ctx: zmq.Context[Any], args: argparse.Namespace) -> zmq.Socket[Any]:
    """A SUB socket with CURVE (if asked), connected and subscribed."""
    if args.count < 0:
        raise ConfigError(f"--count: must be >= 0, got {args.count}")
    if args.timeout < 0:
        raise ConfigError(f"--timeout: must be >= 0, got {args.timeout}")
    if bool(args.curve_server_key) != bool(args.curve_client_key):
        raise ConfigError("--curve-server-key and --curve-client-key: give both or neither")
    keys = None
    if args.curve_server_key:
        server = load_public_key(args.curve_server_key, "--curve-server-key")
        keys = (server, *load_secret_pair(args.curve_client_key, "--curve-client-key"))
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = keys
    try:
        sock.connect(args.endpoint)
    except zmq.ZMQError as exc:
        sock.close(0)
        raise ConfigError(f"{args.endpoint}: cannot connect ({zmq_reason(exc)})") from None
    for topic in args.topic or [""]:
        sock.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
    return sock


def describe(parts: list[bytes]) -> tuple[str, str, dict[str, Any] | None]:
    """(topic, the line to print, the parts record or None) of one message.

    Raises:
        ValueError: the message is malformed (no or wrong number of parts, not UTF-8 JSON, nested
            too deeply, not an object, a ``parts.*`` payload not a schema-1 record).
    """
    if not parts:
        raise ValueError("empty message (no parts)")
    try:
        topic = parts[0].decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("topic is not UTF-8") from None
    shown = topic or "(no topic)"
    expected = 3 if topic.startswith("frame.") else 2
    if len(parts) != expected:
        raise ValueError(f"{shown}: {len(parts)} message parts, expected {expected}")
    try:
        obj = json.loads(parts[1].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):  # also ints past str()'s digit limit
        raise ValueError(f"{shown}: payload is not UTF-8 JSON") from None
    except RecursionError:
        raise ValueError(f"{shown}: payload nested too deeply") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{shown}: payload is not a JSON object")
    if expected == 3:
        w, h = obj.get("width"), obj.get("height")
        enc = obj.get("encoding", "?")
        return topic, f"{topic} seq {obj.get('seq')} {w}x{h} {enc} {len(parts[2])} bytes", None
    try:
        line = f"{topic} {json.dumps(obj, separators=(',', ':'))}"
    except RecursionError:  # decoded just below the limit, re-encoding goes over it
        raise ValueError(f"{shown}: payload nested too deeply") from None
    if topic.startswith("parts."):
        try:
            record_rows(obj)  # is it a schema-1 parts record (with well-formed keypoints)?
            keypoint_rows(obj)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{shown}: not a schema-1 parts record ({type(exc).__name__}: {exc})") from None
        return topic, line, obj
    return topic, line, None


def receive(args: argparse.Namespace, sock: zmq.Socket[Any], signals: StopSignals) -> None:
    """The receive loop; returns at ``--count`` or a signal, raises on ``--timeout``."""
    jsonl = LineFile(args.jsonl, "--jsonl") if args.jsonl else None
    table = CsvWriter(args.csv, "--csv") if args.csv else None
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    records = 0
    last = time.monotonic()
    try:
        while signals.received is None:
            if not poller.poll(POLL_MS):
                if args.timeout and time.monotonic() - last > args.timeout:
                    raise InfantStreamError(f"{args.endpoint}: nothing received for {args.timeout:g} s")
                continue
            parts = sock.recv_multipart(zmq.NOBLOCK)
            last = time.monotonic()
            try:
                _, line, record = describe(parts)
            except ValueError as exc:
                _warn(f"malformed message skipped: {exc}")
                continue
            if not args.quiet:
                print(line, flush=True)
            if record is not None:
                if jsonl is not None:
                    jsonl.write_line(json.dumps(record, separators=(",", ":")))
                if table is not None:
                    table.write_record(record)
                records += 1
                if args.count and records >= args.count:
                    return
    finally:
        if jsonl is not None:
            jsonl.close()
        if table is not None:
            table.close()


def main(args: argparse.Namespace) -> int:
    problem = endpoint_problem(args.endpoint) if args.endpoint else "empty value"
    if problem is not None:
        raise ConfigError(f"subscribe {args.endpoint!r}: {problem}")
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        sock = _socket(ctx, args)
        try:
            with StopSignals() as signals:
                try:
                    receive(args, sock, signals)
                except BrokenPipeError:  # stdout closed (e.g. | head): a normal end
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                    return 0
        finally:
            sock.close(0)
    finally:
        ctx.term()
    return signals.exit_code()
