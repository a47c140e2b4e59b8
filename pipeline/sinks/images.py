"""Image recordings: one rendered image per input image, for image sources (``--record out/``).

A video squashes images of different sizes into one frame size; here each input image gets its own
output file, of its own size: ``<folder>/<the input's file name>`` (same name and format: a
``.jpg`` stays JPEG, a ``.png`` PNG). What is written is the caller's choice (``render``): the
overlay, or the raw image, head pixelated by the privacy renderer exactly as in video recordings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from pipeline.config import Policy
from pipeline.errors import ConfigError
from pipeline.frames import Result
from pipeline.render import Renderer

JPEG_QUALITY: Final = 95
"""Quality of JPEG outputs (1..100)."""
FALLBACK_SUFFIX: Final = ".png"
"""The format of an output whose frame names no image file (not an image source)."""


class ImageFileSink:
    """Writes ``render(result)`` for every result (of ``source_id`` if set) to ``folder/<image name>``.

    The folder is created and checked at construction (ConfigError naming ``flag``); each file is
    written whole (a temporary file renamed over it), so a crash never leaves half an image. A frame
    without ``meta.image_file`` is written as ``<seq>.png``. Lossless and critical, like the
    recordings of a file run: the images are data the user asked to keep.

    Attributes:
        images: images written so far.
    """

    policy: Policy = "lossless"
    capacity = 8
    critical = True

    def __init__(
        self, folder: str | Path, render: Renderer, flag: str = "--record", source_id: str | None = None
    ) -> None:
        self.folder = Path(folder)
        self.render = render
        self.flag = flag
        self.source_id = source_id
        self.name = f"images:{self.folder.name}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ConfigError(
                f"{flag} {self.folder}: not a folder (image sources record one file per image)"
            ) from None
        except OSError as exc:
            raise ConfigError(f"{flag} {self.folder}: cannot create folder ({exc.strerror})") from None
        if not os.access(self.folder, os.W_OK):
            raise ConfigError(f"{flag} {self.folder}: folder not writable")
        self.images = 0

    def path_for(self, result: Result) -> Path:
        """Where ``result``'s image goes: the input image's file name in the folder."""
        name = result.meta.image_file
        return self.folder / (Path(name).name if name else f"{result.meta.seq:06d}{FALLBACK_SUFFIX}")

    def write(self, result: Result) -> None:
        """Render one result and write it, whole, as its own image file."""
        if self.source_id is not None and result.meta.source_id != self.source_id:
            return
        rgb = self.render(result)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"{self.name}: render must return (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        path = self.path_for(result)
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix.lower() in (".jpg", ".jpeg") else []
        ok, data = cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise ConfigError(f"{self.flag} {path}: cannot encode a {path.suffix} image")
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_bytes(data.tobytes())
            os.replace(tmp, path)
        except OSError as exc:
            raise ConfigError(f"{self.flag} {path}: cannot write ({exc.strerror})") from None
        self.images += 1

    def close(self) -> None:
        """Nothing is held open between images."""
