"""Domain randomisation wiring (trainer/synth/domain.py): the flags, aiming, keypoints through the camera,
and the three writers with a randomised domain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.contract.keypoints import NYCU22
from pipeline.errors import ConfigError
from trainer.synth import camera
from trainer.synth.body import Pose
from trainer.synth.domain import (
    AIM_BOX,
    PLAIN,
    Domain,
    aim,
    all_families,
    describe,
    make_setup,
    parse_domain,
    shoot,
    video_camera,
)
from trainer.synth.joints import BodyKeypoints
from trainer.synth.keypoint_dataset import generate_video
from trainer.synth.render import Rendered
from trainer.synth.video import clip_frames

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("args", "families"),
    [
        ((False, None, None), None),
        ((True, None, None), None),
        ((True, "ir", None), {"ir"}),
        ((True, " top , jpeg ", None), {"top", "jpeg"}),
        ((True, None, "ir,oblique,photo"), set(all_families()) - {"ir", "oblique", "photo"}),
    ],
)
def test_parse_domain(args: tuple[bool, str | None, str | None], families: set[str] | None) -> None:
    d = parse_domain(*args)
    assert d.randomize is args[0]
    assert d.families == (None if families is None else frozenset(families))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((False, "ir", None), "need --randomize"),
        ((True, "ir", "top"), "one or the other"),
        ((True, "moon", None), "--families: unknown 'moon'"),
        ((True, None, "day,dim,ir"), "holds out every light family"),
        ((True, " , ", None), "--families: empty"),
    ],
)
def test_parse_domain_errors(args: tuple[bool, str | None, str | None], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_domain(*args)


def test_plain_share_mixes_plain_videos_in_and_is_checked() -> None:
    """--plain-share: that share of the videos gets the plain set-up (no camera, no backdrop), one rng draw
    per video; the rest are randomised; out-of-range or without --randomize is a one-line error."""
    pose = Pose(center_x=100.0, center_y=75.0, orientation=0.0, scale=4.0)

    def plain_flags(share: float, seed: int) -> list[bool]:
        rng = np.random.default_rng(seed)
        return [
            make_setup(parse_domain(True, plain_share=share), rng, 200, 150, pose).backdrop is None
            for _ in range(40)
        ]

    assert sum(plain_flags(0.0, 0)) == 0 and sum(plain_flags(1.0, 0)) == 40
    half = plain_flags(0.5, 0)
    assert 10 < sum(half) < 30 and half == plain_flags(0.5, 0)  # seeded: the same videos are plain
    assert describe(parse_domain(True, plain_share=0.25)).startswith(
        "randomised: plain share 0.25; clothing all"
    )
    with pytest.raises(ConfigError, match=r"--plain-share: must be in 0..1, got 1.5"):
        parse_domain(True, plain_share=1.5)
    with pytest.raises(ConfigError, match="--plain-share needs --randomize"):
        parse_domain(False, plain_share=0.3)


def test_allowed_and_describe() -> None:
    d = Domain(True, frozenset({"ir", "top"}))
    assert d.allowed("light") == ("ir",) and d.allowed("view") == ("top",)
    assert d.allowed("codec") == camera.CODEC_FAMILIES  # none named: unrestricted
    assert describe(d) == (
        "randomised: clothing all; print all; backdrop all; props all; view top; light ir; codec all"
    )
    assert describe(PLAIN) == "plain"


def test_plain_domain_draws_nothing() -> None:
    rng = np.random.default_rng(4)
    state = rng.bit_generator.state
    assert video_camera(PLAIN, rng) is None and aim(None, 64, 48, (1.0, 1.0), rng) is None
    frame = Rendered(np.zeros((4, 5, 3), np.uint8), np.zeros((4, 5), np.uint8), np.zeros((4, 5), np.uint8))
    kp = BodyKeypoints(NYCU22, np.zeros((22, 2)), np.full(22, 2, np.uint8))
    out, kps = shoot(frame, [kp], None, rng)
    assert out is frame and kps[0] is kp
    assert rng.bit_generator.state == state


@pytest.mark.parametrize("seed", range(6))
def test_aim_puts_the_centre_in_the_middle(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cam = camera.sample_camera(rng)
    w, h, centre = 320, 240, (40.0, 200.0)  # far off-centre in the source
    aimed = aim(cam, w, h, centre, rng)
    assert aimed is not None and aimed.tilt_deg == cam.tilt_deg and aimed.zoom == cam.zoom
    (p,), _ = camera.transform_points(camera.camera_homography(aimed, w, h), np.array([centre]))
    lo, hi = AIM_BOX
    assert lo * (w - 1) - 1e-6 <= p[0] <= hi * (w - 1) + 1e-6
    assert lo * (h - 1) - 1e-6 <= p[1] <= hi * (h - 1) + 1e-6


def test_shoot_moves_points_with_the_pixels_and_never_raises_visibility() -> None:
    h, w = 60, 80
    labels = np.zeros((h, w), np.uint8)
    labels[10:20, 10:20] = 1
    labels[40:50, 60:70] = 4
    frame = Rendered(np.zeros((h, w, 3), np.uint8), labels, labels.copy())
    xy = np.zeros((22, 2))
    xy[0], xy[1], xy[2] = (14.0, 15.0), (64.0, 45.0), (500.0, 500.0)  # in the head, in a leg, far outside
    vis = np.zeros(22, np.uint8)
    vis[:2], vis[2] = 2, 0
    cam = camera.CameraFactors(**{**camera.IDENTITY.__dict__, "roll_rad": np.pi, "shift": (0.0, 0.0)})
    out, (moved,) = shoot(frame, [BodyKeypoints(NYCU22, xy, vis)], cam, np.random.default_rng(0))
    for i, cls in ((0, 1), (1, 4)):  # a half turn about the centre: the label under each point goes along
        x, y = (int(np.floor(v + 0.5)) for v in moved.xy[i])
        assert out.labels[y, x] == cls and moved.visibility[i] == 2
    assert moved.visibility[2] == 0  # never raised
    assert set(np.unique(out.labels)) <= {0, 1, 4}


def test_randomised_keypoint_frames_keep_their_points_on_their_parts() -> None:
    """Through random cameras (every family), every visible point lies in the box of the warped label
    map's foreground (the same homography moved both), and points that left the frame are v = 0."""
    domain = parse_domain(True)
    on_body = total = 0
    for seed in range(6):
        for f in generate_video(np.random.SeedSequence(seed), "001", 2, (160, 240), domain):
            h, w = f.image.shape[:2]
            for (x, y), v in zip(f.nycu.xy, f.nycu.visibility, strict=True):
                px, py = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
                inside = 0 <= px < w and 0 <= py < h
                assert inside or v == 0
                if v == 2:
                    bx, by, bw, bh = f.bbox
                    total += 1
                    on_body += int(bx - 2 <= x <= bx + bw + 2 and by - 2 <= y <= by + bh + 2)
    assert total > 100 and on_body == total


