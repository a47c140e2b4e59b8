"""``infant-stream synth``: make a synthetic YIBP dataset, keypoint dataset or infant video.

Usage::

    infant-stream synth dataset --out DIR [--videos 20] [--frames-per-video 8] [--seed 0]
                                [--size-range 256 640] [--test-fraction 0.2] [--unlabelled-videos 0]
    infant-stream synth keypoints --out DIR [--format nycu|coco|both] [--videos 50] [--frames-per-video 20]
                                  [--seed 0] [--val-fraction 0.1] [--test-fraction 0.1] [--size-range 256 640]
    infant-stream synth video --out FILE.mp4 [--frames 150] [--fps 25] [--width 640 --height 480] [--seed 0]
                              [--motion random|kick:FREQ_HZ|still:LIMB:FREQ_HZ|bursts:PERIOD_S:BURST_S:FREQ_HZ]

Also runnable on its own: ``python -m trainer.synth.cli dataset --out DIR``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import ConfigError, InfantStreamError

if TYPE_CHECKING:
    from trainer.synth.domain import Domain


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``synth`` subcommand (modes ``dataset``, ``keypoints`` and ``video``) with ``func=main``."""
    from trainer.synth.programs import program_help  # the --motion help lists the programs

    synth = subparsers.add_parser(
        "synth", help="make synthetic infant data (YIBP dataset, keypoint dataset or video)"
    )
    modes = synth.add_subparsers(dest="synth_mode", required=True, metavar="{dataset,keypoints,video}")

    ds = modes.add_parser("dataset", help="write a dataset in the Youtube-Infant-Body-Parsing layout")
    ds.add_argument("--out", type=Path, required=True, help="output directory (created)")
    ds.add_argument("--videos", type=int, default=20, help="labelled videos (default 20)")
    ds.add_argument("--frames-per-video", type=int, default=8, help="frames per video (default 8)")
    ds.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files (default 0)")
    ds.add_argument(
        "--size-range",
        type=int,
        nargs=2,
        default=(256, 640),
        metavar=("MIN", "MAX"),
        help="long image side in px",
    )
    ds.add_argument("--test-fraction", type=float, default=0.2, help="share of videos in test_label.json")
    ds.add_argument("--unlabelled-videos", type=int, default=0, help="extra videos for train_unlabel.json")

    kp = modes.add_parser(
        "keypoints", help="write a keypoint dataset in the NYCU (LabelMe) and/or COCO (SyRIP) layout"
    )
    kp.add_argument("--out", type=Path, required=True, help="output directory (created)")
    kp.add_argument(
        "--format", default="both", help="nycu, coco or both (default both; both share one output directory)"
    )
    kp.add_argument(
        "--videos", type=int, default=50, help="videos, i.e. infant set-ups (default 50, max 999)"
    )
    kp.add_argument("--frames-per-video", type=int, default=20, help="frames per video (default 20)")
    kp.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files (default 0)")
    kp.add_argument("--val-fraction", type=float, default=0.1, help="share of videos in val (default 0.1)")
    kp.add_argument("--test-fraction", type=float, default=0.1, help="share of videos in test (default 0.1)")
    kp.add_argument(
        "--size-range",
        type=int,
        nargs=2,
        default=(256, 640),
        metavar=("MIN", "MAX"),
        help="long image side in px",
    )

    vid = modes.add_parser("video", help="write an H.264 clip of one moving infant plus ground-truth JSON")
    vid.add_argument(
        "--out", type=Path, required=True, help="output .mp4 (ground truth goes to .json beside it)"
    )
    vid.add_argument("--frames", type=int, default=150, help="number of frames (default 150)")
    vid.add_argument("--fps", type=float, default=25.0, help="frame rate (default 25)")
    vid.add_argument("--width", type=int, default=640, help="frame width, even (default 640)")
    vid.add_argument("--height", type=int, default=480, help="frame height, even (default 480)")
    vid.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    vid.add_argument(
        "--motion",
        default="random",
        metavar="SPEC",
        help=f"movement program (a known truth for movement analysis), SPEC one of: {program_help()}",
    )
    for mode in (ds, kp, vid):
        _domain_arguments(mode)
    synth.set_defaults(func=main)
    return synth


