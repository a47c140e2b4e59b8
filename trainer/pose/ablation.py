"""Keypoint ablations at a fixed training budget (``python -m tools.pose_ablation``): NYCU's two tables on one
prepared dataset.

1. Loss × decoder: MSE, BCE and KCE each trained for ``--budget-steps`` optimizer steps with the same data,
   split, seed and options, then the last checkpoint (the model at the budget) evaluated on ``--split`` with the
   argmax and the WA decoder: PCKsh@0.1 … @0.02 and mKS over all K points and over the non-facial ones.
2. Face occlusion: trained on visible or mosaicked faces × facial points kept in or omitted from the loss
   (``--occlusion-loss``, decoder ``--decoder``), scored on the non-facial points only, each evaluated on test
   images in its own training condition (mosaicked faces for the occluded runs).

Every run trains into ``OUT/runs/<name>/`` and ends by writing ``result.json`` there; a run with a
``result.json`` is skipped, and one with only ``last.pt`` resumes from it, so the tool can be stopped and
started again. Both tables are (re)written as Markdown to ``OUT/ablation.md`` from the result files.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, cast

from pipeline.contract.keypoints import PCK_BETAS
from pipeline.contract.pose_meta import Decoder
from pipeline.errors import ConfigError, DatasetError
from pipeline.files import write_whole
from trainer.logs import show_info_logs
from trainer.pose.config import ACTIVATION_OF_LOSS, DECODERS, POSE_ARCHITECTURES, PoseTrainConfig
from trainer.pose.dataset import usable_samples
from trainer.pose.layout import read_split

log = logging.getLogger(__name__)

RESULT: Final = "result.json"
TABLES: Final = ("losses", "occlusion")


@dataclass(frozen=True)
class Run:
    """One training of the ablation: its loss and privacy options, and the decoders it is scored with."""

    loss: str
    face_occlusion: bool
    omit_facial: bool
    decoders: tuple[str, ...]

    @property
    def name(self) -> str:
        face = "occluded" if self.face_occlusion else "visible"
        facial = "omitted" if self.omit_facial else "kept"
        return f"{self.loss}-face-{face}-facial-{facial}"


def planned_runs(tables: tuple[str, ...], occlusion_loss: str, decoder: str) -> list[Run]:
    """The runs the tables need, without duplicates (the occlusion table's visible/kept run is the loss
    table's run of the same loss, scored with both decoders)."""
    runs: dict[str, Run] = {}
    if "losses" in tables:
        for loss in ACTIVATION_OF_LOSS:
            r = Run(loss, False, False, DECODERS)
            runs[r.name] = r
    if "occlusion" in tables:
        for occluded in (False, True):
            for omitted in (False, True):
                r = Run(occlusion_loss, occluded, omitted, (decoder,))
                if r.name in runs:
                    r = replace(r, decoders=tuple(sorted(set(runs[r.name].decoders) | {decoder})))
                runs[r.name] = r
    return list(runs.values())


def run_config(
    base: PoseTrainConfig, run: Run, out: Path, budget: int, steps_per_epoch: int
) -> PoseTrainConfig:
    """The training options of ``run``: ``base`` with its loss and privacy options, ``budget`` steps."""
    last = out / "last.pt"
    return replace(
        base,
        out=out,
        loss=run.loss,
        face_occlusion=run.face_occlusion,
        omit_facial=run.omit_facial,
        epochs=max(1, math.ceil(budget / steps_per_epoch)),
        max_steps=budget,
        resume=last if last.is_file() else None,
    )


def execute(run: Run, cfg: PoseTrainConfig, split: str, progress: bool) -> dict[str, Any]:
    """Train (or resume) ``run``, evaluate its last checkpoint with each decoder, write and return its result."""
    from trainer.pose.evaluate import evaluate_samples, load_samples, write_json
    from trainer.pose.predictors import open_pose_predictor
    from trainer.pose.train import run_pose_training

    summary = run_pose_training(cfg, progress)
    predictor = open_pose_predictor(summary.last_checkpoint, cfg.device)
    samples = load_samples(cfg.data, split, predictor.spec.keypoints.names)
    reports = {}
    for decoder in run.decoders:
        report, _ = evaluate_samples(
            predictor, samples, cast(Decoder, decoder), cfg.batch_size, cfg.face_occlusion, progress
        )
        reports[decoder] = report.to_dict()
    result = {
        "name": run.name,
        "steps": summary.step,
        "checkpoint": str(summary.last_checkpoint),
        "split": split,
        "face_occlusion": run.face_occlusion,
        "omit_facial": run.omit_facial,
        "loss": run.loss,
        "config": cfg.to_dict(),
        "reports": reports,
    }
    write_json(cfg.out / RESULT, result)
    return result


def _pct(v: object) -> str:
    return f"{100.0 * float(v):.1f}" if isinstance(v, int | float) and math.isfinite(float(v)) else "–"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|",
    ]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _columns(report: dict[str, Any], suffix: str) -> list[str]:
    return [_pct(report.get(f"PCKsh@{b:g}{suffix}")) for b in PCK_BETAS] + [_pct(report.get(f"mKS{suffix}"))]


