"""The web app's pure pieces on tiny inputs: seed tracks, detections, upload checks, the sampled
source, the ``serve:`` config section, route labels."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.config import Config, ServeConfig, override
from pipeline.errors import ConfigError
from pipeline.frames import Frame
from pipeline.lifecycle import State
from pipeline.sources.base import FrameStamper
from pipeline.sources.sampled import SampledSource
from pipeline.web.answers import detection, joint_tracks, mask_png_base64, part_tracks, seed_tracks
from pipeline.web.metrics import route_label
from pipeline.web.uploads import MAX_PIXELS, HttpError, decode_image, is_image_format, probe_video


def part(cid: int, xy: list[float] | None, area: int, state: str = "observed", smoothed=None) -> dict:
    return {"class_id": cid, "centroid": xy, "area_px": area, "state": state, "smoothed": smoothed}


@pytest.mark.parametrize(
    ("records", "tracks"),
    [
        ([], {}),
        ([{"pts_s": 0.5, "parts": [part(1, [1, 2], 10)]}], {"1": [[0.5, 1, 2]]}),
        # the largest observed region stands for its class; smoothed beats raw
        (
            [{"pts_s": 0, "parts": [part(2, [1, 1], 5), part(2, [9, 9], 50, smoothed=[8, 8])]}],
            {"2": [[0.0, 8, 8]]},
        ),
        # an observed region beats a larger coasting track
        (
            [{"pts_s": 0, "parts": [part(3, None, 900, "predicted", [5, 5]), part(3, [1, 1], 10)]}],
            {"3": [[0.0, 1, 1]]},
        ),
        # no timestamps: the frame index
        ([{"pts_s": None, "parts": [part(4, [3, 4], 1)]}] * 2, {"4": [[0.0, 3, 4], [1.0, 3, 4]]}),
    ],
)
def test_seed_tracks(records, tracks):
    assert seed_tracks(records) == tracks


def test_part_tracks_keep_each_track_apart():
    arms = [
        {
            "pts_s": 0.0,
            "parts": [
                {**part(2, [1, 1], 5), "track_id": 7, "name": "arm"},
                {**part(2, [9, 9], 6), "track_id": 8, "name": "arm"},
            ],
        },
        {
            "pts_s": 0.1,
            "parts": [
                {**part(2, [2, 2], 5), "track_id": 7, "name": "arm"},
                {**part(2, None, 0, "predicted", [9, 8]), "track_id": 8, "name": "arm"},
            ],
        },
        {"pts_s": 0.2, "parts": [{**part(3, [4, 4], 5), "track_id": None, "instance": 0, "name": "torso"}]},
    ]
    assert part_tracks(arms) == {
        "7": {"class_id": 2, "name": "arm", "points": [[0.0, 1, 1], [0.1, 2, 2]]},
        "8": {"class_id": 2, "name": "arm", "points": [[0.0, 9, 9], [0.1, 9, 8]]},
        "3.0": {"class_id": 3, "name": "torso", "points": [[0.2, 4, 4]]},
    }


def test_joint_tracks_prefer_smoothed_and_skip_unplaced():
    kps = [
        {"name": "Head", "x": 1, "y": 2, "smoothed": [1.5, 2.5]},
        {"name": "Nose", "x": 3, "y": 4, "smoothed": None},
        {"name": "Hip_L", "x": None, "y": None, "smoothed": None},
    ]
    assert joint_tracks([{"pts_s": 2.0, "keypoints": kps}]) == {
        "Head": [[2.0, 1.5, 2.5]],
        "Nose": [[2.0, 3, 4]],
    }


def test_detection_has_the_seed_layout():
    entry = {"class_id": 1, "name": "head", "box": [1, 2, 3, 4], "centroid": [2.0, 3.0], "area_px": 4}
    d = detection({**entry, "score": 0.9, "instances": 1})
    assert d["box"] == {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4} and d["keypoint"] == {
        "cx": 2.0,
        "cy": 3.0,
    }
    assert (d["class_id"], d["class_name"], d["area_px"]) == (1, "head", 4)


def test_mask_png_round_trips_class_ids():
    ids = np.arange(20, dtype=np.uint8).reshape(4, 5) % 5
    import base64

    img = Image.open(io.BytesIO(base64.b64decode(mask_png_base64(ids))))
    assert np.array_equal(np.asarray(img), ids)


def encoded(ext: str, img: np.ndarray) -> bytes:
    ok, data = cv2.imencode(ext, img)
    assert ok
    return data.tobytes()


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tiff", ".webp"])
def test_images_decode_to_rgb(ext):
    bgr = np.zeros((6, 8, 3), np.uint8)
    bgr[..., 2] = 200  # red in BGR
    rgb = decode_image(encoded(ext, bgr))
    assert rgb.shape == (6, 8, 3) and rgb[..., 0].mean() > 150 and rgb[..., 2].mean() < 50


def test_grey_and_alpha_images_become_rgb():
    assert decode_image(encoded(".png", np.full((4, 4), 9, np.uint8))).shape == (4, 4, 3)
    assert decode_image(encoded(".png", np.full((4, 4, 4), 9, np.uint8))).shape == (4, 4, 3)


@pytest.mark.parametrize(
    ("data", "status"),
    [(b"", 400), (b"GIF89a not really", 400), (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, 400), (b"<svg/>", 400)],
)
def test_undecodable_images_are_400(data, status):
    with pytest.raises(HttpError) as info:
        decode_image(data)
    assert info.value.status == status and info.value.message.startswith("file: ")


def test_a_tiny_file_declaring_huge_pixels_is_413():
    buf = io.BytesIO()
    side = int(MAX_PIXELS**0.5) + 10
    Image.new("1", (side, side)).save(buf, format="PNG")
    with pytest.raises(HttpError) as info:
        decode_image(buf.getvalue())
    assert info.value.status == 413


@pytest.mark.parametrize(
    ("name", "image"),
    [
        ("png_pipe", True),
        ("image2", True),
        ("jpeg_pipe", True),
        ("mov,mp4,m4a,3gp,3g2,mj2", False),
        ("avi", False),
    ],
)
def test_image_demuxers(name, image):
    assert is_image_format(name) is image


def test_probe_reads_the_container(web_media):
    info = probe_video(web_media["clip"])
    assert (info.width, info.height, info.fps, info.frames) == (320, 240, 12.0, 24)
    assert info.duration_s == pytest.approx(2.0, abs=0.1)


def test_probe_refuses_empty_and_text(tmp_path, web_media):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    for path, says in ((empty, "empty upload"), (web_media["text"], "not a video")):
        with pytest.raises(HttpError) as info:
            probe_video(path)
        assert info.value.status == 400 and says in info.value.message and str(path) not in info.value.message


class Clock:
    """A file-like source with given timestamps."""

    live = False
    reconnects = 0
    timestamp_repairs = 0
    description = "clock"

    def __init__(self, pts: list[float]) -> None:
        self.source_id, self.state, self.pts = "c", State.STARTING, pts

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        stamper = FrameStamper("c")
        for t in self.pts:
            yield stamper.stamp(np.zeros((2, 2, 3), np.uint8), t)


@pytest.mark.parametrize(
    ("pts", "fps", "kept"),
    [
        ([i / 25 for i in range(26)], 5.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        ([i / 10 for i in range(10)], 100.0, [i / 10 for i in range(10)]),  # faster than the video: all
        ([0.0, 0.1, 5.0, 5.1, 5.3], 4.0, [0.0, 5.0, 5.3]),  # a gap: count again from the frame after it
    ],
)
def test_sampled_source_keeps_one_frame_per_interval(pts, fps, kept):
    frames = list(SampledSource(Clock(pts), fps).frames(threading.Event()))
    assert [f.meta.pts_s for f in frames] == pytest.approx(kept)
    assert [f.meta.seq for f in frames] == list(range(len(kept)))  # renumbered: no drops reported


def test_serve_config_defaults_and_rules():
    serve = Config().serve
    assert (serve.host, serve.port, serve.max_image_mb, serve.max_video_mb) == (
        "127.0.0.1",
        8000,
        50.0,
        2048.0,
    )
    cfg = override(Config(), "serve.zmq", ["tcp://127.0.0.1:5555"], "--zmq")
    assert cfg.serve.zmq == ("tcp://127.0.0.1:5555",)
    for field, value, says in [
        ("zmq", ["tcp://a:1", "tcp://a:1"], "listed twice"),
        ("zmq", ["nonsense"], "zmq"),
        ("jobs", 0, "jobs"),
        ("live_fps", 100.0, "live_fps"),
        ("port", 70000, "port"),
    ]:
        with pytest.raises(ConfigError, match=says):
            ServeConfig(**{field: value})


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/jobs/abc", "/jobs/{id}"),
        ("/jobs/abc/files/csv", "/jobs/{id}/files/{kind}"),
        ("/jobs", "/jobs"),
        ("/live/cam0/frame.jpg", "/live/{source}/frame.jpg"),
        ("/etc/passwd", "other"),
    ],
)
def test_route_labels_stay_few(path, label):
    assert route_label(path) == label
