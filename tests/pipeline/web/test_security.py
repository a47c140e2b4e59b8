"""Who may talk to ``serve``: loopback by default, a token on any other address, CORS off by default;
bad serve flags and config are one line and exit 2. Real server processes throughout."""

from __future__ import annotations

import asyncio
import subprocess

import httpx
import pytest
import websockets

from pipeline.web.security import MIN_TOKEN_CHARS, read_token
from tests.helpers.procs import REPO, cli_command, free_port
from tests.helpers.web import Server

pytestmark = pytest.mark.timeout(180)
TOKEN = "s3cret-token-for-tests-0123456789"


def serve_fails(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``infant-stream serve ARGS`` run to its (failed) end."""
    return subprocess.run(
        [*cli_command(), "serve", "--port", str(free_port()), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--host", "0.0.0.0"], "--host 0.0.0.0: other machines could reach the server; give --token"),
        (["--token", "short"], f"--token: the token must be at least {MIN_TOKEN_CHARS} characters"),
        (["--token-file", "/nonexistent/token"], "--token-file /nonexistent/token: cannot read"),
        (["--jobs", "0"], "--jobs"),
        (["--max-image-mb", "-1"], "--max-image-mb"),
        (["--zmq", "nonsense"], "--zmq"),
        (["--zmq", ""], "--zmq: empty value"),
        (["--curve-server-key", "a.key"], "--curve-server-key and --curve-client-key: give both or neither"),
        (["--model", "/nonexistent/model.onnx"], "/nonexistent/model.onnx"),
        (["--pose-model", "x.onnx", "--no-pose"], "--pose-model and --no-pose"),
    ],
)
def test_bad_serve_flags_are_one_line(args, says):
    done = serve_fails(*args)
    assert done.returncode in (2, 4), done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in done.stderr, done.stderr


def test_a_taken_port_is_one_line():
    with _Busy() as port:
        done = subprocess.run(
            [*cli_command(), "serve", "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2 and "cannot listen" in done.stderr and len(done.stderr.splitlines()) == 1


class _Busy:
    """A port something listens on."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_token_file_reading(tmp_path):
    f = tmp_path / "token"
    f.write_text(TOKEN + "\nsecond line ignored\n")
    assert read_token(None, str(f)) == TOKEN
    assert read_token("given-beats-the-file-0000", str(f)) == "given-beats-the-file-0000"
    assert read_token(None, "") is None


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory):
    """A server on every interface (0.0.0.0) with a token; reached through 127.0.0.1."""
    with Server(
        "--token", TOKEN, host="0.0.0.0", token=TOKEN, log_dir=tmp_path_factory.mktemp("guarded")
    ) as s:
        yield s


@pytest.mark.parametrize("path", ["/", "/health", "/healthz", "/metrics", "/jobs", "/live", "/static/app.js"])
def test_a_missing_or_wrong_token_is_refused(guarded, path):
    with httpx.Client(base_url=guarded.url, timeout=30) as anonymous:
        r = anonymous.get(path)
        assert r.status_code == 401 and "token" in r.json()["error"]
        r = anonymous.get(path, headers={"Authorization": "Bearer " + "x" * len(TOKEN)})
        assert r.status_code == 401


def test_uploads_without_the_token_are_refused_before_reading_them(guarded, web_media):
    with httpx.Client(base_url=guarded.url, timeout=30) as anonymous:
        r = anonymous.post("/analyze_image", files={"file": ("a.png", web_media["still"].read_bytes())})
    assert r.status_code == 401


def test_the_token_opens_everything(guarded, web_media):
    with guarded.client() as c:
        assert c.get("/health").status_code == 200
        assert (
            c.post("/analyze_image", files={"file": ("a.png", web_media["still"].read_bytes())}).status_code
            == 200
        )


def test_the_page_link_with_the_token_sets_a_same_site_cookie(guarded):
    with httpx.Client(base_url=guarded.url, timeout=30) as browser:
        r = browser.get(f"/?token={TOKEN}")
        assert r.status_code == 200 and "infant-stream" in r.text
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert browser.get("/health").status_code == 200  # the cookie alone now
        assert browser.get("/static/app.js").status_code == 200


def test_the_live_websocket_needs_the_token(guarded):
    async def attempt(headers: dict[str, str]) -> str:
        try:
            async with websockets.connect(f"{guarded.ws_url}/live/ws", additional_headers=headers) as ws:
                return (await asyncio.wait_for(ws.recv(), 10))[:20]
        except websockets.exceptions.InvalidStatus as exc:
            return f"refused {exc.response.status_code}"
        except websockets.exceptions.ConnectionClosed as exc:
            return f"closed {exc.rcvd.code if exc.rcvd else None}"

    assert (await_(attempt({}))).startswith(("refused 403", "closed 1008"))
    assert await_(attempt({"Authorization": f"Bearer {TOKEN}"})).startswith('{"type":"live"')


def await_(coro):
    return asyncio.run(coro)


def test_cors_is_off_by_default(guarded):
    with guarded.client() as c:
        r = c.get("/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers
        pre = c.options(
            "/analyze_image",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in pre.headers


def test_cors_for_a_configured_origin(tmp_path):
    with Server("--cors", "http://lab.example", log_dir=tmp_path) as s, s.client() as c:
        ok = c.get("/health", headers={"Origin": "http://lab.example"})
        assert ok.headers["access-control-allow-origin"] == "http://lab.example"
        other = c.get("/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_allow_no_token_serves_open_with_a_loud_warning(tmp_path):
    with Server("--allow-no-token", host="0.0.0.0", log_dir=tmp_path) as s, s.client() as c:
        assert c.get("/health").status_code == 200
    err = s.stderr.read_text()
    assert "WITHOUT A TOKEN" in err and "reachable from other machines" in err
