"""Movement analysis against known truth: synthetic clips with programmed movement (``synth video --motion``),
run through the real pipeline (segmentation + the shipped pose model), analysed, and compared with the same
analysis of the generator's own ground-truth keypoints.

``python -m tools.movement_validation [--seconds 24] [--fps 10] [--size 320x240] [--json]``

Targets (issue "Movement analysis"): dominant frequency within ±0.1 Hz of the programmed one; left–right
asymmetry detected whenever one limb is still (|asymmetry index| > 0.5, the moving side's sign); per-limb
median speed from the pipeline's output within 15 % of the ground truth's.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.analysis.analyze import Analysis, analyze
from pipeline.analysis.recording import from_records, load_recordings
from tests.helpers.procs import REPO, cli_command

ASYMMETRY_SEEN = 0.5
"""|asymmetry index| above this counts as an asymmetry detected."""
CASES = (
    ("kick:0.8", 11),
    ("kick:1.2:inphase", 12),
    ("still:leg_r:0.9", 13),
    ("still:arm_l:0.7", 14),
)
"""(motion program, seed)."""


@dataclass(frozen=True)
class Case:
    """One clip: its program, the analysis of the pipeline's output and of the truth."""

    program: str
    pipeline: Analysis
    truth: Analysis


def run_case(
    program: str, seed: int, folder: Path, seconds: float, fps: float, size: tuple[int, int]
) -> Case:
    from trainer.synth.truth_records import truth_records
    from trainer.synth.video import write_video

    clip = folder / f"{program.replace(':', '_')}.mp4"
    summary = write_video(
        clip, frames=int(seconds * fps), fps=fps, width=size[0], height=size[1], seed=seed, program=program
    )
    out = clip.with_suffix(".jsonl")
    subprocess.run(
        [*cli_command(), "run", "--source", str(clip), "--no-display", "--no-progress", "--jsonl", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=1800,
    )
    (recorded,) = load_recordings(out)
    truth = from_records(truth_records(summary.truth_path), "truth")
    return Case(program, analyze(recorded), analyze(truth))


def moving_limbs(program: str) -> list[str]:
    """The limbs a program moves periodically."""
    kind, *args = program.split(":")
    if kind == "kick":
        return ["leg_l", "leg_r"]
    if kind == "still":
        still = args[0]
        return [still[:-1] + ("r" if still.endswith("l") else "l")]
    return []


def programmed_hz(program: str) -> float:
    kind, *args = program.split(":")
    return float(args[0] if kind == "kick" else args[1])


def rows(case: Case) -> list[dict[str, Any]]:
    """One row per limb that the program moves, plus one per still limb."""
    out = []
    f = programmed_hz(case.program)
    for limb in moving_limbs(case.program):
        got, want = case.pipeline.features, case.truth.features
        speed_err = got[f"{limb}_speed_median"] / want[f"{limb}_speed_median"] - 1.0
        out.append(
            {
                "program": case.program,
                "limb": limb,
                "programmed_hz": f,
                "pipeline_hz": got[f"{limb}_dominant_hz"],
                "truth_hz": want[f"{limb}_dominant_hz"],
                "speed_pipeline": got[f"{limb}_speed_median"],
                "speed_truth": want[f"{limb}_speed_median"],
                "speed_error": speed_err,
                "hz_ok": abs(got[f"{limb}_dominant_hz"] - f) <= 0.1,
                "speed_ok": abs(speed_err) <= 0.15,
            }
        )
    if case.program.startswith("still:"):
        still = case.program.split(":")[1]
        pair = still[:3]
        index = case.pipeline.features[f"{pair}_asymmetry"]
        expected_sign = -1.0 if still.endswith("l") else 1.0  # (left − right): a still left arm → negative
        out.append(
            {
                "program": case.program,
                "limb": f"{pair} asymmetry",
                "asymmetry_pipeline": index,
                "asymmetry_truth": case.truth.features[f"{pair}_asymmetry"],
                "asymmetry_ok": math.isfinite(index) and index * expected_sign > ASYMMETRY_SEEN,
            }
        )
    return out


def print_table(all_rows: list[dict[str, Any]]) -> None:
    print(
        "| program | limb | programmed Hz | pipeline Hz | truth Hz | median speed pipeline / truth (TL/s) | error | within targets |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in all_rows:
        if "asymmetry_pipeline" in r:
            print(
                f"| {r['program']} | {r['limb']} | | | | asymmetry index {r['asymmetry_pipeline']:+.2f} (truth "
                f"{r['asymmetry_truth']:+.2f}) | | {'yes' if r['asymmetry_ok'] else '**no**'} |"
            )
            continue
        ok = r["hz_ok"] and r["speed_ok"]
        print(
            f"| {r['program']} | {r['limb']} | {r['programmed_hz']:.2f} | {r['pipeline_hz']:.3f} | {r['truth_hz']:.3f} | "
            f"{r['speed_pipeline']:.3f} / {r['speed_truth']:.3f} | {100 * r['speed_error']:+.1f} % | {'yes' if ok else '**no**'} |"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tools.movement_validation", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--seconds", type=float, default=24.0, help="clip length (default 24 s)")
    p.add_argument("--fps", type=float, default=10.0, help="clip frame rate (default 10)")
    p.add_argument("--size", default="320x240", help="frame size (default 320x240)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    all_rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="movement-validation-") as tmp:
        for program, seed in CASES:
            case = run_case(program, seed, Path(tmp), args.seconds, args.fps, (size[0], size[1]))
            all_rows += rows(case)
    if args.json:
        print(json.dumps(all_rows, indent=2))
    else:
        print_table(all_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