def _domain_arguments(p: argparse.ArgumentParser) -> None:
    """``--randomize``, ``--families``, ``--hold-out`` (:mod:`trainer.synth.domain`)."""
    p.add_argument(
        "--randomize",
        action="store_true",
        help="domain randomisation: film every video with a random camera (view, light incl. night IR, noise, codec)",
    )
    p.add_argument(
        "--families", default=None, help="with --randomize: draw only these factor families (A,B,...)"
    )
    p.add_argument(
        "--hold-out", default=None, help="with --randomize: every factor family but these (A,B,...)"
    )
    p.add_argument(
        "--plain-share",
        type=float,
        default=0.0,
        metavar="S",
        help="with --randomize: this share of the videos (0..1) drawn by the plain generator instead (default 0)",
    )


def _domain(args: argparse.Namespace) -> Domain:
    from trainer.synth.domain import parse_domain

    return parse_domain(args.randomize, args.families, args.hold_out, args.plain_share)


@contextmanager
def _progress(total: int, desc: str) -> Iterator[Callable[[], None]]:
    """A tick function driving a tqdm bar on stderr when tqdm is installed, else doing nothing."""
    try:
        from tqdm import tqdm
    except ImportError:
        yield lambda: None
        return
    with tqdm(total=total, desc=desc, unit="img", leave=False, disable=None) as bar:
        yield lambda: bar.update(1)


def main(args: argparse.Namespace) -> int:
    """Run ``synth dataset`` or ``synth video``; invalid values raise :class:`ConfigError`."""
    if args.seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {args.seed}")
    domain = _domain(args)
    if args.synth_mode == "dataset":
        from trainer.synth.dataset import validate_options, write_yibp

        size_range = (int(args.size_range[0]), int(args.size_range[1]))
        validate_options(args.videos, args.frames_per_video, size_range, args.test_fraction)
        if args.unlabelled_videos < 0:
            raise ConfigError(f"--unlabelled-videos must be >= 0, got {args.unlabelled_videos}")
        total = (args.videos + args.unlabelled_videos) * args.frames_per_video
        with _progress(total, "synth dataset") as tick:
            summary = write_yibp(
                args.out,
                videos=args.videos,
                frames_per_video=args.frames_per_video,
                seed=args.seed,
                size_range=size_range,
                test_fraction=args.test_fraction,
                unlabelled_videos=args.unlabelled_videos,
                on_image=tick,
                domain=domain,
            )
        print(
            f"wrote {summary.images} images to {summary.out_dir}: {len(summary.train_videos)} train, "
            f"{len(summary.test_videos)} test, {len(summary.unlabelled_videos)} unlabelled videos"
        )
        return 0
    if args.synth_mode == "keypoints":
        return _keypoints(args, domain)
    if args.synth_mode == "video":
        from trainer.synth.video import validate_options as validate_video
        from trainer.synth.video import write_video

        validate_video(args.frames, args.fps, args.width, args.height, args.motion)
        if args.out.suffix.lower() not in (".mp4", ".mkv", ".mov"):
            raise ConfigError(f"--out must end in .mp4, .mkv or .mov, got {args.out}")
        with _progress(args.frames, "synth video") as tick:
            result = write_video(
                args.out,
                frames=args.frames,
                fps=args.fps,
                width=args.width,
                height=args.height,
                seed=args.seed,
                on_frame=tick,
                domain=domain,
                program=args.motion,
            )
        print(f"wrote {result.frames} frames to {result.video_path} and ground truth to {result.truth_path}")
        return 0
    raise ConfigError(f"synth mode must be dataset, keypoints or video, got {args.synth_mode}")


def _keypoints(args: argparse.Namespace, domain: Domain) -> int:
    from trainer.synth.keypoint_dataset import validate_keypoint_options, write_keypoints

    size_range = (int(args.size_range[0]), int(args.size_range[1]))
    validate_keypoint_options(
        args.format, args.videos, args.frames_per_video, size_range, args.val_fraction, args.test_fraction
    )
    with _progress(args.videos * args.frames_per_video, "synth keypoints") as tick:
        summary = write_keypoints(
            args.out,
            fmt=args.format,
            videos=args.videos,
            frames_per_video=args.frames_per_video,
            seed=args.seed,
            val_fraction=args.val_fraction,
            test_fraction=args.test_fraction,
            size_range=size_range,
            on_image=tick,
            domain=domain,
        )
    counts = ", ".join(f"{len(v)} {k}" for k, v in summary.videos.items())
    print(
        f"wrote {summary.frames} frames ({args.format}) to {summary.out_dir}: {counts} videos, "
        f"{summary.frames / max(summary.seconds, 1e-9):.1f} frames/s"
    )
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m trainer.synth.cli``): errors print one line, exit non-zero."""
    parser = argparse.ArgumentParser(prog="infant-stream")
    commands = parser.add_subparsers(dest="command", required=True)
    register(commands)
    args = parser.parse_args(["synth", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except InfantStreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(run())
