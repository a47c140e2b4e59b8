"""The web API against a real ``infant-stream serve`` (uvicorn on a free port, the shipped models):
the seed app's field names, every endpoint, bad uploads, jobs to the end and cancelled.

One server for the module (``--max-image-mb 1 --max-video-mb 2`` so "too large" is cheap to send);
its temporary folder (``TMPDIR``) is inspected to prove uploads and results are removed.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

from pipeline.contract.classes import CLASS_COLORS_RGB, CLASS_NAMES
from tests.helpers.web import Server, wait_job
from tests.pipeline.web.conftest import CLIP_FPS, CLIP_FRAMES

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs = tmp_path_factory.mktemp("serve-logs")
    tmp = tmp_path_factory.mktemp("serve-tmp")
    with Server("--max-image-mb", "1", "--max-video-mb", "2", log_dir=logs, tmp_dir=tmp) as s:
        yield s


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def job_folders(server: Server) -> list[Path]:
    """Every job folder under the server's temporary folder (uploads and results live there)."""
    assert server.tmp_dir is not None
    return [p for root in server.tmp_dir.glob("infant-stream-serve-*") for p in root.iterdir()]


def upload(path: Path, name: str | None = None) -> dict[str, tuple[str, bytes]]:
    return {"file": (name or path.name, path.read_bytes())}


def png(b64: str) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_UNCHANGED)


# -- health ----------------------------------------------------------------------------------------


def test_health_has_the_seed_fields(client):
    body = client.get("/health").json()
    assert body["model_loaded"] is True
    assert "infant-seg.onnx" in body["message"]
    config = body["config"]
    assert {"num_classes", "image_size", "video_max_frames", "video_fps", "model_path"} <= set(config)
    assert config["num_classes"] == 5
    assert config["class_names"] == list(CLASS_NAMES)
    assert len(config["keypoint_names"]) == 22
    assert config["max_image_mb"] == 1.0 and config["max_video_mb"] == 2.0


def test_healthz_and_metrics(client):
    client.get("/health")
    healthz = client.get("/healthz")
    assert healthz.status_code == 200 and healthz.json()["status"] == "ok"
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'infant_stream_web_requests_total{code="200",route="/health"}' in metrics.text
    assert "infant_stream_web_jobs{" in metrics.text


# -- images ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["still", "jpeg"])
def test_analyze_image_answers_with_the_seed_fields(client, web_media, kind):
    r = client.post("/analyze_image", files=upload(web_media[kind]))
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert body["num_classes"] == 5 and body["image_size"] == [192, 192]
    assert body["width"] == 320 and body["height"] == 240
    assert 0 < body["runtime_ms"] <= body["server_ms"]
    names = {d["class_name"] for d in body["detections"]}
    assert {"head", "torso"} <= names, names  # a synthetic infant the shipped model sees
    for d in body["detections"]:
        assert set(d) >= {"class_id", "class_name", "box", "keypoint", "area_px"}
        box, kp = d["box"], d["keypoint"]
        assert 0 <= box["xmin"] < box["xmax"] <= 320 and 0 <= box["ymin"] < box["ymax"] <= 240
        assert box["xmin"] <= kp["cx"] < box["xmax"] and box["ymin"] <= kp["cy"] < box["ymax"]
        assert d["area_px"] > 0 and CLASS_NAMES[d["class_id"]] == d["class_name"]
    assert body["instances"] and all(p["class_id"] in (1, 2, 3, 4) for p in body["instances"])
    assert len(body["keypoints"]) > 0 and body["pose"]["model"] == "infant-pose"
    assert body["privacy"] in ("head", "frame")  # fail closed: never "none" by default


def test_mask_png_holds_class_ids_and_label_colours(client, web_media):
    body = client.post("/analyze_image", files=upload(web_media["still"])).json()
    img = Image.open(io.BytesIO(base64.b64decode(body["mask_png_base64"])))
    assert img.mode == "P" and img.size == (320, 240)
    ids = np.asarray(img)
    areas = {d["class_id"]: d["area_px"] for d in body["detections"]}
    for cid, area in areas.items():
        assert (ids == cid).sum() == area  # the mask and the detections agree pixel for pixel
    palette = np.asarray(img.getpalette()[: 3 * len(CLASS_COLORS_RGB)]).reshape(-1, 3)
    assert [tuple(c) for c in palette] == [tuple(c) for c in CLASS_COLORS_RGB]


