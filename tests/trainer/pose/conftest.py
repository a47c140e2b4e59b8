"""Fixtures for keypoint trainer tests: a tiny hand-made prepared NYCU-22 layout (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trainer.pose.stick_figures import make_keypoint_layout


@pytest.fixture(scope="session")
def kp_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 (+2 unusable) train, 3 val, 3 test stick-figure images, 96x128. Read-only."""
    return make_keypoint_layout(tmp_path_factory.mktemp("kp") / "data")
