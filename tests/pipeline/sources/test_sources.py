"""Sources on real media: PyAV-written H.264 files, the shared vtest.avi, DivX-style packed-B-frame
AVI files, damaged files, images."""

import contextlib
import itertools
import logging
import socket
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.config import SourceConfig
from pipeline.errors import SourceError
from pipeline.lifecycle import State
from pipeline.sources import FileSource, ImageSource, StreamSource, WebcamSource, open_source
from pipeline.sources.stream import StreamOptions, backoff_delay
from pipeline.sources.urls import is_stream_url, is_webcam, mask_url, url_problem
from pipeline.sources.webcam import WebcamOptions
from tests.helpers.media import moving_gradient, truncated_h264, write_h264, write_packed_avi
from tests.helpers.procs import free_port


def collect(source, limit: int = 10_000, deadline_s: float = 30.0):
    stop = threading.Event()
    t0 = time.monotonic()
    out = []
    for frame in source.frames(stop):
        out.append(frame)
        assert time.monotonic() - t0 < deadline_s, "source too slow"
        if len(out) >= limit:
            stop.set()
    return out


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_file_every_frame_with_seq_and_pts(tmp_path, container):
    path = write_h264(tmp_path / f"v.{container}", frames=23, fps=10)
    frames = collect(FileSource(path, "f"))
    assert [f.meta.seq for f in frames] == list(range(23))
    assert [f.meta.pts_s for f in frames] == pytest.approx([i / 10 for i in range(23)])
    assert frames[0].image.shape == (96, 128, 3) and frames[0].image.dtype == np.uint8
    monos = [f.meta.capture_mono for f in frames]
    assert monos == sorted(monos)
    assert abs(frames[0].meta.capture_wall - time.time()) < 60


def test_file_realtime_paces_to_frame_rate(tmp_path):
    path = write_h264(tmp_path / "v.mp4", frames=10, fps=20)
    t0 = time.monotonic()
    frames = collect(FileSource(path, "f", realtime=True))
    elapsed = time.monotonic() - t0
    assert len(frames) == 10
    assert elapsed >= 0.4  # 9 frame intervals of 50 ms
    gaps = np.diff([f.meta.capture_mono for f in frames])
    assert gaps.min() > 0.03


def test_file_loop_continues_pts(tmp_path):
    path = write_h264(tmp_path / "v.mp4", frames=5, fps=10)
    frames = collect(FileSource(path, "f", loop=True), limit=12)
    assert [f.meta.seq for f in frames] == list(range(12))
    assert [f.meta.pts_s for f in frames] == pytest.approx([i / 10 for i in range(12)])


def test_vtest_avi_decodes_end_to_end(vtest_avi):
    source = FileSource(vtest_avi, "vtest")
    frames = collect(source, deadline_s=60)
    assert len(frames) == 795
    assert frames[0].image.shape == (576, 768, 3)
    assert frames[-1].meta.seq == 794
    # MS-MPEG4 v2 without B-frames: its own timestamps, untouched
    assert [f.meta.pts_s for f in frames] == pytest.approx([i / 10 for i in range(795)])
    assert source.timestamp_repairs == 0 and source.last_report.bitstream_filter is None


def raw_pts(path: Path) -> list[float]:
    """The pts FFmpeg attaches to each decoded frame of ``path``, in output order."""
    import av

    with av.open(str(path)) as c:
        return [float(f.time) for f in c.decode(video=0)]


@pytest.mark.parametrize("b_frames", [1, 2])
def test_packed_bframe_avi_times_increase_and_repairs_are_counted(tmp_path, caplog, b_frames):
    fps, n = 25, 60
    path = write_packed_avi(tmp_path / "divx.avi", frames=n, fps=fps, b_frames=b_frames)
    wrong = raw_pts(path)
    went_back = sum(b <= a for a, b in itertools.pairwise(wrong))
    assert went_back >= n // (b_frames + 2)  # the defect as FFmpeg decodes the file: pts go back and forth
    source = FileSource(path, "divx")
    with caplog.at_level(logging.WARNING):
        frames = collect(source)
    # every frame, in presentation order
    assert [f.meta.seq for f in frames] == list(range(n))
    for i, f in enumerate(frames):
        assert np.abs(f.image.astype(int) - moving_gradient(i, (128, 96))).mean() < 3.0, i
    times = [f.meta.pts_s for f in frames]
    assert all(b > a for a, b in itertools.pairwise(times)), times[:8]
    assert abs((times[-1] - times[0] + 1 / fps) - n / fps) <= 1 / fps + 1e-6
    assert np.diff(times[2:]) == pytest.approx([1 / fps] * (n - 3))
    assert source.timestamp_repairs == went_back
    assert source.last_report.bitstream_filter == "mpeg4_unpack_bframes"
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(said) == 1 and said[0].startswith(f"{path}: timestamps out of order"), said