def test_overlay_png_is_the_frame_with_privacy_applied(client, web_media):
    body = client.post("/analyze_image", files=upload(web_media["still"])).json()
    overlay = png(body["overlay_png_base64"])
    assert overlay.shape == (240, 320, 3)
    raw = cv2.imread(str(web_media["still"]))
    head = next(d["box"] for d in body["detections"] if d["class_name"] == "head")
    crop = (slice(head["ymin"], head["ymax"]), slice(head["xmin"], head["xmax"]))
    # the head region of the overlay is a mosaic, not the face as uploaded
    assert np.abs(overlay[crop].astype(int) - raw[crop].astype(int)).mean() > 10
    assert overlay[crop].std() < raw[crop].std() + 40


@pytest.mark.parametrize(
    ("files", "status", "says"),
    [
        ({"file": ("x.png", b"")}, 400, "file: empty upload"),
        ("text", 400, "file: not an image"),
        ("clip", 400, "file: not an image"),  # a video sent as an image
        ({"other": ("x.png", b"abc")}, 422, "file: Field required"),
        ({"file": ("big.png", b"\x89PNG" + b"\0" * (1024 * 1024 + 10))}, 413, "1 MiB limit"),
    ],
)
def test_bad_images_get_one_line_errors(client, web_media, files, status, says):
    if isinstance(files, str):
        files = upload(web_media[files])
    r = client.post("/analyze_image", files=files)
    assert r.status_code == status, r.text[:300]
    error = r.json()["error"]
    assert says in error and "\n" not in error
    assert "/" not in error.replace("file:", "")  # no server or client path in the message


def test_a_decompression_bomb_is_refused_before_decoding(client):
    buf = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buf, format="PNG")  # 144 Mpx in a few KiB
    r = client.post("/analyze_image", files={"file": ("bomb.png", buf.getvalue())})
    assert r.status_code == 413 and "megapixels" in r.json()["error"]


# -- /analyze_video --------------------------------------------------------------------------------


def test_analyze_video_runs_every_frame_with_tracks(client, web_media):
    r = client.post("/analyze_video", files=upload(web_media["clip"]))
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert body["sampled_frames"] == CLIP_FRAMES
    assert body["frame_timestamps_s"] == pytest.approx([i / CLIP_FPS for i in range(CLIP_FRAMES)], abs=1e-3)
    assert body["runtime_ms_total"] > 0 and body["num_classes"] == 5
    assert png(body["first_overlay_png_base64"]).shape == (240, 320, 3)
    tracks = body["tracks"]
    assert {"1", "3"} <= set(tracks)  # head and torso, keyed by class id as text
    for points in tracks.values():
        ts = [p[0] for p in points]
        assert ts == sorted(ts) and all(0 <= x < 320 and 0 <= y < 240 for _, x, y in points)
    assert body["keypoint_tracks"]["Head"]
    per_track = body["part_tracks"]
    assert {t["class_id"] for t in per_track.values()} >= {1, 3}
    assert sum(len(t["points"]) for t in per_track.values() if t["class_id"] == 1) >= CLIP_FRAMES


def test_analyze_video_samples_at_the_asked_rate(client, web_media):
    body = client.post("/analyze_video?fps=3", files=upload(web_media["clip"])).json()
    assert body["frame_timestamps_s"] == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0, 4 / 3, 5 / 3], abs=0.05)
    assert body["sampled_frames"] == 6


@pytest.mark.parametrize(
    ("kind", "query", "status", "says"),
    [
        ("text", "", 400, "file: not a video"),
        ("still", "", 400, "file: an image, not a video"),
        ("truncated", "", 422, "file: file ends early"),
        ("clip", "?fps=-1", 422, "fps: "),
    ],
)
def test_bad_videos_get_one_line_errors(client, web_media, server, kind, query, status, says):
    r = client.post(f"/analyze_video{query}", files=upload(web_media[kind]))
    assert r.status_code == status, r.text[:300]
    assert says in r.json()["error"]
    assert job_folders(server) == []  # the upload is gone


