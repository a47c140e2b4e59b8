"""``infant-stream export-pose RECORDING.jsonl --format dlc|coco|nwb --out PATH``: the joints of a JSONL
recording as a DeepLabCut CSV, a COCO keypoints JSON or an NWB file with ndx-pose (``docs/export-pose.md``).

The file is written whole: to a temporary file beside ``--out``, renamed into place once complete, so a
failed export leaves nothing (and an existing ``--out`` untouched)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

FORMAT_HELP = {
    "dlc": "DeepLabCut CSV (scorer/bodyparts/coords header rows; x, y, likelihood per keypoint)",
    "coco": "COCO keypoints JSON (images, annotations, categories)",
    "nwb": "NWB with ndx-pose (PoseEstimation, one PoseEstimationSeries per keypoint; needs the nwb extra)",
}


def register(subparsers: Any) -> None:
    from pipeline.analysis.export_pose import DEFAULT_SCORER, FORMATS

    p = subparsers.add_parser(
        "export-pose",
        help="export the joints of a JSONL recording as DeepLabCut CSV, COCO keypoints JSON or NWB (ndx-pose)",
        description="Export the joints a pose model found in a JSONL recording (run --jsonl) for "
        "pose-analysis tools. "
        + " ".join(f"{name}: {FORMAT_HELP[name]}." for name in FORMATS)
        + " Positions are frame pixels; points not observed (predicted or missing) have none.",
    )
    p.add_argument("recording", help="JSONL recording (run --jsonl, subscribe --jsonl, a web job's JSONL)")
    p.add_argument("--format", required=True, choices=FORMATS, help="dlc, coco or nwb")
    p.add_argument("--out", required=True, help="file to write (.csv, .json, .nwb)")
    p.add_argument("--source", default=None, help="the source to export (needed when the file has several)")
    p.add_argument(
        "--scorer",
        default=DEFAULT_SCORER,
        help=f"scorer name in the DeepLabCut header and the NWB PoseEstimation (default {DEFAULT_SCORER})",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from pipeline.analysis.export_pose import encode, pose_table
    from pipeline.files import write_whole

    recording, out = Path(args.recording), Path(args.out)
    if not args.scorer.strip() or not args.scorer.isprintable():
        raise ConfigError(f"--scorer: must be a printable, non-empty name, got {args.scorer!r}")
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a folder; give a file name")
    if out.exists() and not args.force:
        raise ConfigError(f"--out {out}: exists (--force replaces it)")
    if recording.exists() and out.exists() and out.samefile(recording):
        raise ConfigError(f"--out {out}: is the recording itself")
    table = pose_table(recording, args.source)
    data = encode(table, args.format, args.scorer)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_whole(out, lambda f: f.write(data))
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    observed = int(table.observed.sum())
    print(
        f"{out}: {args.format}, source {table.source}, {table.frames} frames, {len(table.names)} keypoints "
        f"({observed} of {table.observed.size} points observed)"
    )
    return 0
