"""Head privacy with a pose model: confident facial points grow the hidden region and count as a head
found; without mask or points the whole image stays hidden (fail closed)."""

import numpy as np
import pytest

from pipeline.config import PrivacyConfig
from pipeline.contract.keypoints import COCO17, NYCU22, KeypointSet
from pipeline.frames import ClassSummary, Keypoint
from pipeline.render.privacy import (
    decide,
    face_box,
    head_region,
    is_head_point,
    pixelate_frame,
    pixelate_mask,
    protect,
)
from tests.helpers.media import make_result

CFG = PrivacyConfig(block_px=8, margin_px=4)  # min_keypoint_score 0.5, keypoint_pad 0.75
TORSO = ClassSummary(3, "torso", (0, 0, 50, 50), (25.0, 25.0), 2500, 0.99, 1)


def noisy(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def point(i: int, name: str, xy, score: float = 0.9, state: str = "observed") -> Keypoint:
    if state == "predicted":
        return Keypoint(i, name, None, None, 0.0, "predicted", xy, (0.0, 0.0), (5.0, 5.0))
    return Keypoint(i, name, xy[0], xy[1], score, "observed", xy, (0.0, 0.0), (2.0, 2.0))


# NYCU ids: Eye_L 1, Eye_R 2, Nose 3; far from the head cells (x 24-55, y 16-47) of head_map()
FACE = (point(1, "Eye_L", (100.0, 60.0)), point(2, "Eye_R", (90.0, 60.0)), point(3, "Nose", (95.0, 68.0)))
FACE_BOX = (82, 52, 108, 76)
"""Their box x 90-100, y 60-68, grown by 0.75 × 10 px = 7.5 px: x 82.5-107.5, y 52.5-75.5, rounded out."""


def head_map() -> np.ndarray:
    """12x16 cells over 96x128 px (8 px cells): head cells rows 2-5, cols 3-6 (x 24-55, y 16-47)."""
    cm = np.zeros((12, 16), np.uint8)
    cm[2:6, 3:7] = 1
    return cm


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("Head", True),
        ("Eye_L", True),
        ("Upper_Lip", True),
        ("nose", True),
        ("left_ear", True),
        ("Mouth-Center", True),
        ("Wrist_R", False),
        ("forearm", False),
        ("MP_joint_L", False),
        ("Shoulder_R", False),
    ],
)
def test_head_points_by_name(name, head):
    assert is_head_point(name) is head


def test_face_box_is_the_padded_box_of_the_confident_head_points():
    assert face_box(FACE, CFG, (96, 128)) == FACE_BOX
    unsure = tuple(point(k.id, k.name, (k.x, k.y), score=0.49) for k in FACE)
    coasting = tuple(point(k.id, k.name, (k.x, k.y), state="predicted") for k in FACE)
    wrists = (point(10, "Wrist_R", (10.0, 10.0)), point(11, "Wrist_L", (20.0, 20.0)))
    assert face_box(unsure, CFG, (96, 128)) is None
    assert face_box(coasting, CFG, (96, 128)) is None
    assert face_box(wrists, CFG, (96, 128)) is None
    assert face_box(FACE, CFG, (70, 98)) == (82, 52, 98, 70)  # cut at the frame


def test_facial_points_outside_the_head_mask_grow_the_pixelated_region():
    img = noisy(96, 128, seed=3)
    plain = make_result(img, head_map(), privacy="head")
    with_face = make_result(img, head_map(), privacy="head", keypoints=FACE)
    cells = plain.full_class_map() == 1
    assert not cells[60, 90:101].any() and not cells[68, 95]  # the points lie outside the head cells
    union = cells.copy()
    x0, y0, x1, y1 = FACE_BOX
    union[y0:y1, x0:x1] = True
    out = protect(with_face, CFG)
    assert np.array_equal(out, pixelate_mask(img, union, 8, 4))
    before = protect(plain, CFG)
    assert np.array_equal(before, pixelate_mask(img, cells, 8, 4))  # no points: the head cells only
    for x, y in ((100, 60), (90, 60), (95, 68)):
        assert (before[y, x] == img[y, x]).all() and not (out[y, x] == img[y, x]).all()
    (bx0, by0, bx1, by1), mask = head_region(with_face, cfg=CFG)
    assert (bx0, by0, bx1, by1) == (24, 16, 108, 76) and np.array_equal(mask, union[16:76, 24:108])


def test_facial_points_alone_are_the_head_region():
    img = noisy(96, 128, seed=4)
    r = make_result(img, np.zeros((12, 16), np.uint8), privacy="head", keypoints=FACE)
    region = np.zeros((96, 128), bool)
    x0, y0, x1, y1 = FACE_BOX
    region[y0:y1, x0:x1] = True
    assert np.array_equal(protect(r, CFG), pixelate_mask(img, region, 8, 4))
    assert head_region(r) is None  # without the privacy settings: the head class only


