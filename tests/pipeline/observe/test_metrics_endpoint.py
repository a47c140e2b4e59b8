"""The Prometheus endpoint with real sockets: a real pipeline, real HTTP GETs, the real CLI.

Every threaded test has a deadline (pytest-timeout in setup.cfg, plus the explicit waits below).
"""

from __future__ import annotations

import logging
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families

from pipeline.config import Config, MetricsConfig, override
from pipeline.errors import ConfigError
from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.lifecycle import HealthStatus
from pipeline.observe.health import HealthReporter, format_health, health_between
from pipeline.observe.metrics import LATENCY_STAGES, STATES, health_verdict
from pipeline.observe.metrics_server import MetricsServer
from pipeline.record import status_record
from pipeline.runtime.counters import PipelineCounters, SourceCounters, StageCount
from pipeline.sources.file import FileSource
from pipeline.sources.stream import StreamOptions, StreamSource
from tests.helpers.media import (
    DEADLINE_S,
    RED,
    colour_pipeline,
    run_to_end,
    scene,
    wait_for,
    write_h264,
    write_packed_avi,
)
from tests.helpers.metrics import HTTP_TIMEOUT_S, current, get, healthz, scrape, value
from tests.helpers.procs import free_port

CLI_TIMEOUT_S = 120.0


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    srv = MetricsServer(MetricsConfig(port=0))
    yield srv
    srv.close()


def red_square(i: int) -> np.ndarray:
    return scene(96, 128, [(RED, (8 + i % 40, 8, 40 + i % 40, 40))])


# -- the server alone ------------------------------------------------------------------------------


def test_before_attach_only_process_metrics_and_starting(server):
    assert server.address == f"127.0.0.1:{server.port}"  # loopback by default
    samples, _ = scrape(server.url)
    names = {name for name, _ in samples}
    assert "process_cpu_seconds_total" in names and "python_info" in names
    assert value(samples, "infant_stream_build_info", version="0.1.0") == 1
    assert not [n for n in names if n.startswith("infant_stream_") and "build_info" not in n]
    assert healthz(server.url) == (503, {"status": "starting", "sources": {}})
    assert get(server.url + "/metrics?debug=1")[0] == 200
    accept = {"Accept": "application/openmetrics-text; version=1.0.0"}  # what Prometheus asks for
    request = urllib.request.Request(server.url + "/metrics", headers=accept)
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as resp:
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
        families = list(openmetrics_families(resp.read().decode()))
    assert "infant_stream_build_info" in {f.name for f in families}
    for path in ("/", "/metricsx", "/healthz/x", "/favicon.ico"):
        assert get(server.url + path)[0] == 404, path


def test_a_failing_snapshot_is_a_500_and_a_warning(server, caplog):
    def broken() -> PipelineCounters:
        raise RuntimeError("counters broke")

    server.attach(broken)
    assert get(server.url + "/metrics")[0] == 500 and get(server.url + "/healthz")[0] == 500
    assert sum("counters broke" in r.getMessage() for r in caplog.records) == 2


def test_close_frees_the_port_and_is_idempotent():
    srv = MetricsServer(MetricsConfig(port=0))
    port = srv.port
    srv.close()
    srv.close()
    again = MetricsServer(MetricsConfig(port=port))
    assert get(again.url + "/healthz")[0] == 503
    again.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()


def test_bind_conflict_is_one_line_config_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            MetricsServer(MetricsConfig(port=port))
    assert str(info.value) == f"--metrics-port {port}: cannot bind 127.0.0.1:{port} (Address already in use)"


def test_non_loopback_host_warns_loopback_does_not(caplog):
    caplog.set_level(logging.WARNING, logger="pipeline.observe.metrics_server")
    with MetricsServer(MetricsConfig(port=0)):
        pass
    assert not caplog.records
    with MetricsServer(MetricsConfig(host="0.0.0.0", port=0)) as srv:
        assert get(f"http://127.0.0.1:{srv.port}/healthz")[0] == 503
    [record] = caplog.records
    assert f"metrics are served without authentication on 0.0.0.0:{srv.port}" in record.getMessage()


