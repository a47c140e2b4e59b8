"""A folder of images as a batch, through the real CLI: records and CSV rows name their image file,
stills are independent (no track carried from one image into the next, nothing ``predicted``), a
``--sequence`` folder is tracked like video frames, and ``--record``/``--record-raw`` write one image per
input, each of its own size (the head pixelated like in any recording)."""

import csv
import json
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import SHARED_MEDIA
from tests.helpers.bounds import assert_records_in_frame
from tests.helpers.media import BLUE, COLOUR_CLASS, GREEN, scene

TIMEOUT_S = 120
MODEL = Path(__file__).resolve().parents[3] / "models" / "infant-seg.onnx"
TORSO_BOX = (40, 30, 80, 70)
"""The torso (blue) is at the same place in the first three images: a tracker that carries tracks
across images matches it three times, then coasts it into the fourth image, where it is gone."""


def red_gradient(h: int, w: int) -> np.ndarray:
    """A head (red) with a horizontal gradient, so pixelation (uniform 16 px cells) is visible."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 0] = np.linspace(150, 255, w, dtype=np.uint8)[None, :]
    return img


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    params = [cv2.IMWRITE_JPEG_QUALITY, 98] if path.suffix == ".jpg" else []
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    return path


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Four PNG/JPEG images of four sizes: (name, (width, height)) = 0001.png 160×120 (torso, arm,
    a textured head), 0002.jpg 128×96 (torso), 0003.png 200×150 (torso, arm), 0004.png 120×160 (arm)."""
    d = tmp_path / "frames"
    d.mkdir()
    first = scene(120, 160, [(BLUE, TORSO_BOX), (GREEN, (100, 60, 140, 100))])
    first[80:112, 8:56] = red_gradient(32, 48)
    write_rgb(d / "0001.png", first)
    write_rgb(d / "0002.jpg", scene(96, 128, [(BLUE, TORSO_BOX)]))
    write_rgb(d / "0003.png", scene(150, 200, [(BLUE, TORSO_BOX), (GREEN, (120, 90, 180, 130))]))
    write_rgb(d / "0004.png", scene(160, 120, [(GREEN, (20, 100, 60, 140))]))
    return d


SIZES = {"0001.png": (160, 120), "0002.jpg": (128, 96), "0003.png": (200, 150), "0004.png": (120, 160)}


