"""Per-epoch history of a keypoint run: ``metrics.csv`` (one row per epoch) and ``curves.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from trainer.history import ADAPT_COLUMNS, plot_history

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
    *ADAPT_COLUMNS,
)
"""CSV header: ``val_pck`` = PCKsh@0.1 over all points, ``val_mks`` = mKS, ``…_nonfacial`` over the
non-facial points (fractions); ``epoch`` counts epochs as :data:`trainer.history.COLUMNS` does; then the domain
adaptation columns (:data:`trainer.history.ADAPT_COLUMNS`)."""


def plot_pose_curves(csv_path: Path, png_path: Path, loss_name: str) -> None:
    """Training loss and validation PCKsh@0.1 / mKS against epoch, written as a PNG (matplotlib Agg)."""
    plot_history(
        csv_path,
        png_path,
        f"{loss_name} loss",
        (
            ("val_pck", "PCKsh@0.1"),
            ("val_mks", "mKS"),
            ("val_pck_nonfacial", "PCKsh@0.1 non-facial"),
            ("val_mks_nonfacial", "mKS non-facial"),
            ("domain_accuracy", "domain accuracy"),
        ),
    )
