"""A real RTSP camera: GStreamer's RTSP server on 127.0.0.1 (tools/rtsp_server.py), read by PyAV.

In CI (CI=true) these run; the fixture fails instead of skipping when the server is missing.
"""

import itertools
import threading
import time

import numpy as np

from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.infer.inference import InferenceStage
from pipeline.infer.preprocess import Preprocessor
from pipeline.postprocess.stage import Postprocessor
from pipeline.runtime.pipeline import Pipeline
from pipeline.sources.stream import StreamOptions, StreamSource
from tests.helpers.media import ListSink, wait_for

FAST = StreamOptions(
    open_timeout_s=3, read_timeout_s=2, stall_timeout_s=2, reconnect_initial_s=0.2, reconnect_max_s=1
)


def test_frames_flow(rtsp_server):
    src = StreamSource(rtsp_server.url, "cam", FAST)
    stop = threading.Event()
    frames = []
    t0 = time.monotonic()
    for frame in src.frames(stop):
        frames.append(frame)
        assert time.monotonic() - t0 < 20
        if len(frames) == 15:
            stop.set()
    assert [f.meta.seq for f in frames] == list(range(15))
    assert frames[0].image.shape == (240, 320, 3) and frames[0].image.dtype == np.uint8
    pts = [f.meta.pts_s for f in frames]
    assert pts == sorted(pts)
    assert src.state == "stopped"


def test_server_restart_mid_run_frames_flow_again(rtsp_server, colour_model_path):
    backend = OrtBackend(colour_model_path)
    src = StreamSource(rtsp_server.url, "cam", FAST)
    sink = ListSink()
    p = Pipeline(
        src, Preprocessor(backend.spec), InferenceStage(backend), Postprocessor(backend.spec, 1), [sink]
    )
    p.start()
    try:
        wait_for(lambda: len(sink.results) >= 10, 20, "frames before the outage")
        rtsp_server.stop()
        wait_for(lambda: src.state in ("reconnecting", "stalled"), 10, "a reconnecting/stalled state")
        before = len(sink.results)
        time.sleep(1.0)
        rtsp_server.start()
        wait_for(lambda: len(sink.results) >= before + 10, 20, "frames after the restart")
        assert src.state == "running" and src.reconnects >= 1
    finally:
        p.stop()
        assert p.wait(5)
    p.join()
    seqs = [r.meta.seq for r in sink.results]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # the reopened stream's clock starts afresh; its times go on after the outage (>= the 1 s sleep)
    pts = [r.meta.pts_s for r in sink.results]
    assert all(b > a for a, b in itertools.pairwise(pts)), pts
    assert max(b - a for a, b in itertools.pairwise(pts)) >= 1.0
    assert src.timestamp_repairs == 0


def test_unreachable_url_keeps_retrying_and_stops_within_2s(colour_model_path):
    backend = OrtBackend(colour_model_path)
    src = StreamSource("rtsp://127.0.0.1:9/cam", "cam", FAST)
    p = Pipeline(
        src, Preprocessor(backend.spec), InferenceStage(backend), Postprocessor(backend.spec, 1), [ListSink()]
    )
    p.start()
    time.sleep(1.5)
    assert src.state == "reconnecting" and p.running
    t0 = time.monotonic()
    p.stop()
    assert p.wait(2.0)
    p.join()
    assert time.monotonic() - t0 < 2.0
