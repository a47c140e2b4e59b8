"""Video sources behind one interface; :func:`open_source` picks one from the ``--source`` text."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import SourceConfig
from pipeline.errors import SourceError
from pipeline.sources.base import Source
from pipeline.sources.file import FileSource
from pipeline.sources.images import ImageSource
from pipeline.sources.stream import StreamOptions, StreamSource
from pipeline.sources.urls import IMAGE_EXTENSIONS, is_stream_url, is_webcam, mask_url, url_problem
from pipeline.sources.webcam import WebcamOptions, WebcamSource


def open_source(cfg: SourceConfig) -> Source:
    """The source ``cfg.uri`` names: camera index or /dev/videoN, network URL, image folder,
    image file, else a video file. Files are checked here so a typo fails before the model loads.
    """
    uri = cfg.uri.strip()
    if not uri:
        raise SourceError("--source: no source given (a file, URL, camera index or folder)")
    if is_webcam(uri):
        device: int | str = int(uri) if uri.isdigit() else uri
        camera = WebcamSource(device, cfg.id, WebcamOptions.from_config(cfg))
        camera.check()  # a missing camera fails now, in one line, before the model loads
        return camera
    if is_stream_url(uri):
        problem = url_problem(uri)
        if problem is not None:
            raise SourceError(f"{mask_url(uri)}: {problem}")
        return StreamSource(uri, cfg.id, StreamOptions.from_config(cfg))
    if "://" in uri:
        raise SourceError(f"{mask_url(uri)}: unsupported URL scheme")
    path = Path(uri)
    if path.is_dir() or path.suffix.lower() in IMAGE_EXTENSIONS:
        images = ImageSource(path, cfg.id, sequence=cfg.sequence)
        images.files()  # fails now, with the path named, if there is nothing to read
        return images
    video = FileSource(path, cfg.id, realtime=cfg.realtime, loop=cfg.loop)
    video.check()
    return video


__all__ = ["FileSource", "ImageSource", "Source", "StreamSource", "WebcamSource", "open_source"]