@pytest.mark.parametrize(
    ("dotted", "bad", "message"),
    [
        ("metrics.port", 70000, r"--flag: must be 0..65535, got 70000"),
        ("metrics.port", -1, r"--flag: must be 0..65535, got -1"),
        ("metrics.port", "http", r"--flag: must be an integer"),
        ("metrics.host", " ", r"--flag: must not be empty"),
    ],
)
def test_config_is_validated(dotted, bad, message):
    with pytest.raises(ConfigError, match=message):
        override(Config(), dotted, bad, "--flag")
    assert Config().metrics == MetricsConfig(port=0, host="127.0.0.1")


def counters(pipeline_state: str, *states: str) -> PipelineCounters:
    stages = tuple(StageCount(n, 0, 0.0, 0, 0) for n in ("capture", "preprocess", "inference", "postprocess"))
    sources = tuple(SourceCounters(f"cam{i}", "x", s, 0, stages, 0, ()) for i, s in enumerate(states))
    return PipelineCounters(0.0, pipeline_state, sources, ())


@pytest.mark.parametrize(
    ("snapshot", "code", "status"),
    [
        (None, 503, "starting"),
        (counters("running", "running", "running"), 200, "ok"),
        (counters("running", "starting", "running"), 503, "starting"),
        (counters("running", "running", "reconnecting"), 503, "degraded"),
        (counters("running", "running", "stalled"), 503, "degraded"),
        (counters("error", "running", "error"), 503, "degraded"),
        (counters("running", "running", "stopped"), 503, "degraded"),
        (counters("stopped", "stopped", "stopped"), 503, "stopped"),
        (counters("error", "error", "stopped"), 503, "stopped"),
    ],
)
def test_health_verdict(snapshot, code, status):
    got_code, body = health_verdict(snapshot)
    assert (got_code, body["status"]) == (code, status)
    if snapshot is not None:
        assert body["sources"] == {s.source_id: s.state for s in snapshot.sources}


# -- with a real pipeline --------------------------------------------------------------------------


def test_live_pipeline_metrics_and_health(server, tmp_path, colour_model_path):
    video = write_h264(tmp_path / "v.mp4", frames=60, fps=20, draw=red_square)
    p = colour_pipeline(
        FileSource(video, "cam0", realtime=True),
        OrtBackend(colour_model_path),
        [server.sink()],
        policy="lossless",  # no drops even on a loaded machine
    )
    server.attach(p.counters)
    reporter = HealthReporter(p.counters, interval_s=0.25)
    reporter.listeners.append(server.on_health)
    p.start()
    reporter.start()
    try:
        wait_for(lambda: healthz(server.url)[0] == 200, what="healthz 200")
        assert healthz(server.url)[1] == {"status": "ok", "sources": {"cam0": "running"}}
        fps = {"source": "cam0", "stage": "postprocess"}
        wait_for(
            lambda: current(server.url, "infant_stream_fps", **fps) > 0, what="fps from the health listener"
        )
        first = current(server.url, "infant_stream_frames_total", **fps)
        wait_for(
            lambda: current(server.url, "infant_stream_frames_total", **fps) > first,
            what="frames_total rising",
        )
        now, _ = scrape(server.url)
        for stage in ("capture", "preprocess", "inference", "postprocess"):
            assert value(now, "infant_stream_frames_total", source="cam0", stage=stage) > 0
            assert value(now, "infant_stream_fps", source="cam0", stage=stage) >= 0
        for state in STATES:
            expected = 1.0 if state == "running" else 0.0
            assert value(now, "infant_stream_source_state", source="cam0", state=state) == expected
        assert value(now, "infant_stream_source_info", source="cam0", uri=str(video)) == 1
        assert value(now, "infant_stream_dropped_frames_total", source="cam0") == 0
        assert value(now, "infant_stream_reconnects_total", source="cam0") == 0
        assert value(now, "infant_stream_timestamp_repairs_total", source="cam0") == 0
        assert value(now, "infant_stream_sink_dropped_total", sink="metrics") == 0
        for stage in LATENCY_STAGES:
            count = value(now, "infant_stream_stage_latency_seconds_count", source="cam0", stage=stage)
            assert count > 0, stage
            assert value(now, "infant_stream_stage_latency_seconds_sum", source="cam0", stage=stage) >= 0
    finally:
        p.stop()
        assert p.wait(DEADLINE_S)
        reporter.stop()
        p.join()
    code, body = healthz(server.url)
    assert (code, body) == (503, {"status": "stopped", "sources": {"cam0": "stopped"}})
    end, _ = scrape(server.url)
    assert value(end, "infant_stream_source_state", source="cam0", state="stopped") == 1
    assert value(end, "infant_stream_source_state", source="cam0", state="running") == 0
    assert value(end, "infant_stream_fps", source="cam0", stage="capture") == 0  # ended: no rate
    done = value(end, "infant_stream_frames_total", source="cam0", stage="postprocess")
    assert value(end, "infant_stream_stage_latency_seconds_count", source="cam0", stage="inference") == done
    bucket = value(
        end, "infant_stream_stage_latency_seconds_bucket", source="cam0", stage="inference", le="+Inf"
    )
    assert bucket == done


