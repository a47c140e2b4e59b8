"""Folders of unlabelled 'camera frames' for the domain-adaptation tests: plain numpy images (smooth colour
gradients plus noise, never infant images), JPEG and PNG, landscape and portrait, some in sub-folders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FRAMES = (
    ("cam1/0001.jpg", (48, 64)),
    ("cam1/0002.jpg", (48, 64)),
    ("cam2/night/0001.png", (72, 40)),
    ("cam2/0003.JPEG", (60, 80)),
    ("loose.png", (50, 50)),
)
"""(relative path, (height, width)) of the frames :func:`write_frames` writes."""


def write_frames(folder: Path, seed: int = 0) -> list[Path]:
    """Write :data:`FRAMES` below ``folder`` (plus a ``notes.txt`` that is not an image); returns the image
    paths, sorted."""
    rng = np.random.default_rng(seed)
    paths = []
    for rel, (h, w) in FRAMES:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack([255 * xx / w, 255 * yy / h, np.full((h, w), 128.0, np.float32)], axis=-1)
        image = np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, data = cv2.imencode(".png" if rel.endswith(".png") else ".jpg", image)
        assert ok, path
        path.write_bytes(data.tobytes())
        paths.append(path)
    (folder / "notes.txt").write_text("not an image\n", encoding="utf-8")
    return sorted(paths)
