"""How ``verify`` ends for either dataset kind (:mod:`trainer.verify`, :mod:`trainer.pose.verify`): the
problems found are logged, then one DatasetError (exit 5) names the count and the first."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from pipeline.errors import DatasetError

MAX_LISTED: Final = 20
"""Problems logged one by one; the rest are counted."""


def raise_problems(data: Path, problems: Sequence[str], log: logging.Logger) -> None:
    """Log the first :data:`MAX_LISTED` ``problems`` (one error each) and the count of the rest to ``log``,
    then raise DatasetError(``data: N problem(s), first: …``); nothing when there are none."""
    for line in problems[:MAX_LISTED]:
        log.error("%s", line)
    if len(problems) > MAX_LISTED:
        log.error("... and %d more problems", len(problems) - MAX_LISTED)
    if problems:
        raise DatasetError(f"{data}: {len(problems)} problem(s), first: {problems[0]}")
