"""``python -m tools.multi_bench`` on a tiny real clip and the colour model: every row measured."""

import subprocess
import sys

from tests.helpers.media import write_h264


def test_bench_sources_prints_every_row(colour_model_path, tmp_path):
    clip = write_h264(tmp_path / "clip.mp4", frames=12)
    proc = subprocess.run(
        [
            sys.executable, "-m", "tools.multi_bench", "--source", str(clip), "--model", str(colour_model_path),
            "--frames", "12", "--counts", "2", "--live-fps", "20", "--live-seconds", "1",
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith(("files", "live"))]
    keys = [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]
    assert keys == [
        ("files", 1, 0, 1),
        ("files", 2, 0, 1),
        ("files", 2, 0, 2),
        ("live", 1, 0, 1),
        ("live", 1, 1, 2),
        ("live", 2, 0, 2),
        ("live", 2, 1, 3),
    ]
    for r in rows:
        total, slowest = float(r[4]), float(r[5])
        assert total >= slowest > 0
    assert float(rows[0][6]) == 1.0  # the baseline row


def test_bench_sources_rejects_bad_counts(colour_model_path, tmp_path):
    clip = write_h264(tmp_path / "clip.mp4", frames=3)
    proc = subprocess.run(
        [sys.executable, "-m", "tools.multi_bench", "--source", str(clip), "--model", str(colour_model_path), "--counts", "a"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0 and "--counts" in proc.stderr and "Traceback" not in proc.stderr
