"""Scale-out on Triton, measured in one run: local ONNX Runtime vs the ``triton`` backend, and 1/2/4 ``run``
processes sharing one server.

``python -m tools.triton_bench [--size WxH] [--frames N] [--server-threads T] [--clients 1,2,4] [--json]``

A real Triton Inference Server (PyTriton's ``tritonserver``, ``tools/triton_server.py`` in
``.venv-triton``; ``make triton-venv``) serves the shipped segmentation model, float32 and uint8-input
(``export-triton --uint8-input``), on 127.0.0.1 with dynamic batching. Every client is a real
``infant-stream run --mode lossless --no-pose`` process on the same synthetic clip writing JSONL.

1. One process, same machine: frames/s of local ONNX Runtime (its default workers) and of ``--backend
   triton`` over gRPC, with ``--triton-shared-memory``, with the uint8-input model, and both; ratio to
   local (target ≥ 0.7) and arg-max agreement with local (the records' ``classes``, every frame).
2. N = 1, 2, 4 processes at once over gRPC: aggregate frames/s (frames whose capture fell in the window
   where all N ran, over that window), each process's p99 request latency (``latency_ms.inference``:
   one frame per request, queueing on the server included) and the batch sizes the server executed
   (Triton's statistics API). Target: mean executed batch > 1.5 with 4 clients.

The server and the clients share this machine's cores: on a small host the server's compute competes
with the clients' decoding (say so with the numbers). Not a CI test (numbers depend on the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.infer.backends.triton import batch_difference, executed_batches, mean_batch
from pipeline.infer.uint8_input import uint8_model
from tests.helpers.procs import REPO, cli_command
from tests.helpers.triton import TritonServer

SEG = REPO / "models" / "infant-seg.onnx"


@dataclass(frozen=True)
class Client:
    """One ``run`` process: its summary fps, frames, p99 request latency (ms), each record's capture time
    (Unix s) and present classes."""

    fps: float
    frames: int
    p99_ms: float
    ts: list[float]
    classes: list[list[int]]


def start_client(clip: Path, out: Path, extra: list[str]) -> subprocess.Popen[str]:
    args = ["run", "--source", str(clip), "--mode", "lossless", "--no-display", "--no-progress", "--no-pose"]
    return subprocess.Popen(
        [*cli_command(), *args, "--jsonl", str(out), *extra],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_client(proc: subprocess.Popen[str], out: Path) -> Client:
    _, err = proc.communicate(timeout=1800)
    found = re.search(r"\(([\d.]+) fps\)", err)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"run failed: {err[-500:]}")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    infer = [r["latency_ms"]["inference"] for r in records]
    return Client(
        fps=float(found.group(1)),
        frames=len(records),
        p99_ms=float(np.percentile(infer, 99)),
        ts=[r["capture_ts"] for r in records],
        classes=[r["classes"] for r in records],
    )


def clients(clip: Path, folder: Path, n: int, extra: list[str]) -> list[Client]:
    """``n`` processes started together; their results."""
    outs = [folder / f"c{n}-{i}-{time.monotonic_ns()}.jsonl" for i in range(n)]
    procs = [start_client(clip, out, extra) for out in outs]
    return [finish_client(p, o) for p, o in zip(procs, outs, strict=True)]


def aggregate_fps(runs: list[Client]) -> float:
    """Frames per second of all processes together while all of them ran (the overlap of their windows)."""
    start, end = max(r.ts[0] for r in runs), min(r.ts[-1] for r in runs)
    if end <= start:
        return float("nan")
    return sum(start <= t <= end for r in runs for t in r.ts) / (end - start)


def brief(c: Client) -> dict[str, Any]:
    """A client's numbers without its per-frame lists."""
    return {k: v for k, v in asdict(c).items() if k not in ("ts", "classes")}


