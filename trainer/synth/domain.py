"""Domain randomisation of the synthetic data: which factor families a dataset draws from, the scene a
randomised video is set in, and the step that re-photographs a rendered frame with a random camera.

The infant itself is always drawn from every clothing and print family, skin tone and age
(:mod:`trainer.synth.wardrobe`, :mod:`trainer.synth.prints`). A :class:`Domain` is either *plain*
(``randomize=False``: that infant on the mottled sheet, filmed top-down by the renderer's small camera) or
*randomised*, where the clothing and print families can be restricted too and a video gets:

* a backdrop (:mod:`trainer.synth.backdrops`: sheet, blanket, playmat, lawn, cot, photo) instead of the
  mottled sheet, and props (:mod:`trainer.synth.props`: card, toy, hand, wire, blanket edge) placed around the
  infant — props under the infant join the backdrop, props over it become the scene's occluder (its pixels
  are background in the labels and hide the keypoints under them, the one mechanism render() and
  joints.frame_keypoints already share);
* a random camera (:mod:`trainer.synth.camera`: view, optics, light incl. night infrared, sensor noise,
  codec); the renderer's own small camera (blur, noise, JPEG) is switched off so those effects are not
  applied twice.

Families are grouped (:data:`FACTOR_GROUPS`); ``families`` names the allowed ones, and a group none of whose
families is named stays unrestricted. Whole families are held out of training this way, for the
out-of-distribution evaluation (train on ``--hold-out ir,oblique``, test on ``--families ir``).

The camera is aimed (:func:`aim`): its random shift is replaced by one that puts the infant's centre
inside the middle half of the frame, so an infant is cut by the frame edge at most, never filmed away.

Keypoints through the camera: the rendered visibility is kept where the moved point's pixel is inside the
output frame, else it becomes 0 (a point never becomes visible: outside the rendered frame it lands on fill).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from pipeline.errors import ConfigError
from trainer.synth import camera
from trainer.synth.backdrops import BACKDROP_FAMILIES, sample_backdrop
from trainer.synth.body import Pose, build_body
from trainer.synth.camera import CameraFactors
from trainer.synth.families import check_families
from trainer.synth.joints import BodyKeypoints
from trainer.synth.layers import Layer, composite, covered
from trainer.synth.prints import PRINT_FAMILIES
from trainer.synth.props import PROP_KINDS, sample_props
from trainer.synth.render import Rendered, Scene, make_scene, place_occluder, primitive_index
from trainer.synth.wardrobe import CLOTHING_FAMILIES

F32 = npt.NDArray[np.float32]

FACTOR_GROUPS: dict[str, tuple[str, ...]] = {
    "clothing": CLOTHING_FAMILIES,
    "print": PRINT_FAMILIES,
    "backdrop": BACKDROP_FAMILIES,
    "props": PROP_KINDS,
    "view": camera.VIEW_FAMILIES,
    "light": camera.LIGHT_FAMILIES,
    "codec": camera.CODEC_FAMILIES,
}
"""Every factor group and its families (names are unique across groups)."""


def all_families() -> tuple[str, ...]:
    """Every family name, group by group."""
    return tuple(f for members in FACTOR_GROUPS.values() for f in members)


@dataclass(frozen=True)
class Domain:
    """What a synthetic dataset draws from: ``randomize`` off = the plain generator; on = random scenes,
    props and cameras, and the infant's clothing and prints, from ``families`` (None = every family), except
    a ``plain_share`` (0..1) of the videos, drawn by the plain generator (a mix of both)."""

    randomize: bool = False
    families: frozenset[str] | None = None
    plain_share: float = 0.0

    def allowed(self, group: str) -> tuple[str, ...]:
        """The families of ``group`` this domain draws from (all of them when none is named)."""
        members = FACTOR_GROUPS[group]
        if self.families is None:
            return members
        return tuple(f for f in members if f in self.families) or members


PLAIN = Domain()


def _names(text: str, flag: str) -> tuple[str, ...]:
    return check_families([n.strip() for n in text.split(",") if n.strip()], all_families(), flag)


def parse_domain(
    randomize: bool, families: str | None = None, hold_out: str | None = None, plain_share: float = 0.0
) -> Domain:
    """The :class:`Domain` of the ``--randomize``, ``--families A,B``, ``--hold-out C,D`` and ``--plain-share S``
    flags: the named families, or every family but the held-out ones; that share of the videos plain. One-line
    :class:`ConfigError` for unknown names, for both lists at once, for a list or share without
    ``--randomize``, for a share outside 0..1, or for holding out every family of a group."""
    if not 0.0 <= plain_share <= 1.0:
        raise ConfigError(f"--plain-share: must be in 0..1, got {plain_share}")
    if plain_share > 0 and not randomize:
        raise ConfigError("--plain-share needs --randomize")
    return replace(_families_domain(randomize, families, hold_out), plain_share=plain_share)


def _families_domain(randomize: bool, families: str | None, hold_out: str | None) -> Domain:
    if families is not None and hold_out is not None:
        raise ConfigError("--families and --hold-out: give one or the other")
    if not randomize and (families is not None or hold_out is not None):
        raise ConfigError("--families/--hold-out need --randomize")
    if families is not None:
        return Domain(True, frozenset(_names(families, "--families")))
    if hold_out is not None:
        out = set(_names(hold_out, "--hold-out"))
        for group, members in FACTOR_GROUPS.items():
            if set(members) <= out:
                raise ConfigError(
                    f"--hold-out: holds out every {group} family ({', '.join(members)}); keep one"
                )
        return Domain(True, frozenset(set(all_families()) - out))
    return Domain(randomize)


def describe(domain: Domain) -> str:
    """One line for logs and summaries, e.g. ``plain`` or ``randomised: view top; light day, dim; codec all``."""
    if not domain.randomize:
        return "plain"
    parts = [f"plain share {domain.plain_share:g}"] if domain.plain_share > 0 else []
    for group, members in FACTOR_GROUPS.items():
        allowed = domain.allowed(group)
        parts.append(f"{group} {'all' if allowed == members else ', '.join(allowed)}")
    return "randomised: " + "; ".join(parts)


def video_camera(domain: Domain, rng: np.random.Generator) -> CameraFactors | None:
    """The camera of one video (fixed for its frames), or None for a plain domain (``rng`` untouched)."""
    if not domain.randomize:
        return None
    names = [f for g in ("view", "light", "codec") for f in domain.allowed(g)]
    return camera.sample_camera(rng, names)


AIM_BOX: tuple[float, float] = (0.25, 0.75)
"""Where a camera puts the infant's centre: uniformly in this share of the frame's width and height."""


def aim(
    cam: CameraFactors | None, width: int, height: int, centre: tuple[float, float], rng: np.random.Generator
) -> CameraFactors | None:
    """``cam`` with its ``shift`` chosen so that the infant's ``centre`` (source pixels) lands uniformly
    inside :data:`AIM_BOX` of the (height, width) output frame (a camera operator keeps the infant in the
    picture; its limbs may still leave it). None stays None (``rng`` untouched)."""
    if cam is None:
        return None
    unshifted = replace(cam, shift=(0.0, 0.0))
    hom = camera.camera_homography(unshifted, width, height)
    (p,), _ = camera.transform_points(hom, np.array([centre], np.float64))
    lo, hi = AIM_BOX
    tx, ty = rng.uniform(lo, hi) * (width - 1), rng.uniform(lo, hi) * (height - 1)
    return replace(cam, shift=(float((tx - p[0]) / width), float((ty - p[1]) / height)))


@dataclass(frozen=True, eq=False)
class Setup:
    """One video's set-up: the ``scene`` render() draws into, the ``camera`` that films it (None: plain) and,
    randomised, the clean ``backdrop`` ((H, W, 3) float32) that each frame's props are composited on."""

    scene: Scene
    camera: CameraFactors | None = None
    backdrop: F32 | None = None