def markdown(
    results: dict[str, dict[str, Any]], budget: int, split: str, occlusion_loss: str, decoder: str
) -> str:
    """Both tables from the result files (percent, one decimal; "–" where undefined or not run)."""
    heads = [f"PCKsh@{b:g}" for b in PCK_BETAS] + ["mKS"]
    nf = next(
        (
            k[3:]
            for res in results.values()
            for rep in res["reports"].values()
            for k in rep
            if k.startswith("mKS/")
        ),
        "/non-facial",
    )
    out = [
        f"Budget {budget} steps per run; scored on the {split} split (crops from the ground-truth body box).",
        "",
    ]
    loss_rows: list[list[str]] = []
    nf_rows: list[list[str]] = []
    for loss in ACTIVATION_OF_LOSS:
        res = results.get(Run(loss, False, False, DECODERS).name)
        for d in DECODERS:
            rep = (res or {}).get("reports", {}).get(d, {})
            loss_rows.append([loss.upper(), d, *_columns(rep, "")])
            nf_rows.append([loss.upper(), d, *_columns(rep, nf)])
    if any(r[2:] != ["–"] * len(heads) for r in loss_rows):
        out += ["### Loss × decoder, all keypoints (%)", ""]
        out += _table(["Loss", "Decoder", *heads], loss_rows)
        out += ["", f"### Loss × decoder, non-facial keypoints ({nf[1:]} points, %)", ""]
        out += _table(["Loss", "Decoder", *[h + nf for h in heads]], nf_rows)
        out.append("")
    occ_rows = []
    for occluded in (False, True):
        for omitted in (False, True):
            res = results.get(Run(occlusion_loss, occluded, omitted, ()).name)
            rep = (res or {}).get("reports", {}).get(decoder, {})
            occ_rows.append(
                ["occluded" if occluded else "visible", "omitted" if omitted else "kept", *_columns(rep, nf)]
            )
    if any(r[2:] != ["–"] * len(heads) for r in occ_rows):
        out += [f"### Face occlusion ({occlusion_loss.upper()}, {decoder}), non-facial keypoints (%)", ""]
        out += _table(["Face in training", "Facial points", *[h + nf for h in heads]], occ_rows)
        out.append("")
    return "\n".join(out)


def run_ablation(args: argparse.Namespace, progress: bool = True) -> Path:
    """Run every planned training that has no result yet, then write ``OUT/ablation.md``; returns its path."""
    tables = tuple(t.strip() for t in args.tables.split(",") if t.strip())
    if not tables or any(t not in TABLES for t in tables):
        raise ConfigError(f"--tables: a comma-separated subset of {', '.join(TABLES)}, got {args.tables!r}")
    if args.budget_steps < 1:
        raise ConfigError(f"--budget-steps: must be >= 1, got {args.budget_steps}")
    base = PoseTrainConfig(
        data=args.data,
        out=args.out,
        arch=args.arch,
        head_channels=args.head_channels,
        input_hw=(args.input_size, args.input_size),
        decoder=args.decoder,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        workers=args.workers,
        seed=args.seed,
        weights_backbone=args.weights_backbone,
    )
    base.validate()
    usable = len(usable_samples(read_split(args.data, "train")))
    if usable < args.batch_size:
        raise DatasetError(
            f"{args.data}: {usable} usable training crops, fewer than --batch-size {args.batch_size}"
        )
    steps_per_epoch = usable // args.batch_size
    results: dict[str, dict[str, Any]] = {}
    for run in planned_runs(tables, args.occlusion_loss, args.decoder):
        out = args.out / "runs" / run.name
        done = out / RESULT
        if done.is_file():
            log.info("%s: done (%s), skipped", run.name, done)
            results[run.name] = json.loads(done.read_text(encoding="utf-8"))
            continue
        log.info("%s: training %d steps", run.name, args.budget_steps)
        cfg = run_config(base, run, out, args.budget_steps, steps_per_epoch)
        results[run.name] = execute(run, cfg, args.split, progress)
    text = markdown(results, args.budget_steps, args.split, args.occlusion_loss, args.decoder)
    path = args.out / "ablation.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    write_whole(path, lambda f: f.write(data))
    return path


def register(subparsers: Any) -> None:
    """Add the ``ablation`` command (run as ``python -m tools.pose_ablation``)."""
    d = PoseTrainConfig(data=Path("data"), out=Path("runs"))
    p = subparsers.add_parser(
        "ablation", help="keypoint loss/decoder and face-occlusion ablations", description=__doc__
    )
    p.add_argument(
        "--data", type=Path, required=True, help="prepared keypoint dataset (train, val and test splits)"
    )
    p.add_argument("--out", type=Path, required=True, help="folder for runs/<name>/ and ablation.md")
    p.add_argument(
        "--budget-steps", type=int, required=True, metavar="N", help="optimizer steps per training"
    )
    p.add_argument("--tables", default=",".join(TABLES), help="losses, occlusion or both (default both)")
    p.add_argument("--split", default="test", choices=("val", "test"), help="split scored (test)")
    p.add_argument(
        "--occlusion-loss",
        default="kce",
        choices=tuple(ACTIVATION_OF_LOSS),
        help="occlusion table loss (kce)",
    )
    p.add_argument("--decoder", default="wa", choices=DECODERS, help="occlusion table decoder (wa)")
    p.add_argument("--arch", default=d.arch, choices=POSE_ARCHITECTURES, help=f"({d.arch})")
    p.add_argument("--head-channels", type=int, default=d.head_channels, help=f"({d.head_channels})")
    p.add_argument(
        "--input-size", type=int, default=d.input_hw[0], help=f"square input side, px ({d.input_hw[0]})"
    )
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"({d.batch_size})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"AdamW initial LR ({d.lr:g})")
    p.add_argument("--weights-backbone", default="none", choices=("none", "imagenet"), help="(none)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help="(auto)")
    p.add_argument("--workers", type=int, default=d.workers, help=f"DataLoader workers ({d.workers})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"({d.seed})")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the ablation; prints where the tables went; returns 0."""
    show_info_logs()
    path = run_ablation(args)
    sys.stdout.write(f"wrote {path}\n")
    return 0
