"""Uploads: the size limit enforced while the body streams in, the content checked by decoding it.

Nothing of an upload is logged or echoed: errors name the form field (``file``) and what is wrong,
never the client's file name or a server path.
"""

from __future__ import annotations

import io
import json
import shutil
import warnings
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

import cv2
import numpy as np
from starlette.exceptions import HTTPException

MIB: Final = 1024 * 1024
FIELD: Final = "file"
"""The multipart field every upload endpoint reads (the seed app's)."""
MAX_PIXELS: Final = 100_000_000
"""Largest decoded image (pixels): beyond it an upload is refused, however small the file."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class HttpError(HTTPException):
    """A request the server refuses: HTTP ``status`` with the JSON body ``{"error": message}``
    (a Starlette ``HTTPException``, so it also crosses FastAPI's body parsing unchanged)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status_code=status, detail=message)
        self.status = status
        self.message = message


class BodyTooLarge(HttpError):
    """The request body went past its route's limit (raised from inside the body's reading)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"{FIELD}: upload larger than the {limit / MIB:g} MiB limit")


async def send_error(send: Send, status: int, message: str) -> None:
    """A complete JSON error response, sent at the ASGI level (before any app code answered)."""
    body = json.dumps({"error": message}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: each request's body is cut off at ``limit_of(path)`` bytes with HTTP 413.

    A declared ``Content-Length`` over the limit is refused before a byte is read; a body that
    streams past it (chunked, or a lying header) stops at the limit: reading it raises
    :class:`BodyTooLarge` inside the app, which answers 413 (or, should the app let it escape,
    this middleware does). Nothing past the limit is ever stored.
    """

    def __init__(self, app: ASGIApp, limit_of: Callable[[str], int]) -> None:
        self.app = app
        self.limit_of = limit_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope["path"])
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_error(send, 413, BodyTooLarge(limit).message)
            return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracked)
        except BodyTooLarge as exc:
            if not started:
                await send_error(send, exc.status, exc.message)


def decode_image(data: bytes) -> np.ndarray:
    """An uploaded image's pixels: (H, W, 3) uint8 RGB (EXIF orientation applied, alpha dropped).

    Raises:
        HttpError: 400 when it is empty or does not decode as an image (whatever its name says), 413
            when it decodes to more than :data:`MAX_PIXELS`.
    """
    if not data:
        raise HttpError(400, f"{FIELD}: empty upload")
    width, height = _declared_size(data)
    if width * height > MAX_PIXELS:
        raise HttpError(413, f"{FIELD}: image larger than {MAX_PIXELS // 1_000_000} megapixels")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.ndim != 3 or bgr.shape[0] < 2 or bgr.shape[1] < 2:
        raise HttpError(400, f"{FIELD}: not an image (it does not decode as PNG, JPEG, BMP, TIFF or WebP)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _declared_size(data: bytes) -> tuple[int, int]:
    """(width, height) an image's header declares, read without decoding its pixels (Pillow);
    (0, 0) when Pillow does not know the format (OpenCV then decodes it, or refuses it)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we judge the size here
            with Image.open(io.BytesIO(data)) as img:
                return int(img.width), int(img.height)
    except Image.DecompressionBombError:  # over Pillow's own limit: far too many pixels
        return MAX_PIXELS + 1, 1
    except (UnidentifiedImageError, OSError, ValueError):
        return 0, 0


@dataclass(frozen=True)
class VideoInfo:
    """What a video upload holds, read from its container and its first frame.

    Attributes:
        width, height: frame size, px.
        fps: the stream's average frame rate (0.0 when the container does not say).
        frames: frames the container declares, or duration × fps; 0 when unknown.
        duration_s: seconds (0.0 when unknown).
    """

    width: int
    height: int
    fps: float
    frames: int
    duration_s: float


def probe_video(path: Path) -> VideoInfo:
    """Open ``path`` as a video and decode its first frame.

    Raises:
        HttpError: 400 when it is empty, not a video, or no frame decodes.
    """
    import av  # PyAV: only for video uploads

    if path.stat().st_size == 0:
        raise HttpError(400, f"{FIELD}: empty upload")
    try:
        with av.open(str(path), timeout=10.0) as container:
            if not container.streams.video:
                raise HttpError(400, f"{FIELD}: no video stream (is it a video?)")
            if is_image_format(container.format.name):
                raise HttpError(400, f"{FIELD}: an image, not a video (send it to /analyze_image)")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 0.0)
            duration = 0.0
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            first = next(container.decode(stream), None)
            if first is None:
                raise HttpError(400, f"{FIELD}: no frame decodes (damaged or truncated video)")
            frames = int(stream.frames) or round(duration * fps)
            return VideoInfo(first.width, first.height, fps, max(frames, 0), max(duration, 0.0))
    except HttpError:
        raise
    except (av.error.FFmpegError, StopIteration, ValueError, OSError) as exc:
        raise HttpError(400, f"{FIELD}: not a video ({_reason(exc)})") from None


def is_image_format(demuxer: str) -> bool:
    """FFmpeg's demuxers of still images (``png_pipe``, ``jpeg_pipe``, ``image2``, ...): FFmpeg opens
    an image as a one-frame video, but an image is not a video upload."""
    return any(name == "image2" or name.endswith("_pipe") for name in demuxer.split(","))


def _reason(exc: BaseException) -> str:
    """A short reason without paths (PyAV puts the file name in its messages)."""
    text = getattr(exc, "strerror", None) or type(exc).__name__
    return str(text).split(":")[0].strip() or type(exc).__name__


def save_stream(src: BinaryIO, dest: Path, chunk: int = MIB) -> int:
    """Copy an upload's spooled file to ``dest`` (created, mode 0600); returns the bytes written."""
    dest.touch(mode=0o600)
    with dest.open("wb") as out:
        shutil.copyfileobj(src, out, chunk)
        return out.tell()
