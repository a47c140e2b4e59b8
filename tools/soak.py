"""Soak benchmark: the real ``infant-stream run`` with every sink, for a long time; does it leak or creep?

``python -m tools.soak [--duration 1800] [--source FILE] [--model PATH] [--out DIR] [--warmup S]
[--check] [--extra=ARG ...]``

A looping file paced in real time (``--loop --realtime --mode latest``, a camera emulator) runs through
the full pipeline with all sinks (JSONL, CSV, ZeroMQ records + frames, overlay and raw recordings) as a
child process. Each second the soak samples:

- **RSS** of the child (and of its children, if any), via psutil;
- **fps**: ``parts.*`` records received per second on a real ZeroMQ SUB socket;
- **latency**: ``latency_ms.capture_to_publish`` of those records (p50/p99 per second);
- ``status.*`` records (state, per-stage fps); drops from the records' ``dropped_since_last``;
- the load: the child's CPU and run-queue wait, other processes' CPU, the machine's CPU pressure
  (:mod:`tools.soak_probe`), so that a latency creep can be told from a busy neighbour.

Without ``--source`` a synthetic infant clip (trainer/synth, 640×480, 25 fps, 10 s, seed 2026) is
generated into the out folder once and reused. ``--duration`` is the *measured* time; before it come
the model load (until the first record arrives) and a warm-up (default min(10 s, 10 % of the
duration)), neither of which counts. Windows, growth and ratios: :mod:`tools.soak_stats`.

Writes ``DIR/soak.png`` (RSS, fps, latency, CPU vs time; first/last 10 % shaded), ``DIR/soak.json``
(summary and per-second samples), the child's outputs and ``DIR/child.log`` (its stderr); prints a
table. At the end (or on Ctrl-C/SIGTERM of the soak) the child gets SIGINT and must exit 130 (a clean
stop). After the run the child's JSONL is read back and every part outside its frame is counted
(:func:`tools.soak_stats.parts_outside_frame`). Exit code: 0; 1 when the run failed (child died, no
records, unclean stop) or, with ``--check``, when a target is missed (RSS growth ≤ 5 %, p99 latency of
the last 10 % ≤ 1.10 × the first, no part outside its frame); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from tools.soak_probe import LoadProbe, Record, RecordReader
from tools.soak_report import CLEAN_EXIT, Run, Sample, draw, format_table, summarize, write_json
from tools.soak_stats import default_warmup, part_outside_frame, parts_outside_frame, per_second
from tools.zmq_bench import free_port

DEFAULT_DURATION_S: Final = 1800.0
DEFAULT_OUT: Final = Path("out/soak")
SOURCE_ID: Final = "soak"
CLIP: Final = {"frames": 250, "fps": 25.0, "width": 640, "height": 480, "seed": 2026}
"""The default source: trainer/synth clip written as DIR/clip.mp4 (+ clip.json) when absent."""
EXTRA_CHILD_ARGS: Final[tuple[str, ...]] = ()
"""More ``infant-stream run`` flags for every soak; ``--extra=ARG`` adds more per invocation."""
STARTUP_TIMEOUT_S: Final = 120.0
"""Longest wait for the first record (model load, encoder start)."""
STOP_TIMEOUT_S: Final = 45.0
"""Longest wait for the child to exit after SIGINT (queued frames drain, recordings are finished)."""
BACKSTOP_S: Final = 120.0
"""The child's own ``--duration`` exceeds the soak by this much, so it ends even if the soak is killed."""


def cli_command() -> list[str]:
    """The ``infant-stream`` console script of this interpreter's environment (else ``-m pipeline.cli.main``)."""
    exe = shutil.which("infant-stream", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "pipeline.cli.main"]


def default_clip(out: Path) -> Path:
    """The synthetic infant clip in ``out`` (generated once with the project's own generator)."""
    path = out / "clip.mp4"
    if not path.exists() or not path.with_suffix(".json").exists():
        from trainer.synth.video import write_video

        print(f"soak: generating {path} ({CLIP})", flush=True)
        write_video(path, **CLIP)  # type: ignore[arg-type]
    return path


