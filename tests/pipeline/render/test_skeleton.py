"""The skeleton on the overlay: edges and joints in the side colours, predicted joints hollow and dimmed."""

import numpy as np
import pytest

from pipeline.config import PrivacyConfig
from pipeline.contract.keypoints import COCO17, NYCU22, KeypointSet, side_of
from pipeline.contract.pose_meta import PoseSpec
from pipeline.frames import Keypoint
from pipeline.render.overlay import OverlayRenderer, OverlayStyle
from pipeline.render.palette import SIDE_COLOURS, dimmed, side_colour
from pipeline.render.skeleton import edge_side, keypoint_set_of
from tests.helpers.media import make_result

GREY = (100, 100, 100)
ONLY_SKELETON = OverlayStyle(alpha=0.5, mask=False, boxes=False, centroids=False, trails=False)
R, L, MID = SIDE_COLOURS["R"], SIDE_COLOURS["L"], SIDE_COLOURS[""]


def kp(name: str, xy: tuple[float, float], state: str = "observed", names=NYCU22.names) -> Keypoint:
    i = names.index(name)
    if state == "predicted":
        return Keypoint(i, name, None, None, 0.0, "predicted", xy, (0.0, 0.0), (5.0, 5.0))
    return Keypoint(i, name, xy[0], xy[1], 0.9, "observed", xy, (0.0, 0.0), (2.0, 2.0))


def legs(ankle_l_state: str = "observed"):
    """160x120 grey frame: the right leg at x = 40 (hip 30, knee 60, ankle 100), the left at x = 120;
    the hips joined at y = 30; the left wrist coasting alone at (140, 100)."""
    keypoints = [
        kp("Hip_R", (40.0, 30.0)),
        kp("Hip_L", (120.0, 30.0)),
        kp("Knee_R", (40.0, 60.0)),
        kp("Knee_L", (120.0, 60.0)),
        kp("Ankle_R", (40.0, 100.0)),
        kp("Ankle_L", (120.0, 100.0), ankle_l_state),
        kp("Wrist_L", (140.0, 100.0), "predicted"),
    ]
    return make_result(
        np.full((120, 160, 3), GREY, np.uint8), keypoints=sorted(keypoints, key=lambda k: k.id)
    )


def close(pixel, colour, tol=2):
    return np.abs(pixel.astype(int) - np.array(colour)).max() <= tol


def test_side_colours_are_distinct_from_each_other_and_the_classes():
    from pipeline.render.palette import class_colours

    colours = [np.array(c) for c in (R, L, MID)] + list(class_colours()[1:].astype(int))
    for a in range(3):
        for b in range(len(colours)):
            if a != b:
                assert np.abs(colours[a] - colours[b]).sum() >= 150, (a, b)
    assert side_colour("R") == R and side_colour("?") == MID


def test_edges_and_joints_in_the_side_colours():
    r = legs()
    out = OverlayRenderer(ONLY_SKELETON, 1.0)(r)
    assert close(out[80, 40], R)  # middle of Knee_R - Ankle_R
    assert close(out[80, 120], L)  # middle of Knee_L - Ankle_L
    assert close(out[30, 80], MID)  # Hip_R - Hip_L joins right and left
    assert close(out[45, 40], R) and close(out[45, 120], L)  # hip - knee
    assert close(out[60, 40], R) and close(out[100, 120], L)  # joints: filled dots
    assert (out[5:25, :] == GREY).all() and (out[40:, 60:75] == GREY).all()  # nothing drawn elsewhere
    assert np.array_equal(r.image, np.full((120, 160, 3), GREY, np.uint8))  # input untouched


def test_predicted_joints_are_hollow_and_dimmed_and_their_edges_dimmed():
    out = OverlayRenderer(ONLY_SKELETON, 1.0)(legs(ankle_l_state="predicted"))
    assert (out[100, 140] == GREY).all()  # the coasting wrist: a ring, its centre untouched
    ring = out[100, 136:146].astype(int)
    assert any(close(px, dimmed(L), tol=40) for px in ring)
    assert close(out[80, 120], dimmed(L))  # Knee_L - predicted Ankle_L: dimmed
    assert close(out[80, 40], R)  # the right leg is not


def test_keypoints_style_off_draws_nothing():
    r = legs()
    off = OverlayRenderer(
        OverlayStyle(alpha=0.5, mask=False, boxes=False, centroids=False, trails=False, keypoints=False), 1.0
    )
    assert np.array_equal(off(r), r.image)
    assert OverlayStyle().keypoints is True  # on by default: window, frame.* messages and recordings


