"""SIGINT and SIGTERM while ``infant-stream run`` records: a file paced like a camera (``--realtime``)
with ``--record out.mp4 --jsonl out.jsonl``, the signal sent mid-run. A clean stop: exit 130 / 143,
the JSONL ends on a whole line (seqs 0..n-1, the frames up to the signal), and the mp4 decodes with
PyAV, holding exactly those n frames at their real timestamps.

(Moved here from tests/pipeline/cli/test_cli_run.py, which checked the JSONL after either signal, and
tests/pipeline/sinks/test_video_sink.py, which checked the recording after SIGINT through run_pipeline.)
"""

import itertools
import signal
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.sinks.video_writer import TICK_HZ
from tests.faults.fault_live import jsonl_records, kill_quietly, signal_and_wait, start_run
from tests.helpers.media import GREEN, RED, scene, wait_for, write_h264

FRAMES, FPS = 80, 20
"""The clip lasts 4 s; the signal comes after at least SIGNAL_AFTER records (~1.5 s in)."""
SIGNAL_AFTER = 25
TICK = 1.0 / TICK_HZ


def picture(i: int) -> np.ndarray:
    """Moving squares: (96, 128, 3) uint8 RGB, different every frame."""
    return scene(96, 128, [(RED, (4 + i, 8, 36 + i, 40)), (GREEN, (64, 48, 124, 92))])


def decode(path: Path) -> tuple[list[float], int, float | None]:
    """(frame times s, undecodable packets, container duration s) of a recording."""
    times, bad = [], 0
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        for packet in c.demux(stream):
            try:
                times.extend(float(f.time) for f in packet.decode())
            except av.FFmpegError:
                bad += 1
        duration = None if c.duration is None else c.duration / 1e6
    return times, bad, duration


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_while_recording_finalises_mp4_and_jsonl(
    sig, code, infant_stream, colour_model_path, tmp_path
):
    video = write_h264(tmp_path / "v.mp4", frames=FRAMES, fps=FPS, draw=picture)
    jsonl, mp4 = tmp_path / "out.jsonl", tmp_path / "out.mp4"
    proc = start_run(
        infant_stream,
        *("--source", str(video), "--realtime", "--model", str(colour_model_path)),
        *("--record", str(mp4), "--jsonl", str(jsonl), "--no-display"),
        stderr_path=tmp_path / "stderr.txt",
    )
    try:

        def lines() -> int:
            return jsonl.read_bytes().count(b"\n") if jsonl.exists() else 0

        wait_for(lambda: lines() >= SIGNAL_AFTER or proc.poll() is not None, 60, "records", step=0.05)
        assert proc.poll() is None, "the run ended before the signal"
        got, seconds = signal_and_wait(proc, sig)
    finally:
        kill_quietly(proc)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert got == code, stderr
    assert "Traceback" not in stderr
    records = jsonl_records(jsonl)
    n = len(records)
    assert [r["seq"] for r in records] == list(range(n))
    assert SIGNAL_AFTER <= n < FRAMES, "stopped mid-run, with the frames up to the signal"
    times, bad, duration = decode(mp4)
    assert bad == 0 and duration is not None
    assert len(times) == n, "the recording holds every frame of the JSONL (nothing dropped or lost)"
    assert all(b > a for a, b in itertools.pairwise(times))
    span = records[-1]["pts_s"] - records[0]["pts_s"]
    assert times[-1] == pytest.approx(span, abs=2 * TICK)
    print(
        f"{signal.Signals(sig).name}: exit {got} {seconds:.2f} s after the signal; {n} records = mp4 frames"
    )
