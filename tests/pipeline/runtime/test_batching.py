"""Batching: collect_batch with real queues and threads, the stage threads (item and batch),
InferenceStage.batch, Pipeline(max_batch=...).

Every threaded test has a deadline (pytest-timeout plus explicit joins/waits).
"""

import threading
import time

import numpy as np
import pytest

from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.infer.inference import InferenceStage
from pipeline.infer.preprocess import Preprocessor
from pipeline.runtime.batching import collect_batch
from pipeline.runtime.queues import END, POLL_S, StageQueue
from pipeline.runtime.stage import BatchStage, RunContext, Stage
from pipeline.sources.base import FrameStamper
from pipeline.sources.file import FileSource
from tests.helpers.media import GREEN, RED, ListSink, colour_pipeline, scene, write_h264

DEADLINE_S = 60.0


def filled(items, capacity=64, close=False) -> StageQueue:
    q: StageQueue[int] = StageQueue("q", capacity, "lossless")
    for i in items:
        assert q.put(i, threading.Event())
    if close:
        q.close()
    return q


@pytest.mark.parametrize(
    ("queued", "max_batch", "expect"),
    [
        ([1], 4, [1]),
        ([1, 2, 3], 4, [1, 2, 3]),
        ([1, 2, 3, 4, 5, 6], 4, [1, 2, 3, 4]),
        ([1, 2, 3], 1, [1]),
    ],
)
def test_batch_forms_from_queued_items(queued, max_batch, expect):
    q = filled(queued)
    t0 = time.monotonic()
    assert collect_batch(q, max_batch, 0.0, threading.Event()) == expect
    assert time.monotonic() - t0 < 0.5  # max_wait 0: no waiting once items are queued
    assert len(q) == len(queued) - len(expect)


def test_max_wait_respected_and_late_items_join():
    q = filled([0])
    abort = threading.Event()
    t0 = time.monotonic()
    assert collect_batch(q, 8, 0.1, abort) == [0]
    waited = time.monotonic() - t0
    assert 0.09 <= waited < 0.1 + 2 * POLL_S

    # an item put during the wait joins the batch; the batch returns as soon as it is full
    q = filled([0])
    putter = threading.Timer(0.03, lambda: q.put(1, abort))
    putter.start()
    t0 = time.monotonic()
    assert collect_batch(q, 2, 1.0, abort) == [0, 1]
    assert time.monotonic() - t0 < 0.5
    putter.join(DEADLINE_S)


def test_end_after_partial_batch():
    q = filled([1, 2], close=True)
    abort = threading.Event()
    assert collect_batch(q, 4, 1.0, abort) == [1, 2]
    assert collect_batch(q, 4, 1.0, abort) is END
    assert collect_batch(q, 4, 1.0, abort) is END


def test_end_while_waiting_returns_partial_promptly():
    q = filled([1])
    closer = threading.Timer(0.05, q.close)
    closer.start()
    t0 = time.monotonic()
    assert collect_batch(q, 4, 5.0, threading.Event()) == [1]
    assert time.monotonic() - t0 < 1.0
    assert collect_batch(q, 4, 5.0, threading.Event()) is END
    closer.join(DEADLINE_S)


def test_abort_while_waiting_for_first_item():
    q = filled([])
    abort = threading.Event()
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(collect_batch(q, 4, 0.01, abort)), daemon=True)
    t.start()
    time.sleep(0.1)
    assert t.is_alive()  # blocks while nothing comes
    abort.set()
    t.join(DEADLINE_S)
    assert not t.is_alive() and result == [None]


def test_producer_thread_every_item_once_in_order():
    q: StageQueue[int] = StageQueue("q", 4, "lossless")
    abort = threading.Event()

    def produce() -> None:
        for i in range(200):
            q.put(i, abort)
            if i % 17 == 0:
                time.sleep(0.003)
        q.close()

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    got, sizes = [], []
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        batch = collect_batch(q, 8, 0.002, abort)
        if batch is END:
            break
        assert batch is not None and 1 <= len(batch) <= 8
        got += batch
        sizes.append(len(batch))
    t.join(DEADLINE_S)
    assert got == list(range(200))
    assert max(sizes) > 1


def test_bad_max_batch():
    with pytest.raises(ValueError, match="max_batch"):
        collect_batch(filled([1]), 0, 0.0, threading.Event())


