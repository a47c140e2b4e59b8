"""Still images: one file or every image in a folder (sorted by name), for batch use.

Each frame names its file (``FrameMeta.image_file``: the path as the source names it, e.g.
``frames/0003.jpg``). By default the images are independent stills (``FrameMeta.still``): nothing is
tracked from one into the next, whatever their order. With ``sequence`` the folder is a frame
sequence, like a video's frames (tracked across images).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2

from pipeline.errors import SourceError
from pipeline.frames import Frame
from pipeline.lifecycle import State
from pipeline.sources.base import FrameStamper
from pipeline.sources.urls import IMAGE_EXTENSIONS


class ImageSource:
    """Frames read from image files; pts is None (stills have no stream time).

    Args:
        path: an image file or a folder of images.
        source_id: the source's id.
        sequence: the images are frames of one sequence (tracked across images), not independent stills.
    """

    live = False
    reconnects = 0
    timestamp_repairs = 0

    def __init__(self, path: str | Path, source_id: str = "images0", sequence: bool = False):
        self.path = Path(path)
        self.source_id = source_id
        self.sequence = sequence
        self.state: State = State.STARTING
        self.description = str(self.path)

    def files(self) -> list[Path]:
        """The image files this source will read, in order."""
        if self.path.is_dir():
            found = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise SourceError(f"{self.path}: folder has no images ({', '.join(IMAGE_EXTENSIONS)})")
            return found
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such file or folder")
        return [self.path]

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        stamper = FrameStamper(self.source_id, self.description, timed=False)
        self.state = State.RUNNING
        for path in self.files():
            if stop.is_set():
                break
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                self.state = State.ERROR
                raise SourceError(f"{path}: not a readable image")
            frame = stamper.stamp(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None)
            yield Frame(replace(frame.meta, image_file=str(path), still=not self.sequence), frame.image)
        self.state = State.STOPPED
