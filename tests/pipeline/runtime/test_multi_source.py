"""Several sources in one process: shared (batched) inference, independent failures, per-source
state, the ``sources:`` config list and repeated ``--source`` (real files, a real ONNX model)."""

import json
import re
import subprocess
import threading
import time

import av
import pytest

from pipeline.cli.run import with_sources
from pipeline.config import Config, ModelConfig, SourceConfig, evolve, from_mapping
from pipeline.errors import ConfigError, SourceError
from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.observe.health import health_between
from pipeline.session.build import recording_path
from pipeline.sources.file import FileSource
from tests.helpers.media import (
    DEADLINE_S,
    ListSink,
    SyntheticCamera,
    colour_pipeline,
    run_to_end,
    truncated_h264,
    write_h264,
)


def by_source(results) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for r in results:
        out.setdefault(r.meta.source_id, []).append(r.meta.seq)
    return out


def test_two_files_every_frame_of_each(tmp_path, colour_model_path):
    a = write_h264(tmp_path / "a.mp4", frames=25)
    b = write_h264(tmp_path / "b.mp4", frames=12, size=(64, 48))
    sink = ListSink()
    p = colour_pipeline([FileSource(a, "a"), FileSource(b, "b")], OrtBackend(colour_model_path), [sink])
    run_to_end(p)
    assert by_source(sink.results) == {"a": list(range(25)), "b": list(range(12))}
    c = p.counters()
    assert [s.source_id for s in c.sources] == ["a", "b"]
    assert [s.processed("postprocess") for s in c.sources] == [25, 12]
    assert [s.processed("inference") for s in c.sources] == [25, 12]
    assert all(s.state == "stopped" for s in c.sources) and c.state == "stopped"
    totals = {s.name: s.processed for s in c.stages}
    assert totals["capture"] == totals["postprocess"] == 37 and totals["sink:list"] == 37


def test_batches_form_across_sources(tmp_path, colour_model_path):
    backend = OrtBackend(colour_model_path)
    assert backend.max_batch > 1, "the colour model has a dynamic batch dimension"
    files = [write_h264(tmp_path / f"{i}.mp4", frames=20) for i in range(3)]
    sink = ListSink()
    p = colour_pipeline([FileSource(f, f"s{i}") for i, f in enumerate(files)], backend, [sink], max_batch=3)
    run_to_end(p)
    assert by_source(sink.results) == {f"s{i}": list(range(20)) for i in range(3)}
    mean = p.inference.stats.mean_batch
    assert mean > 1.5, f"batches did not form across sources ({mean:.2f})"


def test_a_failing_source_ends_alone(tmp_path, colour_model_path, caplog):
    good = write_h264(tmp_path / "good.mp4", frames=30)
    bad = truncated_h264(tmp_path)
    sink = ListSink()
    p = colour_pipeline(
        [FileSource(bad, "bad"), FileSource(good, "good")], OrtBackend(colour_model_path), [sink]
    )
    p.start()
    assert p.wait(DEADLINE_S)
    with pytest.raises(SourceError, match=r"cut\.mp4"):
        p.join()
    seqs = by_source(sink.results)
    assert seqs["good"] == list(range(30)), "the healthy source lost frames"
    assert 0 < len(seqs["bad"]) < 40 and seqs["bad"] == list(range(len(seqs["bad"])))
    states = {s.source_id: s.state for s in p.counters().sources}
    assert states == {"bad": "error", "good": "stopped"}
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(m.startswith("bad: ") and "the other sources go on" in m for m in said), said


def test_a_live_source_keeps_its_rate_beside_a_source_that_never_delivers(colour_model_path):
    class Silent:
        """A source that never connects (state reconnecting) and never yields a frame."""

        source_id, live, state, description, reconnects = "dead", True, "reconnecting", "never reachable", 0
        timestamp_repairs = 0

        def frames(self, stop: threading.Event):
            stop.wait()
            return
            yield

    cam = SyntheticCamera(None, 0.02, source_id="cam")
    sink = ListSink()
    p = colour_pipeline([cam, Silent()], OrtBackend(colour_model_path), [sink])
    p.start()
    try:
        start = p.counters()
        time.sleep(2.0)
        statuses = {h.source_id: h for h in health_between(start, p.counters())}
    finally:
        p.stop()
        assert p.wait(5.0)
    p.join()
    assert statuses["dead"].state == "reconnecting" and statuses["dead"].frames_out == 0
    assert statuses["cam"].state == "running"
    assert statuses["cam"].fps["postprocess"] > 0.8 * 50, statuses["cam"].fps