def test_timestamp_repairs_reach_status_records_health_line_and_metrics(server, tmp_path, colour_model_path):
    """A DivX packed-B-frame AVI (its pts go back every other frame): the repairs are counted per
    source through counters → health → status records and ``timestamp_repairs_total``."""
    video = write_packed_avi(tmp_path / "divx.avi", frames=40, fps=25, draw=red_square)
    source = FileSource(video, "divx")
    p = colour_pipeline(source, OrtBackend(colour_model_path), [server.sink()])
    server.attach(p.counters)
    start = p.counters()
    run_to_end(p)
    assert source.timestamp_repairs == 19  # pts 2 after 3, 4 after 5, ... (in 1/25 s)
    (counted,) = p.counters().sources
    assert counted.timestamp_repairs == 19
    (status,) = health_between(start, p.counters())
    assert status.timestamp_repairs == 19
    assert status_record(status, 1.7e9)["timestamp_repairs"] == 19
    assert format_health(status).endswith("| timestamps repaired 19")
    assert status_record(HealthStatus("cam0", "running", {}, 0, 0, 0.0), 1.7e9)["timestamp_repairs"] == 0
    samples, text = scrape(server.url)
    assert value(samples, "infant_stream_timestamp_repairs_total", source="divx") == 19
    assert "# TYPE infant_stream_timestamp_repairs_total counter" in text


def test_two_sources_have_their_own_labels(server, tmp_path, colour_model_path):
    a = write_h264(tmp_path / "a.mp4", frames=7, draw=red_square)
    b = write_h264(tmp_path / "b.mp4", frames=11, draw=red_square)
    p = colour_pipeline(
        [FileSource(a, "cam0"), FileSource(b, "cam1")], OrtBackend(colour_model_path), [server.sink()]
    )
    server.attach(p.counters)
    run_to_end(p)
    samples, _ = scrape(server.url)
    for sid, n, path in (("cam0", 7, a), ("cam1", 11, b)):
        assert value(samples, "infant_stream_frames_total", source=sid, stage="postprocess") == n
        assert value(samples, "infant_stream_source_info", source=sid, uri=str(path)) == 1
        assert value(samples, "infant_stream_source_state", source=sid, state="stopped") == 1
        for stage in LATENCY_STAGES:
            assert value(samples, "infant_stream_stage_latency_seconds_count", source=sid, stage=stage) == n
    assert healthz(server.url) == (
        503,
        {"status": "stopped", "sources": {"cam0": "stopped", "cam1": "stopped"}},
    )


