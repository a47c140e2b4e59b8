"""Pipeline records vs synthetic ground truth: per-part detection rate and centroid error.

Compares the whole-class summaries (``classes`` of each schema-1 record) with the ``classes``
of the ground-truth JSON that ``infant-stream synth video`` writes, frame by frame (record
``seq`` = ground-truth ``index``). Errors are in pixels and in % of the frame diagonal.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PartAccuracy:
    """One class over a video.

    Attributes:
        frames_visible: frames where the class is in the ground truth.
        detection_rate: share of those frames where the pipeline reported the class.
        median_err_px, mean_err_px, p95_err_px: centroid error over detected frames (pixels).
        mean_err_pct: mean error as % of the frame diagonal.
    """

    name: str
    frames_visible: int
    detection_rate: float
    median_err_px: float
    mean_err_px: float
    p95_err_px: float
    mean_err_pct: float


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON Lines file."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def compare(records: list[dict[str, Any]], truth: dict[str, Any]) -> list[PartAccuracy]:
    """Per-class accuracy of ``records`` against a synth ground-truth document."""
    diag = math.hypot(truth["width"], truth["height"])
    by_seq = {r["seq"]: r for r in records}
    names = sorted({n for f in truth["frames"] for n in f["classes"]})
    report = []
    for name in names:
        visible = [f for f in truth["frames"] if name in f["classes"] and f["index"] in by_seq]
        errors = []
        for f in visible:
            got = next((c for c in by_seq[f["index"]]["classes"] if c["name"] == name), None)
            if got is not None:
                errors.append(math.dist(got["centroid"], f["classes"][name]["centroid"]))
        err = np.asarray(errors, dtype=np.float64)
        nan = float("nan")
        report.append(
            PartAccuracy(
                name=name,
                frames_visible=len(visible),
                detection_rate=len(errors) / len(visible) if visible else nan,
                median_err_px=float(np.median(err)) if len(err) else nan,
                mean_err_px=float(err.mean()) if len(err) else nan,
                p95_err_px=float(np.percentile(err, 95)) if len(err) else nan,
                mean_err_pct=float(100 * err.mean() / diag) if len(err) else nan,
            )
        )
    return report


def format_report(report: list[PartAccuracy]) -> str:
    """A small table, one row per class."""
    lines = [
        f"{'part':<8}{'visible':>8}{'detected':>10}{'median px':>11}{'mean px':>9}{'p95 px':>8}{'mean %diag':>12}"
    ]
    for r in report:
        lines.append(
            f"{r.name:<8}{r.frames_visible:>8}{100 * r.detection_rate:>9.1f}%{r.median_err_px:>11.1f}"
            f"{r.mean_err_px:>9.1f}{r.p95_err_px:>8.1f}{r.mean_err_pct:>11.2f}%"
        )
    return "\n".join(lines)
