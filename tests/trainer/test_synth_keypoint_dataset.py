"""Tests of the synthetic keypoint datasets (trainer/synth/keypoint_dataset.py, keypoint_formats.py): the NYCU
LabelMe and COCO/SyRIP layouts on real written files, splits by video, determinism, the CLI, and the
keypoints in the demo clip's truth (trainer/synth/video.py)."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.contract.keypoints import COCO17, NYCU22, NYCU_TO_COCO
from pipeline.errors import ConfigError
from trainer.synth import cli
from trainer.synth.body import JOINT_RANGES, Pose
from trainer.synth.dataset import held_out_count
from trainer.synth.joints import frame_keypoints
from trainer.synth.keypoint_dataset import generate_video, split_videos, video_poses, write_keypoints
from trainer.synth.keypoint_formats import KeypointFrame, foreground_box, labelme_document
from trainer.synth.render import make_scene, render
from trainer.synth.video import clip_frames, write_video

SIZES = (96, 128)
LABELME_KEYS = {"version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"}
SHAPE_KEYS = {"label", "points", "group_id", "shape_type", "flags"}


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 videos x 4 frames in both layouts (seed 7; 1 val and 1 test video). Read-only."""
    out = tmp_path_factory.mktemp("kp") / "both"
    write_keypoints(
        out,
        fmt="both",
        videos=5,
        frames_per_video=4,
        seed=7,
        val_fraction=0.2,
        test_fraction=0.2,
        size_range=SIZES,
    )
    return out


def _labelme_files(root: Path) -> list[Path]:
    return sorted(root.glob("*/ann/*.json"))


# ---------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("videos", "fraction", "reserved", "expected"),
    [
        (10, 0.2, 0, 2),
        (10, 0.0, 0, 0),
        (3, 0.1, 0, 1),  # at least one when asked for some
        (1, 0.5, 0, 0),  # never the only video
        (5, 0.2, 1, 1),
        (2, 0.5, 1, 0),  # train keeps the last one
        (10, 0.25, 0, 3),  # rounds half up
    ],
)
def test_held_out_count(videos: int, fraction: float, reserved: int, expected: int) -> None:
    assert held_out_count(videos, fraction, reserved) == expected


def test_split_videos_counts_and_randomness() -> None:
    splits = split_videos(20, 0.1, 0.2, np.random.default_rng(0))
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (14, 2, 4)
    assert splits != split_videos(20, 0.1, 0.2, np.random.default_rng(1))


def test_foreground_box_in_pixel_centre_coordinates() -> None:
    labels = np.zeros((6, 8), np.uint8)
    labels[2:4, 3:7] = 1
    labels[4, 5] = 4
    assert foreground_box(labels) == ((2.5, 1.5, 4.0, 3.0), 9)
    assert foreground_box(np.zeros((3, 3), np.uint8)) == ((0.0, 0.0, 0.0, 0.0), 0)


def test_video_poses_vary_widely() -> None:
    """Across a few videos: all orientations, scales that overflow the frame, joints near both range ends."""
    poses = [p for v in range(12) for _, p in video_poses(np.random.default_rng(v), 320, 240, 10)]
    angles = np.mod([p.orientation for p in poses], 2 * math.pi)
    assert np.histogram(angles, bins=4, range=(0, 2 * math.pi))[0].min() > 0
    scales = np.array([p.scale for p in poses])
    assert scales.max() > 1.8 * scales.min()
    joints = np.stack([p.joints() for p in poses])
    lo = np.array([r[0] for r in JOINT_RANGES.values()])
    hi = np.array([r[1] for r in JOINT_RANGES.values()])
    u = (joints - lo) / (hi - lo)
    assert np.all(u.min(axis=0) < 0.15)
    assert np.all(u.max(axis=0) > 0.85)


def test_generated_frames_match_their_label_maps() -> None:
    frames = list(generate_video(np.random.SeedSequence(3), "004", 3, SIZES))
    assert [f.video for f in frames] == ["004"] * 3
    assert len({f.frame for f in frames}) == 3
    for f in frames:
        h, w = f.image.shape[:2]
        assert max(h, w) in range(SIZES[0], SIZES[1] + 1)
        x, y, bw, bh = f.bbox
        assert 0 < f.area <= bw * bh
        assert min(x, y) >= -0.5
        assert x + bw <= w - 0.5
        assert y + bh <= h - 0.5
        visible = f.nycu.xy[f.nycu.visibility == 2]
        assert np.all((visible[:, 0] >= x) & (visible[:, 0] <= x + bw))
        assert np.all((visible[:, 1] >= y) & (visible[:, 1] <= y + bh))


# ---------------------------------------------------------------- NYCU layout