def test_mpeg4_avi_with_bframes_as_ffmpeg_writes_them_needs_no_repair(tmp_path):
    path = write_packed_avi(tmp_path / "lavc.avi", frames=30, fps=25, b_frames=2, packed=False)
    source = FileSource(path, "lavc")
    frames = collect(source)
    assert [f.meta.pts_s for f in frames] == pytest.approx([(i + 1) / 25 for i in range(30)])
    assert source.timestamp_repairs == 0
    for i, f in enumerate(frames):
        assert np.abs(f.image.astype(int) - moving_gradient(i, (128, 96))).mean() < 3.0, i


def test_truncated_file_yields_frames_then_reports(tmp_path):
    cut = truncated_h264(tmp_path, keep=0.6)
    got = []
    with pytest.raises(SourceError, match=r"cut\.mp4: file ends early: \d+ of 40 frames decoded"):
        for frame in FileSource(cut, "f").frames(threading.Event()):
            got.append(frame.meta.seq)
    assert 5 < len(got) < 40 and got == list(range(len(got)))


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"hello, not a video", "not a readable video")],
)
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "x.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError, match=message):
        list(FileSource(path, "f").frames(threading.Event()))


def test_image_folder_sorted_and_bad_image(tmp_path):
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"im{i}.png"), np.full((8, 10, 3), (i * 50, 0, 255), np.uint8))
    frames = collect(ImageSource(tmp_path, "img"))
    assert [f.meta.seq for f in frames] == [0, 1, 2]
    assert frames[1].image[0, 0].tolist() == [255, 0, 50]  # BGR on disk -> RGB in the frame
    (tmp_path / "im3.png").write_bytes(b"garbage")
    with pytest.raises(SourceError, match=r"im3\.png: not a readable image"):
        collect(ImageSource(tmp_path, "img"))


def test_webcam_interface_reads_through_opencv(tmp_path):
    # No webcam exists on these machines: the same OpenCV capture path is fed a file instead.
    path = write_h264(tmp_path / "cam.mp4", frames=12, fps=10)
    frames = collect(WebcamSource(str(path), "cam"))
    assert [f.meta.seq for f in frames] == list(range(12))
    assert frames[0].image.shape == (96, 128, 3)
    mono = [f.meta.pts_s for f in frames]
    assert mono == sorted(mono)


@pytest.mark.skipif(
    not Path("/dev/video0").exists(),
    reason="no webcam device: /dev/video0 is absent (as on CI and dev machines)",
)
def test_real_webcam_delivers_frames():
    frames = collect(WebcamSource(0, "cam"), limit=3)
    assert len(frames) == 3


def test_missing_webcam_fails_at_once_with_one_line():
    src = WebcamSource("/dev/video99", "cam")
    with pytest.raises(
        SourceError, match=r"^camera /dev/video99: no such camera \(/dev/video99 does not exist\)$"
    ):
        src.check()
    with pytest.raises(SourceError, match=r"^camera /dev/video99: cannot open"):
        collect(src)  # never delivered: no retrying a camera that was never there
    assert src.state == State.ERROR


