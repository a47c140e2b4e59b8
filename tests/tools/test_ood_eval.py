"""``python -m tools.ood_eval``: set names, the table, and a real small run through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from tools.ood_eval import SetScore, check_sets, domain_flags, markdown

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "flags"),
    [("plain", []), ("all", ["--randomize"]), ("ir", ["--randomize", "--families", "ir"])],
)
def test_domain_flags(name: str, flags: list[str]) -> None:
    assert domain_flags(name) == flags


def test_check_sets() -> None:
    assert check_sets([" plain", "all ", "photo", ""]) == ["plain", "all", "photo"]
    with pytest.raises(ConfigError, match="--sets: unknown set 'moon'"):
        check_sets(["plain", "moon"])
    with pytest.raises(ConfigError, match="give one or more"):
        check_sets([" "])


def test_markdown_gaps_are_against_all() -> None:
    table = markdown(
        [
            SetScore("all", 10, 0.80, 0.70, 0.90, 0.85),
            SetScore("ir", 10, 0.50, 0.40, 0.60, 0.55),
            SetScore("plain", 10, 0.90, None, None, None),
        ]
    ).splitlines()
    assert table[2] == "| all | 80.0 | 70.0 | — | 90.0 | 85.0 | — |"
    assert table[3] == "| ir | 50.0 | 40.0 | -30.0 | 60.0 | 55.0 | -30.0 |"
    assert table[4] == "| plain | 90.0 | — | +10.0 | — | — | — |"


def test_missing_model_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.ood_eval",
            "--seg-model",
            str(tmp_path / "no.onnx"),
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith(f"--seg-model: no such file: {tmp_path / 'no.onnx'}")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_real_run_scores_the_shipped_models(tmp_path: Path) -> None:
    """Two sets, the shipped models, through synth/prepare/evaluate: the numbers are real scores."""
    out = tmp_path / "scores.json"
    sets = ["--sets", "plain,ir", "--videos", "2", "--frames-per-video", "2"]
    proc = subprocess.run(
        [sys.executable, "-m", "tools.ood_eval", *sets, "--out", str(tmp_path / "work"), "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr
    sets = {s["name"]: s for s in json.loads(out.read_text())["sets"]}
    assert set(sets) == {"plain", "ir"} and sets["plain"]["frames"] == 2
    for s in sets.values():
        assert all(0.0 <= s[k] <= 1.0 for k in ("fg_dice", "mean_part_dice", "pcksh", "mks"))
    assert sets["plain"]["fg_dice"] > 0.5  # the shipped model was trained on this generator's kind of frame
    assert "| plain |" in proc.stdout and "| ir |" in proc.stdout
