"""Out-of-distribution evaluation on synthetic data: the proxy for real footage (issue: synthetic-to-real).

``python -m tools.ood_eval [--seg-model models/infant-seg.onnx] [--pose-model models/infant-pose.onnx]
[--sets plain,all,ir,...] [--videos 8] [--frames-per-video 6] [--seed 7001] [--out runs/ood] [--json FILE]``

For each test set it writes fresh synthetic data through the real CLI (``synth dataset`` / ``synth keypoints``
with ``--randomize --families F``), prepares it (``prepare``) and scores the shipped models (``evaluate``,
split ``test``):

- ``plain``: the generator without ``--randomize`` (the infant's own variety on the mottled sheet, top-down);
- ``all``: ``--randomize`` with every family (the in-distribution set of a model trained on all of them);
- a family name (``ir``, ``oblique``, ``photo``, ``swaddle``...): ``--randomize --families F`` — only that
  family in its group, every family of the other groups. A model trained with ``--hold-out F`` has never
  seen it: its score here against ``all`` is the held-out-family gap.

Segmentation: foreground Dice and mean part Dice (the YIBP protocol of ``evaluate``); keypoints: PCKsh@0.1
and mKS over the 22 NYCU points (ground-truth body box crops, the pipeline's decoder and flip test). Seeds
start at ``--seed`` and differ per set, so no test frame was ever a training frame (training data uses small
seeds). Prints a Markdown table; ``--json`` writes every number. Exit code 0, or 1 when a step fails (its
one-line error is printed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from pipeline.errors import ConfigError
from trainer.synth.domain import all_families

DEFAULT_SETS: Final[tuple[str, ...]] = (
    "plain", "all", "swaddle", "sleeper", "floral", "photo", "lawn", "cot", "playmat", "hand", "wire",
    "blanket_edge", "oblique", "dim", "ir", "h264",
)  # fmt: skip
"""One or two families of each group, beside the two reference sets."""


@dataclass(frozen=True)
class SetScore:
    """One test set's scores (None: that model was not evaluated); Dice and PCK as fractions 0..1."""

    name: str
    frames: int
    fg_dice: float | None = None
    mean_part_dice: float | None = None
    pcksh: float | None = None
    mks: float | None = None


def cli() -> list[str]:
    """This interpreter's ``infant-stream``."""
    return [sys.executable, "-m", "pipeline.cli.main"]


