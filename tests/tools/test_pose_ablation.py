"""``python -m tools.pose_ablation`` is the ablation command with the CLI's one-line errors and exit codes
(the runs themselves are tested in tests/trainer/pose/test_ablation.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.procs import REPO


def test_entry_point_answers_with_one_line_errors(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "tools.pose_ablation", "--data", str(tmp_path), "--out", str(tmp_path)]
    proc = subprocess.run(
        [*argv, "--budget-steps", "0"], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert (
        proc.returncode == 2 and proc.stderr == "infant-stream: error: --budget-steps: must be >= 1, got 0\n"
    )
    proc = subprocess.run(
        [*argv, "--budget-steps", "1"], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert proc.returncode == 5 and proc.stderr.count("\n") == 1 and "annotations/train.json" in proc.stderr
