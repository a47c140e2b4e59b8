"""The threaded pipeline with real files, a real ONNX model and fake slow/failing stages.

Every test has a deadline: pytest-timeout (setup.cfg) plus explicit waits below.
"""

import json
import time
from collections.abc import Sequence

import numpy as np
import pytest

from pipeline.errors import SourceError, StageError
from pipeline.frames import Inferred, Prepared
from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.infer.inference import InferenceStage
from pipeline.sinks.jsonl import JsonlSink
from pipeline.sources.file import FileSource
from tests.helpers.media import (
    DEADLINE_S,
    GREEN,
    RED,
    ListSink,
    SyntheticCamera,
    colour_pipeline,
    run_to_end,
    scene,
    truncated_h264,
    write_h264,
)


def moving_squares(i: int) -> np.ndarray:
    return scene(96, 128, [(RED, (8 + 2 * i, 8, 40 + 2 * i, 40)), (GREEN, (80, 50, 120, 90))])


def test_file_lossless_every_frame_to_jsonl(tmp_path, colour_model_path):
    video = write_h264(tmp_path / "v.mp4", frames=30, fps=10, draw=moving_squares)
    out = tmp_path / "out" / "r.jsonl"
    p = colour_pipeline(FileSource(video, "vid"), OrtBackend(colour_model_path), [JsonlSink(out)])
    assert p.policy == "lossless"
    run_to_end(p)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["seq"] for r in records] == list(range(30))
    assert [r["pts_s"] for r in records] == pytest.approx([i / 10 for i in range(30)])
    assert all(r["dropped_since_last"] == 0 and r["schema"] == 1 and r["source"] == "vid" for r in records)
    assert {"preprocess", "inference", "postprocess", "pose", "capture_to_publish"} == set(
        records[0]["latency_ms"]
    )
    assert all(r["latency_ms"]["pose"] == 0.0 for r in records)  # no pose model
    heads = [next(x for x in r["parts"] if x["name"] == "head") for r in records]
    # the red square moves 2 px per frame; H.264 edges blur by a pixel at most
    for i, head in enumerate(heads):
        assert head["centroid"][0] == pytest.approx(8 + 2 * i + 15.5, abs=1.0)
        assert head["centroid"][1] == pytest.approx(23.5, abs=1.0)
        assert head["track_id"] is None and head["state"] == "observed"


def test_latest_drops_and_bounds_latency_lossless_does_not(colour_model_path):
    backend = OrtBackend(colour_model_path)
    slow_s = 0.03

    class SlowInference(InferenceStage):
        def batch(self, items: Sequence[Prepared]) -> list[Inferred]:
            time.sleep(slow_s)
            return super().batch(items)

    results = {}
    for policy in ("latest", "lossless"):
        sink = ListSink()
        p = colour_pipeline(
            SyntheticCamera(60, 0.005, source_id="fast"),
            backend,
            [sink],
            SlowInference(backend),
            policy=policy,
        )
        run_to_end(p)
        lat = [(r.publish_mono - r.meta.capture_mono) for r in sink.results]
        results[policy] = (sink.results, p.counters().dropped, lat)
    latest, dropped_latest, lat_latest = results["latest"]
    lossless, dropped_lossless, lat_lossless = results["lossless"]
    assert len(lossless) == 60 and dropped_lossless == 0
    assert [r.meta.seq for r in lossless] == list(range(60))
    assert dropped_latest > 0 and len(latest) + dropped_latest == 60
    assert sum(r.dropped_since_last for r in latest) == latest[-1].meta.seq + 1 - len(latest)
    # bounded: a frame waits at most for the one in progress; lossless backs up behind the model
    assert max(lat_latest) < 4 * slow_s + 0.1
    assert max(lat_lossless) > 2 * max(lat_latest)


def test_stage_error_stops_pipeline_and_join_raises(tmp_path, colour_model_path):
    video = write_h264(tmp_path / "v.mp4", frames=50, fps=10)
    backend = OrtBackend(colour_model_path)
    calls = []

    class FailingInference(InferenceStage):
        def batch(self, items: Sequence[Prepared]) -> list[Inferred]:
            (item,) = items  # max_batch 1: batches of one
            calls.append(item.frame.meta.seq)
            if item.frame.meta.seq == 5:
                raise RuntimeError("boom at 5")
            return super().batch(items)

    sink = ListSink()
    p = colour_pipeline(FileSource(video, "v"), backend, [sink], FailingInference(backend))
    p.start()
    assert p.wait(DEADLINE_S)
    with pytest.raises(StageError, match=r"inference failed: RuntimeError: boom at 5"):
        p.join()
    assert max(calls) == 5 and sink.closed
    assert [r.meta.seq for r in sink.results] == list(range(len(sink.results)))
    assert p.counters().state == "error"


def test_source_damage_drains_frames_then_raises(tmp_path, colour_model_path):
    cut = truncated_h264(tmp_path)
    out = tmp_path / "r.jsonl"
    p = colour_pipeline(FileSource(cut, "v"), OrtBackend(colour_model_path), [JsonlSink(out)])
    p.start()
    assert p.wait(DEADLINE_S)
    with pytest.raises(SourceError, match="file ends early"):
        p.join()
    seqs = [json.loads(line)["seq"] for line in out.read_text().splitlines()]
    assert len(seqs) > 5 and seqs == list(range(len(seqs)))


def test_stop_is_graceful_and_prompt(colour_model_path):
    backend = OrtBackend(colour_model_path)
    sink = ListSink()
    p = colour_pipeline(SyntheticCamera(100_000, 0.01, source_id="fast"), backend, [sink])
    p.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    p.stop()
    assert p.wait(5.0)
    p.join()
    assert time.monotonic() - t0 < 2.0
    assert sink.closed and len(sink.results) > 5
    assert p.counters().state == "stopped"


def test_max_frames(tmp_path, colour_model_path):
    video = write_h264(tmp_path / "v.mp4", frames=30)
    sink = ListSink()
    p = colour_pipeline(FileSource(video, "v"), OrtBackend(colour_model_path), [sink], max_frames=7)
    run_to_end(p)
    assert [r.meta.seq for r in sink.results] == list(range(7))


def test_result_timings_filled(tmp_path, colour_model_path):
    video = write_h264(tmp_path / "v.mp4", frames=3)
    sink = ListSink()
    run_to_end(colour_pipeline(FileSource(video, "v"), OrtBackend(colour_model_path), [sink]))
    t = sink.results[0].timings
    assert t.preprocess_ms > 0 and t.inference_ms > 0 and t.postprocess_ms > 0