def test_credentials_never_reach_metrics(server, tmp_path, colour_model_path):
    """A camera URL with a password (closed port: it keeps reconnecting) beside a working file."""
    video = write_h264(tmp_path / "v.mp4", frames=200, fps=20, draw=red_square)
    port = free_port()
    cam = StreamSource(
        f"rtsp://admin:s3cret-pw@127.0.0.1:{port}/stream1",
        "cam1",
        StreamOptions(open_timeout_s=0.5, read_timeout_s=0.5, reconnect_initial_s=0.1, reconnect_max_s=0.2),
    )
    p = colour_pipeline(
        [FileSource(video, "cam0", realtime=True), cam],
        OrtBackend(colour_model_path),
        [server.sink()],
        policy="latest",
    )
    server.attach(p.counters)
    p.start()
    try:
        wait_for(
            lambda: healthz(server.url)[1]["sources"] == {"cam0": "running", "cam1": "reconnecting"},
            what="states",
        )
        code, body = healthz(server.url)
        assert (code, body["status"]) == (503, "degraded")
        samples, text = scrape(server.url)
        assert "s3cret" not in text and "admin" not in text
        uri = f"rtsp://***:***@127.0.0.1:{port}/stream1"
        assert value(samples, "infant_stream_source_info", source="cam1", uri=uri) == 1
        assert value(samples, "infant_stream_source_state", source="cam1", state="reconnecting") == 1
    finally:
        p.stop()
        assert p.wait(DEADLINE_S)
        p.join()


# -- through the CLI -------------------------------------------------------------------------------


def test_cli_bind_conflict_fails_before_the_model_and_writes_nothing(infant_stream, tmp_path):
    video = write_h264(tmp_path / "v.mp4", frames=3)
    out, rec = tmp_path / "out.jsonl", tmp_path / "o.mp4"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [
                *infant_stream,
                *("run", "--source", str(video), "--model", str(tmp_path / "not-loaded.onnx")),
                *("--metrics-port", str(port), "--jsonl", str(out), "--record", str(rec), "--no-display"),
            ],
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
        )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"infant-stream: error: --metrics-port {port}: cannot bind 127.0.0.1:{port} (Address already in use)"
    ]
    assert not out.exists() and not rec.exists()


def test_cli_non_loopback_host_warns_on_stderr(infant_stream, tmp_path, colour_model_path):
    video = write_h264(tmp_path / "v.mp4", frames=3)
    port = free_port()
    proc = subprocess.run(
        [
            *infant_stream,
            *("run", "--source", str(video), "--model", str(colour_model_path), "--no-display"),
            *("--metrics-host", "0.0.0.0", "--metrics-port", str(port), "--no-progress"),
        ],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "without authentication" in line]
    assert len(warnings) == 1 and f"0.0.0.0:{port}" in warnings[0], proc.stderr


def test_cli_serves_metrics_while_running(infant_stream, tmp_path, colour_model_path):
    video = write_h264(tmp_path / "v.mp4", frames=120, fps=20, draw=red_square)  # 6 s to scrape in
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            *infant_stream,
            *("run", "--source", str(video), "--realtime", "--model", str(colour_model_path)),
            *("--metrics-port", str(port), "--no-display", "--jsonl", str(tmp_path / "r.jsonl")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def up() -> bool:
            assert proc.poll() is None, "run ended before it was scraped"
            try:
                return healthz(base)[0] == 200
            except OSError:
                return False  # not listening yet

        wait_for(up, what="healthz 200 from the CLI")
        key = {"source": "cam0", "stage": "inference"}
        first = current(base, "infant_stream_frames_total", **key)
        wait_for(lambda: current(base, "infant_stream_fps", **key) > 0, what="fps after a health interval")
        wait_for(
            lambda: current(base, "infant_stream_frames_total", **key) > first, what="frames_total rising"
        )
        later, _ = scrape(base)
        assert (
            value(
                later, "infant_stream_stage_latency_seconds_count", source="cam0", stage="capture_to_publish"
            )
            > 0
        )
        assert value(later, "infant_stream_source_state", source="cam0", state="running") == 1
        _, stderr = proc.communicate(timeout=CLI_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert "infant-stream: cam0: " in stderr and " frames in " in stderr
    with pytest.raises(OSError):  # closed with the run
        get(base + "/healthz")
