"""Per-epoch history of a keypoint run: ``metrics.csv`` (one row per epoch) and ``curves.png``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Final

from trainer.history import read_rows

POSE_COLUMNS: Final = (
    "epoch",
    "step",
    "lr",
    "train_loss",
    "seconds",
    "val_pck",
    "val_mks",
    "val_pck_nonfacial",
    "val_mks_nonfacial",
)
"""CSV header: ``val_pck`` = PCKsh@0.1 over all points, ``val_mks`` = mKS, ``…_nonfacial`` over the
non-facial points (fractions); ``epoch`` counts epochs as :data:`trainer.history.COLUMNS` does."""


def plot_pose_curves(csv_path: Path, png_path: Path, loss_name: str) -> None:
    """Training loss and validation PCKsh@0.1 / mKS against epoch, written as a PNG (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_rows(csv_path)
    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], marker="o", label="train loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel(f"{loss_name} loss")
    ax_loss.grid(True, alpha=0.3)
    ax_loss.legend()
    for key, label in (
        ("val_pck", "PCKsh@0.1"),
        ("val_mks", "mKS"),
        ("val_pck_nonfacial", "PCKsh@0.1 non-facial"),
        ("val_mks_nonfacial", "mKS non-facial"),
    ):
        ax_val.plot(epochs, [r.get(key, math.nan) for r in rows], marker="o", label=label)
    ax_val.set_xlabel("epoch")
    ax_val.set_ylabel("validation")
    ax_val.set_ylim(0, 1)
    ax_val.grid(True, alpha=0.3)
    ax_val.legend()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
