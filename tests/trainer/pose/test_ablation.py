"""The keypoint ablation tool: which runs it plans, its tables, and a tiny end-to-end run that skips finished
runs and resumes unfinished ones."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pipeline.cli.main import main as cli
from trainer.pose.ablation import Run, markdown, planned_runs

COMMANDS = {"ablation": ("trainer.pose.ablation", "ablations")}
"""As tools/pose_ablation.py registers it (tests outside tests/tools do not import tools)."""


def test_planned_runs_share_the_visible_kept_run() -> None:
    runs = {r.name: r.decoders for r in planned_runs(("losses", "occlusion"), "kce", "wa")}
    assert runs == {
        "mse-face-visible-facial-kept": ("argmax", "wa"),
        "bce-face-visible-facial-kept": ("argmax", "wa"),
        "kce-face-visible-facial-kept": ("argmax", "wa"),
        "kce-face-visible-facial-omitted": ("wa",),
        "kce-face-occluded-facial-kept": ("wa",),
        "kce-face-occluded-facial-omitted": ("wa",),
    }
    assert [r.name for r in planned_runs(("occlusion",), "mse", "argmax")] == [
        "mse-face-visible-facial-kept",
        "mse-face-visible-facial-omitted",
        "mse-face-occluded-facial-kept",
        "mse-face-occluded-facial-omitted",
    ]


def _report(pck: float, mks: float) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for b in ("0.1", "0.08", "0.06", "0.04", "0.02"):
        out[f"PCKsh@{b}"], out[f"PCKsh@{b}/17"] = pck, pck / 2
    out["mKS"], out["mKS/17"] = mks, None
    return out


def test_markdown_tables() -> None:
    results = {
        Run("mse", False, False, ()).name: {
            "reports": {"argmax": _report(0.5, 0.25), "wa": _report(0.75, 0.5)}
        },
        Run("kce", True, True, ()).name: {"reports": {"wa": _report(0.125, 0.0)}},
    }
    text = markdown(results, 100, "test", "kce", "wa")
    lines = text.splitlines()
    assert (
        lines[0]
        == "Budget 100 steps per run; scored on the test split (crops from the ground-truth body box)."
    )
    assert "| MSE | argmax | 50.0 | 50.0 | 50.0 | 50.0 | 50.0 | 25.0 |" in lines
    assert (
        "| MSE | wa | 37.5 | 37.5 | 37.5 | 37.5 | 37.5 | – |" in lines
    )  # non-facial table, mKS/17 undefined
    assert "| BCE | wa | – | – | – | – | – | – |" in lines
    assert "### Face occlusion (KCE, wa), non-facial keypoints (%)" in lines
    assert "| occluded | omitted | 6.2 | 6.2 | 6.2 | 6.2 | 6.2 | – |" in lines
    assert "| visible | kept | – | – | – | – | – | – |" in lines


@pytest.mark.slow
def test_tiny_ablation_runs_skips_and_resumes(
    kp_layout: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    argv = [
        *("ablation", "--data", str(kp_layout), "--out", str(tmp_path), "--budget-steps", "2"),
        *("--arch", "mnv3-small", "--head-channels", "8", "--input-size", "64", "--batch-size", "4"),
        *("--workers", "0", "--device", "cpu", "--occlusion-loss", "mse", "--decoder", "argmax"),
    ]
    assert cli(argv, COMMANDS) == 0
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 6 and "mse-face-occluded-facial-omitted" in runs
    result = json.loads((tmp_path / "runs" / "mse-face-occluded-facial-omitted" / "result.json").read_text())
    assert result["steps"] == 2 and result["face_occlusion"] and result["omit_facial"]
    assert set(result["reports"]) == {"argmax"} and result["reports"]["argmax"]["frames"] == 3
    both = json.loads((tmp_path / "runs" / "mse-face-visible-facial-kept" / "result.json").read_text())
    assert set(both["reports"]) == {"argmax", "wa"}
    table = (tmp_path / "ablation.md").read_text()
    assert "| MSE | wa |" in table and "| occluded | omitted |" in table and "| KCE | argmax |" in table

    # Finished runs are skipped; one whose result is gone resumes from its last.pt without training more.
    kept = tmp_path / "runs" / "bce-face-visible-facial-kept" / "result.json"
    before = kept.stat().st_mtime_ns
    redo = tmp_path / "runs" / "kce-face-visible-facial-kept"
    (redo / "result.json").unlink()
    with caplog.at_level(logging.INFO, logger="trainer"):
        assert cli(argv, COMMANDS) == 0
    assert kept.stat().st_mtime_ns == before
    assert "bce-face-visible-facial-kept: done" in caplog.text and "resumed from" in caplog.text
    assert json.loads((redo / "result.json").read_text())["steps"] == 2


def test_bad_tables_and_budget_are_one_line(
    kp_layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["ablation", "--data", str(kp_layout), "--out", str(tmp_path)]
    assert cli([*base, "--budget-steps", "2", "--tables", "losses,speed"], COMMANDS) == 2
    assert (
        "--tables: a comma-separated subset of losses, occlusion, got 'losses,speed'"
        in capsys.readouterr().err
    )
    assert cli([*base, "--budget-steps", "0"], COMMANDS) == 2
    assert "--budget-steps: must be >= 1, got 0" in capsys.readouterr().err
