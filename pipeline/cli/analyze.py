"""``infant-stream analyze RECORDING.jsonl [...] --out DIR``: movement features of recordings (JSONL from
``run``, ``subscribe`` or a web job): ``features.csv``, ``windows.csv``, ``qc.csv`` and a self-contained
``report.html`` (:mod:`pipeline.analysis`; every feature is defined in docs/movement.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="movement features of JSONL recordings: CSV tables and an HTML report",
        description="Movement analysis of recordings: per-limb kinematics, rhythm, bursts, left-right "
        "symmetry, quality control; features.csv, windows.csv, qc.csv and report.html in --out.",
    )
    p.add_argument("recordings", nargs="+", metavar="RECORDING.jsonl", help="JSONL recordings")
    p.add_argument("--out", required=True, help="folder for the tables and the report")
    p.add_argument(
        "--source", default=None, help="only this source of each recording (default: every source)"
    )
    p.add_argument(
        "--time-base",
        choices=("auto", "pts", "capture"),
        default="auto",
        help="frame times (default auto: pts when usable)",
    )
    p.add_argument(
        "--reconnect-gap-s", type=float, default=1.0, help="split at gaps longer than this (default 1 s)"
    )
    p.add_argument(
        "--max-fill-s", type=float, default=0.5, help="interpolate gaps up to this long (default 0.5 s)"
    )
    p.add_argument("--cutoff-hz", type=float, default=6.0, help="low-pass filter cut-off (default 6 Hz)")
    p.add_argument("--window-s", type=float, default=30.0, help="sliding window length (default 30 s)")
    p.add_argument("--step-s", type=float, default=10.0, help="sliding window step (default 10 s)")
    p.add_argument("--no-report", action="store_true", help="the CSV tables only")
    p.add_argument("--force", action="store_true", help="replace an existing, non-empty --out")
    p.set_defaults(func=main)


def options(args: argparse.Namespace) -> Any:
    """The :class:`~pipeline.analysis.analyze.AnalysisOptions` of the flags (one-line errors)."""
    from pipeline.analysis.analyze import AnalysisOptions
    from pipeline.analysis.cleaning import CleanOptions

    for flag, value in (
        ("--reconnect-gap-s", args.reconnect_gap_s),
        ("--max-fill-s", args.max_fill_s),
        ("--cutoff-hz", args.cutoff_hz),
        ("--window-s", args.window_s),
        ("--step-s", args.step_s),
    ):
        if not value > 0:
            raise ConfigError(f"{flag}: must be > 0, got {value}")
    clean = CleanOptions(args.time_base, args.reconnect_gap_s, args.max_fill_s, args.cutoff_hz)
    return AnalysisOptions(clean, args.window_s, args.step_s)


def describe(o: Any) -> str:
    c = o.clean
    return (
        f"time base {c.time_base}; split at gaps over {c.reconnect_gap_s:g} s; gaps up to {c.max_fill_s:g} s "
        f"filled by linear interpolation; zero-phase 4th-order Butterworth low-pass at {c.cutoff_hz:g} Hz; "
        f"trunk-centred frame in trunk lengths; windows of {o.window_s:g} s every {o.step_s:g} s."
    )


def main(args: argparse.Namespace) -> int:
    from pipeline.analysis.analyze import analyze
    from pipeline.analysis.recording import load_recordings
    from pipeline.analysis.report import report_html
    from pipeline.analysis.tables import write_tables
    from pipeline.files import check_out_folder, whole_folder

    o = options(args)
    out = Path(args.out)
    check_out_folder(out, args.force)  # before minutes of analysis
    analyses = []
    for path in args.recordings:
        recs = load_recordings(Path(path))
        if args.source is not None:
            recs = [r for r in recs if r.source == args.source]
            if not recs:
                raise ConfigError(f"{path}: no records of --source {args.source}")
        analyses += [analyze(r, o) for r in recs]
    with whole_folder(out, args.force) as staging:
        written = write_tables(staging, analyses)
        if not args.no_report:
            report = staging / "report.html"
            report.write_text(report_html(analyses, describe(o)), encoding="utf-8")
            written.append(report)
    for path in written:
        print(out / path.name)
    for a in analyses:
        thin = sum(v != "ok" for v in a.verdicts.values())
        print(
            f"{a.recording.path} [{a.recording.source}]: {a.cleaned.duration_s:.1f} s, limbs from {a.points_from or 'nothing'}, {thin} thin features"
        )
    return 0
