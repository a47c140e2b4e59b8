"""Per-source lanes in front of a shared stage (pipeline/runtime/lanes.py) and multi-producer queues."""

import threading
import time

import pytest

from pipeline.runtime.lanes import LaneQueue, Router
from pipeline.runtime.queues import END, StageQueue

NEVER = threading.Event()


def drain(q: LaneQueue) -> list:
    out = []
    while (item := q.get(0.0)) not in (None, END):
        out.append(item)
    return out


def test_lanes_are_read_round_robin():
    q: LaneQueue[str] = LaneQueue("x", {"a": (8, "lossless"), "b": (8, "lossless"), "c": (8, "lossless")})
    for i in range(4):
        q.lane("a").put(f"a{i}", NEVER)
    q.lane("b").put("b0", NEVER)
    q.lane("c").put("c0", NEVER)
    q.lane("c").put("c1", NEVER)
    assert drain(q) == ["a0", "b0", "c0", "a1", "c1", "a2", "a3"]


def test_a_latest_lane_drops_only_its_own_items():
    q: LaneQueue[str] = LaneQueue("x", {"live": (1, "latest"), "file": (3, "lossless")})
    for i in range(5):
        q.lane("live").put(f"l{i}", NEVER)
    for i in range(3):
        q.lane("file").put(f"f{i}", NEVER)
    assert q.lane("live").dropped == 4 and q.lane("file").dropped == 0 and q.dropped == 4
    assert len(q) == 4 and q.capacity == 4
    assert sorted(drain(q)) == ["f0", "f1", "f2", "l4"]


def test_end_only_after_every_lane_is_closed_and_drained():
    q: LaneQueue[int] = LaneQueue("x", {"a": (2, "lossless"), "b": (2, "lossless")})
    q.lane("a").put(1, NEVER)
    q.lane("a").close()
    assert q.get(0.0) == 1
    assert q.get(0.01) is None  # b is still open
    q.lane("b").put(2, NEVER)
    q.lane("b").close()
    assert q.get(0.0) == 2
    assert q.get(0.0) is END


def test_a_waiting_consumer_wakes_for_any_lane():
    q: LaneQueue[str] = LaneQueue("x", {"a": (1, "latest"), "b": (1, "latest")})
    got: list = []
    t = threading.Thread(target=lambda: got.append(q.get(5.0)))
    t.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    q.lane("b").put("b0", NEVER)
    t.join(5.0)
    assert got == ["b0"] and time.monotonic() - t0 < 1.0


def test_a_full_lossless_lane_blocks_only_its_producer():
    q: LaneQueue[str] = LaneQueue("x", {"slow": (1, "lossless"), "fast": (1, "lossless")})
    q.lane("slow").put("s0", NEVER)
    abort = threading.Event()
    blocked = threading.Thread(target=lambda: q.lane("slow").put("s1", abort))
    blocked.start()
    assert q.lane("fast").put("f0", NEVER)  # not held up by the full lane
    time.sleep(0.1)
    assert blocked.is_alive()
    abort.set()
    blocked.join(2.0)
    assert not blocked.is_alive()


def test_router_puts_by_key_and_closes_every_lane():
    q: LaneQueue[tuple[str, int]] = LaneQueue("x", {"a": (4, "lossless"), "b": (4, "lossless")})
    r = Router(q, key=lambda item: item[0])
    for item in [("a", 1), ("b", 1), ("a", 2)]:
        assert r.put(item, NEVER)
    assert len(q.lane("a")) == 2 and len(q.lane("b")) == 1
    r.close()
    assert drain(q) == [("a", 1), ("b", 1), ("a", 2)]
    assert q.get(0.0) is END
    with pytest.raises(KeyError):
        r.put(("zzz", 0), NEVER)


def test_queue_capacity_is_checked():
    with pytest.raises(ValueError):
        StageQueue("q", 0, "latest")


def test_lane_queue_needs_a_lane():
    with pytest.raises(ValueError):
        LaneQueue("x", {})
