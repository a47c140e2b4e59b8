"""Live views: the hub's bookkeeping on crafted messages, then a real ``run --zmq --zmq-frames``
publisher shown by a real ``serve --zmq``, with a browser that stops reading."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import time
from collections.abc import Iterator

import cv2
import httpx
import numpy as np
import pytest
import websockets

from pipeline.frames import PartInstance
from pipeline.web.live import MAX_SOURCES, SILENT_AFTER_S, LiveHub
from tests.helpers.media import make_result
from tests.helpers.web import Publisher, Server


def parts_message(source: str, seq: int, ts: float, x: float) -> list[bytes]:
    part = PartInstance(1, "head", 0, (0, 0, 10, 10), (x, 5.0), 100, 0.9, track_id=1, smoothed=(x + 0.5, 5.0))
    result = make_result(
        np.zeros((20, 40, 3), np.uint8), parts=[part], seq=seq, mono=ts - 1.7e9, source_id=source
    )
    return [f"parts.{source}".encode(), result.record_json]


def status_message(source: str, state: str) -> list[bytes]:
    body = {
        "schema": 1,
        "type": "status",
        "source": source,
        "ts": 1.0,
        "state": state,
        "fps": {"capture": 25.0},
    }
    return [f"status.{source}".encode(), json.dumps(body).encode()]


@pytest.fixture
def hub() -> Iterator[LiveHub]:
    h = LiveHub([], history_s=2.0)
    yield h
    h.close()


def test_the_hub_keeps_state_rate_latency_and_a_window_of_positions(hub):
    t0 = 1.7e9 + 100.0
    for i in range(30):  # 10 records a second for 3 s of capture time
        assert hub.accept("tcp://a:1", parts_message("cam0", i, t0 + i / 10, x=float(i)), now=50.0 + i / 10)
    assert hub.accept("tcp://a:1", status_message("cam0", "running"), now=53.0)
    view = hub.view("cam0", now=53.0)
    assert view["state"] == "running" and view["records"] == 30
    assert view["fps"] == pytest.approx(10.0, abs=0.6)  # arrivals of the last 2 s
    assert view["latency_ms"] is not None
    ts = [s[0] for s in view["history"]]
    assert ts[-1] - ts[0] <= 2.0 and len(ts) in (20, 21)  # history_s of capture time
    assert view["history"][-1][1] == [[1, 29.5, 5.0]]  # the smoothed centroid
    newer = hub.view("cam0", since_ts=ts[-3], now=53.0)["history"]
    assert [s[0] for s in newer] == ts[-2:]


def test_a_source_without_messages_turns_silent(hub):
    hub.accept("tcp://a:1", status_message("cam0", "running"), now=10.0)
    assert hub.view("cam0", now=10.0 + SILENT_AFTER_S - 0.1)["state"] == "running"
    assert hub.view("cam0", now=10.0 + SILENT_AFTER_S + 0.1)["state"] == "silent"


@pytest.mark.parametrize(
    "message",
    [
        [],
        [b"parts.cam0"],
        [b"parts.cam0", b"not json"],
        [b"parts.cam0", b'{"schema": 1}'],  # not a parts record
        [b"frame.cam0", b"{}"],  # a frame without its image
        [b"other.cam0", b"{}"],
        [b"parts.", b"{}"],
        [b"frame.cam0", b'{"seq": "x", "width": 2, "height": 2}', b"jpeg"],
        [b"frame.cam0", b'{"seq": 1, "width": [], "height": 2}', b"jpeg"],
    ],
)
def test_malformed_messages_are_counted_and_skipped(hub, message):
    assert not hub.accept("tcp://a:1", message)
    assert hub.rejected == 1
    assert all(hub.frame(s) is None for s in hub.source_ids())  # nothing of it kept


def test_a_record_with_a_bad_timestamp_is_skipped(hub):
    message = parts_message("cam0", 0, 1.7e9, 1.0)
    record = json.loads(message[1])
    record["capture_ts"] = "soon"
    assert not hub.accept("tcp://a:1", [message[0], json.dumps(record).encode()])
    assert hub.rejected == 1 and hub.view("cam0")["history"] == []


def test_the_hub_keeps_at_most_max_sources(hub):
    for i in range(MAX_SOURCES + 5):
        hub.accept("tcp://a:1", status_message(f"s{i}", "running"))
    assert len(hub.source_ids()) == MAX_SOURCES and hub.rejected == 5


# -- a real publisher, a real server, browsers that read and one that stops -------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Publisher]]:
    from trainer.synth.video import write_video

    folder = tmp_path_factory.mktemp("live")
    clip = folder / "clip.mp4"
    write_video(clip, frames=50, fps=10, width=320, height=240, seed=2)
    with (
        Publisher(clip, "--features", "6", duration_s=120) as publisher,
        Server("--zmq", publisher.endpoint, "--live-fps", "4", log_dir=folder) as server,
    ):
        yield server, publisher


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_live_movement_features_reach_the_view(live):
    """``run --features 6``: every 5 s a ``features.cam0`` message from the last 6 s of records, shown per
    limb on the live card (here from part centroids or joints, whichever the publisher has)."""
    server, _ = live
    with server.client() as c:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            (source,) = c.get("/live").json()["sources"] or [{}]
            if source.get("features"):
                break
            time.sleep(0.5)
        features = source["features"]
    assert features["window_s"] == 6.0 and features["points_from"] in ("joints", "parts")
    assert set(features["limbs"]) == {"arm_l", "arm_r", "leg_l", "leg_r"}
    speeds = [v["speed_median"] for v in features["limbs"].values()]
    assert any(isinstance(v, float) and v > 0 for v in speeds), features  # the infant moves


def test_the_hub_keeps_the_newest_features_and_refuses_malformed_ones(hub):
    body = {"schema": 1, "source": "cam0", "start_ts": 1.0, "end_ts": 7.0, "window_s": 6.0, "frames": 60}
    body |= {"points_from": "joints", "features": {"leg_l_speed_median": 0.41234, "leg_asymmetry": None}}
    assert hub.accept("tcp://a:1", [b"features.cam0", json.dumps(body).encode()], now=1.0)
    view = hub.view("cam0", now=1.0)["features"]
    assert view["limbs"]["leg_l"]["speed_median"] == 0.412 and view["limbs"]["arm_r"]["dominant_hz"] is None
    assert view["asymmetry"] == {"arm": None, "leg": None}
    bad = body | {"features": [1, 2]}
    assert not hub.accept("tcp://a:1", [b"features.cam0", json.dumps(bad).encode()], now=2.0)
    assert hub.view("cam0", now=2.0)["features"] == view


def wait_running(client: httpx.Client, deadline_s: float = 60.0) -> dict:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        sources = client.get("/live").json()["sources"]
        if sources and sources[0]["state"] == "running" and sources[0]["frame_seq"] >= 0:
            return sources[0]
        time.sleep(0.3)
    raise TimeoutError("the live source never showed running with a frame")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_live_view_shows_frames_state_and_history(live):
    server, _ = live
    with server.client() as c:
        source = wait_running(c)
        assert source["source"] == "cam0" and source["frame_size"] == [320, 240]
        jpeg = c.get("/live/cam0/frame.jpg")
        assert jpeg.headers["content-type"] == "image/jpeg"
        assert cv2.imdecode(np.frombuffer(jpeg.content, np.uint8), cv2.IMREAD_COLOR).shape == (240, 320, 3)
        assert c.get("/live/nosuch/frame.jpg").status_code == 404
        assert c.get("/healthz").json()["live"] == {"cam0": "running"}

    async def read(n: int) -> list[dict]:
        async with websockets.connect(f"{server.ws_url}/live/ws") as ws:
            return [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(n)]

    t0 = time.monotonic()
    messages = asyncio.run(read(8))
    rate = 7 / (time.monotonic() - t0)
    assert rate < 4 * 1.5  # --live-fps 4: never faster (the first message comes at once)
    first = messages[0]["sources"][0]
    assert first["state"] == "running" and first["history"] and "frame_jpeg_base64" in first
    img = cv2.imdecode(
        np.frombuffer(base64.b64decode(first["frame_jpeg_base64"]), np.uint8), cv2.IMREAD_COLOR
    )
    assert img.shape == (240, 320, 3)
    later = [m["sources"][0] for m in messages[1:]]
    assert all(s["history"] == [] or s["history"][0][0] > first["history"][-1][0] for s in later)  # only new
    assert sum(len(s["history"]) for s in later) > 0


def parts_received(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    return float(re.search(r'infant_stream_web_live_messages_total\{kind="parts"\} (\S+)', text).group(1))


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_browser_that_stops_reading_slows_nothing(live):
    """A WebSocket client that completes the handshake and then never reads (a frozen tab, a dead
    link): its TCP buffers fill, the server's sender for it waits — and nothing else does: the hub
    still receives every record the publisher sends (10/s), another browser still gets its updates."""
    server, _ = live
    with server.client() as c:
        wait_running(c)
        stalled = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        key = base64.b64encode(b"0123456789abcdef").decode()
        stalled.sendall(
            (
                f"GET /live/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        assert b"101" in stalled.recv(12)  # switched; from now on it reads nothing
        try:
            before, t0 = parts_received(c), time.monotonic()

            async def other(n: int) -> int:
                async with websockets.connect(f"{server.ws_url}/live/ws") as ws:
                    return sum(1 for _ in [await asyncio.wait_for(ws.recv(), 10) for _ in range(n)])

            assert asyncio.run(other(12)) == 12  # 3 s at 4 updates/s, while the other one is stalled
            rate = (parts_received(c) - before) / (time.monotonic() - t0)
            assert rate > 10 * 0.6, rate  # the publisher's 10 records/s keep arriving
        finally:
            stalled.close()
        assert c.get("/health").status_code == 200
