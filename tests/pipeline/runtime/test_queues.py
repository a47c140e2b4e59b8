import threading
import time

import pytest

from pipeline.runtime.queues import END, StageQueue


def test_latest_drops_oldest_and_counts():
    q: StageQueue[int] = StageQueue("q", 2, "latest")
    stop = threading.Event()
    for i in range(5):
        assert q.put(i, stop)
    assert q.dropped == 3
    assert [q.get(), q.get()] == [3, 4]
    assert q.get(0.01) is None


def test_lossless_blocks_until_consumed():
    q: StageQueue[int] = StageQueue("q", 1, "lossless")
    stop = threading.Event()
    q.put(1, stop)
    done = threading.Event()

    def producer():
        q.put(2, stop)
        done.set()

    t = threading.Thread(target=producer, daemon=True)
    t.start()
    assert not done.wait(0.2)  # blocked: queue full
    assert q.get() == 1
    assert done.wait(2.0)
    assert q.get() == 2 and q.dropped == 0
    t.join(2.0)


def test_lossless_put_gives_up_on_abort():
    q: StageQueue[int] = StageQueue("q", 1, "lossless")
    stop = threading.Event()
    q.put(1, stop)
    threading.Timer(0.1, stop.set).start()
    t0 = time.monotonic()
    assert q.put(2, stop) is False
    assert time.monotonic() - t0 < 2.0


@pytest.mark.parametrize("policy", ["latest", "lossless"])
def test_close_delivers_items_then_end(policy):
    q: StageQueue[int] = StageQueue("q", 3, policy)
    stop = threading.Event()
    q.put(1, stop)
    q.close()
    assert q.get() == 1
    assert q.get() is END
    assert q.get() is END


def test_bad_capacity():
    with pytest.raises(ValueError, match="capacity"):
        StageQueue("q", 0, "latest")