def agreement(got: list[list[int]], want: list[list[int]]) -> float:
    """Share of frames whose present classes (the arg-max mask's classes) match."""
    return sum(a == b for a, b in zip(got, want, strict=True)) / len(want)


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from trainer.synth.video import write_video

    w, h = (int(v) for v in args.size.lower().split("x"))
    clip = folder / "clip.mp4"
    write_video(clip, frames=args.frames, fps=25, width=w, height=h, seed=3)
    u8 = folder / "infant-seg-u8.onnx"
    u8.write_bytes(uint8_model(SEG, OrtBackend(SEG).spec))
    out: dict[str, Any] = {"size": args.size, "frames": args.frames, "cores": os.cpu_count()}
    (local,) = clients(clip, folder, 1, [])
    out["local"] = brief(local)
    models = {"infant-seg": SEG, "infant-seg-u8": u8}
    extra = ["--threads", str(args.server_threads), "--queue-delay-us", str(args.queue_delay_us)]
    with TritonServer(models, folder / "server", *extra) as server:
        grpc = ["--backend", "triton", "--triton-url", server.url]
        variants = {
            "grpc": grpc,
            "grpc+shm": [*grpc, "--triton-shared-memory"],
            "grpc uint8": [*grpc, "--triton-model", "infant-seg-u8", "--model", str(u8)],
            "grpc uint8+shm": [
                *grpc,
                "--triton-model",
                "infant-seg-u8",
                "--model",
                str(u8),
                "--triton-shared-memory",
            ],
        }
        out["one"] = {}
        for name, flags in variants.items():
            (c,) = clients(clip, folder, 1, flags)
            out["one"][name] = brief(c) | {"agreement": agreement(c.classes, local.classes)}
        out["many"] = {}
        for n in args.clients:
            before = executed_batches(server.url, "infant-seg")
            runs = clients(clip, folder, n, [*grpc, "--max-batch", "1"])
            done = batch_difference(executed_batches(server.url, "infant-seg"), before)
            out["many"][n] = {
                "aggregate_fps": aggregate_fps(runs),
                "fps_each": [r.fps for r in runs],
                "p99_ms_each": [r.p99_ms for r in runs],
                "batches": done,
                "mean_batch": mean_batch(done),
            }
    return out


def print_tables(out: dict[str, Any]) -> None:
    local = out["local"]["fps"]
    print(
        f"\nclip {out['size']}, {out['frames']} frames, {out['cores']} cores (server and clients share them)\n"
    )
    print("| one process | frames/s | ratio to local (target ≥ 0.7) | p99 request ms | arg-max agreement |")
    print("|---|---|---|---|---|")
    print(f"| local ONNX Runtime | {local:.1f} | 1.00 | {out['local']['p99_ms']:.1f} | — |")
    for name, r in out["one"].items():
        print(
            f"| triton {name} | {r['fps']:.1f} | **{r['fps'] / local:.2f}** | {r['p99_ms']:.1f} | "
            f"{100 * r['agreement']:.0f} % |"
        )
    print(
        "\n| processes | aggregate frames/s | per process frames/s | per process p99 request ms | "
        "executed batches (size: count) | mean batch (target > 1.5 at 4) |"
    )
    print("|---|---|---|---|---|---|")
    for n, r in out["many"].items():
        each = ", ".join(f"{v:.1f}" for v in r["fps_each"])
        p99 = ", ".join(f"{v:.0f}" for v in r["p99_ms_each"])
        batches = ", ".join(f"{b}: {c}" for b, c in r["batches"].items())
        print(f"| {n} | {r['aggregate_fps']:.1f} | {each} | {p99} | {batches} | **{r['mean_batch']:.2f}** |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.triton_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="640x480", help="frame size of the clip (default 640x480)")
    p.add_argument("--frames", type=int, default=300, help="frames of the clip (default 300)")
    p.add_argument(
        "--server-threads", type=int, default=2, help="ONNX Runtime threads in the server (default 2)"
    )
    p.add_argument(
        "--queue-delay-us", type=int, default=2000, help="dynamic batcher queue delay (default 2000)"
    )
    p.add_argument("--clients", default="1,2,4", help="process counts to share the server (default 1,2,4)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = p.parse_args(argv)
    args.clients = [int(v) for v in args.clients.split(",")]
    with tempfile.TemporaryDirectory(prefix="triton-bench-") as tmp:
        out = measure(args, Path(tmp))
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print_tables(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
