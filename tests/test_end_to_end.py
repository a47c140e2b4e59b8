"""End to end on the shipped default model: synthetic infant video → pipeline → centroids vs truth.

Targets (issue: trainer and default model): per-part mean centroid error ≤ 3 % of the frame diagonal.
"""

import json
import subprocess
from pathlib import Path

from tests.helpers.bounds import assert_records_in_frame
from trainer.accuracy import compare, load_jsonl

MODEL = Path(__file__).resolve().parents[1] / "models" / "infant-seg.onnx"


def test_default_model_tracks_synthetic_infant(infant_stream, tmp_path):
    video = tmp_path / "clip.mp4"
    subprocess.run(
        [
            *infant_stream,
            "synth",
            "video",
            "--out",
            str(video),
            "--frames",
            "60",
            "--fps",
            "25",
            "--seed",
            "11",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    out = tmp_path / "clip.jsonl"
    proc = subprocess.run(
        [
            *infant_stream,
            "run",
            "--source",
            str(video),
            "--model",
            str(MODEL),
            "--jsonl",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    records = load_jsonl(out)
    assert len(records) == 60
    assert assert_records_in_frame(records) > 0  # no part, observed or predicted, outside the frame
    report = {r.name: r for r in compare(records, json.loads(video.with_suffix(".json").read_text()))}
    assert set(report) == {"head", "arm", "torso", "leg"}
    for part in report.values():
        assert part.detection_rate >= 0.95, part
        assert part.mean_err_pct <= 3.0, part
