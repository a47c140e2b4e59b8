"""verify: a sound prepared dataset passes; each kind of damage is reported and fails the command."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.errors import DatasetError
from trainer import verify
from trainer.layout import Layout, load_mask
from trainer.verify import verify_dataset


def _run(data: Path) -> int:
    parser = argparse.ArgumentParser()
    verify.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["verify", "--data", str(data)])
    return int(args.func(args))


def test_sound_dataset_passes_and_prints_shares(prepared: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = verify_dataset(prepared, progress=False)
    assert report.problems == []
    assert report.frames == {"train": 8, "val": 4, "test": 4}
    layout = Layout(prepared)
    per_frame = [
        np.bincount(load_mask(layout.mask(s)).ravel(), minlength=5) for s in layout.read_split("val")
    ]
    expected = np.sum(per_frame, axis=0)
    assert np.array_equal(report.class_pixels["val"], expected)
    assert _run(prepared) == 0
    out = capsys.readouterr().out
    assert "background" in out and "leg" in out and "OK" in out
    share = 100.0 * expected[1] / expected.sum()
    assert f"{share:.2f}%" in out.splitlines()[2]  # the val row, head column


def _corrupt_value(layout: Layout) -> str:
    stem = layout.read_split("train")[0]
    mask = load_mask(layout.mask(stem))
    mask[0, :3] = 9
    cv2.imwrite(str(layout.mask(stem)), mask)
    return rf"{stem}\.png: 3 pixels with values outside 0\.\.4"


def _wrong_size(layout: Layout) -> str:
    stem = layout.read_split("val")[0]
    cv2.imwrite(str(layout.mask(stem)), np.zeros((10, 12), np.uint8))
    return rf"{stem}\.png: mask is 12x10 but image is"


def _colour_mask(layout: Layout) -> str:
    stem = layout.read_split("test")[0]
    cv2.imwrite(str(layout.mask(stem)), np.zeros((8, 8, 3), np.uint8))
    return rf"{stem}\.png: mask must be single-channel"


def _missing_mask(layout: Layout) -> str:
    stem = layout.read_split("test")[1]
    layout.mask(stem).unlink()
    return rf"{stem}\.jpg: no mask"


def _orphan_mask(layout: Layout) -> str:
    cv2.imwrite(str(layout.mask("9999999000000")), np.zeros((4, 4), np.uint8))
    return r"9999999000000\.png: no image"


def _video_in_two_splits(layout: Layout) -> str:
    val = layout.read_split("val")
    train = layout.read_split("train")
    layout.write_split("val", val[1:])
    layout.write_split("train", [*train, val[0]])
    return rf"video {val[0][:7]} is in more than one split: train \({val[0]}\), val \({val[1]}\)"


def _dangling_split_line(layout: Layout) -> str:
    layout.write_split("test", [*layout.read_split("test"), "3000001000000"])
    return r"3000001000000: .* does not exist"


def _listed_twice(layout: Layout) -> str:
    test = layout.read_split("test")
    layout.write_split("test", [*test, test[0]])
    return rf"{test[0]} already listed in test\.txt"


def _missing_split(layout: Layout) -> str:
    layout.split_file("val").unlink()
    return r"val\.txt: split file missing"


@pytest.mark.parametrize(
    "damage",
    [
        _corrupt_value,
        _wrong_size,
        _colour_mask,
        _missing_mask,
        _orphan_mask,
        _video_in_two_splits,
        _dangling_split_line,
        _listed_twice,
        _missing_split,
    ],
)
def test_damage_is_reported(prepared_copy: Path, damage: Callable[[Layout], str]) -> None:
    pattern = damage(Layout(prepared_copy))
    report = verify_dataset(prepared_copy, progress=False)
    assert len(report.problems) == 1, report.problems
    assert re.search(pattern, report.problems[0]), report.problems[0]
    with pytest.raises(DatasetError, match="1 problem") as info:
        _run(prepared_copy)
    assert info.value.exit_code == 5 and "\n" not in str(info.value)


def test_missing_folders(tmp_path: Path) -> None:
    report = verify_dataset(tmp_path, progress=False)
    assert len(report.problems) == 3 and all("folder missing" in p for p in report.problems)