def test_too_large_video_is_refused_while_streaming(client, server):
    big = b"\0" * (2 * 1024 * 1024 + 1)
    r = client.post("/analyze_video", files={"file": ("big.mp4", big)})
    assert r.status_code == 413 and "2 MiB limit" in r.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while the body streams
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n'
        for _ in range(40):
            yield b"\0" * (128 * 1024)
        yield b"\r\n--xyz--\r\n"

    r = client.post("/jobs", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413, r.text[:300]
    assert job_folders(server) == []


# -- jobs ------------------------------------------------------------------------------------------


def test_a_job_runs_to_the_end_and_offers_its_files(client, web_media, server, tmp_path):
    r = client.post("/jobs", files=upload(web_media["clip"]))
    assert r.status_code == 202, r.text[:300]
    job = r.json()
    assert job["state"] in ("queued", "running") and r.headers["location"] == f"/jobs/{job['id']}"
    assert job["video"] == {"width": 320, "height": 240, "fps": CLIP_FPS, "frames": CLIP_FRAMES}
    end = wait_job(client, job["id"])
    assert end["state"] == "done", end
    assert end["frames_done"] == end["frames_total"] == CLIP_FRAMES and end["fps"] > 0
    assert set(end["links"]) == {"jsonl", "csv", "overlay"}
    assert any(j["id"] == job["id"] for j in client.get("/jobs").json()["jobs"])

    lines = client.get(end["links"]["jsonl"]).text.splitlines()
    assert len(lines) == CLIP_FRAMES
    (tmp_path / "results.jsonl").write_text("\n".join(lines) + "\n")  # validated against the schema
    rows = list(csv.DictReader(io.StringIO(client.get(end["links"]["csv"]).text)))
    assert {r["name"] for r in rows} >= {"head", "torso"}
    video = client.get(end["links"]["overlay"])
    assert video.headers["content-type"] == "video/mp4" and video.content[4:8] == b"ftyp"
    assert "attachment" in video.headers["content-disposition"]
    (tmp_path / "overlay.mp4").write_bytes(video.content)
    import av

    with av.open(str(tmp_path / "overlay.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == CLIP_FRAMES

    tracks = client.get(f"/jobs/{job['id']}/tracks").json()
    assert tracks["frames"] == CLIP_FRAMES and {"1", "3"} <= set(tracks["tracks"])
    assert {t["class_id"] for t in tracks["part_tracks"].values()} >= {1, 3}

    assert client.delete(f"/jobs/{job['id']}").json() == {"deleted": job["id"]}
    assert client.get(f"/jobs/{job['id']}").status_code == 404
    assert job_folders(server) == []


def test_a_cancelled_job_leaves_no_files(client, server, tmp_path):
    from trainer.synth.video import write_video

    long_clip = tmp_path / "long.mp4"
    write_video(long_clip, frames=300, fps=25, width=320, height=240, seed=4)
    job = client.post("/jobs", files=upload(long_clip)).json()
    deadline = time.monotonic() + 60
    while client.get(f"/jobs/{job['id']}").json()["frames_done"] < 3:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)
    assert client.get(f"/jobs/{job['id']}/files/jsonl").status_code == 409  # running: nothing served
    assert len(job_folders(server)) == 1 and any(job_folders(server)[0].iterdir())
    r = client.delete(f"/jobs/{job['id']}")
    assert r.status_code == 200
    assert job_folders(server) == []
    assert client.get(f"/jobs/{job['id']}").status_code == 404


def test_a_truncated_video_job_fails_but_keeps_what_it_wrote(client, web_media):
    job = client.post("/jobs", files=upload(web_media["truncated"])).json()
    end = wait_job(client, job["id"])
    assert end["state"] == "failed" and "file ends early" in end["error"]
    assert "/" not in end["error"].replace("file:", "")
    lines = client.get(end["links"]["jsonl"]).text.splitlines()
    assert len(lines) == end["frames_done"] > 0  # the frames before the damage are kept
    client.delete(f"/jobs/{job['id']}")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/jobs/0123456789abcdef0123456789abcdef", 404),
        ("/jobs/../../etc/passwd", 404),
        ("/jobs/x/files/y", 404),
    ],
)
def test_unknown_jobs_and_files(client, path, status):
    r = client.get(path)
    assert r.status_code == status and "error" in r.json()


def test_the_temporary_folder_goes_when_the_server_stops(tmp_path, web_media):
    with Server(log_dir=tmp_path, tmp_dir=tmp_path) as s, s.client() as c:
        job = c.post("/jobs", files=upload(web_media["clip"])).json()
        assert wait_job(c, job["id"])["state"] == "done"
        assert list(tmp_path.glob("infant-stream-serve-*/*/results.jsonl"))
    assert s.returncode == 143  # SIGTERM, handled: a clean exit after cleaning up
    assert list(tmp_path.glob("infant-stream-serve-*")) == []
    assert "Traceback" not in s.stderr.read_text()


def test_uploads_are_not_logged(server, client, web_media):
    client.post("/analyze_image", files=upload(web_media["still"], name="baby-anna-2026.png"))
    client.post("/analyze_image", files=upload(web_media["text"], name="secret-name.png"))
    log = server.stderr.read_text()
    assert "baby-anna" not in log and "secret-name" not in log and "POST /analyze_image" not in log


def test_json_of_every_error_is_one_object(client):
    r = client.post("/jobs/abc")  # a method the route does not have
    assert r.status_code == 405 and json.loads(r.text) == {"error": "Method Not Allowed"}