def infant_mask(scene: Scene, pose: Pose) -> npt.NDArray[np.bool_]:
    """(H, W) bool: the pixels the infant of ``scene`` in ``pose`` covers (its polygons, as render() fills
    them)."""
    return primitive_index(build_body(pose, scene.shape, scene.clothing), scene.height, scene.width) > 0


def _with_props(setup: Setup, layers: list[Layer]) -> Scene:
    """``setup.scene`` with ``layers``: under-infant ones on the backdrop, over-infant ones as the occluder."""
    assert setup.backdrop is not None
    under = [lay for lay in layers if not lay.over_infant]
    over = [lay for lay in layers if lay.over_infant]
    shape = (setup.scene.height, setup.scene.width)
    occ = covered(over, shape)
    return replace(
        setup.scene,
        background=composite(setup.backdrop, under),
        occluder_mask=occ if occ.any() else None,
        occluder_image=composite(np.zeros((*shape, 3), np.float32), over) if occ.any() else None,
    )


def _scene(
    domain: Domain, rng: np.random.Generator, width: int, height: int, pose: Pose, occluders: bool
) -> Scene:
    """:func:`trainer.synth.render.make_scene` with the clothing and print families ``domain`` allows (all
    of them for a plain domain, or a group none of whose families is named); randomised scenes get props
    instead of make_scene's occluder."""

    def only(group: str) -> tuple[str, ...] | None:
        allowed = domain.allowed(group)
        return None if allowed == FACTOR_GROUPS[group] else allowed

    return make_scene(
        rng,
        width,
        height,
        pose,
        occluders=occluders and not domain.randomize,
        clothing_families=only("clothing"),
        print_families=only("print"),
    )


