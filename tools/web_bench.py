"""The web app's three performance targets, measured in one run against a real ``infant-stream serve``.

``python -m tools.web_bench [--size WxH] [--frames N] [--images N] [--live-s S]``

1. ``/analyze_image``: the pipeline's single-image time (the same stages in this process, models
   loaded once: :class:`~pipeline.web.analyzer.ImageAnalyzer`) vs the server's own time for the same
   image (``server_ms``: decode the upload, the stages, render the overlay, two PNGs) and the client's
   round trip. Target: server ≤ 1.5 × pipeline.
2. ``/jobs`` vs ``infant-stream run --mode lossless`` on the same file, writing the same outputs (JSONL,
   CSV, overlay mp4): frames per second once the models are loaded (run's summary line; the job's
   ``fps``). Target: job ≥ 0.9 × run.
3. Live: a ``run --zmq --zmq-frames`` publisher (realtime, looping) watched by ``serve --zmq``; over
   ``--live-s`` seconds each: no browser, one reading browser, one reading + one that stopped reading.
   Records/s the server receives, updates/s the reading browser gets, the publisher's own fps; ratios
   to the no-browser case. Target: a stalled browser lowers nothing (ratios ≈ 1).

Synthetic infant media (``trainer.synth``); not a CI test (numbers depend on the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import httpx
import websockets

from pipeline.config import Config
from pipeline.web.analyzer import ImageAnalyzer
from tests.helpers.procs import REPO, cli_command
from tests.helpers.web import Publisher, Server, wait_job


def media(folder: Path, size: tuple[int, int], frames: int) -> tuple[Path, Path]:
    """(a synthetic infant clip, its first frame as PNG) at ``size`` (width, height)."""
    from trainer.synth.video import video_frames, write_video

    w, h = size
    clip = folder / "clip.mp4"
    write_video(clip, frames=frames, fps=25, width=w, height=h, seed=2)
    _, first = next(video_frames(frames=1, fps=25, width=w, height=h, seed=2))
    still = folder / "still.png"
    cv2.imwrite(str(still), cv2.cvtColor(first.image, cv2.COLOR_RGB2BGR))
    return clip, still


def image_times(still: Path, server: Server, n: int) -> dict[str, float]:
    """Medians (ms): in this process the stages alone and reading the file + the stages (what ``run``
    spends on one image: the pipeline's single-image time); the server's ``runtime_ms`` (stages),
    ``server_ms`` (decode the upload, stages, overlay, two PNGs); the client's round trip."""
    analyzer = ImageAnalyzer(Config())
    analyzer.analyze(cv2.cvtColor(cv2.imread(str(still)), cv2.COLOR_BGR2RGB))  # warm-up
    stages, local = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        image = cv2.cvtColor(cv2.imread(str(still)), cv2.COLOR_BGR2RGB)
        stages.append(analyzer.analyze(image).runtime_ms)
        local.append((time.perf_counter() - t0) * 1000.0)
    del analyzer
    data = still.read_bytes()
    runtime, served, trip = [], [], []
    with server.client() as c:
        c.post("/analyze_image", files={"file": ("x.png", data)})  # warm-up
        for _ in range(n):
            t0 = time.perf_counter()
            body = c.post("/analyze_image", files={"file": ("x.png", data)}).json()
            trip.append((time.perf_counter() - t0) * 1000.0)
            runtime.append(body["runtime_ms"])
            served.append(body["server_ms"])
    med = statistics.median
    return {
        "stages": med(stages),
        "pipeline": med(local),
        "server_stages": med(runtime),
        "server": med(served),
        "round_trip": med(trip),
    }


def run_fps(clip: Path, out: Path) -> float:
    """``infant-stream run --mode lossless`` with JSONL, CSV and overlay recording: frames/s (its summary)."""
    done = subprocess.run(
        [
            *cli_command(),
            "run",
            "--source",
            str(clip),
            "--mode",
            "lossless",
            "--no-display",
            "--no-progress",
            "--jsonl",
            str(out / "r.jsonl"),
            "--csv",
            str(out / "r.csv"),
            "--record",
            str(out / "r.mp4"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    found = re.search(r"\(([\d.]+) fps\)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"run failed: {done.stderr[-500:]}")
    return float(found.group(1))


def job_fps(clip: Path, server: Server) -> float:
    with server.client(timeout=1800) as c:
        job = c.post("/jobs", files={"file": ("clip.mp4", clip.read_bytes())}).json()
        end = wait_job(c, job["id"], deadline_s=1800)
        c.delete(f"/jobs/{job['id']}")
    if end["state"] != "done":
        raise RuntimeError(f"job ended {end['state']}: {end['error']}")
    return float(end["fps"])  # type: ignore[arg-type]


def parts_received(c: httpx.Client) -> float:
    text = c.get("/metrics").text
    found = re.search(r'infant_stream_web_live_messages_total\{kind="parts"\} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def stall(server: Server) -> socket.socket:
    """A WebSocket client that does the handshake and then never reads."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(b"0123456789abcdef").decode()
    s.sendall(
        f"GET /live/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    s.recv(12)
    return s


def drain(sock: socket.socket) -> int:
    """Bytes waiting in ``sock`` (read without blocking until none is left)."""
    sock.setblocking(False)
    total = 0
    try:
        while chunk := sock.recv(1 << 20):
            total += len(chunk)
    except BlockingIOError:
        pass
    return total


def live_case(server: Server, seconds: float, readers: int, stalled: bool) -> dict[str, float]:
    """Over ``seconds``: records/s received, updates/s and bytes/s of one reading browser, publisher
    fps; with ``stalled``, the bytes/s the server got through to the browser that never reads (what
    its TCP buffers took before its sender had to wait: the stall is real when that stays small)."""
    stuck = stall(server) if stalled else None
    stuck_bytes = 0
    try:
        with server.client() as c:
            before, t0 = parts_received(c), time.monotonic()

            async def read() -> tuple[int, int]:
                got = size = 0
                async with websockets.connect(f"{server.ws_url}/live/ws", max_size=None) as ws:
                    while time.monotonic() - t0 < seconds:
                        size += len(await asyncio.wait_for(ws.recv(), 10))
                        got += 1
                return got, size

            if readers:
                updates, size = asyncio.run(read())
            else:
                time.sleep(seconds)
                updates = size = 0
            span = time.monotonic() - t0
            received = (parts_received(c) - before) / span
            source = c.get("/live").json()["sources"][0]
    finally:
        if stuck is not None:
            stuck_bytes = drain(stuck)
            stuck.close()
    return {
        "received": received,
        "updates": updates / span,
        "reader_kib_s": size / span / 1024,
        "stalled_kib_s": stuck_bytes / span / 1024,
        "publisher": float(source["publisher_fps"].get("postprocess", 0.0)),
    }


def live_cases(folder: Path, seconds: float) -> dict[str, dict[str, float]]:
    """The three live cases against a 320x240 publisher at 25 fps (no pose) and ``serve --zmq``."""
    small, _ = media(folder / "live", (320, 240), 50)
    with (
        Publisher(small, "--no-pose", duration_s=6 * seconds + 60) as publisher,
        Server("--zmq", publisher.endpoint, "--no-pose", log_dir=folder) as server,
    ):
        time.sleep(4.0)  # the publisher reaches its rate
        return {
            "none": live_case(server, seconds, 0, False),
            "reading": live_case(server, seconds, 1, False),
            "reading+stalled": live_case(server, seconds, 1, True),
        }


def print_tables(out: dict[str, Any], args: argparse.Namespace) -> None:
    if "image_ms" in out:
        im = out["image_ms"]
        print(f"## /analyze_image, {args.size} PNG, median of {args.images} (ms)")
        print(
            "| stages (in process) | read + stages: pipeline | server: stages | server: total | round trip "
            "| server / pipeline | server / stages |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|")
        print(
            f"| {im['stages']:.1f} | {im['pipeline']:.1f} | {im['server_stages']:.1f} | {im['server']:.1f} "
            f"| {im['round_trip']:.1f} | **{im['server'] / im['pipeline']:.2f}** (target ≤ 1.5) "
            f"| {im['server'] / im['stages']:.2f} |\n"
        )
    if "job_fps" in out:
        print(
            f"## /jobs vs run --mode lossless, {args.frames} frames {args.size}, JSONL + CSV + overlay mp4 (fps)"
        )
        print("| run | job | job / run |\n|---:|---:|---:|")
        ratio = out["job_fps"] / out["run_fps"]
        print(f"| {out['run_fps']:.2f} | {out['job_fps']:.2f} | **{ratio:.2f}** (target ≥ 0.9) |\n")
    if "live" in out:
        base = out["live"]["none"]
        print(f"## live, 320x240 publisher at 25 fps (no pose), {args.live_s:g} s per case")
        print(
            "| browsers | records/s received | ratio | publisher fps | ratio | updates/s to the reader "
            "| KiB/s to the reader | KiB/s to the stalled one |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for case, m in out["live"].items():
            print(
                f"| {case} | {m['received']:.1f} | {m['received'] / max(base['received'], 1e-9):.2f} "
                f"| {m['publisher']:.1f} | {m['publisher'] / max(base['publisher'], 1e-9):.2f} "
                f"| {m['updates']:.1f} | {m['reader_kib_s']:.0f} | {m['stalled_kib_s']:.0f} |"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.web_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="1280x720", help="frame size of the image and video (default 1280x720)")
    p.add_argument("--frames", type=int, default=150, help="frames of the job/run video (default 150)")
    p.add_argument("--images", type=int, default=15, help="image requests to time (default 15)")
    p.add_argument("--live-s", type=float, default=10.0, help="seconds per live case (default 10)")
    p.add_argument("--only", choices=("image", "job", "live"), help="measure only this target")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    out: dict[str, Any] = {"size": args.size}
    wanted = {args.only} if args.only else {"image", "job", "live"}
    with tempfile.TemporaryDirectory(prefix="web-bench-") as tmp:
        folder = Path(tmp)
        clip, still = media(folder, (w, h), args.frames)
        if wanted & {"image", "job"}:
            with Server(log_dir=folder) as server:
                if "image" in wanted:
                    out["image_ms"] = image_times(still, server, args.images)
                if "job" in wanted:
                    out["job_fps"] = job_fps(clip, server)
            if "job" in wanted:
                out["run_fps"] = run_fps(clip, folder)
        if "live" in wanted:
            out["live"] = live_cases(folder, args.live_s)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print_tables(out, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