def test_randomised_clip_is_reproducible_and_differs_from_plain() -> None:
    domain = parse_domain(True, "oblique,ir")
    a = [f.rendered.image for f in clip_frames(frames=2, fps=25, width=96, height=64, seed=3, domain=domain)]
    b = [f.rendered.image for f in clip_frames(frames=2, fps=25, width=96, height=64, seed=3, domain=domain)]
    plain = [f.rendered.image for f in clip_frames(frames=2, fps=25, width=96, height=64, seed=3)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], plain[0])
    assert np.array_equal(a[0][..., 0], a[0][..., 1])  # infrared: grey


def test_cli_writes_a_randomised_video_and_refuses_bad_families(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "pipeline.cli.main", "synth", "video", "--out", str(tmp_path / "v.mp4")]
    ok = subprocess.run(
        [*cmd, "--frames", "3", "--width", "96", "--height", "64", "--randomize", "--families", "ir"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    truth = json.loads((tmp_path / "v.json").read_text())
    assert truth["domain"].endswith("props all; view all; light ir; codec all")
    bad_out = tmp_path / "bad.mp4"
    bad = subprocess.run(
        [*cmd[:-1], str(bad_out), "--randomize", "--hold-out", "nope"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "--hold-out: unknown 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr and not bad_out.exists()


def test_randomised_setup_has_a_backdrop_props_and_exact_labels() -> None:
    """Over-infant props are background in the labels and hide the keypoints under them; the plain
    set-up is the scene itself."""
    from trainer.synth.domain import infant_mask, make_setup, place_props
    from trainer.synth.joints import frame_keypoints
    from trainer.synth.keypoint_dataset import video_poses
    from trainer.synth.render import make_scene, render

    covered_any = False
    for seed in range(12):
        rng = np.random.default_rng(seed)
        (_, pose), *_ = video_poses(rng, 200, 150, 1)
        plain = make_setup(PLAIN, np.random.default_rng(seed + 100), 200, 150, pose)
        ref = make_scene(
            np.random.default_rng(seed + 100), 200, 150, pose
        )  # plain = make_scene, nothing more
        assert plain.camera is None and plain.backdrop is None
        assert (
            np.array_equal(plain.scene.background, ref.background)
            and plain.scene.appearance == ref.appearance
        )
        setup = make_setup(parse_domain(True, "blanket_edge,hand,wire"), rng, 200, 150, pose)
        assert setup.camera is not None and setup.backdrop is not None
        assert setup.scene.appearance.noise_sigma == 0 and setup.scene.appearance.jpeg_quality == 0
        framed = place_props(setup, pose, parse_domain(True, "blanket_edge"), rng)
        drawn = render(framed, pose, rng)
        body = infant_mask(framed, pose)
        assert ((drawn.labels > 0) <= body).all()  # labels only where the infant's polygons are
        if framed.occluder_mask is not None and (framed.occluder_mask & body).any():
            covered_any = True
            assert (drawn.labels[framed.occluder_mask] == 0).all()  # covered = not labelled
            nycu, _ = frame_keypoints(pose, framed.shape, drawn.instances, drawn.occluder_mask)
            for (x, y), v in zip(nycu.xy, nycu.visibility, strict=True):
                px, py = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
                if 0 <= px < 200 and 0 <= py < 150 and framed.occluder_mask[py, px]:
                    assert v == 1
    assert covered_any  # the blanket edge did cover the infant somewhere in these seeds


def test_randomised_keypoint_frames_always_show_the_infant() -> None:
    """Swaddles plus blanket edges can hide a whole infant: such a frame is drawn again (prepare refuses
    a frame without a body box)."""
    frames = [
        f
        for seed in range(30)
        for f in generate_video(
            np.random.SeedSequence(seed), "001", 3, (120, 160), parse_domain(True, "swaddle,blanket_edge")
        )
    ]
    assert len(frames) == 90 and all(f.area > 0 and f.bbox[2] > 0 and f.bbox[3] > 0 for f in frames)
