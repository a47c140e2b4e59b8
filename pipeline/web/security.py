"""Who may talk to the web app: loopback by default; elsewhere a bearer token on every request.

The token travels as ``Authorization: Bearer <token>`` (API clients), or once as ``?token=`` on the
page's URL: the page's answer then sets it as a same-site, HTTP-only cookie, which the page's own
requests (fetches, the live WebSocket, download links) carry from then on. CORS stays off unless
origins are configured, so other sites' pages cannot use that cookie to call the API.
"""

from __future__ import annotations

import hmac
import logging
import sys
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs

from pipeline.errors import ConfigError
from pipeline.loopback import is_loopback_host
from pipeline.web.uploads import ASGIApp, Message, Receive, Scope, Send, send_error

log = logging.getLogger(__name__)

COOKIE: Final = "infant_stream_token"
MIN_TOKEN_CHARS: Final = 16


def read_token(token: str | None, token_file: str, flag: str = "serve.token_file") -> str | None:
    """The bearer token: ``token`` itself, else the first line of ``token_file``, else None.

    Raises ConfigError (naming the flag or file) when the file is unreadable, or the token is
    shorter than :data:`MIN_TOKEN_CHARS` characters or holds whitespace.
    """
    where = "--token"
    if token is None and token_file:
        where = f"{flag} {token_file}"
        try:
            lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: cannot read ({type(exc).__name__})") from None
        token = lines[0].strip() if lines else ""
    if token is None:
        return None
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise ConfigError(f"{where}: the token must be at least {MIN_TOKEN_CHARS} characters, no spaces")
    return token


def check_bind(host: str, token: str | None, allow_no_token: bool) -> None:
    """Refuse a non-loopback ``host`` without a token unless ``allow_no_token`` (then warn loudly).

    Raises ConfigError naming ``--host`` and the ways out.
    """
    if token is not None or is_loopback_host(host):
        return
    if not allow_no_token:
        raise ConfigError(
            f"--host {host}: other machines could reach the server; give --token (or --token-file), "
            "or --allow-no-token to serve it open"
        )
    banner = "!" * 78
    print(
        f"{banner}\ninfant-stream: WARNING: serving {host} WITHOUT A TOKEN: anyone who can reach this "
        f"machine can upload\nvideos, read every result and watch the live cameras.\n{banner}",
        file=sys.stderr,
        flush=True,
    )


def _supplied(scope: Scope) -> tuple[str | None, bool]:
    """(the token a request carries, whether it came in the query string)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip(), False
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:  # noqa: BLE001 - a malformed cookie header is no token
        cookie = SimpleCookie()
    if COOKIE in cookie:
        return cookie[COOKIE].value, False
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0], True
    return None, False


class TokenGate:
    """ASGI middleware: with a token, every HTTP request and WebSocket must carry it (401 / close
    1008 otherwise); a page request that brought it as ``?token=`` gets it set as the cookie."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given, in_query = _supplied(scope)
        if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
            if scope["type"] == "websocket":
                await receive()  # the connect message
                await send({"type": "websocket.close", "code": 1008})
                return
            await send_error(send, 401, "missing or wrong token (send Authorization: Bearer <token>)")
            return
        if not in_query or scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"set-cookie", value.encode())],
                }
            await send(message)

        await self.app(scope, receive, with_cookie)