def test_no_head_and_no_facial_points_hides_the_whole_image():
    img = noisy(96, 128, seed=5)
    r = make_result(img, np.zeros((12, 16), np.uint8), privacy=decide((TORSO,), CFG, keypoints=()))
    assert r.privacy == "frame" and np.array_equal(protect(r, CFG), pixelate_frame(img, 8))


@pytest.mark.parametrize(
    ("keypoints", "fail_closed", "head"),
    [
        pytest.param((), "frame", "none", id="no-points"),
        pytest.param(FACE[:1], "frame", "none", id="one-point"),
        pytest.param(FACE[:2], "frame", "head", id="two-points"),
        pytest.param(FACE, "frame", "head", id="face"),
        pytest.param(tuple(point(k.id, k.name, (k.x, k.y), 0.4) for k in FACE), "frame", "none", id="unsure"),
        pytest.param(
            tuple(point(k.id, k.name, (k.x, k.y), state="predicted") for k in FACE),
            "frame",
            "none",
            id="coasting",
        ),
        pytest.param(
            (point(10, "Wrist_R", (1.0, 1.0)), point(11, "Wrist_L", (2.0, 2.0))),
            "frame",
            "none",
            id="not-facial",
        ),
    ],
)
def test_decide_with_facial_points(keypoints, fail_closed, head):
    """No head class found (only a torso): ``fail_closed`` hides the whole image however many confident
    facial points there are (keypoints never count as a head found: a pose model is confidently wrong
    on images unlike its training data); ``head`` mode pixelates their box."""
    assert decide((TORSO,), CFG, "fail_closed", keypoints) == fail_closed
    assert decide((TORSO,), CFG, "head", keypoints) == head
    assert decide((TORSO,), CFG, "frame", keypoints) == "frame"
    assert decide((TORSO,), CFG, "off", keypoints) == "none"


def test_one_head_point_alone_gives_no_face_box():
    """One point (with its smoothed twin) says nothing of the face's extent: no box, even in ``head``
    mode; a second point makes one."""
    assert face_box(FACE[:1], CFG, (200, 200)) is None
    assert face_box(FACE[:2], CFG, (200, 200)) is not None


# A third-party set whose facial points have no head word in their names (its sidecar says which are
# facial): ids 1 and 2 are facial; "wrist" is not.
OPAQUE = KeypointSet("custom", ("p0", "p1", "p2", "wrist"), (), ("", "", "", ""), facial=(1, 2))
OPAQUE_FACE = (point(1, "p1", (90.0, 60.0)), point(2, "p2", (100.0, 68.0)), point(3, "wrist", (10.0, 10.0)))
"""p1/p2 box x 90-100, y 60-68, grown by 7.5 px: the same box as FACE_BOX."""


def test_the_sets_facial_ids_mark_the_head_whatever_the_names():
    hw = (96, 128)
    assert face_box(OPAQUE_FACE, CFG, hw, OPAQUE) == FACE_BOX
    assert face_box(OPAQUE_FACE, CFG, hw) is None  # by name alone: no head word, nothing found
    assert decide((TORSO,), CFG, "head", OPAQUE_FACE, OPAQUE) == "head"
    assert decide((TORSO,), CFG, "head", OPAQUE_FACE) == "none"
    img = noisy(96, 128, seed=6)
    r = make_result(
        img, np.zeros((12, 16), np.uint8), privacy="head", keypoints=OPAQUE_FACE, keypoint_set=OPAQUE
    )
    region = np.zeros((96, 128), bool)
    x0, y0, x1, y1 = FACE_BOX
    region[y0:y1, x0:x1] = True
    assert np.array_equal(protect(r, CFG), pixelate_mask(img, region, 8, 4))


def test_with_a_set_its_ids_decide_not_the_names():
    """A set that states no facial points: points named like a face are not head points."""
    named = KeypointSet("custom", ("left_eye", "nose"), (), ("L", ""))
    points = (point(0, "left_eye", (90.0, 60.0)), point(1, "nose", (100.0, 68.0)))
    assert face_box(points, CFG, (96, 128)) == FACE_BOX  # no set: the names
    assert face_box(points, CFG, (96, 128), named) is None


def test_nycu_head_point_counts_with_the_set():
    """NYCU's ``Head`` (not facial) is a head point of the set: Head and Nose make a face box."""
    points = (
        point(0, "Head", (90.0, 60.0)),
        point(3, "Nose", (100.0, 68.0)),
        point(10, "Wrist_R", (5.0, 5.0)),
    )
    assert face_box(points, CFG, (96, 128), NYCU22) == FACE_BOX


@pytest.mark.parametrize(
    ("kset", "ids"),
    [
        (NYCU22, (0, 1, 2, 3, 4, 5)),  # Head and the five facial points
        (COCO17, (0, 1, 2, 3, 4)),  # nose, eyes, ears
        (OPAQUE, (1, 2)),
        (KeypointSet("custom", ("head_top", "neck"), (), ("", "")), (0,)),
    ],
)
def test_head_ids_of_a_set(kset, ids):
    assert kset.head_ids == ids