def test_sources_list_inherits_the_source_section():
    cfg = from_mapping(
        Config,
        {
            "source": {"mode": "latest", "stall_timeout_s": 3.0},
            "sources": [
                {"id": "cot1", "uri": "rtsp://a/x"},
                {"id": "cot2", "uri": "b.mp4", "mode": "lossless"},
            ],
        },
        "c.yaml",
    )
    assert [(s.id, s.uri, s.mode, s.stall_timeout_s) for s in cfg.source_list] == [
        ("cot1", "rtsp://a/x", "latest", 3.0),
        ("cot2", "b.mp4", "lossless", 3.0),
    ]
    assert Config().source_list == (SourceConfig(),)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"sources": [{"id": "a"}, {"id": "a"}]}, "c.yaml: sources[1].id: 'a' is used by another source"),
        ({"sources": [{"id": "a b"}]}, "c.yaml: sources[0].id: must be 1-64 letters"),
        ({"sources": [{"id": "a", "fps": -1}]}, "c.yaml: sources[0].fps: must be >= 0"),
        ({"sources": [{"idd": "a"}]}, "c.yaml: sources[0].idd: unknown key"),
        ({"sources": {"id": "a"}}, "c.yaml: sources: must be a list"),
        ({"sources": ["a.mp4"]}, "c.yaml: sources[0]: must be a mapping"),
    ],
)
def test_bad_sources_lists_name_the_entry(data, needle):
    with pytest.raises(ConfigError) as err:
        from_mapping(Config, data, "c.yaml")
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_repeated_source_flags():
    cfg = with_sources(Config(), ["a.mp4", "rtsp://h/x"], None)
    assert [(s.id, s.uri) for s in cfg.source_list] == [("cam0", "a.mp4"), ("cam1", "rtsp://h/x")]
    cfg = with_sources(Config(), ["a.mp4", "b.mp4"], ["left", "right"])
    assert [s.id for s in cfg.source_list] == ["left", "right"]
    one = with_sources(cfg, ["c.mp4"], None)  # one --source replaces a config's list
    assert one.sources == () and one.source.uri == "c.mp4"
    renamed = with_sources(cfg, None, ["x", "y"])
    assert [s.id for s in renamed.source_list] == ["x", "y"]
    with pytest.raises(ConfigError, match="--source-id: 1 ids given for 2 --source values"):
        with_sources(Config(), ["a.mp4", "b.mp4"], ["x"])
    with pytest.raises(ConfigError, match=r"--source-id.*used by another source"):
        with_sources(Config(), ["a.mp4", "b.mp4"], ["x", "x"])
    with pytest.raises(ConfigError, match="--source-id: must be 1-64"):
        with_sources(Config(), ["a.mp4", "b.mp4"], ["x", "no/slash"])


@pytest.mark.parametrize(
    ("path", "sid", "several", "expected"),
    [
        ("out/rec.mp4", "cam0", False, "out/rec.mp4"),
        ("out/rec.mp4", "cam1", True, "out/rec-cam1.mp4"),
        ("out/{source}/rec.mp4", "cot2", True, "out/cot2/rec.mp4"),
        ("out/rec-{source}.mkv", "cam0", False, "out/rec-cam0.mkv"),
    ],
)
def test_recording_path_per_source(path, sid, several, expected):
    assert recording_path(path, sid, several) == expected


def test_cli_two_sources_one_jsonl_two_recordings(infant_stream, colour_model_path, tmp_path):
    a = write_h264(tmp_path / "a.mp4", frames=15)
    b = write_h264(tmp_path / "b.mp4", frames=10)
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            *infant_stream, "run", "--source", str(a), "--source", str(b), "--source-id", "left",
            "--source-id", "right", "--model", str(colour_model_path), "--jsonl", str(out / "r.jsonl"),
            "--record", str(out / "rec.mp4"), "--no-display",
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in (out / "r.jsonl").read_text().splitlines()]
    seqs: dict[str, list[int]] = {}
    for r in records:
        seqs.setdefault(r["source"], []).append(r["seq"])
    assert seqs == {"left": list(range(15)), "right": list(range(10))}
    for sid, n in (("left", 15), ("right", 10)):
        with av.open(str(out / f"rec-{sid}.mp4")) as c:
            assert sum(1 for _ in c.decode(video=0)) == n
    assert "left: 15 frames" in proc.stderr and "right: 10 frames" in proc.stderr


def test_summary_counts_a_source_over_its_own_time_and_reports_its_end_once(
    infant_stream, colour_model_path, tmp_path
):
    """A 1-s camera beside a 3-s one: its summary fps is over its own ~1 s, not the run's ~3 s, and
    its ``stopped`` health line is printed once, not every second until the run ends."""
    short = write_h264(tmp_path / "short.mp4", frames=10, fps=10)
    long = write_h264(tmp_path / "long.mp4", frames=30, fps=10)
    proc = subprocess.run(
        [
            *infant_stream, "run", "--source", str(short), "--source", str(long), "--source-id", "short",
            "--source-id", "long", "--model", str(colour_model_path), "--realtime", "--mode", "lossless",
            "--no-display",
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("infant-stream: short: "))
    frames, seconds, fps = re.search(r"short: (\d+) frames in ([\d.]+) s \(([\d.]+) fps\)", line).groups()
    assert int(frames) == 10 and float(seconds) < 1.8 and float(fps) > 5.5, line
    ended = [x for x in proc.stderr.splitlines() if x.startswith("[short] stopped")]
    assert len(ended) <= 1, proc.stderr
    assert (
        any(x.startswith("[long] running") for x in proc.stderr.splitlines()[-12:])
        or "long: 30 frames" in proc.stderr
    )


def test_auto_batch_is_one_frame_per_source(colour_model_path):
    from pipeline.session.build import batch_size, load_backend

    cfg = with_sources(Config(model=ModelConfig(path=str(colour_model_path))), ["a", "b", "c"], None)
    assert cfg.model.max_batch == 0
    backend = load_backend(cfg)
    assert batch_size(cfg, backend) == 3
    assert batch_size(evolve(cfg, model=evolve(cfg.model, max_batch=1)), backend) == 1
    assert batch_size(Config(), backend) == 1  # one source: no batching


def test_auto_batch_sizes_gpu_engine_profiles_by_source_count(monkeypatch):
    import pipeline.session.build as build

    seen = []
    monkeypatch.setattr(build, "create_backend", lambda m, path, on_build=None: seen.append(m.max_batch))
    build.load_backend(with_sources(Config(), ["a", "b"], None))
    build.load_backend(Config())
    assert seen == [2, 1]  # never a 1..0 TensorRT profile


def test_malloc_arenas_are_capped_on_linux_glibc():
    import platform
    import sys

    from pipeline.session.build import limit_malloc_arenas

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert limit_malloc_arenas() is glibc
