"""Damaged video files through ``infant-stream run --jsonl``: H.264 written here with PyAV, then
corrupted (bytes of one frame flipped) or truncated (cut in half).

What a user gets (README, exit codes): every frame before the damage is processed and its record
written (seqs consecutive from 0), the damage is named in one ``error`` line on stderr with the
file's name (no traceback), the process ends by itself (deadline), and the exit code is 3
(source damaged) — the records already written stay.
"""

import re
import subprocess
import time
from pathlib import Path

import av
import numpy as np
import pytest

from tests.faults.fault_live import jsonl_records
from tests.helpers.media import write_h264

FRAMES, FPS, DAMAGED = 40, 10, 20
"""Test clip: 40 frames at 10 fps; the corrupted cases damage frame 20 (a keyframe: GOP = fps)."""
DEADLINE_S = 60.0


def noisy(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 255, (96, 128, 3), dtype=np.uint8)


def clip(folder: Path, ext: str) -> Path:
    return write_h264(folder / f"clip.{ext}", frames=FRAMES, fps=FPS, draw=noisy)


def flip_frame(folder: Path, skip: int) -> tuple[Path, int]:
    """An mp4 with the bytes of frame ``DAMAGED`` inverted from byte ``skip`` of its packet on:
    ``skip=0`` breaks its NAL header (the decoder rejects the packet), ``skip=16`` only its slice
    data (the decoder conceals the damage and flags the frame corrupt)."""
    path = clip(folder, "mp4")
    with av.open(str(path)) as c:
        packets = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    pos, size = packets[DAMAGED]
    data = bytearray(path.read_bytes())
    data[pos + skip : pos + size] = bytes(b ^ 0xFF for b in data[pos + skip : pos + size])
    out = folder / "corrupt.mp4"
    out.write_bytes(bytes(data))
    return out, DAMAGED


def cut_in_half(folder: Path, ext: str) -> tuple[Path, int]:
    """The clip (header first, so it still opens) cut after half of its bytes."""
    path = write_h264(
        folder / f"full.{ext}",
        frames=FRAMES,
        fps=FPS,
        draw=noisy,
        options={"movflags": "+faststart"} if ext == "mp4" else {},
    )
    data = path.read_bytes()
    out = folder / f"truncated.{ext}"
    out.write_bytes(data[: len(data) // 2])
    return out, FRAMES // 2 - 2  # about half the frames survive; x264's last partial one is lost


CASES = {
    "corrupt-header": (
        lambda d: flip_frame(d, 0),
        "corrupt.mp4",
        r"1 damaged packets skipped \((\d+) frames",
    ),
    "corrupt-slices": (
        lambda d: flip_frame(d, 16),
        "corrupt.mp4",
        r"1 damaged frames concealed \((\d+) frames",
    ),
    "truncated-mp4": (lambda d: cut_in_half(d, "mp4"), "truncated.mp4", r"file ends early: (\d+) of 40"),
    "truncated-mkv": (
        lambda d: cut_in_half(d, "mkv"),
        "truncated.mkv",
        r"file ends early at [0-9.]+ s of 4.00 s \((\d+) frames",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_damaged_file_keeps_frames_before_the_damage_and_exits_3(
    case, infant_stream, colour_model_path, tmp_path
):
    make, name, message = CASES[case]
    video, intact = make(tmp_path)
    out = tmp_path / "out.jsonl"
    t0 = time.monotonic()
    proc = subprocess.run(
        [
            *(*infant_stream, "run", "--source", str(video), "--model", str(colour_model_path)),
            *("--jsonl", str(out), "--no-display", "--no-progress"),
        ],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,  # a hang fails here
    )
    seconds = time.monotonic() - t0
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and name in errors[0], proc.stderr
    found = re.search(message, errors[0])
    assert found, errors[0]
    records = jsonl_records(out)
    assert len(records) == int(found.group(1)), "every decoded frame has its record"
    assert [r["seq"] for r in records] == list(range(len(records)))
    # the frames before the damage, each with its own timestamp
    assert len(records) >= intact
    assert [r["pts_s"] for r in records[:intact]] == pytest.approx([i / FPS for i in range(intact)])
    print(f"{case}: exit 3 in {seconds:.1f} s, {len(records)} records; {errors[0]}")
