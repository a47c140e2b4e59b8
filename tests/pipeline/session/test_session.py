"""The Session that owns a run, with real files, a real ONNX model and real sockets: best-effort
outputs fail alone, critical outputs end the run with one line, every output gets the one record
built per result, and the lifecycle vocabulary is the one :class:`State`."""

from __future__ import annotations

import json
import subprocess

import pytest

from pipeline import record
from pipeline.config import Config, ModelConfig, OutputConfig, RunConfig, ZmqConfig
from pipeline.errors import StageError
from pipeline.frames import Result
from pipeline.lifecycle import State
from pipeline.runtime.sink import OutputFailures
from pipeline.session.session import Session
from pipeline.sources.file import FileSource
from tests.helpers.media import ListSink, write_h264
from tests.helpers.zmq_helpers import endpoint, handshake, sub_socket

FRAMES = 12


class Raising:
    """A sink that raises on its third result (``critical`` chosen by the test)."""

    policy, capacity = "lossless", 4

    def __init__(self, name: str, critical: bool) -> None:
        self.name, self.critical = name, critical
        self.seen = 0
        self.closed = False

    def write(self, result: Result) -> None:
        self.seen += 1
        if self.seen == 3:
            raise RuntimeError("display lost")

    def close(self) -> None:
        self.closed = True


def config(tmp_path, model, **sections) -> Config:
    return Config(
        model=ModelConfig(path=str(model)),
        output=OutputConfig(jsonl=str(tmp_path / "out.jsonl"), csv=str(tmp_path / "out.csv"), progress=False),
        **sections,
    )


@pytest.mark.timeout(60)
def test_a_failing_best_effort_output_stops_alone(tmp_path, colour_model_path):
    clip = write_h264(tmp_path / "clip.mp4", frames=FRAMES)
    bad, kept = Raising("window", critical=False), ListSink()
    cfg = config(tmp_path, colour_model_path)
    with Session(cfg, sources=[FileSource(clip, "cam0")], extra_sinks=[bad, kept], window=False) as s:
        assert s.run() == 0
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == FRAMES and len(kept.results) == FRAMES  # the run went on to the end
    assert bad.seen == 3 and bad.closed  # stopped at its failure, still closed
    assert s.failures.names == ("window",)
    assert "display lost" in (s.failures.reason("window") or "")
    assert s.counters().failed_outputs == ("window",)
    assert any("window failed" in line for line in s.summary())


@pytest.mark.timeout(60)
def test_a_failing_critical_output_ends_the_run(tmp_path, colour_model_path):
    clip = write_h264(tmp_path / "clip.mp4", frames=FRAMES)
    bad = Raising("archive", critical=True)
    cfg = config(tmp_path, colour_model_path)
    with (
        Session(cfg, sources=[FileSource(clip, "cam0")], extra_sinks=[bad], window=False) as s,
        pytest.raises(StageError, match="sink:archive failed: RuntimeError: display lost"),
    ):
        s.run()
    assert s.failures.names == ()
    assert s.state == State.ERROR


def test_critical_output_failure_through_the_cli_is_one_line(infant_stream, colour_model_path, tmp_path):
    clip = write_h264(tmp_path / "clip.mp4", frames=FRAMES)
    proc = subprocess.run(
        [
            *infant_stream,
            "run",
            "--source",
            str(clip),
            "--model",
            str(colour_model_path),
            "--jsonl",
            "/dev/full",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "jsonl" in errors[0] and "No space left" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.timeout(60)
def test_one_record_build_per_result_shared_by_every_output(tmp_path, colour_model_path, ctx):
    """JSONL, CSV and ZeroMQ (and a plain sink) get the same bytes, built once per frame."""
    clip = write_h264(tmp_path / "clip.mp4", frames=FRAMES)
    ep = endpoint()
    sub = sub_socket(ctx, ep, b"parts.", b"status.")
    kept = ListSink()
    cfg = config(tmp_path, colour_model_path, zmq=ZmqConfig(endpoint=ep), run=RunConfig())
    before = next(record.BUILDS)
    with Session(cfg, sources=[FileSource(clip, "cam0")], extra_sinks=[kept], window=False) as s:
        assert s.publisher is not None
        handshake(s.publisher, sub)  # the subscriber is connected before the first record
        assert s.run() == 0
    built = next(record.BUILDS) - before - 1
    assert built == FRAMES
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [line.encode() for line in lines] == [r.record_json for r in kept.results]
    got = []
    while sub.poll(1000):
        topic, body = sub.recv_multipart()
        if topic.startswith(b"parts."):
            got.append(body)
    assert got == [r.record_json for r in kept.results]  # the same bytes on the wire
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert len(rows) == 1 + sum(len(json.loads(line)["parts"]) for line in lines)  # header + a row per part
    first = json.loads(lines[0])
    latency = first["latency_ms"]
    stamped = kept.results[0].publish_mono - kept.results[0].meta.capture_mono
    assert latency["capture_to_publish"] == pytest.approx(stamped * 1000.0, abs=0.01)


def test_state_is_one_vocabulary():
    assert [s.value for s in State] == [
        "starting",
        "building_engine",
        "running",
        "reconnecting",
        "stalled",
        "backend_unavailable",
        "stopped",
        "error",
    ]
    assert State.RUNNING == "running" and json.dumps({"state": State.STALLED}) == '{"state": "stalled"}'
    assert State.ERROR.ended and State.STALLED.troubled and not State.RUNNING.troubled
    assert State.BACKEND_UNAVAILABLE.troubled and not State.BACKEND_UNAVAILABLE.ended


def test_output_failures_log_once(caplog):
    failures = OutputFailures()
    assert failures.record("window", RuntimeError("a"))
    assert not failures.record("window", RuntimeError("b"))
    assert failures.names == ("window",) and failures.reason("window") == "RuntimeError: a"
    assert sum("window failed" in r.message for r in caplog.records) == 1