def child_args(
    source: Path,
    out: Path,
    endpoint: str,
    run_s: float,
    model: str | None,
    extra: list[str],
    metrics_port: int = 0,
) -> list[str]:
    """``infant-stream run`` arguments: the file as a live camera, every sink (and the metrics
    endpoint when ``metrics_port``), a backstop duration."""
    args = [
        *("run", "--source", str(source), "--source-id", SOURCE_ID),
        *("--loop", "--realtime", "--mode", "latest", "--no-display"),
        *("--jsonl", str(out / "soak.jsonl"), "--csv", str(out / "soak.csv")),
        *("--zmq", endpoint, "--zmq-frames"),
        *("--record", str(out / "overlay.mp4"), "--record-raw", str(out / "raw.mp4")),
        *("--duration", f"{run_s:.0f}"),
    ]
    if metrics_port:
        args += ["--metrics-port", str(metrics_port)]
    if model:
        args += ["--model", model]
    return [*args, *EXTRA_CHILD_ARGS, *extra]


class Scraper(threading.Thread):
    """GETs ``/metrics`` every ``interval_s`` like a Prometheus server would; counts answers."""

    def __init__(self, port: int, interval_s: float = 5.0) -> None:
        super().__init__(name="soak-scrape", daemon=True)
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.interval_s = interval_s
        self.ok = 0
        self.failed = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.interval_s):
            try:
                with urllib.request.urlopen(self.url, timeout=2.0) as reply:
                    self.ok += int(reply.status == 200 and b"infant_stream_frames_total" in reply.read())
            except OSError:
                self.failed += 1


def stop_child(child: subprocess.Popen[bytes]) -> int:
    """SIGINT, wait; a second SIGINT (abort), then SIGKILL if it still hangs. Returns the exit code."""
    for sig, wait_s in ((signal.SIGINT, STOP_TIMEOUT_S), (signal.SIGINT, 10.0), (signal.SIGKILL, 10.0)):
        if child.poll() is not None:
            break
        child.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(wait_s)
    return child.wait(10)


