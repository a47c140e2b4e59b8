"""COCO keypoints (SyRIP) reader: exact points, is_synthetic on images or annotations, skipped crowd and
empty annotations, image resolution, grouping, and one-line errors naming the file and the field."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.contract.keypoints import COCO17, NYCU22
from pipeline.errors import DatasetError
from tests.trainer.pose.kp_data import W, coco_keypoints, syrip_doc, write_jpeg, write_syrip
from trainer.pose.coco import images_folder, read_coco, split_name


def test_points_bbox_area_and_names_are_read_exactly(tmp_path: Path) -> None:
    doc = syrip_doc(2, "train")
    doc["annotations"][1]["keypoints"][0:3] = [7.0, 9.0, 0]  # v = 0 with coordinates: read as (0, 0, 0)
    doc["annotations"][1]["num_keypoints"] = 16
    path = write_syrip(tmp_path, "train_infant", doc)
    coco = read_coco(path)
    assert coco.keypoint_set is COCO17 and len(coco.images) == 2
    first, second = coco.images
    assert np.array_equal(first.instances[0].keypoints, np.asarray(coco_keypoints(0)).reshape(17, 3))
    assert second.instances[0].keypoints[0].tolist() == [0, 0, 0]
    assert first.instances[0].bbox == (2.0, 3.0, 40.0, 30.0) and first.instances[0].area == 1200.0
    assert first.image_path == tmp_path / "images" / "train_infant" / "train00001.jpg"
    assert (first.name, first.group, first.where) == (
        "train00001.jpg",
        "train_infant/train00001.jpg",
        f"{path}: images[0]",
    )


def test_is_synthetic_on_images_or_on_annotations(tmp_path: Path) -> None:
    doc = syrip_doc(4, "train")
    doc["images"][0]["is_synthetic"] = True  # on the image only
    doc["annotations"][1]["is_synthetic"] = True  # on the annotation only
    doc["images"][2]["is_synthetic"] = True
    doc["annotations"][2]["is_synthetic"] = False  # the annotation's word wins
    flags = [im.is_synthetic for im in read_coco(write_syrip(tmp_path, "train_infant", doc)).images]
    assert flags == [True, True, False, False]


def test_crowd_and_empty_annotations_and_bare_images_are_skipped_and_counted(tmp_path: Path) -> None:
    doc = syrip_doc(4, "train")
    doc["annotations"][0]["iscrowd"] = 1
    doc["annotations"][1]["keypoints"] = [0] * 51
    doc["annotations"][1]["num_keypoints"] = 0
    doc["annotations"].append(
        dict(doc["annotations"][2], id=999, keypoints=coco_keypoints(5, labelled=3), num_keypoints=3)
    )
    skipped: Counter[str] = Counter()
    coco = read_coco(write_syrip(tmp_path, "train_infant", doc), skipped=skipped)
    assert [im.name for im in coco.images] == ["train00003.jpg", "train00004.jpg"]
    assert [len(im.instances) for im in coco.images] == [2, 1]
    assert skipped == Counter(
        {
            "annotations with iscrowd 1": 1,
            "annotations with num_keypoints 0": 1,
            "images with no usable annotation": 2,
        }
    )


def test_plain_images_folder_and_explicit_folder(tmp_path: Path) -> None:
    doc = syrip_doc(1, "x")
    write_jpeg(tmp_path / "images" / "x00001.jpg")
    path = tmp_path / "annotations" / "person_keypoints_val.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert read_coco(path).images[0].image_path == tmp_path / "images" / "x00001.jpg"
    write_jpeg(tmp_path / "elsewhere" / "x00001.jpg")
    other = read_coco(path, images=tmp_path / "elsewhere").images[0]
    assert other.image_path == tmp_path / "elsewhere" / "x00001.jpg"
    assert images_folder(tmp_path / "a.json") == tmp_path / "images" and split_name(path) == "val"


@pytest.mark.parametrize(
    ("where", "key", "value", "group"),
    [
        ("images", "video", "v7", "v7"),
        ("images", "video_id", 12, "12"),
        ("annotations", "subject", "baby-3", "baby-3"),
    ],
)
def test_grouping_field(tmp_path: Path, where: str, key: str, value: object, group: str) -> None:
    doc = syrip_doc(1, "train")
    doc[where][0][key] = value
    assert read_coco(write_syrip(tmp_path, "train_infant", doc)).images[0].group == group


def test_categories_naming_nycu22_select_that_set(tmp_path: Path) -> None:
    doc = syrip_doc(1, "train")
    doc["categories"][0]["keypoints"] = list(NYCU22.names)
    doc["annotations"][0]["keypoints"] = [5.0, 5.0, 2] * 22
    doc["annotations"][0]["num_keypoints"] = 22
    coco = read_coco(write_syrip(tmp_path, "train_infant", doc))
    assert coco.keypoint_set is NYCU22 and coco.images[0].instances[0].keypoints.shape == (22, 3)


def _set(part: str, i: int, **fields: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc[part][i].update(fields)

    return edit


def _kp(j: int, value: float) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["annotations"][1]["keypoints"][j] = value

    return edit


# (case, edit of a 2-image document, the expected message after "<file>: ")
MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "short keypoints",
        _set("annotations", 1, keypoints=[1.0] * 48),
        "annotations[1].keypoints: need 51 numbers, got 48",
    ),
    (
        "keypoints missing",
        _set("annotations", 1, keypoints=None),
        "annotations[1].keypoints: need 51 numbers, got None",
    ),
    ("text in keypoints", _kp(4, "7"), "annotations[1].keypoints[4]: need a finite number, got '7'"),  # type: ignore[arg-type]
    ("visibility 3", _kp(5, 3), "annotations[1].keypoints: visibility of left_eye is 3, need 0, 1 or 2"),
    ("x off image", _kp(3, W + 1.0), f"annotations[1].keypoints: left_eye at ({W + 1.0:.1f}, "),
    (
        "num_keypoints",
        _set("annotations", 1, num_keypoints=16),
        "annotations[1].num_keypoints: says 16 but 17 points",
    ),
    ("image_id", _set("annotations", 1, image_id=77), "annotations[1].image_id: no image with id 77"),
    (
        "bbox negative",
        _set("annotations", 1, bbox=[1, 1, -2, 3]),
        "annotations[1].bbox: need [x, y, w, h] with w, h >= 0",
    ),
    ("bbox short", _set("annotations", 1, bbox=[1, 1, 2]), "annotations[1].bbox: need [x, y, w, h]"),
    ("area", _set("annotations", 1, area=-1), "annotations[1].area: need a number >= 0, got -1"),
    (
        "iscrowd",
        _set("annotations", 1, iscrowd="no"),
        "annotations[1].iscrowd: need true/false or 0/1, got 'no'",
    ),
    ("synthetic", _set("images", 1, is_synthetic="yes"), "images[1].is_synthetic: need true/false or 0/1"),
    ("duplicate id", _set("images", 1, id=1), "images[1].id: 1 is also images[0]"),
    (
        "duplicate file",
        _set("images", 1, file_name="train00001.jpg"),
        "images[1].file_name: 'train00001.jpg' is also images[0]",
    ),
    (
        "absolute file",
        _set("images", 1, file_name="/etc/x.jpg"),
        "images[1].file_name: need a path inside the images folder",
    ),
    (
        "missing file",
        _set("images", 1, file_name="gone.jpg"),
        "images[1].file_name: 'gone.jpg' is in neither ",
    ),
    ("size", _set("images", 1, width=65), "images[1].width/height: say 65x48 but "),
    ("width", _set("images", 1, width=0), "images[1].width: need a positive integer, got 0"),
    ("group", _set("images", 1, video=[1]), "images[1].video: need a non-empty string or integer, got [1]"),
    (
        "categories",
        _set("categories", 0, keypoints=["a", "b"]),
        "categories[0].keypoints: not the COCO-17 names in order",
    ),
]


@pytest.mark.parametrize(("edit", "message"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_file_is_one_line_naming_file_and_field(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    doc = syrip_doc(2, "train")
    path = write_syrip(tmp_path, "train_infant", doc)
    edit(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(DatasetError) as err:
        read_coco(path)
    assert str(err.value).startswith(f"{path}: {message}"), str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "need a COCO object, got list"),
        (b'{"images": {}}', "images: need a list"),
    ],
)
def test_unreadable_file_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(DatasetError) as err:
        read_coco(path)
    assert str(err.value).startswith(f"{path}: {message}")