def test_nycu_layout_is_labelme(both: Path) -> None:
    files = _labelme_files(both)
    assert len(files) == 20
    assert {p.parent.parent.name for p in files} == {"Train", "Valid", "Test"}
    for path in files:
        assert re.fullmatch(r"\d{3}_\d{8}\.json", path.name)
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert set(doc) == LABELME_KEYS | {"infant_stream"}
        assert (doc["version"], doc["flags"], doc["imageData"]) == ("4.5.6", {}, None)
        assert doc["imagePath"] == f"../img/{path.stem}.jpg"
        image = cv2.imread(str(path.parent.parent / "img" / f"{path.stem}.jpg"))
        assert image is not None
        assert image.shape[:2] == (doc["imageHeight"], doc["imageWidth"])
        vis = doc["infant_stream"]["visibility"]
        assert list(vis) == list(NYCU22.names)
        labels = [s["label"] for s in doc["shapes"]]
        assert labels == [n for n in NYCU22.names if vis[n] > 0]  # NYCU order, only v > 0
        for shape in doc["shapes"]:
            assert set(shape) == SHAPE_KEYS
            assert (shape["group_id"], shape["shape_type"], shape["flags"]) == (None, "point", {})
            assert len(shape["points"]) == 1
            x, y = shape["points"][0]
            assert -0.5 <= x < doc["imageWidth"] - 0.5
            assert -0.5 <= y < doc["imageHeight"] - 0.5
        bx, by, bw, bh = doc["infant_stream"]["bbox"]
        assert bx >= -0.5
        assert by >= -0.5
        assert bx + bw <= doc["imageWidth"] - 0.5
        assert by + bh <= doc["imageHeight"] - 0.5
        assert min(bw, bh) > 0


def test_labelme_leaves_out_points_outside_the_frame() -> None:
    pose = Pose(center_x=40.0, center_y=128.0, orientation=0.0, scale=4.0)  # right hand off the image left
    scene = make_scene(np.random.default_rng(0), 320, 256, pose, occluders=False)
    r = render(scene, pose, np.random.default_rng(0))
    nycu, coco = frame_keypoints(pose, scene.shape, r.instances)
    bbox, area = foreground_box(r.labels)
    doc = labelme_document(KeypointFrame("012", 34, r.image, bbox, area, nycu, coco))
    outside = {n for n, v in doc["infant_stream"]["visibility"].items() if v == 0}
    assert {"Wrist_R", "MP_joint_R"} <= outside
    assert [s["label"] for s in doc["shapes"]] == [n for n in NYCU22.names if n not in outside]
    assert doc["imagePath"] == "../img/012_00000034.jpg"
    assert doc["infant_stream"]["bbox"][0] == -0.5  # the body is cut by the image's left edge


def test_nycu_and_coco_agree_and_splits_are_by_video(both: Path) -> None:
    nycu = {p.stem: (p.parent.parent.name, json.loads(p.read_text())) for p in _labelme_files(both)}
    folder = {"train": "Train", "val": "Valid", "test": "Test"}
    seen: dict[str, str] = {}
    for split in ("train", "val", "test"):
        doc = json.loads((both / f"annotations/person_keypoints_{split}_infant.json").read_text())
        for im, ann in zip(doc["images"], doc["annotations"], strict=True):
            stem = Path(im["file_name"]).stem
            nycu_split, labelme = nycu[stem]
            assert nycu_split == folder[split]
            assert seen.setdefault(im["video"], split) == split  # a video never crosses splits
            assert labelme["infant_stream"]["bbox"] == ann["bbox"]
            points = {s["label"]: s["points"][0] for s in labelme["shapes"]}
            vis = labelme["infant_stream"]["visibility"]
            for nycu_name, coco_name in NYCU_TO_COCO.items():
                x, y, v = ann["keypoints"][3 * COCO17.index(coco_name) : 3 * COCO17.index(coco_name) + 3]
                assert v == vis[nycu_name]
                if v:
                    assert points[nycu_name] == [x, y]
    assert set(seen.values()) == {"train", "val", "test"}


# ---------------------------------------------------------------- COCO layout


def test_coco_layout_fields(both: Path) -> None:
    total = 0
    for split in ("train", "val", "test"):
        doc = json.loads((both / f"annotations/person_keypoints_{split}_infant.json").read_text())
        assert doc["categories"][0]["keypoints"] == list(COCO17.names)
        assert doc["categories"][0]["skeleton"] == COCO17.coco_skeleton()
        assert len(doc["images"]) == len(doc["annotations"]) > 0
        for im, ann in zip(doc["images"], doc["annotations"], strict=True):
            total += 1
            assert im["is_synthetic"] is True
            assert re.fullmatch(r"\d{3}", im["video"])
            assert im["file_name"].startswith(im["video"] + "_")
            image = cv2.imread(str(both / "images" / f"{split}_infant" / im["file_name"]))
            assert image is not None
            assert image.shape[:2] == (im["height"], im["width"])
            assert (ann["image_id"], ann["category_id"], ann["iscrowd"]) == (im["id"], 1, 0)
            kp = np.array(ann["keypoints"], np.float64).reshape(17, 3)
            assert set(kp[:, 2].tolist()) <= {0.0, 1.0, 2.0}
            assert ann["num_keypoints"] == int(np.count_nonzero(kp[:, 2]))
            assert np.all(kp[kp[:, 2] == 0, :2] == 0)
            x, y, w, h = ann["bbox"]
            assert 0 < ann["area"] <= w * h
            visible = kp[kp[:, 2] == 2]
            assert np.all((visible[:, 0] >= x) & (visible[:, 0] <= x + w))
            assert np.all((visible[:, 1] >= y) & (visible[:, 1] <= y + h))
    assert total == 20


def test_single_formats_write_only_their_layout(tmp_path: Path) -> None:
    write_keypoints(tmp_path / "n", fmt="nycu", videos=2, frames_per_video=1, seed=1, size_range=SIZES)
    write_keypoints(tmp_path / "c", fmt="coco", videos=2, frames_per_video=1, seed=1, size_range=SIZES)
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == ["Test", "Train", "Valid"]
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["annotations", "images"]
    # same seed: the same frames whichever layout
    nycu_jpgs = sorted((tmp_path / "n").glob("*/img/*.jpg"))
    coco_jpgs = sorted((tmp_path / "c").glob("images/*/*.jpg"))
    assert [p.name for p in nycu_jpgs] == [p.name for p in coco_jpgs]
    assert [p.read_bytes() for p in nycu_jpgs] == [p.read_bytes() for p in coco_jpgs]


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_keypoints(
            tmp_path / name, fmt="both", videos=3, frames_per_video=2, seed=seed, size_range=SIZES
        )
    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert a == b
    assert len(a) == 3 * 2 * 3 + 3  # per frame two JPEGs and a LabelMe JSON; one COCO JSON per split
    assert a != c


# ---------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="infant-stream")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_keypoints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(
        ["synth", "keypoints", "--out", str(tmp_path / "kp"), "--format", "coco", "--videos", "3",
         "--frames-per-video", "2", "--seed", "2", "--val-fraction", "0.34", "--test-fraction", "0.34",
         "--size-range", "96", "112"]
    )  # fmt: skip
    assert args.func(args) == 0
    counts = {
        s: len(
            json.loads((tmp_path / f"kp/annotations/person_keypoints_{s}_infant.json").read_text())["images"]
        )
        for s in ("train", "val", "test")
    }
    assert counts == {"train": 2, "val": 2, "test": 2}
    assert "wrote 6 frames (coco)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "flag", "value"),
    [
        (["--format", "yolo"], "--format", "yolo"),
        (["--videos", "1000"], "--videos", "1000"),
        (["--videos", "0"], "--videos", "0"),
        (["--val-fraction", "1.5"], "--val-fraction", "1.5"),
        (["--val-fraction", "0.5", "--test-fraction", "0.5"], "--val-fraction", "0.5"),
        (["--size-range", "32", "64"], "--size-range", "32 64"),
        (["--seed", "-1"], "--seed", "-1"),
    ],
)
def test_cli_keypoints_bad_values(tmp_path: Path, argv: list[str], flag: str, value: str) -> None:
    out = tmp_path / "kp"
    args = _parser().parse_args(["synth", "keypoints", "--out", str(out), *argv])
    with pytest.raises(ConfigError) as info:
        cli.main(args)
    message = str(info.value)
    assert flag in message
    assert value in message
    assert "\n" not in message
    assert not out.exists()


# ---------------------------------------------------------------- demo clip truth


def test_video_truth_has_keypoints(tmp_path: Path) -> None:
    n, w, h, seed = 4, 160, 120, 1
    result = write_video(tmp_path / "v.mp4", frames=n, fps=25.0, width=w, height=h, seed=seed)
    truth = json.loads(result.truth_path.read_text())
    frames = list(clip_frames(frames=n, fps=25.0, width=w, height=h, seed=seed))
    for record, f in zip(truth["frames"], frames, strict=True):
        assert list(record) == ["index", "pts_s", "classes", "instances", "keypoints"]
        nycu, coco = frame_keypoints(f.pose, f.scene.shape, f.rendered.instances, f.rendered.occluder_mask)
        assert record["keypoints"] == {"nycu22": nycu.triples(), "coco17": coco.triples()}
        assert len(record["keypoints"]["nycu22"]) == 22
        assert len(record["keypoints"]["coco17"]) == 17
        assert all(len(p) == 3 and p[2] in (0, 1, 2) for p in record["keypoints"]["nycu22"])
        # the upright demo infant: its own left shoulder on the image right
        shoulders = record["keypoints"]["nycu22"]
        assert shoulders[NYCU22.index("Shoulder_L")][0] > shoulders[NYCU22.index("Shoulder_R")][0]
