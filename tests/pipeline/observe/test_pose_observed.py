"""The pose stage in what a run reports about itself: its fps column on the stderr health line (between
inference and postprocess, only with a pose thread) and its ``stage_latency_seconds{stage="pose"}``
histogram (the record's ``latency_ms.pose``, 0 for a frame without a pose model)."""

from dataclasses import replace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram

from pipeline.frames import Timings
from pipeline.lifecycle import HealthStatus
from pipeline.observe.health import format_health
from pipeline.observe.metrics import BUCKETS_S, LATENCY_STAGES, MetricsSink
from tests.helpers.media import make_result


@pytest.mark.parametrize(
    ("fps", "column"),
    [
        (
            {"capture": 10.0, "preprocess": 10.0, "inference": 9.5, "postprocess": 8.0},
            "fps cap 10.0 pre 10.0 inf 9.5 post 8.0 |",
        ),
        (  # the order of Pipeline.counters(): pose comes last, but the line shows the frame's path
            {"capture": 10.0, "preprocess": 10.0, "inference": 9.5, "postprocess": 8.0, "pose": 9.0},
            "fps cap 10.0 pre 10.0 inf 9.5 pose 9.0 post 8.0 |",
        ),
        ({"capture": 3.0, "sink:jsonl": 3.0}, "fps cap 3.0 |"),  # stages without a column are left out
    ],
)
def test_health_line_columns(fps, column):
    line = format_health(HealthStatus("cam0", "running", fps, 0, 12, 40.0))
    assert line == f"[cam0] running | {column} frames 12 | drops 0 | latency 40 ms"


def observed(sink_pose_ms: list[float]) -> dict[str, tuple[float, float]]:
    """stage → (count, sum in seconds) of the latency histogram after results with these ``pose_ms``."""
    registry = CollectorRegistry()
    histogram = Histogram("lat", "test", ["source", "stage"], buckets=BUCKETS_S, registry=registry)
    sink = MetricsSink(histogram)
    for i, ms in enumerate(sink_pose_ms):
        r = make_result(np.zeros((4, 4, 3), np.uint8), seq=i, mono=float(i))
        sink.write(replace(r, timings=Timings(1.0, 2.0, 3.0, ms)))
    out = {}
    for stage in LATENCY_STAGES:
        count = registry.get_sample_value("lat_count", {"source": "t", "stage": stage})
        total = registry.get_sample_value("lat_sum", {"source": "t", "stage": stage})
        out[stage] = (count, total)
    return out


def test_pose_latency_histogram():
    assert "pose" in LATENCY_STAGES
    got = observed([4.0, 6.0])
    assert got["pose"] == (2.0, pytest.approx(0.010))
    assert got["postprocess"] == (2.0, pytest.approx(0.006))
    assert got["inference"] == (2.0, pytest.approx(0.004))
    assert observed([0.0])["pose"] == (1.0, 0.0)  # no pose model: observed as 0, as the record says
