"""Build tiny Youtube-Infant-Body-Parsing datasets in tests (no real data is available here).

Labels are PALETTE PNGs whose palette order differs from the class order, so a reader that trusted
palette indices would get wrong class ids. Images are JPEGs whose pixels show the class colours (plus
noise), so a model can learn them in a few steps.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.contract.classes import CLASS_COLORS_RGB

PALETTE_ORDER = (3, 0, 4, 1, 2)
"""Palette index p holds the colour of class PALETTE_ORDER[p] (background is index 1, not 0)."""

SIZES = ((48, 64), (72, 40), (60, 80))
"""(height, width) of frames: landscape, portrait, landscape."""


def class_map(height: int, width: int, seed: int) -> np.ndarray:
    """A (H, W) uint8 class-id map with all four parts as rectangles on background."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((height, width), np.uint8)
    cy, cx = height // 2 + int(rng.integers(-3, 4)), width // 2 + int(rng.integers(-3, 4))
    ids[max(cy - height // 3, 0) : cy - height // 6, cx - width // 8 : cx + width // 8] = 1  # head
    ids[cy - height // 6 : cy + height // 8, cx - width // 5 : cx + width // 5] = 3  # torso
    ids[cy - height // 6 : cy, max(cx - width // 3, 0) : cx - width // 5] = 2  # arm
    ids[cy + height // 8 : min(cy + height // 3, height), cx - width // 6 : cx + width // 6] = 4  # leg
    return ids


def palette_png(ids: np.ndarray, order: tuple[int, ...] = PALETTE_ORDER) -> bytes:
    """Encode class ids as a palette PNG whose palette is in ``order`` (index p = class order[p])."""
    index_of_class = {c: p for p, c in enumerate(order)}
    idx = np.vectorize(index_of_class.__getitem__, otypes=[np.uint8])(ids)
    img = Image.fromarray(idx, mode="P")
    palette = [v for c in order for v in CLASS_COLORS_RGB[c]]
    img.putpalette(palette + [0] * (768 - len(palette)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def rgb_png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def frame_image(ids: np.ndarray, seed: int) -> np.ndarray:
    """RGB (H, W, 3) uint8 showing each class in its colour (background grey) plus noise."""
    rng = np.random.default_rng(seed)
    colours = np.array([(90, 90, 90), *CLASS_COLORS_RGB[1:]], np.int16)
    img = colours[ids] + rng.integers(-20, 21, (*ids.shape, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def write_jpeg(path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb, mode="RGB").save(path, format="JPEG", quality=95)


def make_yibp(
    root: Path,
    train_videos: int = 6,
    test_videos: int = 2,
    frames_per_video: int = 2,
    unlabelled: bool = True,
) -> dict[str, np.ndarray]:
    """Write a YIBP root (JSON files + all_data/); returns stem → true class ids of each labelled frame.

    Videos 1000001.. are train, 2000001.. test; frame sizes cycle through :data:`SIZES`.
    """
    (root / "all_data").mkdir(parents=True, exist_ok=True)
    truth: dict[str, np.ndarray] = {}
    k = 0
    for name, first, count in (("train", 1000001, train_videos), ("test", 2000001, test_videos)):
        labelled: dict[str, list[dict[str, str]]] = {}
        unl: dict[str, list[dict[str, str]]] = {}
        for v in range(count):
            video = f"{first + v:07d}"
            h, w = SIZES[v % len(SIZES)]
            for f in range(frames_per_video):
                stem = f"{video}{f * 4:06d}"
                ids = class_map(h, w, seed=k)
                write_jpeg(root / "all_data" / f"{stem}.jpg", frame_image(ids, seed=k))
                labelled.setdefault(video, []).append(
                    {"image": f"{stem}.jpg", "label": b64(palette_png(ids))}
                )
                truth[stem] = ids
                k += 1
            if unlabelled:
                stem = f"{video}{999:06d}"
                write_jpeg(root / "all_data" / f"{stem}.jpg", frame_image(class_map(h, w, k), k))
                unl.setdefault(video, []).append({"image": f"{stem}.jpg"})
        (root / f"{name}_label.json").write_text(json.dumps(labelled), encoding="utf-8")
        if unlabelled:
            (root / f"{name}_unlabel.json").write_text(json.dumps(unl), encoding="utf-8")
    return truth


def edit_entry(root: Path, json_name: str, video: str, index: int, **changes: str) -> str:
    """Change fields of one entry of a JSON file in place; returns its image name."""
    path = root / json_name
    data = json.loads(path.read_text(encoding="utf-8"))
    data[video][index].update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(data[video][index]["image"])
