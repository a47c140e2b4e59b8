"""The H.264 recording sink: real files written with PyAV and read back, real subprocesses killed
mid-recording. Every threaded/subprocess test has a deadline."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.errors import ConfigError
from pipeline.frames import Result
from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.sinks.video import VideoSink
from pipeline.sinks.video_writer import TICK_HZ, Ticks, even_size, fit_frame
from pipeline.sources.file import FileSource
from tests.helpers.media import (
    DEADLINE_S,
    GREEN,
    RED,
    ListSink,
    colour_pipeline,
    make_result,
    run_to_end,
    scene,
    write_h264,
)

REPO = Path(__file__).resolve().parents[3]
TICK = 1.0 / TICK_HZ


def identity(r: Result) -> np.ndarray:
    return r.image


def picture(i: int, w: int = 128, h: int = 96) -> np.ndarray:
    """Moving squares on a gradient: (h, w, 3) uint8 RGB, different every frame."""
    img = scene(
        h, w, [(RED, (4 + 3 * i, 8, 4 + 3 * i + w // 4, 8 + h // 3)), (GREEN, (w // 2, h // 2, w - 4, h - 4))]
    )
    img[..., 2] = (np.arange(w, dtype=np.uint16)[None, :] * 255 // max(w - 1, 1)).astype(np.uint8)
    return img


def result(image: np.ndarray, seq: int, pts_s: float | None, mono: float | None = None) -> Result:
    return make_result(
        image, seq=seq, pts_s=pts_s, mono=1000.0 + seq if mono is None else mono, source_id="cam0"
    )


def decode(path: Path) -> tuple[list[float], list[np.ndarray], int, float | None]:
    """(frame times s, RGB images, undecodable packets, container duration s) of a recording."""
    times, images, bad = [], [], 0
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        for packet in c.demux(stream):
            try:
                for f in packet.decode():
                    times.append(float(f.time))
                    images.append(f.to_ndarray(format="rgb24"))
            except av.FFmpegError:
                bad += 1
        duration = None if c.duration is None else c.duration / 1e6
    return times, images, bad, duration


def record(path: Path, images: list[np.ndarray], times: list[float | None], **kw: object) -> VideoSink:
    sink = VideoSink(path, identity, **kw)  # type: ignore[arg-type]
    for i, (img, t) in enumerate(zip(images, times, strict=True)):
        sink.write(result(img, i, t))
    sink.close()
    return sink


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_times_size_and_pixels(tmp_path: Path, suffix: str) -> None:
    times = [0.0, 0.04, 0.12, 0.16, 0.2, 0.6, 0.64, 0.68, 0.72, 0.76, 0.8, 0.84, 3.0, 3.04, 3.08]
    images = [picture(i) for i in range(len(times))]
    path = tmp_path / f"rec{suffix}"
    sink = record(path, images, [t + 41.0 for t in times])  # pts relative to the first frame
    assert sink.frames == len(times) and sink.name == f"video:rec{suffix}"
    got_t, got, bad, duration = decode(path)
    assert bad == 0 and len(got) == len(times)
    assert got[0].shape == (96, 128, 3)
    assert got_t == pytest.approx(times, abs=1.5 * TICK + 1e-3 * (suffix == ".mkv"))
    assert duration is not None and times[-1] <= duration <= times[-1] + 0.1
    for want, img in zip(images, got, strict=True):
        assert np.abs(img.astype(int) - want).mean() < 6.0


def test_capture_clock_when_no_pts(tmp_path: Path) -> None:
    path = tmp_path / "live.mp4"
    sink = VideoSink(path, identity, policy="latest")
    monos = [500.0, 500.1, 500.15, 500.5]
    for i, m in enumerate(monos):
        sink.write(result(picture(i), i, None, mono=m))
    sink.close()
    got_t, _got, _, _ = decode(path)
    assert got_t == pytest.approx([m - monos[0] for m in monos], abs=1.5 * TICK)


@pytest.mark.parametrize(
    ("times", "want_s"),
    [
        ([0.0, 0.1, 0.2], [0.0, 0.1, 0.2]),
        ([5.0, 5.1, 5.2, 5.0, 5.1], [0.0, 0.1, 0.2, 0.3, 0.4]),  # a loop restarts: continue one interval on
        ([0.0, 0.0, 0.1], [0.0, 1 / 30, 1 / 30 + 0.1]),  # duplicate first: default interval 1/30 s
        ([0.0, 0.04, 0.04, 0.08], [0.0, 0.04, 0.08, 0.12]),
        ([0.0, 1e-7, 2e-7], [0.0, TICK, 2 * TICK]),  # closer than a tick: +1 tick
    ],
)
def test_ticks_strictly_increasing(times: list[float], want_s: list[float]) -> None:
    ticks = Ticks()
    got = [ticks(t) for t in times]
    assert got == [round(w * TICK_HZ) for w in want_s]
    assert all(b > a for a, b in itertools.pairwise(got))


@pytest.mark.parametrize(
    ("wh", "want"), [((128, 96), (128, 96)), ((101, 75), (102, 76)), ((1, 1), (2, 2)), ((64, 49), (64, 50))]
)
def test_even_size(wh: tuple[int, int], want: tuple[int, int]) -> None:
    assert even_size(*wh) == want


def test_fit_frame_pads_odd_and_resizes_other_sizes() -> None:
    odd = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)
    padded = fit_frame(odd, (6, 4))
    assert padded.shape == (4, 6, 3)
    assert (padded[:3, :5] == odd).all() and (padded[:, 5] == padded[:, 4]).all()
    assert (padded[3] == padded[2]).all()
    same = np.zeros((4, 6, 3), np.uint8)
    assert fit_frame(same, (6, 4)) is same
    assert fit_frame(np.zeros((20, 30, 3), np.uint8), (6, 4)).shape == (4, 6, 3)


@pytest.mark.parametrize(
    ("hw", "size", "inside"),
    [
        ((30, 30), (60, 40), (10, 0, 50, 40)),  # square into landscape: bars left and right
        ((160, 120), (160, 120), (35, 0, 125, 120)),  # portrait 120×160 into 160×120
        ((20, 80), (40, 40), (0, 15, 40, 25)),  # wide: bars top and bottom
    ],
)
def test_fit_frame_letterboxes_other_sizes(
    hw: tuple[int, int], size: tuple[int, int], inside: tuple[int, int, int, int]
) -> None:
    """A frame of another size keeps its aspect: scaled to fit, centred, the rest black (it used to be
    stretched to the recording's size)."""
    out = fit_frame(np.full((*hw, 3), 255, np.uint8), size)
    assert out.shape == (size[1], size[0], 3)
    x0, y0, x1, y1 = inside
    assert (out[y0:y1, x0:x1] == 255).all()
    mask = np.ones(out.shape[:2], bool)
    mask[y0:y1, x0:x1] = False
    assert (out[mask] == 0).all()


def test_odd_size_is_padded(tmp_path: Path) -> None:
    images = [picture(i, 101, 75) for i in range(5)]
    path = tmp_path / "odd.mp4"
    record(path, images, [i / 10 for i in range(5)])
    _, got, bad, _ = decode(path)
    assert bad == 0 and len(got) == 5 and got[0].shape == (76, 102, 3)
    for want, img in zip(images, got, strict=True):
        assert np.abs(img[:75, :101].astype(int) - want).mean() < 6.0


def test_later_frames_of_another_size_are_resized(tmp_path: Path) -> None:
    images = [picture(0), picture(1, 64, 48), picture(2, 256, 192), picture(3)]
    path = tmp_path / "resize.mp4"
    record(path, images, [0.0, 0.1, 0.2, 0.3])
    _, got, bad, _ = decode(path)
    assert bad == 0 and [g.shape for g in got] == [(96, 128, 3)] * 4


def test_no_frame_no_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "none.mp4"
    sink = VideoSink(path, identity)
    assert path.parent.is_dir() and not path.exists()
    sink.close()
    sink.close()
    assert not path.exists()


@pytest.mark.parametrize(
    ("make", "expect"),
    [
        (lambda d: d / "file.txt" / "x.mp4", "cannot create folder"),  # parent is a file
        (lambda d: d, "not a writable file path"),  # a folder, not a file
        (lambda d: d / "x.avi", "must end in"),
    ],
)
def test_bad_path_is_one_line_config_error(tmp_path: Path, make: Callable[[Path], Path], expect: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    target = make(tmp_path)
    if target == tmp_path:
        target = tmp_path / "dir.mp4"
        target.mkdir()
    with pytest.raises(ConfigError) as err:
        VideoSink(target, identity, flag="--record-raw")
    msg = str(err.value)
    assert msg.startswith(f"--record-raw {target}:") and expect in msg and "\n" not in msg


def test_bad_render_output_is_named(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path / "x.mp4", lambda r: r.image[..., 0])
    with pytest.raises(ValueError, match="render must return"):
        sink.write(result(picture(0), 0, 0.0))
    sink.close()


def test_pipeline_records_every_frame_of_a_file(tmp_path: Path, colour_model_path: Path) -> None:
    video = write_h264(tmp_path / "v.mp4", frames=30, fps=10, draw=picture)
    out = tmp_path / "out" / "overlay.mp4"
    backend = OrtBackend(colour_model_path)
    listed = ListSink()
    sink = VideoSink(out, identity)
    run_to_end(colour_pipeline(FileSource(video, "vid"), backend, [sink, listed]))
    assert sink.closed and sink.frames == 30
    got_t, got, bad, _ = decode(out)
    assert bad == 0 and len(got) == 30
    assert got_t == pytest.approx([i / 10 for i in range(30)], abs=1.5 * TICK)
    for r, img in zip(listed.results, got, strict=True):
        assert np.abs(img.astype(int) - r.image).mean() < 6.0


# A writer that the test kills: records a paced synthetic camera, prints its frame count each frame.
KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [{repo!r}]  # the child runs from a temporary folder
    from tests.pipeline.sinks.test_video_sink import picture, result
    from pipeline.sinks.video import VideoSink
    sink = VideoSink(sys.argv[1], lambda r: r.image, keyframe_s=0.5)
    t0 = time.monotonic()
    for i in range(100000):
        time.sleep(max(0.0, t0 + i / 30 - time.monotonic()))
        sink.write(result(picture(i % 30, 320, 240), i, None, mono=time.monotonic()))
        print(sink.frames, flush=True)
    """
)


def test_sigkill_leaves_a_playable_file(tmp_path: Path) -> None:
    path = tmp_path / "killed.mp4"
    script = tmp_path / "writer.py"
    script.write_text(KILL_SCRIPT.format(repo=str(REPO)))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    written = 0
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + DEADLINE_S
        while written < 60 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            written = int(line)
        assert written >= 60, "writer did not get going"
    finally:
        proc.kill()
        proc.wait(10)
    times, got, bad, _ = decode(path)
    assert bad == 0, "the file ends inside a fragment"
    # lost: at most one keyframe interval (0.5 s = 15 frames) + x264 lookahead (veryfast: 10) + slack
    assert written - 30 <= len(got) <= written
    assert times == sorted(times) and len(set(times)) == len(times)


# A writer that records ``count`` frames at ``fps`` (pts i / fps) with the sink's defaults, says so,
# then waits to be killed: the file on disk is what a crash at that moment leaves (the frames were
# handed to the sink; nothing is closed or flushed on purpose).
KILL_AT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [{repo!r}]
    from tests.pipeline.sinks.test_video_sink import picture, result
    from pipeline.sinks.video import VideoSink
    fps, count = int(sys.argv[2]), int(sys.argv[3])
    sink = VideoSink(sys.argv[1], lambda r: r.image)
    for i in range(count):
        sink.write(result(picture(i % 30, 320, 240), i, i / fps))
    print(sink.frames, flush=True)
    time.sleep(60)
    """
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize(
    ("fps", "count"),
    [
        (10, 91),  # before: the last 31 frames lost (3.1 s: a 2 s fragment + 11 frames of x264 lookahead)
        (25, 111),  # before: 61 frames lost (2.44 s)
    ],
)
def test_sigkill_loses_at_most_2s_of_video_at_any_frame_rate(
    tmp_path: Path, suffix: str, fps: int, count: int
) -> None:
    path = tmp_path / f"killed{suffix}"
    script = tmp_path / "writer.py"
    script.write_text(KILL_AT_SCRIPT.format(repo=str(REPO)))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), str(fps), str(count)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == str(count), "writer did not get going"
    finally:
        proc.kill()
        proc.wait(10)
    times, got, bad, _ = decode(path)
    assert bad == 0, "the file ends inside a fragment"
    assert times == pytest.approx([i / fps for i in range(len(got))], abs=1.5 * TICK)  # a playable prefix
    lost_s = (count - len(got)) / fps
    assert 0 <= lost_s <= 2.0, f"{count - len(got)} of {count} frames lost ({lost_s:.2f} s)"
