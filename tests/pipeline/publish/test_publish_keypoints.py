"""Keypoints over ZeroMQ (real sockets on 127.0.0.1): the ``parts.*`` record carries them and matches
the schema; the ``frame.*`` JPEG of the run's overlay renderer shows the skeleton."""

import json

import cv2
import numpy as np

from pipeline.config import Config, ZmqConfig
from pipeline.contract.keypoints import NYCU22
from pipeline.frames import Keypoint, PoseEstimate
from pipeline.publish.publisher import ZmqPublisher
from pipeline.session.build import overlay_renderer
from tests.helpers.media import make_result
from tests.helpers.schema import validate_record
from tests.helpers.zmq_helpers import endpoint, handshake, sub_socket

H, W = 240, 320


def leg(name_knee: str, name_ankle: str, x: float) -> list[Keypoint]:
    knee, ankle = NYCU22.index(name_knee), NYCU22.index(name_ankle)
    return [
        Keypoint(knee, name_knee, x, 60.0, 0.9, "observed", (x, 60.0), (0.0, 0.0), (2.0, 2.0)),
        Keypoint(ankle, name_ankle, x, 180.0, 0.8, "observed", (x, 180.0), (0.0, 0.0), (2.0, 2.0)),
    ]


def test_keypoints_in_the_record_and_the_frame_message(ctx):
    pose = PoseEstimate(
        (0.0, 0.0, float(W), float(H)),
        "infant-pose",
        NYCU22,
        np.zeros((22, 2), np.float32),
        np.zeros(22, np.float32),
    )
    keypoints = sorted(leg("Knee_R", "Ankle_R", 100.0) + leg("Knee_L", "Ankle_L", 220.0), key=lambda k: k.id)
    result = make_result(np.full((H, W, 3), 60, np.uint8), pose=pose, keypoints=keypoints, privacy="none")
    ep = endpoint()
    cfg = ZmqConfig(endpoint=ep, frames=True, frame_fps=1000.0, jpeg_quality=100)
    with ZmqPublisher(cfg, render=overlay_renderer(Config())) as pub:  # the renderer `run` gives it
        sub = sub_socket(ctx, ep, b"parts.", b"frame.")
        handshake(pub, sub, "parts.ping")
        pub.write(result)
        got = {}
        while len(got) < 2 and sub.poll(5000):
            msg = sub.recv_multipart()
            got[msg[0]] = msg
    record = json.loads(got[b"parts.t"][1])
    validate_record(record)
    assert [k["name"] for k in record["keypoints"]] == ["Knee_R", "Knee_L", "Ankle_R", "Ankle_L"]
    assert record["pose"] == {"box": [0.0, 0.0, 320.0, 240.0], "model": "infant-pose"}
    jpeg = got[b"frame.t"][2]
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    r, g, b = (rgb[120, 100].astype(int)[c] for c in range(3))  # the right shin: magenta
    assert r - g > 80 and b - g > 80, (r, g, b)
    r, g, b = (rgb[120, 220].astype(int)[c] for c in range(3))  # the left shin: cyan
    assert g - r > 80 and b - r > 80, (r, g, b)
    assert np.abs(rgb[120, 160].astype(int) - 60).max() < 8  # between the legs: the frame
