"""Tests of the scene backgrounds (trainer/synth/backdrops.py, patterns.py) and packaged photo textures
(trainer/synth/photos.py)."""

from __future__ import annotations

import importlib
from collections import Counter

import numpy as np
import pytest

from pipeline.errors import ConfigError
from trainer.synth import photos
from trainer.synth.backdrops import BACKDROP_FAMILIES, Backdrop, sample_backdrop
from trainer.synth.families import check_families
from trainer.synth.patterns import tile_pattern, wrap_offsets
from trainer.synth.photos import PHOTO_SOURCES, PhotoSource, available_photos, load_photo, photo_texture

H, W = 96, 128
UNIT = min(H, W) / 60.0


def _draw(seed: int, families: tuple[str, ...] | None = None, h: int = H, w: int = W) -> Backdrop:
    return sample_backdrop(np.random.default_rng(seed), h, w, UNIT, families)


@pytest.mark.parametrize("family", BACKDROP_FAMILIES)
def test_each_family_alone_is_a_valid_image(family: str) -> None:
    for seed in range(4):
        b = _draw(seed, (family,))
        assert b.family == family
        assert b.image.shape == (H, W, 3) and b.image.dtype == np.float32
        assert np.isfinite(b.image).all()
        assert b.image.min() >= 0.0 and b.image.max() <= 255.0
        assert b.image.std() > 1.0, f"{family}/{b.variant}: a flat image"
        assert (len(b.sides) > 0) == (family == "cot")
        assert set(b.sides) <= {"top", "bottom", "left", "right"}


@pytest.mark.parametrize("family", BACKDROP_FAMILIES)
def test_same_seed_same_image_other_seed_other_image(family: str) -> None:
    a, b, c = _draw(11, (family,)), _draw(11, (family,)), _draw(12, (family,))
    assert np.array_equal(a.image, b.image) and a.variant == b.variant and a.sides == b.sides
    assert not np.array_equal(a.image, c.image)


def test_sampler_draws_only_the_families_asked_for() -> None:
    seen = Counter(_draw(seed, ("sheet", "lawn"), 24, 32).family for seed in range(200))
    assert set(seen) == {"sheet", "lawn"}
    assert min(seen.values()) > 60  # equal chances: 100 ± 7 each
    every = Counter(_draw(seed, None, 24, 32).family for seed in range(200))
    assert set(every) == set(BACKDROP_FAMILIES)


@pytest.mark.parametrize(
    ("family", "variants"),
    [
        ("sheet", {"flat", "folds", "creased", "mattress"}),
        ("blanket", {"floral", "stripes", "checks", "knit", "motifs", "dots"}),
        ("playmat", {"foam_tiles", "alphabet", "quilt"}),
        ("lawn", {"grass", "grass+blanket"}),
        ("cot", {"bars", "incubator", "bumper"}),
    ],
)
def test_every_variant_is_drawn(family: str, variants: set[str]) -> None:
    seen = {_draw(seed, (family,), 48, 64).variant for seed in range(60)}
    assert seen == variants


@pytest.mark.parametrize(
    ("families", "expected"),
    [(None, BACKDROP_FAMILIES), (("lawn",), ("lawn",)), (["cot", "sheet"], ("cot", "sheet"))],
)
def test_check_families(families: list[str] | tuple[str, ...] | None, expected: tuple[str, ...]) -> None:
    assert check_families(families, BACKDROP_FAMILIES, "backdrop families") == expected


@pytest.mark.parametrize(("families", "message"), [(("carpet",), "unknown 'carpet'"), ((), "empty")])
def test_bad_families_are_one_line_config_errors(families: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        _draw(0, families)
    assert "\n" not in str(err.value) and "backdrop families" in str(err.value)


def test_tile_pattern_repeats_the_tile_exactly() -> None:
    tile = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    out = tile_pattern(tile, 4, 6, 0.0)
    assert np.array_equal(out, np.tile(tile, (2, 2, 1)))
    staggered = tile_pattern(tile, 4, 6, 0.0, stagger=True)
    assert np.array_equal(staggered[:2], np.tile(tile, (1, 2, 1)))  # first row of tiles as is
    half = 0.5 * (np.roll(tile, -1, axis=1) + np.roll(tile, -2, axis=1))  # shifted by 1.5 of 3 pixels
    assert np.allclose(staggered[2:4], np.tile(half, (1, 2, 1)))


def test_wrap_offsets() -> None:
    assert sorted(wrap_offsets(2, 3)) == sorted(
        (dx, dy) for dx in (-3.0, 0.0, 3.0) for dy in (-2.0, 0.0, 2.0)
    )


# ---------------------------------------------------------------- photographic textures


def test_packages_of_the_photos_are_installed() -> None:
    """The train extra installs scikit-image and scikit-learn: every listed photo must load here."""
    importlib.import_module("skimage")
    importlib.import_module("sklearn")
    assert available_photos() == PHOTO_SOURCES


def test_no_photo_of_a_person() -> None:
    names = {s.name.split(":")[1] for s in PHOTO_SOURCES}
    assert not names & {"astronaut", "camera", "lfw_subset", "face"}


def test_photos_are_the_packages_own_images() -> None:
    import skimage.data
    from sklearn.datasets import load_sample_image

    coffee = load_photo(PhotoSource("skimage", "data/coffee.png"))
    assert coffee is not None and np.array_equal(coffee, skimage.data.coffee())
    brick = load_photo(PhotoSource("skimage", "data/brick.png", grey=True))
    assert brick is not None and brick.shape == (512, 512, 3)
    assert np.array_equal(brick[:, :, 0], skimage.data.brick()) and np.array_equal(
        brick[:, :, 2], brick[:, :, 0]
    )
    china = load_photo(PhotoSource("sklearn", "datasets/images/china.jpg"))
    assert china is not None
    assert np.abs(china.astype(float) - load_sample_image("china.jpg")).mean() < 2.0  # two JPEG decoders


def test_photo_texture_is_a_deterministic_crop() -> None:
    a = photo_texture(np.random.default_rng(5), H, W)
    b = photo_texture(np.random.default_rng(5), H, W)
    c = photo_texture(np.random.default_rng(6), H, W)
    assert a is not None and b is not None and c is not None
    assert a.shape == (H, W, 3) and a.dtype == np.float32
    assert np.isfinite(a).all() and a.min() >= 0.0 and a.max() <= 255.0
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.std() > 2.0


@pytest.mark.parametrize("seed", range(8))
def test_crop_stays_inside_the_photo(seed: int) -> None:
    m = photos._crop_matrix(np.random.default_rng(seed), 400, 600, H, W)
    corners = np.array([[0, 0, 1], [W - 1, 0, 1], [0, H - 1, 1], [W - 1, H - 1, 1]], float)
    src = corners @ m.T
    assert (src[:, 0] >= -0.5).all() and (src[:, 0] <= 600.5).all()
    assert (src[:, 1] >= -0.5).all() and (src[:, 1] <= 400.5).all()


def test_missing_package_gives_none_and_the_photo_family_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = (PhotoSource("no_such_package_for_infant_stream", "a.png"),)
    assert photo_texture(np.random.default_rng(0), H, W, missing) is None
    # A machine without the packages cannot exist in this env (they are installed): point the list elsewhere.
    monkeypatch.setattr(photos, "PHOTO_SOURCES", missing)
    b = _draw(3, ("photo",))
    assert b.family == "photo" and b.variant in {"fallback:sheet", "fallback:blanket"}
    assert b.image.shape == (H, W, 3) and b.image.std() > 0.5
