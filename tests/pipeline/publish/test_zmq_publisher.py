"""ZmqPublisher with real sockets on 127.0.0.1: errors, warnings, never blocking, status heartbeats.

Every wait below has an explicit deadline (plus pytest-timeout).
"""

import json
import logging
import re
import threading
import time

import cv2
import numpy as np
import pytest
import zmq

from pipeline.config import PrivacyConfig, ZmqConfig
from pipeline.errors import ConfigError
from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.lifecycle import HealthStatus
from pipeline.observe.health import HealthReporter
from pipeline.publish.publisher import ZmqPublisher, is_loopback
from pipeline.render.privacy import protect
from tests.helpers.media import SyntheticCamera, colour_pipeline, make_result
from tests.helpers.procs import free_port
from tests.helpers.schema import validate_record
from tests.helpers.zmq_helpers import endpoint, handshake, sub_socket


def test_round_trip_multipart_and_counters(ctx):
    ep = endpoint()
    with ZmqPublisher(ZmqConfig(endpoint=ep)) as pub:
        sub = sub_socket(ctx, ep, b"parts.")
        handshake(pub, sub, "parts.ping")
        for i in range(5):
            pub.publish("parts.cam0", json.dumps({"seq": i}).encode(), b"extra")
        got = []
        while len(got) < 5 and sub.poll(2000):
            got.append(sub.recv_multipart())
    assert [g[0] for g in got] == [b"parts.cam0"] * 5
    assert [json.loads(g[1])["seq"] for g in got] == list(range(5))
    assert all(g[2] == b"extra" for g in got)
    assert pub.dropped == 0 and pub.stats()["sent"] >= 5


def test_port_in_use_is_one_line_config_error():
    ep = endpoint()
    with ZmqPublisher(ZmqConfig(endpoint=ep)), pytest.raises(ConfigError) as err:
        ZmqPublisher(ZmqConfig(endpoint=ep))
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"--zmq {ep}: cannot bind") and "in use" in text


@pytest.mark.parametrize(
    ("ep", "reason"),
    [
        ("tcp://127.0.0.1:notaport", "the port must be 1..65535"),
        ("tcp://127.0.0.1:99999", "the port must be 1..65535"),  # ZeroMQ would bind a random port
        ("nonsense", "must be tcp://HOST:PORT, ipc://PATH or inproc://NAME"),
        ("udp://127.0.0.1:5555", "must be tcp://HOST:PORT, ipc://PATH or inproc://NAME"),
    ],
)
def test_malformed_endpoint_is_refused_by_the_config(ep, reason):
    with pytest.raises(ConfigError, match=f"^ZmqConfig.endpoint: {re.escape(reason)}, got ") as err:
        ZmqConfig(endpoint=ep)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("ep", "reason"),
    [
        ("tcp://192.0.2.1:5555", "Cannot assign"),
        ("", "no endpoint"),
    ],
)
def test_bad_endpoint(ep, reason, caplog):
    with caplog.at_level(logging.WARNING), pytest.raises(ConfigError, match=reason) as err:
        ZmqPublisher(ZmqConfig(endpoint=ep))
    assert "\n" not in str(err.value) and str(err.value).startswith("--zmq")
    assert not caplog.records  # no "reachable from other machines" warning for what never bound


def test_connect_mode_does_not_need_a_peer(ctx):
    """``connect`` (to a broker) succeeds without a listener; messages queue in libzmq or drop."""
    ep = endpoint()
    with ZmqPublisher(ZmqConfig(endpoint=ep, connect=True, send_hwm=1)) as pub:
        for _ in range(10):
            pub.publish("parts.x", b"{}")
        end = time.monotonic() + 5
        while pub.sent + pub.dropped < 10 and time.monotonic() < end:
            time.sleep(0.01)
        assert pub.sent + pub.dropped == 10


@pytest.mark.parametrize(
    ("ep", "loopback"),
    [
        ("tcp://127.0.0.1:5555", True),
        ("tcp://localhost:5555", True),
        ("tcp://[::1]:5555", True),
        ("tcp://127.0.0.2:5555", True),
        ("ipc:///tmp/x.sock", True),
        ("tcp://*:5555", False),
        ("tcp://0.0.0.0:5555", False),
        ("tcp://192.168.1.10:5555", False),
        ("tcp://eth0:5555", False),
        ("tcp://example.org:5555", False),
    ],
)
def test_is_loopback(ep, loopback):
    assert is_loopback(ep) is loopback


