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
from pipeline.publish.subscriber import curve_keys, subscriber_socket
from pipeline.runtime.signals import StopSignals
from pipeline.sinks.outfile import LineFile
from pipeline.sinks.received import describe
from pipeline.sinks.table import CsvWriter

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
    keys = curve_keys(
        args.curve_server_key or "", args.curve_client_key or "", ("--curve-server-key", "--curve-client-key")
    )
    return subscriber_socket(ctx, args.endpoint, args.topic or [""], keys)


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
