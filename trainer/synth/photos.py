"""Photographic textures for domain randomisation: crops of real photographs that ship INSIDE installed
Python packages (scikit-image's bundled ``skimage/data`` images, scikit-learn's sample images), rescaled,
rotated, flipped and recoloured.

Nothing is downloaded: the files are read straight from the installed packages' folders (the same files
``skimage.data.coffee()`` and ``sklearn.datasets.load_sample_images()`` return, without importing either
library). No image of a person or a face is used (``astronaut``, ``camera``, ``lfw_subset`` are left out).
When neither package is installed :func:`photo_texture` returns None and callers fall back to procedural
textures (logged once at debug level).

Images are (H, W, 3) float32 RGB in 0..255; everything is deterministic given the random generator.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class PhotoSource:
    """One photograph inside an installed package: ``package`` (top-level import name), ``path`` relative to
    the package folder, ``grey`` True for single-channel photos (tinted with a random colour when used)."""

    package: str
    path: str
    grey: bool = False

    @property
    def name(self) -> str:
        """Short name, e.g. ``skimage:coffee``."""
        return f"{self.package}:{Path(self.path).stem}"


PHOTO_SOURCES: Final[tuple[PhotoSource, ...]] = (
    PhotoSource("skimage", "data/coffee.png"),
    PhotoSource("skimage", "data/chelsea.png"),
    PhotoSource("skimage", "data/rocket.jpg"),
    PhotoSource("skimage", "data/motorcycle_left.png"),
    PhotoSource("skimage", "data/ihc.png"),
    PhotoSource("skimage", "data/brick.png", grey=True),
    PhotoSource("skimage", "data/grass.png", grey=True),
    PhotoSource("skimage", "data/gravel.png", grey=True),
    PhotoSource("sklearn", "datasets/images/china.jpg"),
    PhotoSource("sklearn", "datasets/images/flower.jpg"),
)
"""Every photograph :func:`photo_texture` may use (those whose package is installed). No people, no faces."""


def _package_dir(package: str) -> Path | None:
    """Folder of an installed top-level package, found without importing it; None when not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=32)
def load_photo(source: PhotoSource) -> U8 | None:
    """The photograph as (h, w, 3) uint8 RGB (grey photos repeated on 3 channels), cached and read-only;
    None when its package is not installed or the file cannot be decoded."""
    root = _package_dir(source.package)
    if root is None:
        return None
    path = root / source.path
    if not path.is_file():
        return None
    flag = cv2.IMREAD_GRAYSCALE if source.grey else cv2.IMREAD_COLOR
    image = cv2.imread(str(path), flag)
    if image is None:
        return None
    if source.grey:
        rgb: U8 = np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2), dtype=np.uint8)
    else:
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    rgb.flags.writeable = False  # cached and shared
    return rgb


@lru_cache(maxsize=8)
def _available(sources: tuple[PhotoSource, ...]) -> tuple[PhotoSource, ...]:
    found = tuple(s for s in sources if load_photo(s) is not None)
    if not found:
        log.debug("no photographic textures: none of %s is installed", sorted({s.package for s in sources}))
    return found


def available_photos(sources: tuple[PhotoSource, ...] | None = None) -> tuple[PhotoSource, ...]:
    """The sources (default :data:`PHOTO_SOURCES`) whose photograph can be loaded here."""
    return _available(PHOTO_SOURCES if sources is None else tuple(sources))


def _crop_matrix(
    rng: np.random.Generator, src_h: int, src_w: int, height: int, width: int
) -> npt.NDArray[np.float64]:
    """2×3 affine matrix mapping output pixels to source pixels: a random rotation, a zoom between fitting
    the whole rotated output into the photo and 4× closer, a random position inside it, maybe a mirror."""
    theta = float(rng.uniform(-math.pi, math.pi)) if rng.random() < 0.6 else 0.0
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    span_w, span_h = width * c + height * s, width * s + height * c  # output bbox once rotated, per unit zoom
    zoom_max = min(src_w / span_w, src_h / span_h)  # source pixels per output pixel
    zoom = zoom_max * float(rng.uniform(0.25, 1.0))
    free_x = max(0.0, (src_w - zoom * span_w) / 2.0)
    free_y = max(0.0, (src_h - zoom * span_h) / 2.0)
    cx = src_w / 2.0 + float(rng.uniform(-free_x, free_x))
    cy = src_h / 2.0 + float(rng.uniform(-free_y, free_y))
    flip = -1.0 if rng.random() < 0.5 else 1.0
    rot = zoom * np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    rot = rot @ np.diag([flip, 1.0])
    offset = np.array([cx, cy]) - rot @ np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    return np.hstack([rot, offset[:, None]])


def recolour(rng: np.random.Generator, image: F32, *, grey: bool = False) -> F32:
    """``image`` ((h, w, 3) float32 RGB 0..255) with a random hue turn (sometimes), saturation and
    brightness change; a grey photo is instead tinted with a random colour. Returns a new array, 0..255."""
    if grey:
        tint = rng.uniform(0.45, 1.0, 3).astype(np.float32)
        tint /= tint.max()
        lum = image.mean(axis=2, keepdims=True)
        lo, hi = float(np.percentile(lum, 2)), float(np.percentile(lum, 98))
        lum = (lum - lo) / max(hi - lo, 1.0)
        level = float(rng.uniform(110.0, 240.0))
        out = (np.float32(0.35) + np.float32(0.65) * lum) * np.float32(level) * tint
        return np.asarray(np.clip(out, 0.0, 255.0), dtype=np.float32)
    hsv = cv2.cvtColor(np.clip(image / 255.0, 0.0, 1.0).astype(np.float32), cv2.COLOR_RGB2HSV)
    if rng.random() < 0.5:
        hsv[:, :, 0] = (hsv[:, :, 0] + np.float32(rng.uniform(0.0, 360.0))) % 360.0
    hsv[:, :, 1] = np.clip(hsv[:, :, 1] * np.float32(rng.uniform(0.4, 1.3)), 0.0, 1.0)
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] * np.float32(rng.uniform(0.75, 1.2)), 0.0, 1.0)
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * np.float32(255.0)
    return np.asarray(np.clip(out, 0.0, 255.0), dtype=np.float32)


def sample_photo(
    rng: np.random.Generator, height: int, width: int, sources: tuple[PhotoSource, ...] | None = None
) -> tuple[F32, PhotoSource] | None:
    """Like :func:`photo_texture`, also naming the photograph used."""
    found = available_photos(sources)
    if not found:
        return None
    source = found[int(rng.integers(len(found)))]
    photo = load_photo(source)
    assert photo is not None  # available_photos() only lists loadable ones (cached)
    m = _crop_matrix(rng, photo.shape[0], photo.shape[1], height, width)
    crop = cv2.warpAffine(
        photo,
        m,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )
    out = recolour(rng, crop.astype(np.float32), grey=source.grey)
    if rng.random() < 0.4:  # the backdrop is out of the camera's focal plane
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.5, 2.0))), dtype=np.float32)
    return out, source


def photo_texture(
    rng: np.random.Generator, height: int, width: int, sources: tuple[PhotoSource, ...] | None = None
) -> F32 | None:
    """A random crop of a packaged photograph, rotated, zoomed, maybe mirrored, recoloured and sometimes
    defocused, as (height, width, 3) float32 RGB 0..255; None when no source (default :data:`PHOTO_SOURCES`)
    is installed."""
    got = sample_photo(rng, height, width, sources)
    return None if got is None else got[0]