def run_cli(args: Sequence[str]) -> None:
    """Run one ``infant-stream`` command; its one-line error becomes a :class:`RuntimeError`."""
    proc = subprocess.run([*cli(), *args], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()
        raise RuntimeError(f"infant-stream {' '.join(args[:2])}: {lines[-1]}")


def domain_flags(name: str) -> list[str]:
    """The synth flags of test set ``name`` (module doc)."""
    if name == "plain":
        return []
    if name == "all":
        return ["--randomize"]
    return ["--randomize", "--families", name]


def check_sets(names: Sequence[str]) -> list[str]:
    """``names`` validated: ``plain``, ``all`` or family names; one-line :class:`ConfigError` otherwise."""
    known = {"plain", "all", *all_families()}
    out = [n.strip() for n in names if n.strip()]
    if not out:
        raise ConfigError("--sets: give one or more set names")
    for n in out:
        if n not in known:
            raise ConfigError(
                f"--sets: unknown set {n!r}; plain, all or a family: {', '.join(all_families())}"
            )
    return out


def evaluate(model: str, prepared: Path, out: Path) -> dict[str, Any]:
    """``evaluate`` of ``model`` on the test split of ``prepared``; its ``metrics`` (JSON written to ``out``)."""
    run_cli(["evaluate", "--model", model, "--data", str(prepared), "--split", "test", "--json", str(out)])
    metrics: dict[str, Any] = json.loads(out.read_text())["metrics"]
    return metrics


def write_seg_set(name: str, seed: int, videos: int, frames_per_video: int, work: Path) -> Path:
    """Write and prepare segmentation test set ``name`` under ``work`` (half the videos in ``test``); returns
    the prepared folder."""
    ds, prep = work / f"{name}-seg", work / f"{name}-seg-prep"
    size = ["--videos", str(videos), "--frames-per-video", str(frames_per_video), "--seed", str(seed)]
    run_cli(["synth", "dataset", "--out", str(ds), *size, "--test-fraction", "0.5", *domain_flags(name)])
    run_cli(["prepare", "--root", str(ds), "--out", str(prep), "--force"])
    return prep


def write_pose_set(name: str, seed: int, videos: int, frames_per_video: int, work: Path) -> Path:
    """Write and prepare keypoint test set ``name`` under ``work`` (half the videos in ``test``); returns the
    prepared folder."""
    kp, prep = work / f"{name}-kp", work / f"{name}-kp-prep"
    size = ["--videos", str(videos), "--frames-per-video", str(frames_per_video), "--seed", str(seed)]
    split = ["--val-fraction", "0", "--test-fraction", "0.5"]
    run_cli(["synth", "keypoints", "--out", str(kp), "--format", "nycu", *size, *split, *domain_flags(name)])
    run_cli(["prepare", "--format", "nycu", "--root", str(kp), "--out", str(prep), "--force"])
    return prep


def score_set(name: str, index: int, args: argparse.Namespace, work: Path) -> SetScore:
    """Write, prepare and evaluate test set ``name`` under ``work`` (seed ``args.seed + 10 * index``)."""
    seed = args.seed + 10 * index
    fg = part = pck = mks = None
    frames = 0
    if args.seg_model:
        prep = write_seg_set(name, seed, args.videos, args.frames_per_video, work)
        m = evaluate(args.seg_model, prep, work / f"{name}-seg.json")
        fg, part, frames = m["fg_dice"], m["mean_part_dice"], int(m["frames"])
    if args.pose_model:
        prep = write_pose_set(name, seed, args.videos, args.frames_per_video, work)
        m = evaluate(args.pose_model, prep, work / f"{name}-kp.json")
        pck, mks = m["PCKsh@0.1"], m["mKS"]
    return SetScore(name, frames, fg, part, pck, mks)


def pct(v: float | None) -> str:
    """A fraction as a percentage with one decimal, ``—`` for None (the tables of this tool and factor_ablation)."""
    return "—" if v is None else f"{100 * v:.1f}"


def _gap(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{100 * (a - b):+.1f}"


def markdown(scores: Sequence[SetScore]) -> str:
    """The table: one row per set, Dice and PCK in %, and each set's gap to ``all`` when it was scored."""
    ref = next((s for s in scores if s.name == "all"), None)
    rows = [
        "| test set | fg Dice | mean part Dice | Δ fg Dice vs all | PCKsh@0.1 | mKS | Δ PCKsh vs all |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        base = None if ref is None or s is ref else ref
        rows.append(
            f"| {s.name} | {pct(s.fg_dice)} | {pct(s.mean_part_dice)} | "
            f"{_gap(s.fg_dice, base.fg_dice if base else None)} | {pct(s.pcksh)} | {pct(s.mks)} | "
            f"{_gap(s.pcksh, base.pcksh if base else None)} |"
        )
    return "\n".join(rows)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.ood_eval", description=__doc__.splitlines()[0])
    p.add_argument("--seg-model", default="models/infant-seg.onnx", help="segmentation model ('' = skip)")
    p.add_argument("--pose-model", default="models/infant-pose.onnx", help="keypoint model ('' = skip)")
    p.add_argument("--sets", default=",".join(DEFAULT_SETS), help="comma-separated test sets (module doc)")
    p.add_argument("--videos", type=int, default=8, help="videos per set, half of them scored (default 8)")
    p.add_argument("--frames-per-video", type=int, default=6, help="frames per video (default 6)")
    p.add_argument("--seed", type=int, default=7001, help="first seed (default 7001)")
    p.add_argument("--out", type=Path, default=Path("runs/ood"), help="work folder (default runs/ood)")
    p.add_argument("--json", type=Path, default=None, help="write the scores here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        sets = check_sets(args.sets.split(","))
        if args.videos < 2 or args.frames_per_video < 1:
            raise ConfigError("--videos must be >= 2 and --frames-per-video >= 1")
        for flag, path in (("--seg-model", args.seg_model), ("--pose-model", args.pose_model)):
            if path and not Path(path).is_file():
                raise ConfigError(f"{flag}: no such file: {path}")
        if not args.seg_model and not args.pose_model:
            raise ConfigError("--seg-model and --pose-model are both empty: nothing to evaluate")
        args.out.mkdir(parents=True, exist_ok=True)
        scores = []
        for i, name in enumerate(sets):
            t0 = time.perf_counter()
            scores.append(score_set(name, i, args, args.out))
            print(f"ood_eval: {name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    except (ConfigError, RuntimeError) as exc:
        print(f"ood_eval: error: {exc}", file=sys.stderr)
        return 1
    print(markdown(scores))
    if args.json is not None:
        doc: dict[str, Any] = {
            "seg_model": args.seg_model,
            "pose_model": args.pose_model,
            "videos": args.videos,
            "frames_per_video": args.frames_per_video,
            "seed": args.seed,
            "sets": [asdict(s) for s in scores],
        }
        args.json.write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
