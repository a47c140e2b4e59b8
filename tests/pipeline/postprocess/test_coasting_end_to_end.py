"""A part that vanishes while moving fast, through the real CLI: a real H.264 file, the colour model,
the JSONL records read back. Before the coasting fix its prediction flew on at full speed out of the
frame and was published there until ``max_coast_s`` ended it."""

import itertools
import json
import math
import subprocess

import numpy as np

from pipeline.config import TrackerConfig
from tests.helpers.bounds import assert_records_in_frame
from tests.helpers.media import GREEN, scene, write_h264

FPS = 25
W, H = 320, 240
SEEN = 8
"""Frames in which the green block (an arm for the colour model) is visible."""


def block(i: int) -> np.ndarray:
    """A 24×24 green block moving 24 px right and 12 px down per frame (670 px/s), gone after SEEN frames."""
    if i >= SEEN:
        return scene(H, W, [])
    x, y = 10 + 24 * i, 20 + 12 * i
    return scene(H, W, [(GREEN, (x, y, x + 24, y + 24))])


def test_fast_part_that_vanishes_is_never_published_outside_the_frame(
    infant_stream, colour_model_path, tmp_path
):
    video = write_h264(tmp_path / "fast.mp4", frames=40, fps=FPS, size=(W, H), draw=block)
    out = tmp_path / "fast.jsonl"
    proc = subprocess.run(
        [
            *infant_stream,
            *("run", "--source", str(video), "--model", str(colour_model_path)),
            *("--jsonl", str(out), "--no-progress", "--no-display"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 40
    assert assert_records_in_frame(records) > SEEN  # no part, observed or predicted, outside 320×240

    arms = [[p for p in r["parts"] if p["name"] == "arm"] for r in records]
    assert all(len(a) == 1 and a[0]["state"] == "observed" for a in arms[:SEEN])
    track = arms[0][0]["track_id"]
    assert {a[0]["track_id"] for a in arms[:SEEN]} == {track}
    assert math.hypot(*arms[SEEN - 1][0]["velocity"]) > 600  # the filter saw the speed

    coasting = [a[0] for a in arms[SEEN:] if a]
    assert len(coasting) >= 3 and all(arms[SEEN : SEEN + len(coasting)])  # coasts, then ends for good
    assert all(p["state"] == "predicted" and p["track_id"] == track for p in coasting)
    speeds = [math.hypot(*p["velocity"]) for p in coasting]
    cfg = TrackerConfig()
    assert speeds[0] <= cfg.coast_max_speed_px_s + 0.01
    assert all(b < a for a, b in itertools.pairwise(speeds))  # damped while coasting
    assert len(coasting) < cfg.max_coast_s * FPS  # ended by leaving the frame, not by max_coast_s
    x, y = coasting[-1]["smoothed"]
    vx, vy = coasting[-1]["velocity"]
    assert x + vx / FPS > W - 1 or y + vy / FPS > H - 1  # its next step is outside the frame
