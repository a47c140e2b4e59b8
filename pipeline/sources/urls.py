"""Classifying ``--source`` strings and masking credentials in URLs."""

from __future__ import annotations

import errno
import re
import socket
from typing import Final, Literal
from urllib.parse import urlsplit, urlunsplit

SourceKind = Literal["webcam", "stream", "images", "image", "file"]

STREAM_SCHEMES: Final = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "srt", "udp", "tcp")
IMAGE_EXTENSIONS: Final = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_WEBCAM = re.compile(r"^(\d+|/dev/video\d+)$")
_NEEDS_HOST: Final = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https")
"""Schemes that always name a server (udp/srt/tcp may listen: ``udp://@:1234``)."""
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def mask_url(url: str) -> str:
    """Replace the password (and any user name) of a URL with ``***``; other strings unchanged.

    >>> mask_url("rtsp://admin:secret@10.0.0.5:554/live")
    'rtsp://***:***@10.0.0.5:554/live'
    """
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:  # malformed (e.g. a non-numeric port): mask whatever precedes the last @
        return _USERINFO.sub(r"\1***@", url)
    creds = "***:***" if parts.password is not None else "***"
    return urlunsplit((parts.scheme, f"{creds}@{host}", parts.path, parts.query, parts.fragment))


def is_stream_url(text: str) -> bool:
    """True for network URLs (rtsp, rtsps, http(s) incl. HLS, rtmp, srt, udp, tcp)."""
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    return scheme in STREAM_SCHEMES


def url_problem(url: str) -> str | None:
    """Why a stream URL cannot be right (no host, a non-numeric port, unbalanced brackets), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"malformed URL ({exc})"
    if not parts.hostname and parts.scheme.lower() in _NEEDS_HOST:
        return "malformed URL (no host)"
    if port == 0:
        return "malformed URL (port 0)"
    return None


def is_webcam(text: str) -> bool:
    """True for a camera index (``0``) or a V4L2 device path (``/dev/video0``)."""
    return bool(_WEBCAM.match(text))


DEFAULT_PORTS: Final = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "http": 80, "https": 443}
"""Ports a stream URL without one is reached on."""
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")


def why_unreachable(url: str, timeout_s: float) -> str | None:
    """Why the server of ``url`` cannot be reached over TCP, in words (connection refused, timed out,
    host unreachable, host name not found), or None when it accepts a connection (then the problem is
    the stream itself). Makes one TCP connection attempt of at most ``timeout_s`` seconds."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not host or not port:
        return None
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except socket.gaierror:
        return f"host name {host!r} not found"
    except ConnectionRefusedError:
        return f"connection refused by {host}:{port} (no server listening)"
    except TimeoutError:
        return f"connection to {host}:{port} timed out"
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return f"host {host} unreachable"
        return f"cannot connect to {host}:{port} ({exc.strerror or exc})"


def ffmpeg_reason(exc: BaseException, url: str) -> str:
    """An FFmpeg/PyAV error in words: no ``[Errno 1094995529]`` prefix, no repeated URL."""
    text = _ERRNO.sub("", str(exc)).strip()
    for quoted in (f": '{url}'", f": {url}"):
        text = text.removesuffix(quoted)
    return text or type(exc).__name__
