"""``python -m tools.factor_ablation``: arms, test sets, the table, and a real tiny run through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from tools.factor_ablation import ARMS, ArmResult, check_arms, markdown, needed_sets, train_flags
from trainer.synth.domain import FACTOR_GROUPS

REPO = Path(__file__).resolve().parents[2]


def test_every_group_has_an_arm_whose_families_belong_to_it() -> None:
    assert set(ARMS) == {"all", *FACTOR_GROUPS}
    for group, members in FACTOR_GROUPS.items():
        pinned = ARMS[group]
        assert pinned is not None and pinned[0] in members and pinned[1] in members and pinned[0] != pinned[1]


def test_arms_flags_and_sets() -> None:
    assert check_arms(["light", " all", ""]) == ["all", "light"]
    with pytest.raises(ConfigError, match="--arms: unknown arm 'moon'"):
        check_arms(["moon"])
    with pytest.raises(ConfigError, match="give one or more"):
        check_arms([""])
    assert train_flags("all") == ["--randomize"]
    assert train_flags("light") == ["--randomize", "--families", "day"]
    assert needed_sets(["light"]) == ["all", "day", "ir"]
    every = needed_sets(["all", "view"])
    assert every[:3] == ["all", "top", "oblique"] and {"ir", "swaddle", "h264"} <= set(every)
    assert len(every) == len(set(every))


def test_markdown_gaps_and_contributions() -> None:
    table = markdown(
        [
            ArmResult("all", None, None, 0.70, 0.70, None, {"ir": 0.60}, 10.0),
            ArmResult("light", "day", "ir", 0.62, 0.75, 0.30, {}, 10.0),
        ]
    ).splitlines()
    assert table[2] == "| all (nothing pinned) | 70.0 | — | — | — | — | 70.0 | — |"
    assert table[3] == "| light (day) | 75.0 | ir | 30.0 | +45.0 | 60.0 | 62.0 | +8.0 |"


def test_bad_arm_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.factor_ablation", "--arms", "moon", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "factor_ablation: error: --arms: unknown arm 'moon'; one of " + ", ".join(ARMS)
    ]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_real_tiny_run_trains_scores_and_resumes(tmp_path: Path) -> None:
    """One ablated arm for 2 steps through synth/prepare/train/evaluate; a second call reuses its result."""
    out, scores = tmp_path / "work", tmp_path / "scores.json"
    argv = [
        sys.executable, "-m", "tools.factor_ablation", "--arms", "codec", "--steps", "2", "--train-videos", "10",
        "--frames-per-video", "1", "--test-videos", "2", "--input-size", "64", "--out", str(out),
        "--json", str(scores),
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=380)
    assert proc.returncode == 0, proc.stderr
    (arm,) = json.loads(scores.read_text())["arms"]
    assert (arm["arm"], arm["kept"], arm["held_out"]) == ("codec", "raw", "h264")
    assert all(0.0 <= arm[k] <= 1.0 for k in ("fg_all", "fg_own", "fg_held_out"))
    ckpt = out / "codec-run" / "last.pt"
    assert ckpt.is_file() and json.loads((out / "test" / "h264-seg-prep" / "dataset.json").read_text())
    assert "| codec (raw) |" in proc.stdout
    stamp = ckpt.stat().st_mtime_ns
    again = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=200)
    assert again.returncode == 0 and ckpt.stat().st_mtime_ns == stamp  # not trained again
    assert again.stdout == proc.stdout