def make_setup(
    domain: Domain,
    rng: np.random.Generator,
    width: int,
    height: int,
    pose: Pose,
    *,
    occluders: bool = True,
) -> Setup:
    """The set-up of one video of (height, width) frames whose first frame shows ``pose``: the infant and
    scene make_scene() draws (``occluders`` as there); for a randomised ``domain`` also a backdrop, props
    placed around ``pose``, the renderer's own camera off, and a random camera aimed at the infant. With a
    ``plain_share``, that share of the videos (one draw of ``rng`` per video) gets the plain set-up instead."""
    if domain.randomize and domain.plain_share > 0 and rng.random() < domain.plain_share:
        domain = PLAIN
    scene = _scene(domain, rng, width, height, pose, occluders)
    if not domain.randomize:
        return Setup(scene)
    cam = aim(video_camera(domain, rng), width, height, (pose.center_x, pose.center_y), rng)
    look = replace(scene.appearance, noise_sigma=0.0, blur_sigma=0.0, jpeg_quality=0)
    back = sample_backdrop(rng, height, width, float(pose.scale), domain.allowed("backdrop")).image
    setup = Setup(replace(scene, appearance=look), cam, back)
    return replace(setup, scene=place_props(setup, pose, domain, rng))


def place_props(setup: Setup, pose: Pose, domain: Domain, rng: np.random.Generator) -> Scene:
    """The scene of a frame whose framing changed (the keypoint datasets: each frame framed anew): plain,
    the occluder redrawn around ``pose`` (:func:`trainer.synth.render.place_occluder`); randomised, new props
    around ``pose`` on the video's backdrop."""
    if setup.backdrop is None:
        return place_occluder(setup.scene, pose, rng)
    scene = setup.scene
    layers = sample_props(
        rng, scene.height, scene.width, float(pose.scale), infant_mask(scene, pose), domain.allowed("props")
    )
    return _with_props(setup, layers)


def shoot(
    frame: Rendered,
    keypoints: Sequence[BodyKeypoints],
    cam: CameraFactors | None,
    rng: np.random.Generator,
) -> tuple[Rendered, list[BodyKeypoints]]:
    """``frame`` and its keypoint sets as ``cam`` sees them (unchanged, ``rng`` untouched, without one).
    Every set's points go through the same homography as the pixels; visibility as in the module doc. The
    shot frame carries no occluder mask (visibility was decided on the rendered frame)."""
    if cam is None:
        return frame, list(keypoints)
    sizes = [len(k.xy) for k in keypoints]
    points = np.concatenate([k.xy for k in keypoints]) if keypoints else np.zeros((0, 2))
    image, labels, instances, moved, inside = camera.apply_camera(
        frame.image, frame.labels, frame.instances, points, cam, rng
    )
    out: list[BodyKeypoints] = []
    start = 0
    for k, n in zip(keypoints, sizes, strict=True):
        sl = slice(start, start + n)
        vis = np.where(inside[sl], k.visibility, 0).astype(np.uint8)
        out.append(BodyKeypoints(k.keypoint_set, moved[sl].astype(np.float64), vis))
        start += n
    return Rendered(image=image, labels=labels, instances=instances), out
