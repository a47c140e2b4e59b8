"""Does a slow or dead ZeroMQ subscriber cost the pipeline anything? Measured in one run.

``python -m tools.zmq_bench [--model M] [--frames N] [--size WxH] [--frames-jpeg]``

1. pipeline runs (lossless, a synthetic H.264 clip, the shipped model by default), publishing every
   record through the :class:`~pipeline.publish.publisher.ZmqPublisher` tap:
   - ``none``        no subscriber (the baseline);
   - ``stalled``     one subscriber that connects and never reads (default HWMs);
   - ``killed``      one subscriber process that reads, then is SIGKILLed mid-run;
   each with pipeline fps, the publisher's sent/dropped counters and the ratio to the baseline;
2. raw publisher throughput: ~1 KB records through :class:`~pipeline.publish.publisher.ZmqPublisher`
   with a stalled subscriber (messages/s the socket thread sends, and what ``publish()`` costs).

Not a CI test: numbers depend on the machine. Prints a table (or JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import zmq

from pipeline.config import Config, ModelConfig, ZmqConfig
from pipeline.infer.backends import Backend
from pipeline.infer.inference import InferenceStage
from pipeline.infer.preprocess import Preprocessor
from pipeline.postprocess.stage import Postprocessor
from pipeline.publish.publisher import ZmqPublisher
from pipeline.runtime.pipeline import Pipeline
from pipeline.session.build import limit_opencv_threads, load_backend
from pipeline.sources.file import FileSource

READER = """
import sys, zmq
s = zmq.Context().socket(zmq.SUB)
s.connect(sys.argv[1])
s.setsockopt(zmq.SUBSCRIBE, b"")
print("ready", flush=True)
while True:
    s.recv_multipart()
