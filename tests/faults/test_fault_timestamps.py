"""Timestamps that go backwards: a DivX/Xvid-style AVI with packed B-frames, run through the real
``infant-stream run`` (tracking on, overlay recorded) beside the same frames as an H.264 mp4.

FFmpeg decodes such a file's frames in presentation order but gives them the pts of the wrong
chunks (0.04, 0.12, 0.08, 0.20, 0.16, ... s). Before the repair, ``pts_s`` went backwards every
other frame, the tracker ended every track each time (hundreds of track ids instead of a handful)
and the overlay recording lasted twice as long as the clip. Now: the records' ``pts_s`` increase
strictly, the tracks are those of the in-order file, the recording lasts as long as the clip, and
the repairs are reported (one warning naming the file, the summary line).
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from tests.helpers.media import BLUE, GREEN, RED, scene, write_h264, write_packed_avi

FRAMES, FPS = 100, 25
SIZE = (320, 240)
TIMEOUT_S = 90


def picture(i: int) -> np.ndarray:
    """Three parts: a head moving right, an arm moving down, a torso that stays; (240, 320, 3) RGB."""
    return scene(
        SIZE[1],
        SIZE[0],
        [
            (RED, (20 + 2 * i, 30, 60 + 2 * i, 70)),
            (GREEN, (230, 40 + i, 290, 70 + i)),
            (BLUE, (100, 150, 180, 220)),
        ],
    )


def run_clip(
    cmd: list[str], model: Path, video: Path, out: Path
) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    """``infant-stream run`` on ``video`` (tracking on, overlay recorded to ``out``/overlay.mp4)."""
    out.mkdir()
    proc = subprocess.run(
        [
            *cmd,
            *("run", "--source", str(video), "--model", str(model), "--no-display", "--no-progress"),
            *("--jsonl", str(out / "parts.jsonl"), "--record", str(out / "overlay.mp4")),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in (out / "parts.jsonl").read_text().splitlines()]
    return proc, records


def track_ids(records: list[dict]) -> set[int]:
    return {p["track_id"] for r in records for p in r["parts"]}


def recording_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.time) for f in c.decode(video=0)]


@pytest.mark.timeout(2 * TIMEOUT_S + 30)
def test_packed_bframe_avi_tracks_records_and_recording_like_the_in_order_file(
    infant_stream, colour_model_path, tmp_path
):
    packed = write_packed_avi(tmp_path / "divx.avi", FRAMES, FPS, SIZE, picture, b_frames=1)
    in_order = write_h264(tmp_path / "same.mp4", FRAMES, FPS, SIZE, picture)
    proc, records = run_clip(infant_stream, colour_model_path, packed, tmp_path / "packed")
    _, reference = run_clip(infant_stream, colour_model_path, in_order, tmp_path / "in_order")

    # every frame, in order, at strictly increasing times
    assert [r["seq"] for r in records] == list(range(FRAMES))
    times = [r["pts_s"] for r in records]
    assert all(b > a for a, b in itertools.pairwise(times)), times[:8]

    # tracking: the same parts as in the in-order file (3 parts, a few ids), not a new id per jump
    ids, reference_ids = track_ids(records), track_ids(reference)
    assert len(reference_ids) >= 3
    assert len(ids) <= 1.5 * len(reference_ids), (len(ids), len(reference_ids))

    # the overlay recording lasts as long as the clip, within one frame
    recorded = recording_times(tmp_path / "packed" / "overlay.mp4")
    assert len(recorded) == FRAMES
    duration = recorded[-1] - recorded[0] + 1 / FPS
    assert abs(duration - FRAMES / FPS) <= 1 / FPS + 1e-3, duration

    # the repair is reported: one warning naming the file, and the summary
    warnings = [line for line in proc.stderr.splitlines() if "timestamps out of order" in line]
    assert len(warnings) == 1 and str(packed) in warnings[0], proc.stderr
    assert "timestamps repaired" in proc.stderr, proc.stderr