def test_missing_webcam_through_the_cli_is_one_line_exit_3(infant_stream, colour_model_path):
    t0 = time.monotonic()
    proc = subprocess.run(
        [*infant_stream, "run", "--source", "7", "--model", str(colour_model_path), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3
    assert proc.stderr == "infant-stream: error: camera 7: no such camera (/dev/video7 does not exist)\n"
    assert time.monotonic() - t0 < 10  # no minutes of retries against a camera that is not there


class UnpluggedCamera:
    """Stands in for a webcam (none exists on these machines): OpenCV's capture interface over
    scripted frames. ``script`` lists, per open, the frames it delivers (None: the open fails)."""

    def __init__(self, script: list[int | None]) -> None:
        self.script = list(script)
        self.opens = 0

    def __call__(self, device: int | str) -> "UnpluggedCamera.Capture":
        self.opens += 1
        frames = self.script.pop(0) if self.script else None
        return UnpluggedCamera.Capture(frames)

    class Capture:
        def __init__(self, frames: int | None) -> None:
            self.left = frames

        def isOpened(self) -> bool:
            return self.left is not None

        def set(self, prop: int, value: float) -> bool:
            return True

        def read(self) -> tuple[bool, np.ndarray | None]:
            if not self.left:
                return False, None
            self.left -= 1
            return True, np.zeros((6, 8, 3), np.uint8)

        def release(self) -> None:
            pass


@pytest.mark.timeout(20)
def test_camera_unplugged_mid_run_is_reopened_like_a_stream():
    camera = UnpluggedCamera([3, None, None, 4])  # 3 frames, unplugged, 2 failed reopens, back: 4 frames
    opts = WebcamOptions(reconnect_initial_s=0.01, reconnect_max_s=0.02)
    src = WebcamSource(0, "cam", opts, opener=camera)
    states = []
    stop = threading.Event()
    frames = []
    for frame in src.frames(stop):
        frames.append(frame)
        states.append(src.state)
        if len(frames) == 7:
            stop.set()
    assert [f.meta.seq for f in frames] == list(range(7))
    assert src.reconnects == 1 and camera.opens == 4
    assert all(s == State.RUNNING for s in states)
    assert src.state == State.STOPPED


@pytest.mark.timeout(20)
def test_camera_that_stays_unplugged_gives_up_after_the_configured_attempts():
    camera = UnpluggedCamera([2])
    src = WebcamSource(0, "cam", WebcamOptions(reconnect_initial_s=0.01, reconnect_attempts=3), opener=camera)
    with pytest.raises(SourceError, match=r"camera 0: gone, not back after 3 reopen attempts"):
        collect(src)
    assert camera.opens == 4 and src.state == State.ERROR


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("rtsp://admin:secret@10.0.0.5:554/live", "rtsp://***:***@10.0.0.5:554/live"),
        ("rtsp://admin@cam.local/live?x=1", "rtsp://***@cam.local/live?x=1"),
        ("rtsp://cam.local/live", "rtsp://cam.local/live"),
        ("/path/to/file.mp4", "/path/to/file.mp4"),
        ("rtsp://admin:secret@cam:notaport/live", "rtsp://***@cam:notaport/live"),  # malformed port
        ("rtsp://admin:p@ss@cam/live", "rtsp://***:***@cam/live"),  # an @ in the password
        ("rtsp://cam/live?next=a@b", "rtsp://cam/live?next=a@b"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("text", "stream", "webcam"),
    [
        ("rtsp://h/x", True, False),
        ("https://h/x.m3u8", True, False),
        ("0", False, True),
        ("/dev/video2", False, True),
        ("video.mp4", False, False),
    ],
)
def test_classify(text, stream, webcam):
    assert is_stream_url(text) == stream and is_webcam(text) == webcam


def test_backoff_is_capped_exponential():
    assert [backoff_delay(i, 0.5, 4.0) for i in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_open_source_picks_kinds(tmp_path):
    video = write_h264(tmp_path / "v.mp4", frames=2)
    assert isinstance(open_source(SourceConfig(uri=str(video))), FileSource)
    assert isinstance(open_source(SourceConfig(uri="rtsp://u:p@127.0.0.1:1/x")), StreamSource)
    with pytest.raises(SourceError, match="camera 9: no such camera"):  # a camera index, checked
        open_source(SourceConfig(uri="9"))
    with pytest.raises(SourceError, match="no such file"):
        open_source(SourceConfig(uri=str(tmp_path / "missing.mp4")))
    with pytest.raises(SourceError, match="unsupported URL scheme"):
        open_source(SourceConfig(uri="gopher://x"))


def test_unreachable_stream_retries_and_stops_fast(caplog):
    src = StreamSource(
        "rtsp://user:pw@127.0.0.1:9/none", "cam", StreamOptions(reconnect_initial_s=0.05, reconnect_max_s=0.2)
    )
    stop = threading.Event()
    t = threading.Thread(target=lambda: list(src.frames(stop)), daemon=True)
    t.start()
    time.sleep(1.0)
    assert src.state == "reconnecting"
    t0 = time.monotonic()
    stop.set()
    t.join(2.0)
    assert not t.is_alive() and time.monotonic() - t0 < 2.0
    assert src.state == "stopped"
    assert "pw" not in src.description
    warnings = [r.getMessage() for r in caplog.records if "cannot open" in r.getMessage()]
    assert warnings and all("user:pw" not in w and "***" in w for w in warnings)


def test_giving_up_names_masked_url():
    opts = StreamOptions(reconnect_initial_s=0.01, reconnect_attempts=2)
    with pytest.raises(
        SourceError, match=r"rtsp://\*\*\*:\*\*\*@127.0.0.1:9/none: cannot open after 2 attempts"
    ) as info:
        collect(StreamSource("rtsp://user:pw@127.0.0.1:9/none", "cam", opts))
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("rtsp://admin:pw@/stream1", "no host"),
        ("rtsp://cam:port/stream1", "Port could not be cast"),
        ("rtsp://[::1/stream1", "Invalid IPv6 URL"),
        ("http://:80/x", "no host"),
        ("rtsp://cam:0/x", "port 0"),
        ("rtsp://admin:pw@cam.local:554/live", None),
        ("udp://@:1234", None),  # FFmpeg's listen form
        ("srt://:9000?mode=listener", None),
    ],
)
def test_url_problem(url, problem):
    found = url_problem(url)
    assert (found is None) if problem is None else (problem in found)


def test_malformed_stream_url_is_refused_with_the_password_masked():
    with pytest.raises(SourceError) as err:
        open_source(SourceConfig(uri="rtsp://admin:s3cret@cam:notaport/live"))
    assert "malformed URL" in str(err.value) and "s3cret" not in str(err.value)


@pytest.mark.timeout(30)
def test_unreachable_camera_is_described_in_words(tmp_path):
    """Not FFmpeg's '[Errno 1094995529] Invalid data found': refused, or answered-but-no-stream."""
    port = free_port()
    src = StreamSource(f"rtsp://user:pw@127.0.0.1:{port}/live", "cam", StreamOptions(reconnect_attempts=1))
    with pytest.raises(SourceError) as refused:
        collect(src)
    assert f"connection refused by 127.0.0.1:{port}" in str(refused.value)
    assert "Errno" not in str(refused.value) and "pw" not in str(refused.value)

    with socket.socket() as server:  # a server that accepts and talks nonsense
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"rtsp://127.0.0.1:{server.getsockname()[1]}/live"

        def babble() -> None:
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = server.accept()
                    with conn:
                        conn.sendall(b"HELLO\r\n\r\n")

        threading.Thread(target=babble, daemon=True).start()
        opts = StreamOptions(reconnect_attempts=1, open_timeout_s=2.0, read_timeout_s=2.0)
        with pytest.raises(SourceError) as garbled:
            collect(StreamSource(url, "cam", opts))
    message = str(garbled.value)
    assert "the server answered but the stream did not open" in message and "Errno" not in message


class _CountingContainer:
    """A PyAV container whose ``demux`` counts the packets handed to the decoder (all else delegated)."""

    def __init__(self, container):
        self._c = container
        self.packets = 0

    def __getattr__(self, name):
        return getattr(self._c, name)

    def demux(self, *args):
        for packet in self._c.demux(*args):
            self.packets += 1
            yield packet


def _packets_before_first_frame(path: Path, low_delay: bool) -> tuple[int, int]:
    import av

    from pipeline.sources.av_decode import DecodeReport, decode_rgb

    with av.open(str(path)) as container:
        counting = _CountingContainer(container)
        frames = decode_rgb(counting, DecodeReport(), low_delay=low_delay)
        next(frames)
        threads = container.streams.video[0].codec_context.thread_count
        frames.close()
        return counting.packets, threads


def test_live_decoding_has_no_frame_threading_delay(tmp_path):
    """Streams decode with slice threads only: the first frame comes out of the first packet. Files use
    frame threading too, which holds back thread_count - 1 frames (latency a live camera must not get)."""
    video = write_h264(tmp_path / "v.mp4", 12, size=(320, 240))
    live_packets, _ = _packets_before_first_frame(video, low_delay=True)
    assert live_packets == 1
    file_packets, threads = _packets_before_first_frame(video, low_delay=False)
    if threads >= 2:  # frame threading (a multi-core machine): one packet per decoder thread first
        assert file_packets == threads
