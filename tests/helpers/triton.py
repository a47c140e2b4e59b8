"""A real Triton Inference Server for tests: PyTriton's ``tritonserver`` (``tools/triton_server.py``) in its
own venv, ``.venv-triton`` (made by ``make triton-venv``, which ``make test`` runs), on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.procs import REPO, free_port

PYTHON = REPO / ".venv-triton" / "bin" / "python"
READY_DEADLINE_S = 120.0
STOP_DEADLINE_S = 20.0


class TritonServer:
    """``tools/triton_server.py --model NAME=PATH ...`` in ``with``: ``url`` (gRPC ``127.0.0.1:PORT``)
    once it prints ``ready``; leaving the block stops its whole process group (SIGTERM, then SIGKILL).
    A missing ``.venv-triton`` fails the test (never a skip): ``make test`` creates it."""

    def __init__(self, models: dict[str, Path], log: Path, *extra: str) -> None:
        if not PYTHON.exists():
            pytest.fail(f"{PYTHON} is missing: run `make triton-venv` (make test does)")
        self.grpc, self.http, self.metrics = free_port(), free_port(), free_port()
        self.url = f"127.0.0.1:{self.grpc}"
        self.args = [str(PYTHON), str(REPO / "tools" / "triton_server.py")]
        self.args += [a for name, path in models.items() for a in ("--model", f"{name}={path}")]
        self.args += ["--grpc-port", str(self.grpc), "--http-port", str(self.http)]
        self.args += ["--metrics-port", str(self.metrics), *extra]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> TritonServer:
        ready = threading.Event()
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                self.args, cwd=REPO, stdout=subprocess.PIPE, stderr=err, start_new_session=True
            )
        out = self.proc.stdout
        assert out is not None

        def watch() -> None:
            for line in out:
                if line.strip() == b"ready":
                    ready.set()

        threading.Thread(target=watch, daemon=True).start()
        deadline = time.monotonic() + READY_DEADLINE_S
        while not ready.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Triton test server did not start: {self.log.read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        group = os.getpgid(self.proc.pid)
        os.killpg(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(STOP_DEADLINE_S)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # tritonserver and the stubs, whatever is left
        self.proc.wait(5.0)

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
