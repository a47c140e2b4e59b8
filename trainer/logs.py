"""Logging helper for the trainer's command entry points."""

from __future__ import annotations

import logging


def show_info_logs() -> None:
    """Let the trainer's INFO records (epoch summaries, counts) through when the CLI's root level hides them.

    Records propagate to the root handlers whatever the root logger's own level, so lowering the
    ``trainer`` logger to INFO is enough; a more verbose setting (``--debug``) is left as it is.
    """
    logger = logging.getLogger("trainer")
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
