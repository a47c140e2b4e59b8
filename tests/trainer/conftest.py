"""Fixtures for trainer tests: a tiny YIBP root and its prepared dataset (built once per session)."""

from __future__ import annotations

import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from tests.trainer.yibp_data import make_yibp
from trainer.prepare import prepare_dataset


@pytest.fixture(scope="session")
def yibp_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """A YIBP root shared by read-only tests, with the true class ids of each labelled frame."""
    root = tmp_path_factory.mktemp("yibp")
    return root, make_yibp(root)


@pytest.fixture
def yibp_root(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A fresh YIBP root the test may damage."""
    root = tmp_path / "yibp"
    return root, make_yibp(root)


@pytest.fixture(scope="session")
def prepared(
    tmp_path_factory: pytest.TempPathFactory, yibp_session: tuple[Path, dict[str, np.ndarray]]
) -> Path:
    """The session YIBP root prepared with val fraction 0.34 (2 of 6 train videos), seed 0. Read-only."""
    out = tmp_path_factory.mktemp("prepared") / "data"
    prepare_dataset(yibp_session[0], out, val_fraction=0.34, seed=0)
    return out


@pytest.fixture
def prepared_copy(prepared: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`prepared` the test may damage."""
    return Path(shutil.copytree(prepared, tmp_path / "data"))


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """torchvision's weight download (an empty hub cache) fails as urllib does without a network. No network
    here: the download function is replaced by one raising that error (a real failure cannot be had)."""
    import torchvision.models._api as api

    def fail(*_: object, **__: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(api, "load_state_dict_from_url", fail)
