"""``verify`` on a prepared keypoint dataset: each damage is reported by file and field, a frame-level split
leak is caught, the CLI exits 5 with one line, and a segmentation dataset still goes the old way."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli.main import main as cli_main
from tests.trainer.pose.kp_data import make_nycu, write_jpeg
from trainer.pose.prepare import prepare_nycu
from trainer.pose.verify import is_keypoint_layout, verify_keypoints


@pytest.fixture(scope="module")
def prepared_nycu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared NYCU dataset (train 001, 002; val 003; test 004; two frames each). Read-only."""
    root = tmp_path_factory.mktemp("kp")
    make_nycu(root / "nycu")
    prepare_nycu(root / "nycu", root / "out")
    return root / "out"


@pytest.fixture
def data(prepared_nycu: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(prepared_nycu, tmp_path / "data"))


Doc = dict[str, Any]


def _edit(data: Path, split: str, change: Callable[[Doc], None]) -> Path:
    path = data / "annotations" / f"{split}.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_sound_dataset_has_no_problem_and_counts(data: Path) -> None:
    report = verify_keypoints(data)
    assert report.problems == [] and is_keypoint_layout(data)
    assert report.images == {"train": 4, "val": 2, "test": 2} and report.groups == {
        "train": 2,
        "val": 1,
        "test": 1,
    }
    # frame f of each video leaves out keypoint f: Head (0) and Eye_L (1) are labelled in half the frames
    assert report.labelled["train"].tolist() == [2, 2] + [4] * 20


def test_frame_level_split_leak_is_caught(data: Path) -> None:
    """val's frames claim to be video 001, which train holds: a split by frame, not by video."""

    def same_video(d: Doc) -> None:
        for im in d["images"]:
            im["video"] = "001"

    _edit(data, "val", same_video)
    problems = verify_keypoints(data).problems
    assert problems == [
        f"{data / 'annotations'}: video/subject 001 is in more than one split: "
        "train (001_00000001.jpg), val (003_00000001.jpg)"
    ]


def _point_off(d: Doc) -> None:
    d["annotations"][1]["keypoints"][3 * 6] = 64.75  # Shoulder_R x on a 64-wide image


def _bbox_out(d: Doc) -> None:
    d["annotations"][0]["bbox"] = [10.0, 10.0, 60.0, 5.0]


def _count_wrong(d: Doc) -> None:
    d["annotations"][0]["num_keypoints"] = 3


def _visibility(d: Doc) -> None:
    d["annotations"][0]["keypoints"][3 * 6 + 2] = 5


def _dup_id(d: Doc) -> None:
    d["images"][1]["id"] = 1


def _size(d: Doc) -> None:
    d["images"][0]["width"] = 70


def _gone(d: Doc) -> None:
    d["images"][2]["file_name"] = "train/001/missing.jpg"


def _names(d: Doc) -> None:
    d["categories"][0]["keypoints"] = d["categories"][0]["keypoints"][:17]
    d["categories"][0]["skeleton"] = []
    for a in d["annotations"]:
        a["keypoints"] = a["keypoints"][:51]


DAMAGE: list[tuple[str, Callable[[Doc], None], str]] = [
    (
        "point off image",
        _point_off,
        "annotations[1].keypoints: 1 labelled point(s) off the 64x48 image 001_00000002.jpg, e.g. Shoulder_R at (64.8,",
    ),
    ("bbox outside", _bbox_out, "annotations[0].bbox: [10.0, 10.0, 60.0, 5.0] is not inside the 64x48 image"),
    ("num_keypoints", _count_wrong, "annotations[0].num_keypoints: says 3 but 21 points have v > 0"),
    ("visibility", _visibility, "annotations[0].keypoints: visibility of Shoulder_R is 5"),
    ("duplicate id", _dup_id, "images[1].id: 1 is also images[0]"),
    ("size", _size, "images[0].width/height: say 70x48 but 001_00000001.jpg is 64x48"),
    ("missing file", _gone, "images[2].file_name: "),
    ("other keypoint set", _names, "categories[0].keypoints: 17 names differ from train's 22"),
]


@pytest.mark.parametrize(("change", "message"), [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_damage_is_reported_by_file_and_field(
    data: Path, change: Callable[[Doc], None], message: str
) -> None:
    split = "val" if change is _names else "train"
    path = _edit(data, split, change)
    problems = verify_keypoints(data).problems
    assert any(p.startswith(f"{path}: {message}") for p in problems), problems
    if change is _dup_id:  # annotation 1 then refers to no image: read_split stops there
        assert problems[1] == f"{path}: annotations[1].image_id: no such image", problems
        assert len(problems) == 2, problems
    else:
        assert len(problems) == 1, problems


def test_unreadable_split_files(data: Path) -> None:
    (data / "annotations" / "val.json").write_text("[1]", encoding="utf-8")
    (data / "annotations" / "test.json").write_text("{", encoding="utf-8")
    problems = verify_keypoints(data).problems
    assert problems[0] == f"{data / 'annotations' / 'val.json'}: need a COCO object with an images list"
    assert problems[1].startswith(f"{data / 'annotations' / 'test.json'}: not a readable JSON file: ")
    assert len(problems) == 2


def test_missing_split_file_and_empty_train(data: Path) -> None:
    (data / "annotations" / "test.json").unlink()
    _edit(data, "train", lambda d: d.update(images=[], annotations=[]))
    problems = verify_keypoints(data).problems
    assert problems == [
        f"{data / 'annotations' / 'train.json'}: annotations: none (train needs labelled images)",
        f"{data / 'annotations' / 'test.json'}: split file missing",
    ]


def test_cli_verify_exits_5_with_one_line(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(data, "train", _point_off)
    write_jpeg(data / "images" / "train" / "001" / "001_00000001.jpg", 32, 48)  # also: wrong size on disk
    assert cli_main(["verify", "--data", str(data)]) == 5
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("infant-stream: error:")]
    assert len(err) == 1 and f"{data}: 2 problem(s), first: " in err[0]


def test_segmentation_layout_is_not_taken_for_keypoints(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    assert not is_keypoint_layout(tmp_path)
    (tmp_path / "annotations" / "train.json").write_text("{}", encoding="utf-8")
    assert is_keypoint_layout(tmp_path)