def test_non_loopback_bind_warns(caplog):
    port = free_port()
    with caplog.at_level(logging.WARNING, logger="pipeline.publish.publisher"):
        ZmqPublisher(ZmqConfig(endpoint=f"tcp://*:{port}")).close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"tcp://*:{port}" in warnings[0].getMessage()
    assert "not encrypted" in warnings[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pipeline.publish.publisher"):
        ZmqPublisher(ZmqConfig(endpoint=endpoint())).close()
    assert not caplog.records


def test_stalled_subscriber_never_blocks_publish(ctx):
    """A subscriber that never reads: publish() stays instant, libzmq drops for that subscriber."""
    ep = endpoint()
    payload = np.random.default_rng(0).integers(0, 255, 64 * 1024, dtype=np.uint8).tobytes()
    n = 1500  # ~100 MB: far more than socket buffers hold
    with ZmqPublisher(ZmqConfig(endpoint=ep, send_hwm=2), queue_size=64) as pub:
        sub = sub_socket(ctx, ep, rcvhwm=2)
        sub.setsockopt(zmq.RCVBUF, 16384)
        handshake(pub, sub)
        before = pub.sent
        t0 = time.monotonic()
        for i in range(n):
            pub.publish("frame.big", b"{}", payload)
            if i % 32 == 31:  # let the thread keep up, so the sends (not the queue) meet the stall
                end = time.monotonic() + 5
                while pub.stats()["queued"] and time.monotonic() < end:
                    time.sleep(0.001)
        end = time.monotonic() + 5
        while pub.stats()["queued"] and time.monotonic() < end:
            time.sleep(0.001)
        publish_s = time.monotonic() - t0
        sent = pub.sent - before
        assert sent + pub.dropped == n
        assert sent > n / 2
    assert publish_s < 5.0  # ~100 MB sent without ever waiting for the subscriber
    received = 0
    while sub.poll(300):
        sub.recv_multipart()
        received += 1
    assert received < sent / 2, (received, sent)  # dropped inside libzmq for the stalled reader


def test_close_flushes_queued_messages_and_is_idempotent(ctx):
    ep = endpoint()
    pub = ZmqPublisher(ZmqConfig(endpoint=ep))
    sub = sub_socket(ctx, ep, b"parts.")
    handshake(pub, sub, "parts.ping")
    for i in range(200):
        pub.publish("parts.q", str(i).encode())
    t0 = time.monotonic()
    pub.close()
    pub.close()
    assert time.monotonic() - t0 < 2.0
    pub.publish("parts.q", b"after close")  # ignored, no error
    got = []
    while sub.poll(500):
        got.append(int(sub.recv_multipart()[1]))
    assert got == list(range(200))


def test_publish_from_many_threads(ctx):
    ep = endpoint()
    with ZmqPublisher(ZmqConfig(endpoint=ep), queue_size=10_000) as pub:
        sub = sub_socket(ctx, ep, b"t.")
        handshake(pub, sub, "t.ping")

        def burst(k: int) -> None:
            for i in range(100):
                pub.publish(f"t.{k}", str(i).encode())

        threads = [threading.Thread(target=burst, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        per_topic: dict[bytes, list[int]] = {}
        while sum(map(len, per_topic.values())) < 400 and sub.poll(2000):
            topic, body = sub.recv_multipart()
            per_topic.setdefault(topic, []).append(int(body))
    assert {k: v for k, v in per_topic.items()} == {f"t.{k}".encode(): list(range(100)) for k in range(4)}


def test_status_record_carries_publisher_counters(ctx):
    ep = endpoint()
    with ZmqPublisher(ZmqConfig(endpoint=ep)) as pub:
        sub = sub_socket(ctx, ep, b"status.cam0")
        listener = pub.status_listener()
        status = HealthStatus("cam0", "running", {"capture": 10.0}, 2, 40, float("nan"))
        end = time.monotonic() + 5
        while not sub.poll(50) and time.monotonic() < end:
            listener(status)
        topic, body = sub.recv_multipart()
    record = json.loads(body)
    validate_record(record)
    assert topic == b"status.cam0"
    assert record["type"] == "status" and record["state"] == "running" and record["dropped"] == 2
    assert record["latency_p50_ms"] is None
    assert set(record["publisher"]) == {"sent", "dropped", "queued"}
    assert abs(record["ts"] - time.time()) < 10


def test_late_joiner_gets_next_status_within_interval(ctx, colour_model_path):
    backend = OrtBackend(colour_model_path)
    p = colour_pipeline(SyntheticCamera(None, 0.02), backend, [])
    ep = endpoint()
    with ZmqPublisher(ZmqConfig(endpoint=ep)) as pub:
        reporter = HealthReporter(p.counters, interval_s=1.0)
        reporter.listeners.append(pub.status_listener())
        p.start()
        reporter.start()
        try:
            time.sleep(1.7)  # the pipeline has been running (and publishing status) a while
            t0 = time.monotonic()
            sub = sub_socket(ctx, ep, b"status.")
            assert sub.poll(2000), "no status within 2 s"
            waited = time.monotonic() - t0
            record = json.loads(sub.recv_multipart()[1])
        finally:
            reporter.stop()
            p.stop()
            assert p.wait(10)
            p.join()
    assert waited < 1.3
    validate_record(record)
    assert record["source"] == "live0" and record["state"] == "running"
    assert record["fps"]["postprocess"] > 10 and record["publisher"]["sent"] >= 1


@pytest.mark.parametrize("applied", ["frame", "head", "none"])
def test_frames_without_a_renderer_still_get_the_privacy_decision(ctx, applied):
    """``render=None`` sends the captured frame hidden as its decision says, never the frame as is
    (fail closed: a caller that forgets the renderer leaks nothing the record does not state)."""
    img = np.repeat(np.random.default_rng(2).integers(0, 256, (64, 96, 1), dtype=np.uint8), 3, axis=2)
    cm = np.zeros((8, 12), np.uint8)
    cm[1:4, 2:5] = 1
    result = make_result(img, cm, privacy=applied)
    ep = endpoint()
    with ZmqPublisher(ZmqConfig(endpoint=ep, frames=True, frame_fps=1000.0, jpeg_quality=100)) as pub:
        sub = sub_socket(ctx, ep, b"frame.")
        handshake(pub, sub, "frame.ping")
        pub.write(result)
        assert sub.poll(5000), "no frame message"
        _, header, jpeg = sub.recv_multipart()
    got = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    expected = protect(result, PrivacyConfig())
    assert json.loads(header)["seq"] == result.meta.seq
    assert np.abs(got.astype(int) - expected).mean() < 3  # JPEG at quality 100
    if applied != "none":
        assert np.abs(got.astype(int) - img).mean() > 10  # not the frame as captured
