"""A real Triton Inference Server for tests: PyTriton's ``tritonserver`` (``tools/triton_server.py``) in its
own venv, ``.venv-triton`` (made by ``make triton-venv``, which ``make test`` runs), on free loopback ports.

Readiness is asked of the server itself (gRPC ``is_server_ready`` and every model ready), not read from
its output; its output and tritonserver's own log go to files in the test's folder, shown when it fails
to start. PyTriton's workspace is a folder there too (nothing is left in ``~/.cache``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.procs import REPO, free_port

PYTHON = REPO / ".venv-triton" / "bin" / "python"
READY_DEADLINE_S = 120.0
SHM = Path("/dev/shm")
SERVER_SHM = ("pytrtion", "psm_")
"""Names of the shared-memory files of PyTriton's server processes (its proxy and the stubs)."""
STOP_DEADLINE_S = 20.0


class TritonServer:
    """``tools/triton_server.py --model NAME=PATH ...`` in ``with``: ``url`` (gRPC ``127.0.0.1:PORT``)
    once the server and every model are ready; leaving the block stops its whole process group
    (SIGTERM, then SIGKILL). :meth:`kill` and :meth:`start` again (same ports) make an outage.
    A missing ``.venv-triton`` fails the test (never a skip): ``make test`` creates it.

    Args:
        models: name on the server → ONNX file.
        folder: where its logs (``triton.out``, ``tritonserver.log``) and workspace go.
        extra: more ``tools/triton_server.py`` flags (``--max-batch``, ``--queue-delay-us``, ...).
    """

    def __init__(self, models: dict[str, Path], folder: Path, *extra: str) -> None:
        if not PYTHON.exists():
            pytest.fail(f"{PYTHON} is missing: run `make triton-venv` (make test does)")
        self.models = list(models)
        self.grpc, self.http, self.metrics = free_port(), free_port(), free_port()
        self.url = f"127.0.0.1:{self.grpc}"
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.out, self.server_log = folder / "triton.out", folder / "tritonserver.log"
        self.args = [str(PYTHON), "-u", str(REPO / "tools" / "triton_server.py")]
        self.args += [a for name, path in models.items() for a in ("--model", f"{name}={path}")]
        self.args += ["--grpc-port", str(self.grpc), "--http-port", str(self.http)]
        self.args += ["--metrics-port", str(self.metrics), "--log-file", str(self.server_log), *extra]
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._shm_before: set[Path] = set()

    def start(self) -> TritonServer:
        """Start it and wait until it serves every model (RuntimeError with its logs if it does not)."""
        import tritonclient.grpc as grpcclient

        self.starts += 1
        self._shm_before = set(SHM.glob("*"))
        workspace = self.folder / f"workspace-{self.starts}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        with self.out.open("ab") as out:
            self.proc = subprocess.Popen(
                [*self.args, "--workspace", str(workspace)],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        client = grpcclient.InferenceServerClient(self.url)
        deadline = time.monotonic() + READY_DEADLINE_S
        try:
            while not self._serving(client):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the Triton test server did not start:\n{self.logs()}")
                time.sleep(0.2)
        finally:
            client.close()
        return self

    def _serving(self, client: object) -> bool:
        from tritonclient.utils import InferenceServerException

        try:
            ready = client.is_server_ready(client_timeout=2.0)  # type: ignore[attr-defined]
            return bool(ready) and all(
                client.is_model_ready(m, client_timeout=2.0)  # type: ignore[attr-defined]
                for m in self.models
            )
        except InferenceServerException:
            return False

    def logs(self) -> str:
        """The ends of its output and of tritonserver's log."""
        parts = []
        for path in (self.out, self.server_log):
            text = path.read_text(errors="replace") if path.exists() else "(none)"
            parts.append(f"--- {path.name}\n{text[-3000:]}")
        return "\n".join(parts)

    def kill(self) -> None:
        """Kill it at once (SIGKILL to the whole group: a crash, not a shutdown), then remove the
        shared-memory files its processes left in /dev/shm (a clean stop removes them itself)."""
        self._signal_group(signal.SIGKILL)
        for path in set(SHM.glob("*")) - self._shm_before:
            if path.name.startswith(SERVER_SHM):
                path.unlink(missing_ok=True)

    def stop(self) -> None:
        """Stop it: SIGTERM to the group, SIGKILL to whatever is left after the deadline."""
        if self.proc is None or self.proc.poll() is not None:
            self._signal_group(signal.SIGKILL)  # stubs a dead server left behind
            return
        self._signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(STOP_DEADLINE_S)
        self._signal_group(signal.SIGKILL)  # tritonserver and the stubs, whatever is left

    def _signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)
        if sig == signal.SIGKILL:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5.0)

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
