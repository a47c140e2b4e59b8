"""``infant-stream train --task keypoints``: train the top-down keypoint model on a prepared keypoint dataset
(``annotations/train.json``, ``val.json``; :mod:`trainer.pose.layout`).

Each epoch: one pass over the train crops (body box jitter, rotation, flip, colour; :mod:`trainer.pose.dataset`)
against Gaussian heatmap targets with the chosen loss (``--loss mse|bce|kce``, :mod:`trainer.pose.losses`),
BatchNorm statistics re-estimated on training batches, then validation on the val split with the evaluation
protocol (crops from the ground-truth body box, decoded by the pipeline's decoder ``--decoder``; PCKsh@0.1 and
mKS over all points, :mod:`trainer.pose.evaluate`). Writes into ``--out``: ``last.pt`` (every epoch),
``best.pt`` (best val PCKsh@0.1, ties broken by mKS), ``metrics.csv`` and ``curves.png``. LR: poly schedule
``lr · (1 − step / total) ** 0.9``. ``--resume`` restores model, optimizer, scheduler, scaler, counters, best
scores and history; the options that define the model and its targets (arch, head channels, input size, loss,
sigma, crop padding, decoder, optimizer, face occlusion, omitted facial points) come from the checkpoint.
An epoch cut short by ``--max-steps`` is restarted from its beginning on resume (the step counter carries on).
``--init`` fine-tunes instead: the checkpoint's weights and model options, a fresh optimizer, schedule and counters.
``--unlabelled DIR`` adds the same domain adaptation as for segmentation; an unlabelled frame is cropped around
a stand-in body box (a random square of 55-85 % of its short side) the way the labelled crops are.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from pipeline.contract.keypoints import KeypointSet
from pipeline.contract.pose_meta import Activation, Decoder, PoseSpec
from pipeline.errors import ConfigError
from trainer.adapt_run import resume_adaptation, start_adaptation
from trainer.batchnorm import recalibrate_batchnorm
from trainer.checkpoint import load_checkpoint
from trainer.dataset import EpochSampler
from trainer.history import append_row
from trainer.logs import show_info_logs
from trainer.loop import (
    changed_by_resume,
    checkpoint_source,
    epoch_loader,
    epoch_row,
    mean_loss,
    save_epoch,
    seed_everything,
    start_from_weights,
    total_steps,
    train_epoch,
)
from trainer.pose.checkpoint import pose_spec_from_checkpoint
from trainer.pose.config import PoseTrainConfig
from trainer.pose.crops import Augment
from trainer.pose.dataset import PoseDataset, usable_samples
from trainer.pose.evaluate import evaluate_samples
from trainer.pose.history import POSE_COLUMNS, plot_pose_curves
from trainer.pose.layout import KeypointSample, KeypointSplit, annotation_path, read_split
from trainer.pose.metrics import KeypointReport
from trainer.pose.model import HEATMAP_STRIDE, architecture_name
from trainer.pose.predictors import TorchPosePredictor
from trainer.pose.state import build_pose_state, pose_checkpoint_dict, pose_train_step, restore_pose_state
from trainer.pose.unlabelled import PoseFrameInput
from trainer.unlabelled import find_unlabelled

log = logging.getLogger(__name__)

BN_RECALIBRATION_BATCHES = 16
RESUMED_FROM_CHECKPOINT = (
    "arch", "head_channels", "input_hw", "loss", "sigma", "crop_padding", "decoder", "optimizer",
    "face_occlusion", "omit_facial",
)  # fmt: skip
"""Options a resumed run takes from its checkpoint."""


@dataclass(frozen=True)
class PoseTrainSummary:
    """Outcome of :func:`run_pose_training`: counters, best validation scores and the files written."""

    epoch: int
    step: int
    best_pck: float
    best_mks: float
    last_loss: float
    last_checkpoint: Path
    best_checkpoint: Path | None


def pose_spec(
    cfg: PoseTrainConfig, kset: KeypointSet, training_data: str, metrics: dict[str, float] | None = None
) -> PoseSpec:
    """The PoseSpec of a model trained with ``cfg`` (ImageNet mean/std, heatmap stride 4)."""
    return PoseSpec(
        keypoints=kset,
        input_hw=cfg.input_hw,
        heatmap_stride=HEATMAP_STRIDE,
        heatmap_sigma=cfg.sigma,
        activation=cast(Activation, cfg.activation),
        decoder=cast(Decoder, cfg.decoder),
        crop_padding=cfg.crop_padding,
        architecture=architecture_name(cfg.arch, cfg.head_channels),
        training_data=training_data,
        metrics=metrics or {},
    )


def describe_training_data(cfg: PoseTrainConfig, split: KeypointSplit, used: int) -> str:
    """Free text for the metadata: source, crop count, keypoint set and the privacy options."""
    synthetic = sum(1 for s in split.samples if s.is_synthetic)
    parts = [f"{split.source}: {used} train crops ({split.keypoint_set.name}"]
    parts.append(f", {synthetic} synthetic)" if synthetic else ")")
    if cfg.face_occlusion:
        parts.append("; faces mosaicked")
    if cfg.omit_facial:
        parts.append("; facial points omitted from the loss (their outputs are untrained)")
    return "".join(parts)


def report_metrics(report: KeypointReport) -> dict[str, float]:
    """Flat metrics of a report: ``PCKsh@β``, ``PCKsh@β/<non-facial count>``, ``mKS``, ``mKS/<count>``."""
    nf = f"/{report.num_non_facial}"
    out = {f"PCKsh@{b:g}": float(v) for b, v in report.pck.items()}
    out.update({f"PCKsh@{b:g}{nf}": float(v) for b, v in report.pck_nonfacial.items()})
    out["mKS"] = float(report.mks)
    out["mKS" + nf] = float(report.mks_nonfacial)
    return out


def improves(pck: float, mks: float, best_pck: float, best_mks: float) -> bool:
    """True when (pck, mks) beats the best so far: higher PCKsh@0.1, or equal and higher mKS."""
    if math.isnan(pck):
        return False
    if math.isnan(best_pck) or pck > best_pck:
        return True
    return pck == best_pck and not math.isnan(mks) and (math.isnan(best_mks) or mks > best_mks)


def _apply_resume(cfg: PoseTrainConfig) -> tuple[PoseTrainConfig, dict[str, Any] | None]:
    """The options a ``--resume`` checkpoint fixes (:data:`RESUMED_FROM_CHECKPOINT`; ``--init``: all but the
    optimizer), and the checkpoint (None without either)."""
    source = checkpoint_source(cfg)
    if source is None:
        return cfg, None
    ckpt = load_checkpoint(source)
    pose_spec_from_checkpoint(ckpt, str(source))  # a keypoint checkpoint, or a one-line ModelError
    saved = ckpt.get("args", {})
    keys = [k for k in RESUMED_FROM_CHECKPOINT if cfg.resume is not None or k != "optimizer"]
    values = {k: saved[k] for k in keys if k in saved}
    if "input_hw" in values:
        values["input_hw"] = (int(values["input_hw"][0]), int(values["input_hw"][1]))
    fixed = replace(cfg, **values, weights_backbone="none")
    changed_by_resume(cfg, fixed, values, log)
    return fixed, ckpt


def _read_val(cfg: PoseTrainConfig, kset: KeypointSet) -> list[KeypointSample]:
    if not annotation_path(cfg.data, "val").is_file():
        log.warning("no val split (%s): best.pt will not be written", annotation_path(cfg.data, "val"))
        return []
    val = read_split(cfg.data, "val")
    if val.keypoint_set.names != kset.names:
        raise ConfigError(f"{annotation_path(cfg.data, 'val')}: keypoint set differs from the train split's")
    samples = usable_samples(val)
    if not samples:
        log.warning("val split has no usable sample: best.pt will not be written")
    return samples


def run_pose_training(cfg: PoseTrainConfig, progress: bool = True) -> PoseTrainSummary:
    """Train as described in the module docstring; returns the summary.

    Raises:
        ConfigError: fewer usable training crops than a batch; DatasetError: missing or malformed data.
    """
    cfg, ckpt = _apply_resume(cfg)
    unlabelled = find_unlabelled(cfg.unlabelled) if cfg.unlabelled is not None else None
    seed_everything(cfg.seed)
    train_split = read_split(cfg.data, "train")
    kset = train_split.keypoint_set
    train_samples = usable_samples(train_split)
    if len(train_samples) < cfg.batch_size:
        raise ConfigError(
            f"--batch-size: {cfg.batch_size} is more than the {len(train_samples)} usable training crops"
        )
    val_samples = _read_val(cfg, kset)
    description = describe_training_data(cfg, train_split, len(train_samples))
    spec = pose_spec(cfg, kset, description)
    augment = Augment(rotation=cfg.rotation)
    train_set = PoseDataset(train_samples, spec, augment, cfg.face_occlusion, cfg.omit_facial, cfg.seed)
    sampler = EpochSampler(len(train_set), cfg.seed)
    loader = epoch_loader(train_set, sampler, cfg.batch_size, cfg.workers)
    total = total_steps(cfg.epochs, len(loader), cfg.max_steps)
    state = build_pose_state(cfg, kset.num_keypoints, total)
    adaptation = None
    if unlabelled is not None:
        frames = PoseFrameInput(spec, augment)
        adaptation = start_adaptation(cfg, state.model, unlabelled, frames, total, state.device)
    if ckpt is not None and cfg.init is not None:
        start_from_weights(state.model, ckpt, str(cfg.init), log)
    elif ckpt is not None:
        restore_pose_state(state, ckpt)
        resume_adaptation(adaptation, ckpt, str(cfg.resume))
        log.info("resumed from %s at epoch %d, step %d", cfg.resume, state.epoch, state.step)
    cfg.out.mkdir(parents=True, exist_ok=True)
    last_path, best_path, csv_path = cfg.out / "last.pt", cfg.out / "best.pt", cfg.out / "metrics.csv"
    loss_avg = math.nan
    while state.epoch < cfg.epochs and state.step < total:
        t0 = time.perf_counter()
        sampler.set_epoch(state.epoch)
        if adaptation is not None:
            adaptation.start_epoch()
        losses = train_epoch(
            state,
            loader,
            lambda b: pose_train_step(state, b[0], b[1], b[2], adaptation),
            cfg.epochs,
            total,
            ".4g",
            progress,
        )
        completed = len(losses) == len(loader)
        loss_avg = mean_loss(losses)
        recalibrate_batchnorm(
            state.model, ((x, w) for x, _, w in loader), state.device, BN_RECALIBRATION_BATCHES
        )
        metrics: dict[str, float] = {}
        if val_samples:
            predictor = TorchPosePredictor(state.model, spec, state.device)
            report, _ = evaluate_samples(
                predictor,
                val_samples,
                cast(Decoder, cfg.decoder),
                cfg.batch_size,
                cfg.face_occlusion,
                progress,
            )
            metrics = report_metrics(report)
        epoch_index = state.epoch + 1
        if completed:
            state.epoch += 1
        pck, mks = metrics.get("PCKsh@0.1", math.nan), metrics.get("mKS", math.nan)
        improved = improves(pck, mks, state.best_pck, state.best_mks)
        if improved:
            state.best_pck, state.best_mks, state.best_epoch = pck, mks, epoch_index
        nf = f"/{len(kset.non_facial)}"
        row = {
            **epoch_row(epoch_index, state, loss_avg, time.perf_counter() - t0),
            "val_pck": pck,
            "val_mks": mks,
            "val_pck_nonfacial": metrics.get("PCKsh@0.1" + nf, math.nan),
            "val_mks_nonfacial": metrics.get("mKS" + nf, math.nan),
            **(adaptation.epoch_row() if adaptation is not None else {}),
        }
        state.history.append(row)
        ckpt_spec = replace(spec, metrics={f"val_{k}": v for k, v in metrics.items() if math.isfinite(v)})
        entries = pose_checkpoint_dict(state, cfg, ckpt_spec, metrics, adaptation)
        save_epoch(entries, last_path, best_path, improved)
        append_row(csv_path, row, POSE_COLUMNS)
        plot_pose_curves(csv_path, cfg.out / "curves.png", cfg.loss)
        log.info(
            "epoch %d step %d: %s loss %.4g, val PCKsh@0.1 %.4f, mKS %.4f%s (%.1f s)",
            epoch_index, state.step, cfg.loss, loss_avg, pck, mks, " *best*" if improved else "", row["seconds"],
        )  # fmt: skip
        if adaptation is not None:
            adaptation.log_epoch(epoch_index)
    if adaptation is not None:
        adaptation.close()
    return PoseTrainSummary(
        epoch=state.epoch,
        step=state.step,
        best_pck=state.best_pck,
        best_mks=state.best_mks,
        last_loss=loss_avg,
        last_checkpoint=last_path,
        best_checkpoint=best_path if best_path.is_file() else None,
    )


def main(args: argparse.Namespace) -> int:
    """Run ``train --task keypoints``; returns 0."""
    show_info_logs()
    summary = run_pose_training(PoseTrainConfig.from_args(args))
    sys.stdout.write(
        f"trained {summary.epoch} epochs, {summary.step} steps; best val PCKsh@0.1 {summary.best_pck:.4f}, "
        f"mKS {summary.best_mks:.4f}; checkpoint {summary.best_checkpoint or summary.last_checkpoint}\n"
    )
    return 0
