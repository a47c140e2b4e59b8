"""CURVE keys for encrypted ZeroMQ publishing, and ``infant-stream keys OUTDIR [--name NAME]``.

Key files are the ``zmq.auth`` certificate format (ZPL text): ``NAME.key`` holds the public key
(give it to the other side), ``NAME.key_secret`` holds both keys (keep it private). Keys are
Z85 text, 40 characters each (32 bytes).

Typical setup::

    infant-stream keys keys/ --name server      # the publisher's pair
    infant-stream keys keys/ --name client      # one per subscriber
    # publisher: zmq.curve_secret_key = keys/server.key_secret
    #            zmq.curve_clients_dir = a folder with the allowed clients' *.key files (optional)
    # subscriber: --curve-server-key keys/server.key --curve-client-key keys/client.key_secret
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from pipeline.errors import ConfigError

_Z85_KEY: Final = re.compile(rb"^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")
"""A CURVE key in Z85 text: 40 characters of the Z85 alphabet."""
_NAME: Final = re.compile(r"^[A-Za-z0-9_.-]+$")


def _load(path: str | Path, label: str) -> tuple[bytes, bytes | None]:
    """(public, secret or None) from a certificate file; one-line ConfigError naming ``label`` and the file."""
    import zmq.auth  # only when CURVE is used

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{label} {p}: no such key file")
    try:
        public, secret = zmq.auth.load_certificate(p)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{label} {p}: not a CURVE key file ({exc})") from None
    for key in (public, secret):
        if key is not None and not _Z85_KEY.match(key):
            raise ConfigError(f"{label} {p}: not a CURVE key file (a key is not 40 Z85 characters)")
    return public, secret


def load_public_key(path: str | Path, label: str) -> bytes:
    """The public key (40 bytes of Z85 text) of a ``.key`` or ``.key_secret`` file."""
    return _load(path, label)[0]


def load_secret_pair(path: str | Path, label: str) -> tuple[bytes, bytes]:
    """(public, secret) keys (Z85 text) of a ``.key_secret`` file; a public-only file is an error."""
    public, secret = _load(path, label)
    if secret is None:
        raise ConfigError(f"{label} {path}: has no secret key (use the .key_secret file)")
    return public, secret


def check_clients_dir(path: str | Path, label: str) -> list[bytes]:
    """The public keys of every ``*.key`` file in folder ``path`` (at least one, all valid)."""
    p = Path(path)
    if not p.is_dir():
        raise ConfigError(f"{label} {p}: no such folder")
    files = sorted(p.glob("*.key"))
    if not files:
        raise ConfigError(f"{label} {p}: no client public keys (*.key) in the folder")
    return [load_public_key(f, label) for f in files]


def create_keypair(outdir: str | Path, name: str = "server") -> tuple[Path, Path]:
    """Write ``outdir/NAME.key`` and ``outdir/NAME.key_secret``; never overwrites. Returns both paths."""
    import zmq.auth

    if not _NAME.match(name):
        raise ConfigError(f"--name {name!r}: use letters, digits, '_', '-' or '.' only")
    out = Path(outdir)
    public, secret = out / f"{name}.key", out / f"{name}.key_secret"
    for f in (public, secret):
        if f.exists():
            raise ConfigError(f"{f}: already exists (not overwriting a key; choose another --name or folder)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        made = zmq.auth.create_certificates(out, name)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write keys ({exc.strerror or exc})") from None
    Path(made[1]).chmod(0o600)
    return Path(made[0]), Path(made[1])
