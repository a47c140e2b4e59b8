"""The GStreamer RTSP test camera (tools/rtsp_server.py, run with the system python) as a child process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from tests.helpers.procs import REPO

SYSTEM_PYTHON = "/usr/bin/python3"


def rtsp_server_available() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode == 0


class RtspServer:
    """The GStreamer RTSP server (tools/rtsp_server.py) as a child process; start/stop at will.

    Restarting (``start`` after ``stop``/``kill``) listens on the same port again. ``stall`` /
    ``resume`` make the server stop/restart sending frames while its RTSP sessions stay open.
    The server's stdout and stderr are read continuously (``lines``), so it never blocks on a pipe.
    """

    def __init__(self, port: int, *extra: str) -> None:
        self.port = port
        self.extra = extra
        self.url = f"rtsp://127.0.0.1:{port}/cam"
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._lines_changed = threading.Condition()

    def start(self, timeout: float = 15.0) -> None:
        cmd = [SYSTEM_PYTHON, str(REPO / "tools" / "rtsp_server.py"), "--port", str(self.port), *self.extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        lines: list[str] = []  # this process's lines only (a killed one's readers may still be draining)
        with self._lines_changed:
            self.lines = lines
        readers = [
            threading.Thread(target=self._collect, args=(pipe, lines), daemon=True)
            for pipe in (self.proc.stdout, self.proc.stderr)
        ]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                for reader in readers:
                    reader.join(2.0)  # the server's last words
                raise RuntimeError(f"RTSP server exited: {' | '.join(self.lines)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("RTSP server did not start listening")

    def _collect(self, pipe: IO[str] | None, lines: list[str]) -> None:
        assert pipe is not None
        for line in pipe:
            with self._lines_changed:
                lines.append(line.rstrip("\n"))
                self._lines_changed.notify_all()

    def _wait_for_line(self, text: str, timeout: float, after: int = 0) -> bool:
        with self._lines_changed:
            return self._lines_changed.wait_for(lambda: text in self.lines[after:], timeout)

    def _toggle(self, sig: signal.Signals, word: str, timeout: float) -> None:
        assert self.proc is not None and self.proc.poll() is None, "server not running"
        with self._lines_changed:
            seen = len(self.lines)
        self.proc.send_signal(sig)
        if not self._wait_for_line(word, timeout, after=seen):
            raise RuntimeError(f"RTSP server did not report {word} within {timeout} s")

    def stall(self, timeout: float = 5.0) -> None:
        """Stop sending frames (sessions stay open) until :meth:`resume`."""
        self._toggle(signal.SIGUSR1, "STALLED", timeout)

    def resume(self, timeout: float = 5.0) -> None:
        """Send frames again after :meth:`stall`."""
        self._toggle(signal.SIGUSR2, "FLOWING", timeout)

    def kill(self) -> None:
        """SIGKILL: the server dies without closing anything itself (a crashed camera)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def require_rtsp_server() -> None:
    """Skip when the GStreamer RTSP server is not installed; in CI (CI=true) that is a failure."""
    if not rtsp_server_available():
        if os.environ.get("CI") == "true":
            pytest.fail("GStreamer RTSP server not installed (.ci/run installs it)")
        pytest.skip("GStreamer RTSP server not installed (apt: gir1.2-gst-rtsp-server-1.0 python3-gi)")