"""


@dataclass(frozen=True)
class Run:
    """One pipeline run: frames/s of the whole pipeline and what the publisher did."""

    case: str
    frames: int
    seconds: float
    fps: float
    sent: int
    dropped: int
    ratio: float = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_clip(folder: Path, frames: int, width: int, height: int) -> Path:
    """A synthetic infant clip (trainer/synth) of ``frames`` frames."""
    from trainer.synth.video import write_video

    path = folder / "clip.mp4"
    write_video(path, frames=frames, fps=25, width=width, height=height, seed=3)
    return path


def _handshake(pub: ZmqPublisher, sub: zmq.Socket[Any]) -> None:
    end = time.monotonic() + 10
    while not sub.poll(50):
        pub.publish("status.bench", b"{}")
        if time.monotonic() > end:
            raise RuntimeError("subscriber did not connect")


def run_case(
    case: str,
    clip: Path,
    backend: Backend,
    frames_jpeg: bool,
    ctx: zmq.Context[Any],
    kill_after_s: float = 0.5,
) -> Run:
    """One lossless pipeline run over ``clip`` with the given subscriber behaviour
    (``killed``: the reader process is SIGKILLed ``kill_after_s`` seconds after the start)."""
    ep = f"tcp://127.0.0.1:{free_port()}"
    cfg = ZmqConfig(endpoint=ep, frames=frames_jpeg, frame_fps=1000.0)
    reader: subprocess.Popen[str] | None = None
    sub: zmq.Socket[Any] | None = None
    with ZmqPublisher(cfg) as pub:
        if case == "stalled":
            sub = ctx.socket(zmq.SUB)
            sub.setsockopt(zmq.LINGER, 0)
            sub.connect(ep)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            _handshake(pub, sub)  # one message read; never again
            sub.recv_multipart()
        elif case == "killed":
            reader = subprocess.Popen([sys.executable, "-c", READER, ep], stdout=subprocess.PIPE, text=True)
            assert reader.stdout is not None
            reader.stdout.readline()
        p = Pipeline(
            FileSource(clip, "bench"),
            Preprocessor(backend.spec),
            InferenceStage(backend),
            Postprocessor(backend.spec, 100),
            [],
            taps=[pub],
            policy="lossless",
        )
        before = pub.sent
        t0 = time.perf_counter()
        p.start()
        if reader is not None:
            time.sleep(kill_after_s)
            os.kill(reader.pid, signal.SIGKILL)
            reader.wait(5)
        p.wait(3600)
        p.join()
        seconds = time.perf_counter() - t0
        n = next(s.processed for s in p.counters().stages if s.name == "postprocess")
    sent, dropped = pub.sent - before, pub.dropped  # after close(): the queue is flushed
    if sub is not None:
        sub.close(0)
    return Run(case, n, seconds, n / seconds, sent, dropped)


def raw_throughput(messages: int, ctx: zmq.Context[Any]) -> dict[str, float]:
    """~1 KB records through ZmqPublisher with a subscriber that never reads."""
    ep = f"tcp://127.0.0.1:{free_port()}"
    payload = json.dumps({"schema": 1, "pad": "x" * 1000}).encode()
    with ZmqPublisher(ZmqConfig(endpoint=ep), queue_size=1024) as pub:
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(ep)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        _handshake(pub, sub)
        while pub.stats()["queued"]:
            time.sleep(0.001)
        before = pub.sent
        dropped_before = pub.dropped
        t0 = time.perf_counter()
        calls_s = 0.0
        for i in range(messages):
            c0 = time.perf_counter()
            pub.publish("parts.bench", payload)
            calls_s += time.perf_counter() - c0
            if i % 512 == 511:  # keep the queue from overflowing: measure the socket, not the queue
                while pub.stats()["queued"] > 256:
                    time.sleep(0)
        while pub.stats()["queued"]:
            time.sleep(0.0005)
        seconds = time.perf_counter() - t0
        sent = pub.sent - before
        queue_drops = pub.dropped - dropped_before
    sub.close(0)
    return {
        "messages": messages,
        "sent": sent,
        "dropped_queue": queue_drops,
        "sent_per_s": sent / seconds,
        "publish_call_us": 1e6 * calls_s / messages,
        "payload_bytes": len(payload),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/infant-seg.onnx", help="ONNX model (default: the shipped one)")
    ap.add_argument("--providers", default="auto", help="ONNX Runtime providers (auto)")
    ap.add_argument("--frames", type=int, default=300, help="clip length in frames")
    ap.add_argument("--size", default="320x240", help="clip size WxH")
    ap.add_argument("--frames-jpeg", action="store_true", help="also publish frame.* JPEGs (every frame)")
    ap.add_argument("--raw-messages", type=int, default=200_000, help="messages for the raw throughput test")
    ap.add_argument("--repeat", type=int, default=2, help="runs per case (the median is kept)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    limit_opencv_threads()
    backend = load_backend(Config(model=ModelConfig(path=args.model, providers=args.providers)))
    ctx: zmq.Context[Any] = zmq.Context()
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp), args.frames, width, height)
        run_case("none", clip, backend, args.frames_jpeg, ctx)  # warm-up
        runs: dict[str, list[Run]] = {"none": [], "stalled": [], "killed": []}
        for _ in range(args.repeat):
            for case in runs:
                half = runs["none"][-1].seconds / 2 if runs["none"] else 0.5
                runs[case].append(run_case(case, clip, backend, args.frames_jpeg, ctx, half))
    median = {c: sorted(rs, key=lambda r: r.fps)[len(rs) // 2] for c, rs in runs.items()}
    base = median["none"].fps
    table = [Run(**{**asdict(r), "ratio": r.fps / base}) for r in median.values()]
    raw = raw_throughput(args.raw_messages, ctx)
    ctx.term()
    info = {"model": args.model, "frames": args.frames, "size": args.size, "frames_jpeg": args.frames_jpeg}
    if args.json:
        print(json.dumps({**info, "runs": [asdict(r) for r in table], "raw": raw}))
        return 0
    print(f"zmq bench: {info}")
    print(f"{'case':<8} {'frames':>6} {'s':>6} {'fps':>7} {'ratio':>6} {'sent':>6} {'dropped':>7}")
    for r in table:
        print(
            f"{r.case:<8} {r.frames:>6} {r.seconds:>6.2f} {r.fps:>7.1f} {r.ratio:>6.3f} {r.sent:>6} "
            f"{r.dropped:>7}"
        )
    print(
        f"raw publisher, stalled subscriber: {raw['sent_per_s']:,.0f} msg/s of {raw['payload_bytes']} B "
        f"({raw['sent']} sent, {raw['dropped_queue']} queue drops); publish() {raw['publish_call_us']:.1f} µs/call"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
