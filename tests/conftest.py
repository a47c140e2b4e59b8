"""Shared fixtures: test media, the colour model, a real GStreamer RTSP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from pipeline.infer.backends.gpu_info import gpu_driver_present
from tests.helpers.bounds import assert_record_in_frame, pipeline_records
from tests.helpers.media import colour_model
from tests.helpers.procs import REPO, cli_command, free_port
from tests.helpers.rtsp import RtspServer, require_rtsp_server
from tests.helpers.schema import validate_record

SHARED_MEDIA = REPO.parent / "shared" / "media"


_GPU_DESELECTED: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``gpu`` tests run wherever an NVIDIA GPU is present. Without one they are deselected — loudly
    (a line in the summary names how many and why) — unless asked for with ``-m gpu``, where they then
    fail with a clear message instead of being skipped."""
    if gpu_driver_present() or "gpu" in (config.getoption("-m") or ""):
        return
    keep = [item for item in items if item.get_closest_marker("gpu") is None]
    gone = [item for item in items if item.get_closest_marker("gpu") is not None]
    if gone:
        _GPU_DESELECTED.extend(item.nodeid for item in gone)
        config.hook.pytest_deselected(items=gone)
        items[:] = keep


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _GPU_DESELECTED:
        terminalreporter.write_line(
            f"NOT RUN: {len(_GPU_DESELECTED)} gpu tests (no NVIDIA GPU on this machine; "
            "they run wherever one is present, or force them with -m gpu)",
            yellow=True,
        )


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    """A ZeroMQ context for the test's own sockets, destroyed without lingering."""
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture(scope="session")
def colour_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return colour_model(tmp_path_factory.mktemp("models") / "colour.onnx")


@pytest.fixture(scope="session")
def vtest_avi() -> Path:
    path = SHARED_MEDIA / "vtest.avi"
    if not path.exists():
        pytest.fail(f"{path} is missing: tests need ../shared/media beside the repo")
    return path


@pytest.fixture
def rtsp_server() -> Iterator[RtspServer]:
    """A running RTSP test camera. In CI (CI=true) a missing server is a failure, not a skip."""
    require_rtsp_server()
    server = RtspServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def infant_stream() -> list[str]:
    """The console command, run as a subprocess of this venv's python."""
    return cli_command()


@pytest.fixture(autouse=True)
def every_published_part_lies_in_its_frame(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that used ``tmp_path``: each record the pipeline wrote there (JSONL) matches
    ``docs/record.schema.json`` and has all its parts and keypoints inside its frame, observed or
    predicted (the real-footage issue's invariant, checked in every test run, not only in the tests
    written for it)."""
    yield
    if request.node.get_closest_marker("records_by_hand") is not None:
        return
    tmp = request.node.funcargs.get("tmp_path")
    if not isinstance(tmp, Path) or not tmp.exists():
        return
    for path in sorted(tmp.rglob("*.jsonl")):
        for record in pipeline_records(path):
            validate_record(record)
            assert_record_in_frame(record)
