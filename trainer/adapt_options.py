"""The domain-adaptation options both tasks' ``train`` takes (``--unlabelled``, ``--adapt-weight``,
``--adapt-lambda``): their arguments, how they are read and checked. Torch-free: the CLI reads them before
torch is imported. What they do: :mod:`trainer.adapt_run`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Final, Protocol

from pipeline.errors import ConfigError

DEFAULT_ADAPT_WEIGHT: Final = 0.1
"""W: total loss = task loss + W · domain loss."""

DEFAULT_ADAPT_LAMBDA: Final = 1.0
"""The gradient reversal's λ at the end of the schedule."""


class AdaptOptions(Protocol):
    """The adaptation fields of both config classes."""

    @property
    def unlabelled(self) -> Path | None: ...
    @property
    def adapt_weight(self) -> float: ...
    @property
    def adapt_lambda(self) -> float: ...


def adapt_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments ``unlabelled``, ``adapt_weight``, ``adapt_lambda`` from parsed ``train``
    arguments (None = not given: the defaults).

    Raises:
        ConfigError: ``--adapt-weight`` or ``--adapt-lambda`` without ``--unlabelled``.
    """
    folder = getattr(args, "unlabelled", None)
    weight = getattr(args, "adapt_weight", None)
    lam = getattr(args, "adapt_lambda", None)
    if folder is None:
        for flag, value in (("--adapt-weight", weight), ("--adapt-lambda", lam)):
            if value is not None:
                raise ConfigError(f"{flag}: only with --unlabelled DIR (domain adaptation)")
    return {
        "unlabelled": Path(folder) if folder is not None else None,
        "adapt_weight": float(weight) if weight is not None else DEFAULT_ADAPT_WEIGHT,
        "adapt_lambda": float(lam) if lam is not None else DEFAULT_ADAPT_LAMBDA,
    }


def adapt_checks(cfg: AdaptOptions) -> list[tuple[bool, str]]:
    """(ok, ConfigError message) of the adaptation options (the folder itself is checked when training
    starts: :func:`trainer.unlabelled.find_unlabelled`)."""
    w, lam = cfg.adapt_weight, cfg.adapt_lambda
    return [
        (math.isfinite(w) and w > 0, f"--adapt-weight: must be a number > 0, got {w}"),
        (math.isfinite(lam) and lam >= 0, f"--adapt-lambda: must be a number >= 0, got {lam}"),
    ]


def add_adapt_arguments(p: argparse.ArgumentParser) -> None:
    """The ``train`` options of domain adaptation (both tasks; None in the namespace = not given)."""
    g = p.add_argument_group("domain adaptation (both tasks)")
    g.add_argument(
        "--unlabelled",
        type=Path,
        default=None,
        metavar="DIR",
        help="unlabelled frames of the target domain (e.g. your own cameras; .jpg/.png, recursively, or a "
        "prepared layout's unlabelled frames): train the backbone adversarially so its features do not tell "
        "them from the training data",
    )
    g.add_argument(
        "--adapt-weight",
        type=float,
        default=None,
        metavar="W",
        help=f"weight of the domain loss: total = task + W * domain ({DEFAULT_ADAPT_WEIGHT:g})",
    )
    g.add_argument(
        "--adapt-lambda",
        type=float,
        default=None,
        metavar="L",
        help=f"largest gradient-reversal factor, reached by the DANN schedule; 0 = only measure how well "
        f"the domains separate ({DEFAULT_ADAPT_LAMBDA:g})",
    )
