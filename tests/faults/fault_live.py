"""Helpers of the fault-injection tests: ``infant-stream run`` as a child process, and a real SUB
socket reading its ZeroMQ records on a background thread (arrival times kept)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from tests.helpers.zmq_helpers import endpoint, sub_socket

PROCESS_DEADLINE_S = 15.0
"""Longest a signalled ``infant-stream run`` may take to exit in these tests."""


@dataclass(frozen=True)
class Received:
    """One ZeroMQ message: monotonic arrival time, topic, decoded JSON record."""

    at: float
    topic: str
    record: dict[str, Any]


class Subscriber(threading.Thread):
    """A SUB socket on ``endpoint`` (``parts.`` and ``status.``), kept in ``messages`` as they arrive."""

    def __init__(self, ctx: zmq.Context, endpoint: str) -> None:
        super().__init__(name="test-sub", daemon=True)
        self.sock = sub_socket(ctx, endpoint, b"parts.", b"status.")
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self._receive(50)
        while self._receive(200):  # what was already on its way (e.g. a final status)
            pass
        self.sock.close(0)

    def _receive(self, timeout_ms: int) -> bool:
        if not self.sock.poll(timeout_ms):
            return False
        topic, body = self.sock.recv_multipart()
        with self._lock:
            self.messages.append(Received(time.monotonic(), topic.decode(), json.loads(body)))
        return True

    def close(self) -> None:
        """Stop reading (after draining what arrives within 0.2 s) and close the socket."""
        self._halt.set()
        self.join(5)

    def snapshot(self, prefix: str = "", since: float = 0.0) -> list[Received]:
        """Messages whose topic starts with ``prefix`` that arrived at or after ``since``."""
        with self._lock:
            return [m for m in self.messages if m.topic.startswith(prefix) and m.at >= since]

    def parts(self, since: float = 0.0) -> list[Received]:
        return self.snapshot("parts.", since)

    def states(self, since: float = 0.0) -> list[str]:
        """The ``state`` of every status record (arrival order)."""
        return [m.record["state"] for m in self.snapshot("status.", since)]


def start_run(cmd: list[str], *args: str, stderr_path: Path) -> subprocess.Popen[bytes]:
    """``infant-stream run ARGS`` in the background, stderr to ``stderr_path`` (read it after)."""
    with stderr_path.open("wb") as err:
        return subprocess.Popen([*cmd, "run", *args], stdout=subprocess.DEVNULL, stderr=err)


def signal_and_wait(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout: float = PROCESS_DEADLINE_S
) -> tuple[int, float]:
    """Send ``sig``; (exit code, seconds from the signal to the exit). Kills the process on timeout."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise AssertionError(f"process did not exit within {timeout} s of signal {sig}") from None
    return code, time.monotonic() - t0


def kill_quietly(proc: subprocess.Popen[Any]) -> None:
    """Cleanup for a ``finally``: SIGKILL the child if it still runs."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def published_run(
    ctx: zmq.Context, cmd: list[str], *args: str, stderr_path: Path
) -> Iterator[tuple[Subscriber, subprocess.Popen[bytes]]]:
    """A SUB socket on a fresh endpoint, then ``infant-stream run ARGS --zmq ENDPOINT --no-display``
    publishing to it; on leaving, the child is SIGKILLed if it still runs and the socket closed
    (what it received stays readable)."""
    ep = endpoint()
    sub = Subscriber(ctx, ep)
    sub.start()
    proc = start_run(cmd, *args, "--zmq", ep, "--no-display", stderr_path=stderr_path)
    try:
        yield sub, proc
    finally:
        kill_quietly(proc)
        sub.close()


def jsonl_records(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSONL file, each one whole JSON; the file ends with a newline (no partial line)."""
    text = path.read_text()
    assert text.endswith("\n"), f"{path.name}: last line is partial: {text[-80:]!r}"
    return [json.loads(line) for line in text.splitlines()]


def transitions(states: list[str]) -> list[str]:
    """``states`` with consecutive repeats collapsed: running, running, stalled → running, stalled."""
    return [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
