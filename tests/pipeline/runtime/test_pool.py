"""PoolStage (pipeline/runtime/pool.py): several workers, results in the order taken — with real queues
and threads, work that finishes out of order on purpose, a worker error, an abort, and a whole pipeline
(a real H.264 file, the colour ONNX model in ONNX Runtime) whose records come out in frame order with
two inference workers sharing one session.

Every threaded test has a deadline (joins with timeouts; pytest-timeout)."""

import random
import threading
import time

import pytest

from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.runtime.pool import PoolStage
from pipeline.runtime.queues import END, StageQueue
from pipeline.runtime.stage import RunContext
from pipeline.sources.file import FileSource
from tests.helpers.media import ListSink, colour_model, colour_pipeline, run_to_end, write_h264

DEADLINE_S = 30.0


def drain(q: StageQueue) -> list:
    out = []
    while True:
        item = q.get(0.5)
        if item is END or item is None:
            return out
        out.append(item)


def run_pool(
    items: list[int], work, workers: int, max_batch: int = 1
) -> tuple[PoolStage, StageQueue, RunContext]:
    inbox: StageQueue[int] = StageQueue("in", len(items) + 1, "lossless")
    outbox: StageQueue[int] = StageQueue("out", len(items) + 1, "lossless")
    for i in items:
        assert inbox.put(i, threading.Event())
    inbox.close()
    ctx = RunContext()
    stage = PoolStage("pool", work, inbox, [outbox], ctx, max_batch, 0.0, workers)
    stage.start()
    stage.join(DEADLINE_S)
    assert not stage.is_alive(), "pool did not finish in time"
    return stage, outbox, ctx


@pytest.mark.parametrize(("workers", "max_batch"), [(1, 1), (2, 1), (4, 1), (3, 2)])
def test_results_keep_the_take_order_although_work_finishes_out_of_order(workers, max_batch):
    rng = random.Random(7)
    delays = {i: rng.choice([0.0, 0.002, 0.01]) for i in range(60)}
    threads_seen: set[str] = set()
    lock = threading.Lock()

    def work(batch):
        with lock:
            threads_seen.add(threading.current_thread().name)
        time.sleep(delays[batch[0]])
        return [10 * i for i in batch]

    stage, outbox, ctx = run_pool(list(range(60)), work, workers, max_batch)
    assert drain(outbox) == [10 * i for i in range(60)]
    assert ctx.errors == []
    assert stage.stats.processed == 60
    assert len(threads_seen) == workers  # every worker took part (60 items, sleeps release the others)


def test_workers_really_overlap():
    """Four workers on work that sleeps 50 ms: 8 items take about 2 rounds, not 8."""
    stage, outbox, _ = run_pool(list(range(8)), lambda b: (time.sleep(0.05), b)[1], workers=4)
    assert len(drain(outbox)) == 8
    assert stage.stats.busy_s == pytest.approx(0.4, abs=0.1)  # core-seconds: 8 × 50 ms


def test_worker_error_stops_the_run_and_is_recorded():
    def work(batch):
        if batch[0] == 5:
            raise RuntimeError("bad frame 5")
        time.sleep(0.001)
        return batch

    _, outbox, ctx = run_pool(list(range(40)), work, workers=3)
    got = drain(outbox)
    assert got == list(range(len(got))) and 5 not in got  # what came out is in order and stops before 5
    ((where, exc),) = ctx.errors
    assert where == "pool" and "bad frame 5" in str(exc)


def test_abort_ends_every_worker():
    inbox: StageQueue[int] = StageQueue("in", 4, "lossless")  # never closed: only the abort ends it
    outbox: StageQueue[int] = StageQueue("out", 4, "lossless")
    ctx = RunContext()
    stage = PoolStage("pool", lambda b: b, inbox, [outbox], ctx, 1, 0.0, 3)
    stage.start()
    time.sleep(0.05)
    ctx.abort.set()
    stage.join(DEADLINE_S)
    assert not stage.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("pool:")]


def test_bad_worker_count():
    with pytest.raises(ValueError, match="workers >= 1"):
        PoolStage("pool", lambda b: b, StageQueue("in", 1, "lossless"), [], RunContext(), 1, 0.0, 0)


def test_pipeline_with_two_inference_workers_keeps_frame_order(tmp_path):
    video = write_h264(tmp_path / "v.mp4", 40)
    backend = OrtBackend(colour_model(tmp_path / "colour.onnx"))
    sink = ListSink()
    p = colour_pipeline(FileSource(video, "vid"), backend, [sink], infer_workers=2)
    assert p.inference.workers == 2  # type: ignore[attr-defined]
    run_to_end(p)
    assert [r.meta.seq for r in sink.results] == list(range(40))
    assert p.inference.stats.processed == 40
