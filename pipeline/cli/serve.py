"""``infant-stream serve``: the web app (:mod:`pipeline.web`) on uvicorn, until SIGINT/SIGTERM.

Start-up order (a bad input fails before anything heavy or anything written): flags and config →
token and bind policy → the port is bound (a taken port fails now) → the models load → the live
subscribers connect → the server answers. On exit every job is cancelled and the temporary folder
(uploads, results) is removed.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

from pipeline.cli.run import OVERRIDES as RUN_OVERRIDES
from pipeline.cli.run import apply_flags, refuse_empty
from pipeline.config import Config, load_config, override
from pipeline.errors import ConfigError
from pipeline.loopback import is_loopback_host

# flag → (config field, argparse options)
OVERRIDES: dict[str, tuple[str, dict[str, Any]]] = {
    "--host": ("serve.host", {"help": "address to bind (default 127.0.0.1; any other needs --token)"}),
    "--port": ("serve.port", {"type": int, "help": "TCP port (default 8000; 0 = any free port)"}),
    "--token-file": (
        "serve.token_file",
        {"metavar": "FILE", "help": "file whose first line is the bearer token"},
    ),
    "--max-image-mb": (
        "serve.max_image_mb",
        {"type": float, "metavar": "MIB", "help": "largest image upload (default 50)"},
    ),
    "--max-video-mb": (
        "serve.max_video_mb",
        {"type": float, "metavar": "MIB", "help": "largest video upload (default 2048)"},
    ),
    "--jobs": ("serve.jobs", {"type": int, "metavar": "N", "help": "videos processed at once (default 1)"}),
    "--video-fps": (
        "serve.video_fps",
        {
            "type": float,
            "metavar": "FPS",
            "help": "/analyze_video: frames per second analysed (default 0: every frame)",
        },
    ),
    "--video-max-frames": (
        "serve.video_max_frames",
        {"type": int, "metavar": "N", "help": "/analyze_video: at most N frames (default 0: all)"},
    ),
    "--live-fps": (
        "serve.live_fps",
        {"type": float, "help": "live updates per second per browser (default 5)"},
    ),
    "--curve-server-key": (
        "serve.curve_server_key",
        {"metavar": "FILE", "help": "encrypted publishers' public key file"},
    ),
    "--curve-client-key": (
        "serve.curve_client_key",
        {"metavar": "FILE", "help": "this server's CURVE secret key file"},
    ),
    **{f: RUN_OVERRIDES[f] for f in ("--model", "--pose-model", "--providers", "--threads", "--privacy")},
}
# repeatable flag → (config field, help)
LISTS: dict[str, tuple[str, str]] = {
    "--zmq": (
        "serve.zmq",
        "show the live records and frames of a run --zmq publisher at ENDPOINT (repeatable)",
    ),
    "--cors": (
        "serve.cors_origins",
        "allow API calls from pages of this ORIGIN (repeatable; default: CORS off)",
    ),
}
# switch → (config field, value it sets, help)
FLAGS: dict[str, tuple[str, Any, str]] = {
    "--allow-no-token": ("serve.allow_no_token", True, "serve a non-loopback --host without a token (warns)"),
    "--no-pose": ("pose.enabled", False, "no keypoint model (segmentation only)"),
    "--no-flip-test": ("pose.flip_test", False, "run the pose model once per crop"),
}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="the web app: upload images and videos, video jobs, live views of run --zmq publishers",
        description="Serve the upload API (seed-compatible), video jobs and the page with live views.",
    )
    p.add_argument("--config", help="YAML config (its serve: section; flags override it)")
    p.add_argument("--token", help="bearer token every request must carry (prefer --token-file)")
    for flag, (_, opts) in OVERRIDES.items():
        p.add_argument(flag, default=None, **opts)
    for flag, (_, text) in LISTS.items():
        p.add_argument(
            flag,
            action="append",
            default=None,
            metavar=flag[2:].upper() if flag != "--zmq" else "ENDPOINT",
            help=text,
        )
    for flag, (_, _, text) in FLAGS.items():
        p.add_argument(flag, action="store_true", help=text)
    p.set_defaults(func=main)


def config_from_args(args: argparse.Namespace) -> Config:
    """The YAML config (or defaults) with every given flag applied on top."""
    conflicts = (("--pose-model", "--no-pose", ""),)
    cfg = apply_flags(load_config(args.config), args, OVERRIDES, FLAGS, conflicts)
    for flag, (dotted, _) in LISTS.items():
        values = getattr(args, flag[2:].replace("-", "_"))
        if values:
            for value in values:
                refuse_empty(flag, value)
            cfg = override(cfg, dotted, list(values), flag)
    return cfg


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when ``host`` is one). Raises ConfigError."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--host {host} --port {port}: cannot listen ({exc.strerror or exc})") from None
    sock.set_inheritable(True)
    return sock


def main(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.token is not None:
        refuse_empty("--token", args.token)
    from pipeline.publish.subscriber import curve_keys
    from pipeline.web.security import check_bind, read_token

    serve = cfg.serve
    token = read_token(args.token, serve.token_file, "--token-file")
    check_bind(serve.host, token, serve.allow_no_token)
    keys = curve_keys(
        serve.curve_server_key, serve.curve_client_key, ("--curve-server-key", "--curve-client-key")
    )
    sock = bind(serve.host, serve.port)
    try:
        return _serve(cfg, sock, token, keys)
    finally:
        sock.close()


def _serve(cfg: Config, sock: socket.socket, token: str | None, keys: Any) -> int:
    """Load the models, connect the live views, answer until a signal; close everything."""
    import uvicorn

    from pipeline.runtime.signals import StopSignals
    from pipeline.session.build import limit_malloc_arenas, limit_opencv_threads, warn_privacy_off
    from pipeline.web.analyzer import ImageAnalyzer
    from pipeline.web.app import WebParts, create_app
    from pipeline.web.jobs import JobManager
    from pipeline.web.live import LiveHub

    limit_opencv_threads()
    limit_malloc_arenas()
    warn_privacy_off(cfg)
    serve = cfg.serve
    analyzer = ImageAnalyzer(cfg)
    hub = LiveHub(serve.zmq, serve.live_history_s, keys)
    jobs = JobManager(cfg, serve.jobs, serve.max_queued)
    try:
        hub.start()
        app = create_app(WebParts(cfg, analyzer, jobs, hub, token))
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,  # request lines could carry ?token=; nothing of an upload is logged
            timeout_graceful_shutdown=5,
            ws_ping_interval=20.0,
        )
        server = uvicorn.Server(config)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        where = "" if is_loopback_host(host) else " (reachable from other machines)"
        print(
            f"infant-stream: serving http://{shown}:{port}/{where} with {analyzer.describe()}; Ctrl+C stops",
            file=sys.stderr,
            flush=True,
        )
        # uvicorn handles SIGINT/SIGTERM (graceful shutdown), then raises them again with the handlers
        # it found: ours, which record the signal, so the cleanup below always runs
        with StopSignals() as signals:
            server.run(sockets=[sock])
    finally:
        jobs.close()
        hub.close()
    return signals.exit_code()
