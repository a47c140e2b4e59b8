"""Per-epoch training history: ``metrics.csv`` (one row per epoch) and ``curves.png``."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Final

ADAPT_COLUMNS: Final = ("domain_loss", "domain_accuracy", "adapt_lambda")
"""Columns of domain adaptation (``train --unlabelled``, :mod:`trainer.adapt_run`; empty without it): the
epoch's mean domain loss (BCE; log 2 ≈ 0.693 at chance), the domain classifier's accuracy over the epoch's
labelled and unlabelled images (0.5 = the features no longer tell the domains apart) and λ of its last step."""

COLUMNS: Final = (
    "epoch",
    "step",
    "lr",
    "train_loss",
    "seconds",
    "val_fg_dice",
    "val_mean_part_dice",
    "val_miou",
    "val_dice_head",
    "val_dice_arm",
    "val_dice_torso",
    "val_dice_leg",
    *ADAPT_COLUMNS,
)
"""CSV header. ``epoch`` counts completed epochs (a partial last epoch of a --max-steps run counts too)."""


def append_row(path: Path, row: dict[str, float], columns: Sequence[str] = COLUMNS) -> None:
    """Append one epoch to ``path`` (header ``columns`` written when the file is new; an existing file keeps
    its own header, so a run resumed with newer columns stays readable); missing values are empty, keys
    outside the header are left out."""
    new = not path.is_file()
    header = list(columns)
    if not new:
        with path.open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), []) or header
    with path.open("a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(
            {k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in row.items()}
        )


def read_rows(path: Path) -> list[dict[str, float]]:
    """The CSV as floats (empty cells → NaN)."""
    with path.open(newline="", encoding="utf-8") as f:
        return [
            {k: float(v) if v not in ("", None) else math.nan for k, v in r.items()}
            for r in csv.DictReader(f)
        ]


def plot_curves(csv_path: Path, png_path: Path) -> None:
    """Training loss and validation Dice/mIoU against epoch, written as a PNG (matplotlib Agg)."""
    plot_history(
        csv_path,
        png_path,
        "cross-entropy",
        (
            ("val_fg_dice", "foreground Dice"),
            ("val_mean_part_dice", "mean part Dice"),
            ("val_miou", "mIoU"),
            ("domain_accuracy", "domain accuracy"),
        ),
    )


def plot_history(
    csv_path: Path, png_path: Path, loss_label: str, validation: Sequence[tuple[str, str]]
) -> None:
    """Two panels against epoch, written as a PNG (matplotlib Agg): the training loss (y axis
    ``loss_label``), and each (column, legend label) of ``validation`` that has a value on a 0..1 axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_rows(csv_path)
    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], marker="o", label="train loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel(loss_label)
    ax_loss.grid(True, alpha=0.3)
    ax_loss.legend()
    for key, label in validation:
        if all(math.isnan(r.get(key, math.nan)) for r in rows):
            continue
        ax_val.plot(epochs, [r.get(key, math.nan) for r in rows], marker="o", label=label)
    ax_val.set_xlabel("epoch")
    ax_val.set_ylabel("validation")
    ax_val.set_ylim(0, 1)
    ax_val.grid(True, alpha=0.3)
    ax_val.legend()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