class Recorder:
    """An outbox keeping what it gets (and whether it was closed)."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self.closed = False

    def put(self, item: object, abort: threading.Event) -> bool:
        self.items.append(item)
        return True

    def close(self) -> None:
        self.closed = True


def test_batch_stage_sends_results_in_order_and_counts_batches():
    q = filled(range(10), close=True)
    out, closed = Recorder(), []
    calls: list[list[int]] = []

    def work(batch: list[int]) -> list[int]:
        calls.append(batch)
        return [10 * x for x in batch]

    st = BatchStage("b", work, q, [out], RunContext(), 4, 0.0, on_close=lambda: closed.append(1))
    st.start()
    st.join(DEADLINE_S)
    assert not st.is_alive() and out.items == [10 * x for x in range(10)]
    assert calls == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]  # all queued: full batches, then the rest
    assert (st.stats.processed, st.stats.batches, st.stats.mean_batch) == (10, 3, 10 / 3)
    assert out.closed and closed == [1]


def test_batch_stage_of_one_never_waits():
    q = filled([1, 2, 3], close=True)
    calls: list[list[int]] = []
    st = BatchStage("b", lambda b: calls.append(b) or b, q, [Recorder()], RunContext(), 1, 10.0)
    t0 = time.monotonic()
    st.start()
    st.join(DEADLINE_S)
    assert calls == [[1], [2], [3]] and time.monotonic() - t0 < 1.0
    assert st.stats.mean_batch == 1.0


@pytest.mark.parametrize("kind", ["item", "batch"])
def test_stage_error_recorded_outboxes_closed_on_close_runs(kind):
    q = filled([1, 2, 3])  # never closed: the error must end the thread

    def boom(x):
        raise RuntimeError("boom")

    ctx, out, closed = RunContext(), Recorder(), []
    on_close = lambda: closed.append(1)  # noqa: E731
    st = (
        Stage("s", boom, q, [out], ctx, on_close)
        if kind == "item"
        else BatchStage("s", boom, q, [out], ctx, 2, 0.0, on_close)
    )
    st.start()
    st.join(DEADLINE_S)
    assert not st.is_alive() and out.items == [] and out.closed and closed == [1]
    assert [(where, str(e)) for where, e in ctx.errors] == [("s", "boom")] and ctx.abort.is_set()


def test_batch_stage_bad_settings():
    with pytest.raises(ValueError, match="max_batch"):
        BatchStage("b", list, filled([]), [], RunContext(), 0, 0.0)


def moving_squares(i: int) -> np.ndarray:
    return scene(96, 128, [(RED, (8 + 2 * i, 8, 40 + 2 * i, 40)), (GREEN, (80, 50, 120, 90))])


class CountingBackend:
    """A backend that records the batch size of every call of the real one it wraps."""

    def __init__(self, real: OrtBackend) -> None:
        self.real, self.calls = real, []
        self.spec, self.name, self.max_batch, self.on_gpu = real.spec, real.name, real.max_batch, False
        self.remote = False

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(len(batch))
        return self.real.infer(batch)


def test_batch_inference_equals_batch_of_one(colour_model_path):
    backend = CountingBackend(OrtBackend(colour_model_path))
    pre = Preprocessor(backend.spec)
    stamper = FrameStamper("t")
    sizes = [(96, 128), (96, 128), (50, 200), (64, 64), (96, 128)]
    items = [pre(stamper.stamp(moving_squares(i)[:h, :w], None)) for i, (h, w) in enumerate(sizes)]
    infer = InferenceStage(backend)
    outs = infer.batch(items)
    assert backend.calls == [5]
    assert [o.frame.meta.seq for o in outs] == [it.frame.meta.seq for it in items]
    for it, out in zip(items, outs, strict=True):
        ref = infer(it)  # a batch of one
        assert out.letterbox == it.letterbox and out.frame is it.frame
        np.testing.assert_allclose(out.logits, ref.logits, rtol=0, atol=1e-5)
        assert out.timings.preprocess_ms == it.timings.preprocess_ms
    ms = {o.timings.inference_ms for o in outs}
    assert len(ms) == 1 and ms.pop() > 0  # one batch: per-frame time = batch time / 5

    backend.max_batch, backend.calls = 2, []  # the stage splits batches larger than the backend takes
    assert [o.frame.meta.seq for o in infer.batch(items)] == list(range(5))
    assert backend.calls == [2, 2, 1]


def records(results):
    return [
        (r.meta.seq, r.meta.pts_s, [(p.class_id, p.box, p.area_px, round(p.score, 5)) for p in r.parts])
        for r in results
    ]


@pytest.mark.parametrize("wait_s", [0.0, 0.002])
def test_pipeline_max_batch_same_records(tmp_path, colour_model_path, wait_s):
    video = write_h264(tmp_path / "v.mp4", frames=40, fps=10, draw=moving_squares)
    backend = CountingBackend(OrtBackend(colour_model_path))
    out = {}
    for max_batch in (1, 4):
        sink = ListSink()
        backend.calls = []
        p = colour_pipeline(
            FileSource(video, "vid"), backend, [sink], max_batch=max_batch, batch_wait_s=wait_s
        )
        assert p.policy == "lossless" and p.q_prepared.capacity >= max_batch
        p.start()
        assert p.wait(DEADLINE_S), "pipeline did not finish in time"
        p.join()
        inference = next(c for c in p.counters().stages if c.name == "inference")
        assert inference.processed == 40 == sum(backend.calls)
        assert all(1 <= n <= max_batch for n in backend.calls)
        assert p.inference.stats.batches == len(backend.calls)  # the backend takes up to 64: no split
        out[max_batch] = records(sink.results)
    assert [r[0] for r in out[4]] == list(range(40))
    assert out[4] == out[1]