def run(cmd: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*cmd, "run", *args, "--no-progress", "--no-display"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def records_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_stills_are_independent_and_records_name_their_files(
    infant_stream, colour_model_path, folder, tmp_path
):
    """Before, the torso of images 1-3 was one track, coasting as ``predicted`` into image 4."""
    jsonl, table = tmp_path / "out.jsonl", tmp_path / "out.csv"
    run(
        infant_stream,
        *("--source", str(folder), "--model", str(colour_model_path), "--min-area", "50"),
        *("--jsonl", str(jsonl), "--csv", str(table)),
    )
    records = records_of(jsonl)
    assert [(r["width"], r["height"]) for r in records] == list(SIZES.values())
    assert_records_in_frame(records)
    # stills: every part is observed, starts a new track at rest, and no track spans two images
    parts = [p for r in records for p in r["parts"]]
    assert parts and [p["state"] for p in parts] == ["observed"] * len(parts)
    torsos = [[p for p in r["parts"] if p["class_id"] == COLOUR_CLASS[BLUE]] for r in records]
    assert [len(t) for t in torsos] == [1, 1, 1, 0]
    ids = [p["track_id"] for p in parts]
    assert len(set(ids)) == len(ids)
    assert all(p["velocity"] == [0.0, 0.0] for p in parts)

    assert [r["image"] for r in records] == [str(folder / name) for name in SIZES]
    with table.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[-1] == "image" and len(rows) == len(parts)
    assert [row["image"] for row in rows] == [r["image"] for r in records for _ in r["parts"]]


def test_stills_are_recorded_one_image_each_of_its_own_size(
    infant_stream, colour_model_path, folder, tmp_path
):
    overlay, raw = tmp_path / "overlay", tmp_path / "raw"
    run(
        infant_stream,
        *("--source", str(folder), "--model", str(colour_model_path), "--min-area", "50"),
        *("--record", str(overlay), "--record-raw", str(raw)),
    )
    for out in (overlay, raw):
        assert sorted(p.name for p in out.iterdir()) == sorted(SIZES)
        for name, (w, h) in SIZES.items():
            assert read_rgb(out / name).shape == (h, w, 3), (out, name)
    first, raw_first = read_rgb(folder / "0001.png"), read_rgb(raw / "0001.png")
    assert (raw_first[:, 80:] == first[:, 80:]).all()  # only the head's neighbourhood is touched
    assert len(np.unique(first[80:96, 16:48, 0])) > 16  # the input head is a gradient ...
    for x0 in (16, 32):  # ... the raw recording's head a mosaic of uniform 16 px cells
        cell = raw_first[80:96, x0 : x0 + 16]
        assert (cell == cell[0, 0]).all()
    overlay_first = read_rgb(overlay / "0001.png")
    inner = overlay_first[103:110, 36:46]  # inside one mosaic cell, clear of the box and the markers
    assert (inner == inner[0, 0]).all()  # pixelated in the overlay too


def test_stills_recorded_as_one_video_are_letterboxed_not_squashed(
    infant_stream, colour_model_path, folder, tmp_path
):
    """``--record x.mp4``: every image in the first one's 160×120, aspect kept. Before, the portrait
    120×160 image was stretched to the full width."""
    write_rgb(folder / "0004.png", scene(160, 120, [(GREEN, (0, 100, 40, 140))]))  # an arm at the left edge
    mp4 = tmp_path / "overlay.mp4"
    run(infant_stream, *("--source", str(folder), "--model", str(colour_model_path), "--record", str(mp4)))
    with av.open(str(mp4)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert [f.shape for f in frames] == [(120, 160, 3)] * 4
    portrait = frames[3]  # 120×160 scaled by 0.75 to 90×120, centred: black bars at x < 35 and x >= 125
    assert portrait[:, :30].max() < 40 and portrait[:, 130:].max() < 40
    assert portrait[80:100, 40:60, 1].mean() > 100  # the arm, now at x 35..65


def test_sequence_folder_is_tracked_across_images(infant_stream, colour_model_path, folder, tmp_path):
    jsonl = tmp_path / "seq.jsonl"
    run(
        infant_stream,
        *("--source", str(folder), "--sequence", "--model", str(colour_model_path), "--min-area", "50"),
        *("--jsonl", str(jsonl)),
    )
    records = records_of(jsonl)
    assert [r["image"] for r in records] == [str(folder / name) for name in SIZES]
    assert_records_in_frame(records)
    torsos = [[p for p in r["parts"] if p["class_id"] == COLOUR_CLASS[BLUE]] for r in records]
    assert [[p["state"] for p in t] for t in torsos] == [["observed"]] * 3 + [["predicted"]]
    assert len({t[0]["track_id"] for t in torsos}) == 1  # one track through the four images


def test_real_photos_of_different_sizes_keep_their_size(infant_stream, tmp_path):
    """Real photos (basketball1/2 640×480, astronaut 512×512) through the default model. Before, the
    overlay recording squashed every photo into the first one's 512×512."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut.png", "basketball1.png", "basketball2.png"):
        (photos / name).symlink_to(SHARED_MEDIA / name)
    jsonl, overlay = tmp_path / "photos.jsonl", tmp_path / "overlay"
    run(
        infant_stream,
        *("--source", str(photos), "--model", str(MODEL), "--jsonl", str(jsonl), "--record", str(overlay)),
    )
    records = records_of(jsonl)
    assert [Path(r["image"]).name for r in records] == ["astronaut.png", "basketball1.png", "basketball2.png"]
    assert [(r["width"], r["height"]) for r in records] == [(512, 512), (640, 480), (640, 480)]
    assert_records_in_frame(records)
    assert not any(p["state"] == "predicted" for r in records for p in r["parts"])
    ids = [{p["track_id"] for p in r["parts"]} for r in records]
    assert all(ids) and not (ids[0] & ids[1]) and not (ids[1] & ids[2])  # (11 were shared before)
    for r in records:
        name = Path(r["image"]).name
        assert read_rgb(overlay / name).shape == (r["height"], r["width"], 3), name
