"""Processes and ports for integration tests: the console command under test and free loopback ports."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository root."""


def cli_command() -> list[str]:
    """The ``infant-stream`` console script of this interpreter's environment (else ``-m pipeline.cli.main``)."""
    exe = shutil.which("infant-stream", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "pipeline.cli.main"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