def test_outputs_render_the_skeleton_under_privacy():
    """The renderer every output uses (privacy on, the frame's decision ``none``) draws the skeleton."""
    r = legs()
    out = OverlayRenderer(OverlayStyle(), 1.0, PrivacyConfig())(
        make_result(r.image, keypoints=r.keypoints, privacy="none")
    )
    assert close(out[80, 40], R) and close(out[80, 120], L)


@pytest.mark.parametrize(
    ("names", "expected"),
    [(("Knee_R", "Knee_L"), NYCU22), (("left_knee", "nose"), COCO17), (("Knee_R", "knee_x"), None)],
)
def test_keypoint_set_of(names, expected):
    keypoints = [
        Keypoint(expected.index(n) if expected else i, n, 1.0, 1.0, 0.9) for i, n in enumerate(names)
    ]
    assert keypoint_set_of(keypoints) is expected


@pytest.mark.parametrize(
    ("name", "side"),
    [("Wrist_R", "R"), ("right_knee", "R"), ("Ankle_L", "L"), ("left_eye", "L"), ("nose", ""), ("Head", "")],
)
def test_side_of(name, side):
    assert side_of(name) == side


@pytest.mark.parametrize(
    ("a", "b", "side"),
    [("R", "R", "R"), ("L", "L", "L"), ("", "R", "R"), ("L", "", "L"), ("R", "L", ""), ("", "", "")],
)
def test_edge_side(a, b, side):
    assert edge_side(a, b) == side


def test_unknown_set_draws_joints_only_by_name_side():
    keypoints = [
        Keypoint(0, "paw_R", 30.0, 30.0, 0.9, smoothed=(30.0, 30.0)),
        Keypoint(1, "paw_L", 90.0, 30.0, 0.9),
    ]
    out = OverlayRenderer(ONLY_SKELETON, 1.0)(
        make_result(np.full((60, 120, 3), GREY, np.uint8), keypoints=keypoints)
    )
    assert close(out[30, 30], R) and close(out[30, 90], L)
    assert (out[30, 40:80] == GREY).all()  # no edge between them


# A third-party model's set, as its sidecar states it: names no known set has and no side in their
# names, the sides and edges stated (forepaw - hindpaw - snout).
SIDECAR_SET = PoseSpec.from_mapping(
    {"keypoints": ["forepaw", "hindpaw", "snout"], "skeleton": [[0, 1], [1, 2]], "sides": ["R", "R", ""]},
    "paws.yaml",
).keypoints


def paws(keypoint_set):
    """120x60 grey frame: forepaw (30, 30), hindpaw (90, 30), snout (90, 50)."""
    keypoints = [
        Keypoint(0, "forepaw", 30.0, 30.0, 0.9),
        Keypoint(1, "hindpaw", 90.0, 30.0, 0.9),
        Keypoint(2, "snout", 90.0, 50.0, 0.9),
    ]
    image = np.full((60, 120, 3), GREY, np.uint8)
    return make_result(image, keypoints=keypoints, keypoint_set=keypoint_set)


def test_the_frames_own_set_draws_its_sidecar_skeleton_and_sides():
    assert keypoint_set_of(paws(SIDECAR_SET).keypoints) is None  # no known set by name
    out = OverlayRenderer(ONLY_SKELETON, 1.0)(paws(SIDECAR_SET))
    assert all(close(out[30, x], R) for x in range(40, 81))  # forepaw - hindpaw: both R
    assert all(close(out[y, 90], R) for y in range(37, 44))  # hindpaw (R) - snout (midline): R
    assert close(out[30, 30], R) and close(out[50, 90], MID)  # joints in the set's sides
    guessed = OverlayRenderer(ONLY_SKELETON, 1.0)(paws(None))  # no set: the names say nothing
    assert (guessed[30, 40:81] == GREY).all() and (guessed[37:44, 90] == GREY).all()
    assert close(guessed[30, 30], MID)


def test_a_given_set_wins_over_the_name_match():
    """Keypoints named as NYCU's but a set without that edge: the set's skeleton is drawn, not NYCU's."""
    r = legs()
    bare = KeypointSet("custom", NYCU22.names, (), NYCU22.sides)
    out = OverlayRenderer(ONLY_SKELETON, 1.0)(make_result(r.image, keypoints=r.keypoints, keypoint_set=bare))
    assert close(out[60, 40], R)  # the joints are drawn
    assert (out[80, 35:46] == GREY).all()  # no Knee_R - Ankle_R edge
