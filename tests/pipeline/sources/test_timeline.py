"""The one place where source timestamps are repaired (``pipeline.sources.base.Timeline``), fed the
timestamps frames leave the decoder with: every source's times come out strictly increasing, and
the frames whose container timestamp was missing or out of order are counted."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.sources.base import TRUST_AFTER_FRAMES, FrameStamper, Timeline

FPS = 25
STEP = 1.0 / FPS


def packed_avi_decoder_output(frames: int) -> list[tuple[float | None, float | None]]:
    """(pts, dts) in seconds of the frames FFmpeg decodes from a DivX packed-B-frame AVI at 25 fps
    (one B-frame between references; as measured on ``write_packed_avi``): the frames come out
    in presentation order, each with the pts of the wrong chunk (1, 3, 2, 5, 4, ... / 25) and the
    dts of the packet that released it (1, 2, 3, ... / 25; none for the last, flushed one)."""
    pts = [1] + [(k + 2 if k % 2 else k) for k in range(1, frames - 1)] + [frames]
    dts: list[int | None] = [*range(1, frames), None]
    return [(p / FPS, None if d is None else d / FPS) for p, d in zip(pts, dts, strict=True)]


def place_all(
    stamps: list[tuple[float | None, float | None]], fps: float | None = FPS
) -> tuple[list[float], Timeline]:
    timeline = Timeline()
    return [timeline.place(p, d, fps) for p, d in stamps], timeline


def strictly_increasing(times: list[float]) -> bool:
    return all(b > a for a, b in itertools.pairwise(times))


def backwards(values: list[float | None]) -> int:
    """How often a sequence steps back or stands still (missing values skipped)."""
    seen = [v for v in values if v is not None]
    return sum(b <= a for a, b in itertools.pairwise(seen))


def test_clean_timestamps_pass_through_unchanged():
    # a file that starts at 1.4 s, with a dropped-frame gap (variable frame rate is real time)
    pts = [1.4 + k * 0.1 for k in range(10)] + [1.4 + k * 0.1 for k in range(13, 20)]
    times, timeline = place_all([(p, p - 0.1) for p in pts], fps=10)
    assert times == pts
    assert timeline.repairs == 0 and timeline.first_repair is None


def test_packed_bframe_pts_are_repaired_from_the_dts():
    stamps = packed_avi_decoder_output(30)
    raw_pts = [p for p, _ in stamps]
    assert raw_pts[:6] == pytest.approx([1 / FPS, 3 / FPS, 2 / FPS, 5 / FPS, 4 / FPS, 7 / FPS])
    assert backwards(raw_pts) == 14
    times, timeline = place_all(stamps)
    assert strictly_increasing(times)
    # one interval apart from the third frame on (the second was stamped before its pts proved wrong)
    assert np.diff(times[1:]) == pytest.approx([STEP] * 28)
    # the clip lasts as long as its 30 frames, give or take one
    assert abs((times[-1] - times[0] + STEP) - 30 * STEP) <= STEP + 1e-9
    assert timeline.repairs == 14
    assert timeline.first_repair == "pts 0.0800 s after 0.1200 s"


def test_permuted_pts_without_dts_fall_back_to_the_frame_index_without_drift():
    stamps = [(p, None) for p, _ in packed_avi_decoder_output(60)]
    times, timeline = place_all(stamps)
    assert strictly_increasing(times)
    # clamping each late pts to "previous + one interval" alone would drift a frame every two frames
    assert times[-1] - times[0] <= 60 * STEP + 1e-9
    assert timeline.repairs == backwards([p for p, _ in stamps]) == 29


def test_rate_unknown_uses_the_last_good_spacing():
    stamps = [(k * 0.1, None) for k in range(5)] + [(0.3, None)]
    times, _ = place_all(stamps, fps=None)
    assert times[-1] == pytest.approx(0.5)


def test_missing_timestamps_before_the_first_one_are_normal_later_ones_are_repairs():
    # an RTSP stream: the first two frames come without a pts, then 10.00, 10.04, ...
    stamps = [(None, None), (None, None)] + [(10.0 + k * STEP, None) for k in range(5)]
    stamps += [(None, None), (10.0 + 6 * STEP, None)]
    times, timeline = place_all(stamps)
    assert times == pytest.approx([k * STEP for k in range(9)])
    assert timeline.repairs == 1 and timeline.first_repair == "no timestamp"


def test_a_duplicated_pts_is_repaired_and_the_clock_trusted_again_later():
    pts = [k * STEP for k in range(10)]
    pts.insert(5, pts[4])  # the frame after frame 4 repeats its pts
    times, timeline = place_all([(p, None) for p in pts])
    assert strictly_increasing(times)
    assert timeline.repairs == 1
    assert times == pytest.approx([k * STEP for k in range(11)])


def test_a_clock_that_jumps_back_mid_stream_continues_after_the_last_frame():
    # two recordings concatenated: pts restart at 0 after 2 s
    pts = [k * STEP for k in range(50)] + [k * STEP for k in range(40)]
    times, timeline = place_all([(p, None) for p in pts])
    assert strictly_increasing(times)
    assert times == pytest.approx([k * STEP for k in range(90)])
    assert timeline.repairs == 1  # the jump itself; the frames after it are in order again
    assert len(pts) - 50 > TRUST_AFTER_FRAMES  # (the pts clock was trusted again after the jump)


def test_restart_loop_goes_on_one_frame_later_and_a_reconnect_after_its_outage():
    timeline = Timeline()
    first = [timeline.place(k * STEP, None, FPS) for k in range(5)]
    timeline.restart()  # a looping file starts again at 0
    loop = [timeline.place(k * STEP, None, FPS) for k in range(3)]
    timeline.restart(gap_s=2.5)  # a stream reopened 2.5 s after its last frame, first frame without pts
    again = [timeline.place(p, None, FPS) for p in (None, 7.0, 7.0 + STEP)]
    assert first + loop == pytest.approx([k * STEP for k in range(8)])
    assert again == pytest.approx([loop[-1] + 2.5 + k * STEP for k in range(3)])
    assert timeline.repairs == 0


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | st.floats(-1e6, 1e6) | st.floats() | st.sampled_from([1e300, -1e300]),
            st.none() | st.floats(-1e6, 1e6) | st.floats(),
        ),
        max_size=60,
    ),
    st.none() | st.floats(0.0, 500.0),
)
def test_any_timestamps_come_out_strictly_increasing(stamps, fps):
    times, timeline = place_all(stamps, fps)
    assert strictly_increasing(times)
    assert all(np.isfinite(times))
    assert 0 <= timeline.repairs <= len(stamps)


def test_stamper_times_counts_and_warns_once_naming_the_source(caplog):
    stamper = FrameStamper("cam0", "rtsp://***:***@cam/live")
    image = np.zeros((4, 6, 3), np.uint8)
    paced: list[float] = []
    with caplog.at_level(logging.WARNING, logger="pipeline.sources.base"):
        frames = [
            stamper.stamp(image, p, d, FPS, pace=paced.append) for p, d in packed_avi_decoder_output(30)
        ]
    times = [f.meta.pts_s for f in frames]
    assert [f.meta.seq for f in frames] == list(range(30))
    assert paced == times and strictly_increasing(times)
    assert stamper.repairs == 14
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "rtsp://***:***@cam/live: timestamps out of order or missing from frame 2 on"
    )
    assert "timestamp_repairs" in warnings[0]


def test_stills_have_no_time():
    stamper = FrameStamper("img", timed=False)
    frames = [stamper.stamp(np.zeros((2, 2, 3), np.uint8), None) for _ in range(3)]
    assert [f.meta.pts_s for f in frames] == [None, None, None] and stamper.repairs == 0
