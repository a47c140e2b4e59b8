"""Factor ablation of the synthetic data at a fixed training budget, and the held-out-family gap (issue:
synthetic-to-real).

``python -m tools.factor_ablation [--arms all,clothing,...] [--steps 800] [--input-size 128]
[--train-videos 160] [--frames-per-video 5] [--test-videos 20] [--out runs/factor-ablation] [--json FILE]``

One segmentation model per *arm*, each trained through the real CLI (``synth dataset`` → ``prepare`` →
``train --arch lraspp``) for the same number of steps, batch and input size, on data drawn with the same seed:

- ``all``: every factor family randomised (``--randomize``);
- a group name (``clothing``, ``print``, ``backdrop``, ``props``, ``view``, ``light``, ``codec``): that group is
  pinned to one *kept* family (:data:`ARMS`: the plain generator's choice where it has one), every other group
  stays randomised — the group's randomisation is ablated and its other families are never seen.

Every model is then scored (``evaluate``, split ``test``; test sets from :mod:`tools.ood_eval`, seeds apart from
training) on the ``all`` set, on its own training domain (the kept family's set: in-distribution) and on one
held-out family of the ablated group (:data:`ARMS`). Reported per arm: foreground Dice on its own domain, on the
held-out family and their gap (the issue's target: within 0.05), and on ``all`` with the drop against the
``all`` arm (what randomising that factor contributes); the ``all`` arm is also scored on every held-out
family, the same families *with* randomisation. An arm with ``result.json`` is skipped, so a stopped run
continues where it was. Prints a Markdown table; exit code 0, or 1 with a one-line error.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from pipeline.errors import ConfigError
from tools.ood_eval import evaluate, pct, run_cli, write_seg_set

ARMS: Final[dict[str, tuple[str, str] | None]] = {
    "all": None,
    "clothing": ("onesie", "swaddle"),
    "print": ("solid", "floral"),
    "backdrop": ("sheet", "cot"),
    "props": ("toy", "hand"),
    "view": ("top", "oblique"),
    "light": ("day", "ir"),
    "codec": ("raw", "h264"),
}
"""Arm → (the family its group is pinned to, the held-out family it is tested on); ``all`` pins nothing."""

TRAIN_SEED: Final = 301
TEST_SEED: Final = 9001


@dataclass(frozen=True)
class ArmResult:
    """One arm's foreground Dice (fractions 0..1): on ``all``, on its own domain, on the held-out family, and
    (``all`` arm only) on every held-out family; ``seconds`` of training."""

    arm: str
    kept: str | None
    held_out: str | None
    fg_all: float
    fg_own: float
    fg_held_out: float | None
    fg_families: dict[str, float]
    seconds: float


def check_arms(names: Sequence[str]) -> list[str]:
    """``names`` validated (arm names of :data:`ARMS`), ``all`` first; one-line :class:`ConfigError` otherwise."""
    out = [n.strip() for n in names if n.strip()]
    if not out:
        raise ConfigError("--arms: give one or more arms")
    for n in out:
        if n not in ARMS:
            raise ConfigError(f"--arms: unknown arm {n!r}; one of {', '.join(ARMS)}")
    return sorted(set(out), key=list(ARMS).index)


def train_flags(arm: str) -> list[str]:
    """The synth flags of an arm's training data."""
    pinned = ARMS[arm]
    return ["--randomize"] if pinned is None else ["--randomize", "--families", pinned[0]]


def needed_sets(arms: Sequence[str]) -> list[str]:
    """Every test set the arms need: ``all``, then each arm's kept and held-out family (set ``i`` of this list
    is drawn with seed ``TEST_SEED + 10 * i``)."""
    sets = ["all"]
    for arm in arms:
        pinned = ARMS[arm]
        if pinned is not None:
            sets += [f for f in pinned if f not in sets]
    if "all" in arms:
        sets += [
            held for pinned in ARMS.values() if pinned is not None for held in pinned[1:] if held not in sets
        ]
    return sets


def train_arm(arm: str, args: argparse.Namespace, work: Path) -> tuple[Path, float]:
    """Write the arm's training data and train it; (its last checkpoint, training seconds)."""
    raw, prep, run = work / f"{arm}-data", work / f"{arm}-prep", work / f"{arm}-run"
    size = ["--videos", str(args.train_videos), "--frames-per-video", str(args.frames_per_video)]
    run_cli(["synth", "dataset", "--out", str(raw), *size, "--seed", str(TRAIN_SEED), "--test-fraction", "0.1",
             *train_flags(arm)])  # fmt: skip
    run_cli(["prepare", "--root", str(raw), "--out", str(prep), "--force"])
    shutil.rmtree(run, ignore_errors=True)
    t0 = time.perf_counter()
    run_cli([
        "train", "--data", str(prep), "--out", str(run), "--arch", "lraspp", "--input-size", str(args.input_size),
        "--batch-size", "8", "--epochs", "1000", "--max-steps", str(args.steps), "--class-weights", "auto",
        "--workers", "1", "--seed", "0",
    ])  # fmt: skip
    return run / "last.pt", time.perf_counter() - t0


