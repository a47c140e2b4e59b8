"""The ``building_engine`` state: stderr line and status records once a second while an engine builds.

The build itself needs a GPU; here the backend factory's ``on_build`` callback is called directly (as
TensorRT's loader does when its cache does not serve) with a real publisher and a real SUB socket.
"""

import io
import json
import time

import zmq

from pipeline.config import ZmqConfig
from pipeline.lifecycle import State
from pipeline.publish.publisher import ZmqPublisher
from pipeline.session.engine_status import EngineBuildStatus
from tests.helpers.procs import free_port

STATE = State.BUILDING_ENGINE


def test_build_is_announced_on_stderr_and_in_status_records():
    ep = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"status.")
    sub.setsockopt(zmq.LINGER, 0)
    try:
        with ZmqPublisher(ZmqConfig(endpoint=ep)) as pub:
            sub.connect(ep)
            time.sleep(0.3)  # slow joiner: the heartbeat repeats anyway, this just saves a beat
            err = io.StringIO()
            status = EngineBuildStatus(["cam7"], pub, interval_s=0.2, stream=err)
            status("missing")
            deadline = time.monotonic() + 5.0
            got = []
            while len(got) < 2 and time.monotonic() < deadline:
                if sub.poll(200):
                    topic, payload = sub.recv_multipart()
                    got.append((topic.decode(), json.loads(payload)))
            status.stop()
        assert "building TensorRT engine (missing)" in err.getvalue()
        assert len(got) == 2, got
        for topic, record in got:
            assert topic == "status.cam7"
            assert record["type"] == "status" and record["state"] == STATE == "building_engine"
        # the heartbeat stopped with the build
        assert not status._thread or not status._thread.is_alive()
    finally:
        sub.close()
        ctx.term()


def test_without_publisher_only_a_line():
    err = io.StringIO()
    status = EngineBuildStatus(["cam0"], None, stream=err)
    status("built for another trt version ('10.3.0', now '10.4.0')")
    status.stop()
    assert err.getvalue().count("\n") == 1 and "another trt version" in err.getvalue()
