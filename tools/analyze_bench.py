"""How long ``infant-stream analyze`` takes on a long recording: a 30-minute, 25 fps, one-source JSONL with
22 joints and six parts per record (as ``run`` with the pose model writes them), made here from smooth
synthetic paths (kicks, waves, pauses, a 3 s reconnect, some missed joints), analysed by the real command.

``python -m tools.analyze_bench [--minutes 30] [--fps 25] [--json]``

Target (issue "Movement analysis"): under 60 s on 2 cores. Prints the time of each step (reading the
JSONL, cleaning, features, windows, the report) measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.contract.keypoints import NYCU22
from tests.helpers.procs import REPO, cli_command


def write_recording(path: Path, minutes: float, fps: float, seed: int = 0) -> int:
    """A JSONL recording of ``minutes`` at ``fps``; returns the number of records."""
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * fps)
    t = np.arange(n) / fps
    t[n // 2 :] += 3.0  # a reconnect: 3 s without frames
    base = {name: (200 + 15 * (i % 5), 150 + 12 * (i // 5)) for i, name in enumerate(NYCU22.names)}
    freqs = rng.uniform(0.2, 1.5, len(NYCU22.names))
    amps = rng.uniform(2, 30, len(NYCU22.names))
    active = (np.sin(2 * math.pi * t / 40.0) > -0.3).astype(float)  # pauses
    missed = rng.random((n, len(NYCU22.names))) < 0.05
    t0 = 1.79e9
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            kps = []
            for k, name in enumerate(NYCU22.names):
                x0, y0 = base[name]
                a = amps[k] * active[i]
                x = x0 + a * math.sin(2 * math.pi * freqs[k] * t[i])
                y = y0 + a * math.cos(2 * math.pi * freqs[k] * t[i] * 0.7)
                seen = not missed[i, k]
                kps.append(
                    {
                        "id": k,
                        "name": name,
                        "x": round(x, 2) if seen else None,
                        "y": round(y, 2) if seen else None,
                        "score": 0.9 if seen else 0.2,
                        "state": "observed" if seen else "predicted",
                        "smoothed": [round(x, 2), round(y, 2)],
                        "velocity": [0.0, 0.0],
                        "uncertainty": [1.0, 1.0],
                    }
                )
            parts = [
                {
                    "class_id": c,
                    "name": nm,
                    "instance": j,
                    "track_id": c * 10 + j,
                    "state": "observed",
                    "box": [0, 0, 10, 10],
                    "centroid": [200.0 + 30 * c + 5 * j, 200.0],
                    "smoothed": None,
                    "velocity": None,
                    "uncertainty": None,
                    "area_px": 500,
                    "score": 0.9,
                }
                for c, nm, j in (
                    (1, "head", 0),
                    (2, "arm", 0),
                    (2, "arm", 1),
                    (3, "torso", 0),
                    (4, "leg", 0),
                    (4, "leg", 1),
                )
            ]
            record = {
                "schema": 1,
                "source": "cam0",
                "seq": i,
                "pts_s": round(float(t[i]), 4) if i < n // 2 else round(float(t[i] - t[n // 2]), 4),
                "capture_ts": round(t0 + float(t[i]), 4),
                "width": 640,
                "height": 480,
                "dropped_since_last": 0,
                "privacy": "head",
                "latency_ms": {
                    "preprocess": 1.0,
                    "inference": 5.0,
                    "postprocess": 1.0,
                    "pose": 3.0,
                    "capture_to_publish": 12.0,
                },
                "parts": parts,
                "classes": [],
                "pose": {"box": [100.0, 80.0, 320.0, 300.0], "model": "bench"},
                "keypoints": kps,
            }
            f.write(json.dumps(record, separators=(",", ":")) + "\n")
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.analyze_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="recording length (default 30)")
    p.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    from pipeline.analysis.analyze import analyze
    from pipeline.analysis.recording import load_recordings
    from pipeline.analysis.report import report_html

    with tempfile.TemporaryDirectory(prefix="analyze-bench-") as tmp:
        rec_path = Path(tmp) / "long.jsonl"
        frames = write_recording(rec_path, args.minutes, args.fps)
        size_mb = rec_path.stat().st_size / 1e6
        t0 = time.perf_counter()
        done = subprocess.run(
            [*cli_command(), "analyze", str(rec_path), "--out", str(Path(tmp) / "out")],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        command_s = time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        t1 = time.perf_counter()
        (rec,) = load_recordings(rec_path)
        t2 = time.perf_counter()
        a = analyze(rec)
        t3 = time.perf_counter()
        report_html([a], "bench")
        t4 = time.perf_counter()
    out = {
        "minutes": args.minutes,
        "fps": args.fps,
        "frames": frames,
        "jsonl_mb": round(size_mb, 1),
        "command_s": round(command_s, 2),
        "read_s": round(t2 - t1, 2),
        "analyze_s": round(t3 - t2, 2),
        "report_s": round(t4 - t3, 2),
        "windows": len(a.windows),
        "segments": len(a.cleaned.segments),
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"| recording | JSONL | `infant-stream analyze` (target < 60 s) | read | clean + features + {out['windows']} windows | report |"
        )
        print("|---|---|---|---|---|---|")
        print(
            f"| {args.minutes:g} min, {args.fps:g} fps, {frames} frames, {out['segments']} segments | {out['jsonl_mb']} MB | "
            f"**{out['command_s']} s** | {out['read_s']} s | {out['analyze_s']} s | {out['report_s']} s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
