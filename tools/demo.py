"""``make demo``: the main job on the bundled default model and a generated demo video.

1. generates ``out/demo.mp4`` + ``out/demo.json`` (ground truth) with a fixed seed if absent;
2. runs ``infant-stream run`` on it with ``models/infant-seg.onnx``, writing ``out/demo.jsonl``,
   ``out/demo.csv`` and the overlay video ``out/demo-overlay.mp4`` (the monitor window opens too
   when a display exists);
3. prints frames, FPS, per-part detection rate and centroid error against the ground truth,
   raw vs Kalman-smoothed, the keypoints' per-joint error and jitter (with ``models/infant-pose.onnx``,
   which the run uses by default), and plots the trajectories to ``out/demo.png``.
"""

from __future__ import annotations

import json
import sys
import time

from pipeline import REPO_ROOT
from pipeline.cli.main import main as cli

MODEL = REPO_ROOT / "models" / "infant-seg.onnx"
POSE_MODEL = REPO_ROOT / "models" / "infant-pose.onnx"
OUT = REPO_ROOT / "out"
VIDEO = OUT / "demo.mp4"
RECORDS = OUT / "demo.jsonl"
OVERLAY = OUT / "demo-overlay.mp4"
SEED, FRAMES, FPS, WIDTH, HEIGHT = 2026, 250, 25, 640, 480


def main() -> int:
    if not MODEL.exists():
        print(f"infant-stream demo: no default model at {MODEL} yet (it comes with the trainer work).")
        return 0
    if not VIDEO.exists() or not VIDEO.with_suffix(".json").exists():
        code = cli(
            [
                "synth",
                "video",
                "--out",
                str(VIDEO),
                "--frames",
                str(FRAMES),
                "--fps",
                str(FPS),
                "--width",
                str(WIDTH),
                "--height",
                str(HEIGHT),
                "--seed",
                str(SEED),
            ]
        )
        if code:
            return code
    t0 = time.monotonic()
    code = cli(
        [
            *("run", "--source", str(VIDEO), "--model", str(MODEL), "--source-id", "demo"),
            *("--jsonl", str(RECORDS), "--csv", str(RECORDS.with_suffix(".csv")), "--record", str(OVERLAY)),
        ]
    )
    elapsed = time.monotonic() - t0
    if code:
        return code
    from trainer.accuracy import compare, compare_tracks, format_report, format_track_report, load_jsonl

    records = load_jsonl(RECORDS)
    truth = json.loads(VIDEO.with_suffix(".json").read_text())
    print(
        f"\ndemo: {len(records)} frames in {elapsed:.1f} s ({len(records) / elapsed:.1f} fps incl. model load)"
    )
    print(format_report(compare(records, truth)))
    print(format_track_report(compare_tracks(records, truth)))
    from trainer.pose.accuracy import compare_keypoints, format_keypoint_report

    joints = compare_keypoints(records, truth)
    if joints:
        print("\nkeypoints against the clip's ground truth (labelled frames; error of the raw measurement):")
        print(format_keypoint_report(joints))
    else:
        print(f"\nno keypoints in the records (no pose model at {POSE_MODEL})")
    code = cli(["plot", str(RECORDS), "--out", str(RECORDS.with_suffix(".png"))])
    analysis = RECORDS.with_name("demo-analysis")
    code = code or cli(
        ["analyze", str(RECORDS), "--out", str(analysis), "--window-s", "5", "--step-s", "2.5", "--force"]
    )
    print(f"records: {RECORDS}, {RECORDS.with_suffix('.csv')}; overlay video: {OVERLAY}")
    print(f"movement report: {analysis / 'report.html'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