def soak(cmd: list[str], endpoint: str, log_path: Path, duration_s: float, warmup_s: float) -> Run:
    """Run the child, sample each second until ``duration_s`` measured seconds have passed (or a
    SIGINT/SIGTERM arrives), stop it with SIGINT and check that it exits cleanly."""
    run = Run()
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        run.interrupted = True
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    reader = RecordReader(endpoint)
    reader.start()
    with log_path.open("wb") as log:
        # own session: a Ctrl-C in the terminal reaches the soak only, which then stops the child
        child = subprocess.Popen(
            cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    t0 = math.nan  # measurement start (monotonic)

    def ingest(got: list[Record]) -> None:
        for mono, lat, seq, dropped in got:
            run.record_t.append(mono - t0)
            run.latency_ms.append(lat)
            run.seqs.append(seq)
            run.dropped.append(dropped)

    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not reader.first.wait(0.2):
            if child.poll() is not None or stop.is_set() or time.monotonic() > deadline:
                if not stop.is_set():
                    why = "exited" if child.poll() is not None else f"sent none in {STARTUP_TIMEOUT_S:.0f} s"
                    run.errors.append(f"no record from the child (it {why})")
                return run
        got = reader.take()
        t0 = (got[0][0] if got else time.monotonic()) + warmup_s
        ingest(got)
        print(f"soak: first record; warm-up {warmup_s:.0f} s, then {duration_s:.0f} s measured", flush=True)
        probe = LoadProbe(child.pid)
        tick = time.monotonic()
        k = 0
        while not stop.is_set():
            k += 1
            stop.wait(max(0.0, tick + k - time.monotonic()))
            if child.poll() is not None:
                t = time.monotonic() - t0
                run.errors.append(f"the child exited early (code {child.returncode}) at t = {t:.0f} s")
                break
            if reader.error is not None:
                run.errors.append(f"subscriber failed: {reader.error!r}")
                break
            at, dt, load = probe.sample()
            got = reader.take()
            ingest(got)
            p50, p_99 = per_second([g[1] for g in got])
            run.samples.append(
                Sample(
                    t=at - t0,
                    **asdict(load),
                    records=len(got),
                    fps=len(got) / dt,
                    p50_ms=p50,
                    p99_ms=p_99,
                    dropped=sum(g[3] for g in got),
                    state=reader.last_state(),
                )
            )
            if run.samples[-1].t >= duration_s:
                break
    finally:
        ended_alone = child.poll() is not None
        run.exit_code = stop_child(child)
        with reader.lock:
            run.statuses = [(m - t0, s) for m, s in reader.statuses]
        reader.stop()
        for s, h in old.items():
            signal.signal(s, h)
    if run.exit_code not in (CLEAN_EXIT, 0) and not ended_alone:
        run.errors.append(f"the child exited with code {run.exit_code} after SIGINT (expected {CLEAN_EXIT})")
    return run


OUTSIDE_EXAMPLES: Final = 5


def outside_frame(jsonl: Path) -> tuple[int, list[str]]:
    """(parts outside their frame, the first few as ``source#seq state name#track``) over every
    record of the run's JSONL (a missing file: 0; a torn last line is skipped)."""
    count, examples = 0, []
    if not jsonl.exists():
        return 0, []
    with jsonl.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            n = parts_outside_frame(record)
            count += n
            if n and len(examples) < OUTSIDE_EXAMPLES:
                w, h = int(record["width"]), int(record["height"])
                examples += [
                    f"{record['source']}#{record['seq']} {p.get('state')} {p.get('name')}#{p.get('track_id')}"
                    for p in record["parts"]
                    if part_outside_frame(p, w, h)
                ]
    return count, examples[:OUTSIDE_EXAMPLES]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m tools.soak", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, help="measured seconds (1800)")
    ap.add_argument("--source", help="video file to loop (default: a synthetic clip in --out)")
    ap.add_argument("--model", help="ONNX model (default: infant-stream run's default)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder ({DEFAULT_OUT})")
    ap.add_argument("--warmup", type=float, help="seconds left out after the first record (min(10, 10 %%))")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument for infant-stream run (repeatable; write --extra=--flag)",
    )
    args = ap.parse_args(argv)
    if args.duration <= 0:
        ap.error(f"--duration must be > 0, got {args.duration}")
    if args.warmup is not None and args.warmup < 0:
        ap.error(f"--warmup must be >= 0, got {args.warmup}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warmup = default_warmup(args.duration) if args.warmup is None else args.warmup
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    source = Path(args.source) if args.source else default_clip(out)
    if not source.is_file():
        print(f"soak: error: --source {source}: no such file", file=sys.stderr)
        return 2
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    run_s = warmup + args.duration + BACKSTOP_S
    metrics_port = free_port()
    cmd = [*cli_command(), *child_args(source, out, endpoint, run_s, args.model, args.extra, metrics_port)]
    print("soak: " + " ".join(cmd), flush=True)
    scraper = Scraper(metrics_port)
    scraper.start()
    try:
        run = soak(cmd, endpoint, out / "child.log", args.duration, warmup)
    finally:
        scraper.halt.set()
    print(
        f"soak: /metrics scraped every {scraper.interval_s:g} s: {scraper.ok} answers, {scraper.failed} failed"
    )
    run.outside_frame, run.outside_examples = outside_frame(out / "soak.jsonl")
    summary = summarize(run, warmup)
    info = {
        "command": cmd,
        "source": str(source),
        "duration_s": args.duration,
        "warmup_s": warmup,
        "metrics_scrapes": {"ok": scraper.ok, "failed": scraper.failed},
    }
    write_json(out / "soak.json", run, summary, info)
    if run.samples:
        draw(run, summary, out / "soak.png", f"soak {summary.duration_s:.0f} s")
    print(format_table(summary))
    print(f"soak: wrote {out / 'soak.png'}, {out / 'soak.json'}; child stderr: {out / 'child.log'}")
    if summary.note:
        print(f"soak: note: {summary.note}", flush=True)
    if run.interrupted:
        also = f" ({'; '.join(summary.errors)})" if summary.errors else ""
        print(f"soak: interrupted; the numbers cover the time until then{also}", file=sys.stderr)
        return 130
    if summary.errors:
        tail = (out / "child.log").read_text(errors="replace").splitlines()[-5:]
        print("soak: child log tail:\n  " + "\n  ".join(tail), file=sys.stderr)
        print(f"soak: FAIL: {'; '.join(summary.errors)}", file=sys.stderr)
        return 1
    if summary.failures:
        print(f"soak: {'FAIL' if args.check else 'target missed'}: {'; '.join(summary.failures)}", flush=True)
        return 1 if args.check else 0
    print("soak: PASS: all targets met", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
