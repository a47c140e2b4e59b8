"""The web app under test: a real ``infant-stream serve`` process (uvicorn) on a free loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.helpers.procs import REPO, cli_command, free_port

START_DEADLINE_S = 90.0
"""Loading both models on a busy 2-core machine takes a few seconds; this bounds the wait."""
STOP_DEADLINE_S = 20.0


class Server:
    """``infant-stream serve --port P *args`` started in ``with``; ``url`` once it answers ``/health``.

    ``stderr`` (a file under ``log_dir``) keeps what the server printed, for assertions. Leaving the
    block sends SIGTERM and waits (:data:`STOP_DEADLINE_S`); ``returncode`` is the exit status.

    Args:
        args: more ``serve`` flags.
        log_dir: where the server's stderr goes.
        host: the address it binds (``--host``), used for the URL.
        token: the bearer token every request of :meth:`client` carries.
        tmp_dir: the server's temporary folder (``TMPDIR``: where its job folders go), to look into.
    """

    def __init__(
        self,
        *args: str,
        log_dir: Path,
        host: str = "127.0.0.1",
        token: str | None = None,
        tmp_dir: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.args = [*cli_command(), "serve", "--host", host, "--port", str(self.port), *args]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.stderr = log_dir / f"serve-{self.port}.log"
        self.token = token
        self.tmp_dir = tmp_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    def __enter__(self) -> Server:
        with self.stderr.open("wb") as err:
            env = {**os.environ, "TMPDIR": str(self.tmp_dir)} if self.tmp_dir is not None else None
            self.proc = subprocess.Popen(self.args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err, env=env)
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}: {self.stderr.read_text()[-2000:]}")
            try:
                if self.client(timeout=2.0).get("/health").status_code in (200, 401):
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"serve did not answer within {START_DEADLINE_S} s: {self.stderr.read_text()[-2000:]}"
        )

    def client(self, timeout: float = 120.0, token: str | None = None) -> httpx.Client:
        """An HTTP client of the server (with the bearer token, when one is set)."""
        token = token or self.token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, timeout=timeout, headers=headers)

    def stop(self) -> int:
        """SIGTERM, wait; returns the exit status (killed after :data:`STOP_DEADLINE_S`: -9)."""
        if self.proc is None:
            return -1
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5.0)
        self.returncode = self.proc.returncode
        return self.returncode

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def wait_job(client: httpx.Client, job_id: str, deadline_s: float = 120.0) -> dict[str, object]:
    """Poll ``GET /jobs/{id}`` until the job has ended (done, failed, cancelled); its last view."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        view: dict[str, object] = client.get(f"/jobs/{job_id}").json()
        if view["state"] not in ("queued", "running"):
            return view
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} did not end within {deadline_s} s")


class Publisher:
    """A real ``infant-stream run --zmq ENDPOINT --zmq-frames`` looping ``source`` in real time, in ``with``.

    ``endpoint`` is a free loopback port's; ``extra`` are more ``run`` flags; stderr goes to ``log``
    (default: nowhere). Leaving the block terminates it (killed after :data:`STOP_DEADLINE_S`).
    """

    def __init__(self, source: Path, *extra: str, log: Path | None = None, duration_s: float = 600.0) -> None:
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.args = [*cli_command(), "run", "--source", str(source), "--realtime", "--loop"]
        self.args += ["--zmq", self.endpoint, "--zmq-frames", "--no-display", "--no-progress"]
        self.args += ["--duration", str(duration_s), *extra]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Publisher:
        if self.log is None:
            self.proc = subprocess.Popen(
                self.args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        else:
            with self.log.open("wb") as err:
                self.proc = subprocess.Popen(self.args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5.0)


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def missing_browser() -> list[str]:
    """Which of Debian's ``chromium`` and ``chromium-driver`` binaries are missing (``.ci/run`` installs both)."""
    return [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]


def chromium(console_log: bool = False) -> Any:
    """A headless Chromium (Selenium 4, Debian's binaries), 1280×1000; ``console_log``: keep the
    browser's console for ``driver.get_log("browser")``. The caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver
