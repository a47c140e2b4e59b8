"""Tests of the synthetic infant generator (trainer/synth): geometry, rendering, YIBP writer, video, CLI."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import io
import json
import math
import re
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.contract.classes import CLASS_COLORS_RGB, CLASS_NAMES
from pipeline.errors import ConfigError
from trainer.synth import cli
from trainer.synth.body import JOINT_RANGES, JOINTS, BodyShape, Clothing, Pose
from trainer.synth.dataset import encode_label_png, sample_image_size, write_yibp
from trainer.synth.motion import interpolate_pose, sample_motion, sample_pose
from trainer.synth.render import Rendered, Scene, make_scene, render
from trainer.synth.video import video_frames, write_video

W, H = 320, 240


def _random_frame(seed: int, *, occluders: bool = False, upright: bool = True) -> tuple[Scene, Rendered]:
    rng = np.random.default_rng(seed)
    pose = sample_pose(rng, W, H, upright=upright)
    scene = make_scene(rng, W, H, pose, occluders=occluders)
    return scene, render(scene, pose, rng)


def _canonical_scene(seed: int = 0) -> Scene:
    """A random scene with an average body, default clothes and no occluder."""
    scene = make_scene(np.random.default_rng(seed), W, H, None, occluders=False)
    return dataclasses.replace(scene, shape=BodyShape(), clothing=Clothing())


def _rgb_to_classes(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB → (H, W) class ids by exact colour; -1 where no class has that colour."""
    out = np.full(rgb.shape[:2], -1, np.int16)
    for class_id, colour in enumerate(CLASS_COLORS_RGB):
        out[np.all(rgb == np.array(colour, np.uint8), axis=2)] = class_id
    return out


# ---------------------------------------------------------------- pose and motion


def test_motion_stays_in_joint_ranges_and_is_smooth() -> None:
    motion = sample_motion(np.random.default_rng(3), W, H)
    lo = np.array([r[0] for r in JOINT_RANGES.values()])
    hi = np.array([r[1] for r in JOINT_RANGES.values()])
    times = np.arange(0.0, 20.0, 0.04)
    joints = np.stack([motion.pose_at(float(t)).joints() for t in times])
    assert np.all(joints >= lo)
    assert np.all(joints <= hi)
    steps = np.abs(np.diff(joints, axis=0))
    assert steps.max() < 0.25  # no jumps between 25 fps frames
    assert np.all(joints.max(axis=0) - joints.min(axis=0) > 0.02)  # every joint actually moves


def test_interpolate_pose_endpoints_and_middle() -> None:
    a = Pose(center_x=10.0, center_y=20.0, orientation=0.0, scale=2.0, left_elbow=0.0)
    b = Pose(center_x=30.0, center_y=40.0, orientation=1.0, scale=4.0, left_elbow=2.0)
    assert interpolate_pose(a, b, 0.0) == a
    assert interpolate_pose(a, b, 1.0) == b
    mid = interpolate_pose(a, b, 0.5)
    assert (mid.center_x, mid.scale, mid.left_elbow) == (20.0, 3.0, 1.0)
    assert len(mid.joints()) == len(JOINTS)


# ---------------------------------------------------------------- rendering


def test_render_is_deterministic_per_seed() -> None:
    _, a = _random_frame(11, occluders=True, upright=False)
    _, b = _random_frame(11, occluders=True, upright=False)
    _, c = _random_frame(12, occluders=True, upright=False)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.instances, b.instances)
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("seed", range(8))
def test_random_frame_has_every_class_with_plausible_areas(seed: int) -> None:
    _, r = _random_frame(seed)
    assert r.image.shape == (H, W, 3)
    assert r.image.dtype == np.uint8
    assert r.labels.shape == (H, W)
    assert r.labels.dtype == np.uint8
    assert set(np.unique(r.labels)) == {0, 1, 2, 3, 4}
    area = np.bincount(r.labels.ravel(), minlength=5)
    inst = np.bincount(r.instances.ravel(), minlength=7)
    assert 0.5 < area[0] / r.labels.size < 0.97  # infant is a sizeable part of the frame, not all of it
    assert area[3] > area[1]  # torso bigger than head
    # head not much smaller than either arm (hand included): a newborn's head is bigger, a 6-month-old's
    # about an arm's area, less than a long-sleeved arm's
    assert inst[1] > 0.7 * max(inst[2], inst[3])
    assert min(inst[5], inst[6]) > 0.5 * max(inst[2], inst[3])  # legs are not thinner than arms
    # instances refine classes exactly
    class_of_instance = np.array([0, 1, 2, 2, 3, 4, 4])
    assert np.array_equal(class_of_instance[r.instances], r.labels)


def test_canonical_pose_geometry() -> None:
    """Average infant, head up, scale 4 px/cm: parts where anatomy puts them, head ~ pi*a*b."""
    scene = _canonical_scene()
    pose = Pose(center_x=160.0, center_y=128.0, orientation=0.0, scale=4.0)
    r = render(scene, pose, np.random.default_rng(0))

    def centroid(mask: np.ndarray) -> tuple[float, float]:
        m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
        return m["m10"] / m["m00"], m["m01"] / m["m00"]

    head, torso, leg = (centroid(r.labels == c) for c in (1, 3, 4))
    assert head[1] < torso[1] < leg[1]  # head at the top, legs below
    assert abs(head[0] - 160.0) < 2.0
    assert abs(torso[0] - 160.0) < 2.0
    # supine, facing the camera: the infant's left arm/leg appear on the image right
    assert centroid(r.instances == 2)[0] > 160.0 > centroid(r.instances == 3)[0]
    assert centroid(r.instances == 5)[0] > 160.0 > centroid(r.instances == 6)[0]
    head_area = int(np.count_nonzero(r.labels == 1))
    ellipse_area = math.pi * 4.9 * 6.0 * 4.0**2
    assert 0.9 * ellipse_area < head_area < 1.3 * ellipse_area
    # head length ~ 1/4 of the body length
    ys = np.nonzero(r.labels > 0)[0]
    head_ys = np.nonzero(r.labels == 1)[0]
    ratio = (head_ys.max() - head_ys.min()) / (ys.max() - ys.min())
    assert 0.2 < ratio < 0.32


def test_labels_follow_the_image_pixel_for_pixel() -> None:
    """Reddish infant on grey mattress, no camera effects: a pixel is labelled infant iff it is reddish,
    including where a grey occluder covers the body (labelled background)."""
    scene = _canonical_scene(1)
    red = (225.0, 55.0, 55.0)
    look = dataclasses.replace(
        scene.appearance,
        skin=red, hair=(200.0, 30.0, 40.0), garment_a=red, garment_b=(240.0, 90.0, 80.0), diaper=red,
        sock=red, eyes_open=False, noise_sigma=0.0, blur_sigma=0.0, jpeg_quality=0,
    )  # fmt: skip
    occ = np.zeros((H, W), bool)
    occ[150:, :120] = True  # covers the infant's lower right side
    scene = dataclasses.replace(
        scene,
        appearance=look,
        background=np.full((H, W, 3), 128.0, np.float32),
        light=np.ones((H, W, 3), np.float32),
        occluder_mask=occ,
        occluder_image=np.full((H, W, 3), 90.0, np.float32),
    )
    pose = sample_pose(np.random.default_rng(5), W, H, upright=True)
    r = render(scene, pose, np.random.default_rng(0))
    reddish = r.image[:, :, 0].astype(int) - r.image[:, :, 1].astype(int) > 20
    assert np.array_equal(reddish, r.labels > 0)
    assert np.all(r.labels[occ] == 0)
    assert np.count_nonzero(r.labels[~occ]) > 2000
    bg = r.image[r.labels == 0].astype(int)
    assert np.all(np.abs(bg[:, 0] - bg[:, 1]) <= 1)  # background stays grey (shadow darkens evenly)


def test_background_far_from_infant_is_the_mattress() -> None:
    scene, r = _random_frame(4)
    expected = np.clip(scene.background * scene.light, 0, 255)
    far = cv2.distanceTransform((r.labels == 0).astype(np.uint8), cv2.DIST_L2, 3) > 40
    assert np.count_nonzero(far) > 0.2 * far.size
    diff = np.abs(r.image.astype(np.float32) - expected)[far].mean()
    assert diff < 8.0
    inside = cv2.erode((r.labels > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert np.abs(r.image.astype(np.float32) - expected)[inside].mean() > diff + 10.0


def test_image_sizes_cover_landscape_and_portrait() -> None:
    rng = np.random.default_rng(0)
    sizes = [sample_image_size(rng, (200, 400)) for _ in range(60)]
    assert any(w > h for w, h in sizes)
    assert any(h > w for w, h in sizes)
    assert all(200 <= max(w, h) <= 400 for w, h in sizes)


# ---------------------------------------------------------------- YIBP writer


def test_label_png_is_palette_with_shuffled_order_and_decodes_by_colour() -> None:
    _, r = _random_frame(2)
    png = encode_label_png(r.labels, np.random.default_rng(9))
    image = Image.open(io.BytesIO(png))
    assert image.mode == "P"
    palette = image.getpalette()
    assert palette is not None
    class_order = [v for colour in CLASS_COLORS_RGB for v in colour]
    assert palette[: len(class_order)] != class_order
    index = np.asarray(image)
    assert not np.array_equal(index, r.labels)  # palette indices are not class ids
    assert np.array_equal(_rgb_to_classes(np.asarray(image.convert("RGB"))), r.labels)


def test_yibp_dataset_layout_and_round_trip(tmp_path: Path) -> None:
    summary = write_yibp(
        tmp_path,
        videos=3,
        frames_per_video=2,
        seed=5,
        size_range=(96, 160),
        test_fraction=0.34,
        unlabelled_videos=1,
    )
    assert summary.images == 8
    train = json.loads((tmp_path / "train_label.json").read_text())
    test = json.loads((tmp_path / "test_label.json").read_text())
    unlabelled = json.loads((tmp_path / "train_unlabel.json").read_text())
    assert len(train) == 2
    assert len(test) == 1
    assert len(unlabelled) == 1
    assert not set(train) & set(test)
    assert not (set(train) | set(test)) & set(unlabelled)
    for split in (train, test):
        for video_id, entries in split.items():
            assert re.fullmatch(r"\d{7}", video_id)
            assert len(entries) == 2
            sizes = set()
            for entry in entries:
                assert set(entry) == {"image", "label"}
                assert re.fullmatch(video_id + r"\d{6}\.jpg", entry["image"])
                jpeg = cv2.imread(str(tmp_path / "all_data" / entry["image"]))
                assert jpeg is not None
                png = Image.open(io.BytesIO(base64.b64decode(entry["label"])))
                assert png.mode == "P"
                classes = _rgb_to_classes(np.asarray(png.convert("RGB")))
                assert classes.shape == jpeg.shape[:2]
                assert classes.min() >= 0
                assert set(np.unique(classes)) >= {0, 1, 3}
                sizes.add(classes.shape)
            assert len(sizes) == 1  # one size per video
    for entries in unlabelled.values():
        assert all(set(e) == {"image"} and (tmp_path / "all_data" / e["image"]).is_file() for e in entries)
    assert len(list((tmp_path / "all_data").glob("*.jpg"))) == 8


def test_yibp_dataset_is_byte_identical_per_seed(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_yibp(tmp_path / name, videos=2, frames_per_video=2, seed=1, size_range=(80, 120))
    for name in ("train_label.json", "test_label.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    write_yibp(tmp_path / "c", videos=2, frames_per_video=2, seed=2, size_range=(80, 120))
    assert (tmp_path / "a/train_label.json").read_bytes() != (tmp_path / "c/train_label.json").read_bytes()


# ---------------------------------------------------------------- video writer


def test_video_decodes_with_requested_frames_pts_and_exact_truth(tmp_path: Path) -> None:
    n, fps, w, h, seed = 10, 10.0, 160, 120, 7
    result = write_video(tmp_path / "clip.mp4", frames=n, fps=fps, width=w, height=h, seed=seed)
    with av.open(str(result.video_path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        decoded = [(frame.time, frame.to_ndarray(format="rgb24")) for frame in container.decode(stream)]
    assert len(decoded) == n
    assert [t for t, _ in decoded] == pytest.approx([i / fps for i in range(n)], abs=1e-3)
    truth = json.loads(result.truth_path.read_text())
    assert (truth["fps"], truth["width"], truth["height"], truth["seed"]) == (fps, w, h, seed)
    assert [f["index"] for f in truth["frames"]] == list(range(n))
    previous: dict[str, list[float]] = {}
    for (t, image), (pts_s, rendered), record in zip(
        decoded, video_frames(frames=n, fps=fps, width=w, height=h, seed=seed), truth["frames"], strict=True
    ):
        assert record["pts_s"] == pytest.approx(pts_s)
        assert t == pytest.approx(pts_s, abs=1e-3)
        assert np.abs(image.astype(int) - rendered.image.astype(int)).mean() < 6.0  # H.264 of that frame
        present = {CLASS_NAMES[c] for c in np.unique(rendered.labels) if c}
        assert set(record["classes"]) == present
        for name, stats in record["classes"].items():
            mask = (rendered.labels == CLASS_NAMES.index(name)).astype(np.uint8)
            m = cv2.moments(mask, binaryImage=True)
            assert stats["area_px"] == int(m["m00"])
            assert stats["centroid"] == pytest.approx([m["m10"] / m["m00"], m["m01"] / m["m00"]], abs=1e-3)
            x, y, bw, bh = cv2.boundingRect(mask)
            assert stats["box"] == [x, y, x + bw, y + bh]
            if name in previous:  # smooth motion: a part moves at most a few pixels per frame
                assert math.dist(previous[name], stats["centroid"]) < 0.08 * w
            previous[name] = stats["centroid"]
        arms = {a["side"]: a for a in record["instances"].get("arm", [])}
        if {"left", "right"} <= set(arms):
            assert arms["left"]["area_px"] + arms["right"]["area_px"] >= record["classes"]["arm"]["area_px"]
            assert arms["left"]["centroid"][0] > arms["right"]["centroid"][0]  # left appears on image right


def test_video_truth_is_deterministic(tmp_path: Path) -> None:
    a = write_video(tmp_path / "a" / "v.mp4", frames=3, fps=25.0, width=96, height=64, seed=2)
    b = write_video(tmp_path / "b" / "v.mp4", frames=3, fps=25.0, width=96, height=64, seed=2)
    assert a.truth_path.read_bytes() == b.truth_path.read_bytes()


# ---------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="infant-stream")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_dataset_and_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = _parser()
    args = parser.parse_args(
        ["synth", "dataset", "--out", str(tmp_path / "ds"), "--videos", "2", "--frames-per-video", "3",
         "--size-range", "120", "160", "--seed", "4"]
    )  # fmt: skip
    assert args.func is cli.main
    assert args.func(args) == 0
    train = json.loads((tmp_path / "ds/train_label.json").read_text())
    test = json.loads((tmp_path / "ds/test_label.json").read_text())
    assert len(train) == 1
    assert len(test) == 1
    assert len(list((tmp_path / "ds/all_data").glob("*.jpg"))) == 6
    args = parser.parse_args(
        [
            "synth",
            "video",
            "--out",
            str(tmp_path / "v.mp4"),
            "--frames",
            "3",
            "--width",
            "160",
            "--height",
            "120",
        ]
    )
    assert args.func(args) == 0
    assert json.loads((tmp_path / "v.json").read_text())["width"] == 160
    assert "wrote 3 frames" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "flag", "value"),
    [
        (["dataset", "--videos", "0"], "--videos", "0"),
        (["dataset", "--frames-per-video", "-1"], "--frames-per-video", "-1"),
        (["dataset", "--size-range", "300", "100"], "--size-range", "300 100"),
        (["video", "--width", "161"], "--width", "161"),
        (["video", "--fps", "0"], "--fps", "0"),
        (["video", "--frames", "0"], "--frames", "0"),
    ],
)
def test_cli_bad_values_raise_config_error_naming_flag(
    tmp_path: Path, argv: list[str], flag: str, value: str
) -> None:
    out = tmp_path / ("v.mp4" if argv[0] == "video" else "ds")
    args = _parser().parse_args(["synth", argv[0], "--out", str(out), *argv[1:]])
    with pytest.raises(ConfigError) as info:
        cli.main(args)
    message = str(info.value)
    assert flag in message
    assert value in message
    assert "\n" not in message
    assert not out.exists()


def test_cli_standalone_reports_one_line_and_exit_code(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.run(["video", "--out", str(tmp_path / "v.mp4"), "--height", "7"]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--height" in err