def score_arm(arm: str, ckpt: Path, sets: dict[str, Path], seconds: float, work: Path) -> ArmResult:
    """Evaluate an arm's checkpoint on the test sets it is reported on."""

    def fg(name: str) -> float:
        return float(evaluate(str(ckpt), sets[name], work / f"{arm}-on-{name}.json")["fg_dice"])

    pinned = ARMS[arm]
    fg_all = fg("all")
    if pinned is None:
        held = [h for p in ARMS.values() if p is not None for h in p[1:] if h in sets]
        return ArmResult(arm, None, None, fg_all, fg_all, None, {h: fg(h) for h in held}, seconds)
    return ArmResult(arm, pinned[0], pinned[1], fg_all, fg(pinned[0]), fg(pinned[1]), {}, seconds)


def markdown(results: Sequence[ArmResult]) -> str:
    """The table: fg Dice in % per arm; gaps in points (own − held-out; all-arm − arm on ``all``)."""
    ref = next((r for r in results if r.arm == "all"), None)
    rows = [
        "| arm (group pinned to) | fg Dice own domain | held-out family | fg Dice held-out | gap own − held-out "
        "| all-arm on that family | fg Dice on all | contribution (all-arm − arm, on all) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.kept is None:
            rows.append(f"| all (nothing pinned) | {pct(r.fg_own)} | — | — | — | — | {pct(r.fg_all)} | — |")
            continue
        gap = "—" if r.fg_held_out is None else f"{100 * (r.fg_own - r.fg_held_out):+.1f}"
        ref_held = ref.fg_families.get(r.held_out or "") if ref is not None else None
        contrib = "—" if ref is None else f"{100 * (ref.fg_all - r.fg_all):+.1f}"
        rows.append(
            f"| {r.arm} ({r.kept}) | {pct(r.fg_own)} | {r.held_out} | {pct(r.fg_held_out)} | {gap} | "
            f"{pct(ref_held)} | {pct(r.fg_all)} | {contrib} |"
        )
    return "\n".join(rows)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.factor_ablation", description=__doc__.splitlines()[0])
    p.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated arms ({', '.join(ARMS)})")
    p.add_argument("--steps", type=int, default=800, help="training steps per arm, batch 8 (default 800)")
    p.add_argument("--input-size", type=int, default=128, help="model input side, px (default 128)")
    p.add_argument("--train-videos", type=int, default=160, help="training videos per arm (default 160)")
    p.add_argument("--frames-per-video", type=int, default=5, help="frames per training video (default 5)")
    p.add_argument(
        "--test-videos", type=int, default=20, help="videos per test set, half scored (default 20)"
    )
    p.add_argument("--out", type=Path, default=Path("runs/factor-ablation"), help="work folder")
    p.add_argument("--json", type=Path, default=None, help="write every number here")
    return p.parse_args(argv)


def _validate(args: argparse.Namespace) -> list[str]:
    arms = check_arms(args.arms.split(","))
    if args.steps < 1 or args.input_size < 32:
        raise ConfigError("--steps must be >= 1 and --input-size >= 32")
    if args.train_videos < 10 or args.frames_per_video < 1 or args.test_videos < 2:
        raise ConfigError("--train-videos must be >= 10, --frames-per-video >= 1 and --test-videos >= 2")
    return arms


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[ArmResult] = []
    try:
        arms = _validate(args)
        args.out.mkdir(parents=True, exist_ok=True)
        todo = [arm for arm in arms if not (args.out / f"{arm}-result.json").is_file()]
        sets = {
            name: write_seg_set(name, TEST_SEED + 10 * i, args.test_videos, 6, args.out / "test")
            for i, name in enumerate(needed_sets(arms) if todo else ())
        }
        for arm in arms:
            done = args.out / f"{arm}-result.json"
            if arm not in todo:
                results.append(ArmResult(**json.loads(done.read_text())))
                continue
            t0 = time.perf_counter()
            ckpt, seconds = train_arm(arm, args, args.out)
            result = score_arm(arm, ckpt, sets, seconds, args.out)
            done.write_text(json.dumps(asdict(result), indent=1))
            results.append(result)
            print(
                f"factor_ablation: {arm} done in {time.perf_counter() - t0:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    except (ConfigError, RuntimeError) as exc:
        print(f"factor_ablation: error: {exc}", file=sys.stderr)
        return 1
    print(markdown(results))
    if args.json is not None:
        doc = {"steps": args.steps, "input_size": args.input_size, "arms": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
