"""NYCU LabelMe reader: exact points, missing labels, UTF-8 / BOM / Big5 text, embedded images, and one
one-line error naming the file and the field for each malformed case."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.errors import DatasetError
from tests.trainer.pose.kp_data import (
    H,
    W,
    jpeg_bytes,
    labelme_doc,
    points_for,
    truth,
    write_jpeg,
    write_labelme,
)
from trainer.pose.nycu import decode_text, read_frame

STEM = "001_00000007"


def _frame(tmp_path: Path, doc: dict[str, Any], encoding: str = "utf-8", jpg: bool = True) -> Path:
    if jpg:
        write_jpeg(tmp_path / "img" / f"{STEM}.jpg")
    return write_labelme(tmp_path / "ann" / f"{STEM}.json", doc, encoding)


def test_points_are_read_exactly_and_absent_labels_are_not_annotated(tmp_path: Path) -> None:
    pts = {"Head": (10.5, 20.25), "Wrist_L": (0.0, 47.0), "MTP_joint_R": (63.75, 0.5)}
    img = read_frame(_frame(tmp_path, labelme_doc(pts)), tmp_path / "img")
    (inst,) = img.instances
    expected = np.zeros((22, 3))
    expected[0] = (10.5, 20.25, 2)  # Head is id 0
    expected[11] = (0.0, 47.0, 2)  # Wrist_L is id 11
    expected[20] = (63.75, 0.5, 2)  # MTP_joint_R is id 20
    assert np.array_equal(inst.keypoints, expected)
    assert (img.width, img.height, img.group, img.name) == (W, H, "001", f"001/{STEM}.jpg")
    assert img.image_path == tmp_path / "img" / f"{STEM}.jpg" and img.image_bytes is None
    assert inst.bbox is None and not inst.is_synthetic


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "big5"])
def test_utf8_bom_and_big5_files_read_the_same(tmp_path: Path, encoding: str) -> None:
    pts = points_for(3, missing=("Nose", "Hip_L"))
    doc = labelme_doc(pts, image_path="..\\影像\\嬰兒_001.jpg")
    doc["flags"] = {"嬰兒俯臥": True}
    path = _frame(tmp_path, doc, encoding)
    raw = path.read_bytes()
    if encoding == "big5":  # guard: the fixture really is not UTF-8
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
    assert raw.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    (inst,) = read_frame(path, tmp_path / "img").instances
    assert np.array_equal(inst.keypoints, truth(pts))
    assert inst.keypoints[3].tolist() == [0, 0, 0]  # Nose absent


def test_big5_image_path_finds_a_chinese_file_name(tmp_path: Path) -> None:
    """imagePath is the fallback when img/<stem>.jpg is absent: its Big5 name must decode right to match."""
    write_jpeg(tmp_path / "img" / "嬰兒_001.jpg")
    doc = labelme_doc(points_for(1), image_path="..\\img\\嬰兒_001.jpg")
    img = read_frame(_frame(tmp_path, doc, "big5", jpg=False), tmp_path / "img")
    assert img.image_path == tmp_path / "img" / "嬰兒_001.jpg"
    assert decode_text("嬰兒".encode("big5"), tmp_path) == "嬰兒"


def test_embedded_image_data_without_jpg_on_disk(tmp_path: Path) -> None:
    data = jpeg_bytes(seed=9)
    doc = labelme_doc(points_for(2), image_data=base64.b64encode(data).decode())
    img = read_frame(_frame(tmp_path, doc, jpg=False), tmp_path / "no-img-folder")
    assert img.image_bytes == data and img.image_path is None and img.name == f"001/{STEM}.jpg"


def test_frame_without_points_has_no_instance_and_other_shapes_are_counted(tmp_path: Path) -> None:
    box = {"label": "infant", "points": [[1, 1], [9, 9]], "shape_type": "rectangle", "flags": {}}
    skipped: Counter[str] = Counter()
    img = read_frame(_frame(tmp_path, labelme_doc({}, extra_shapes=(box,))), tmp_path / "img", skipped)
    assert img.instances == () and skipped == Counter({"non-point shapes (rectangle)": 1})


def _shape(label: str, points: Any, kind: str = "point") -> dict[str, Any]:
    return {"label": label, "points": points, "group_id": None, "shape_type": kind, "flags": {}}


def _doc(**fields: Any) -> dict[str, Any]:
    doc = labelme_doc({"Head": (5.0, 5.0)})
    doc.update(fields)
    return doc


def _add(*shapes: dict[str, Any]) -> dict[str, Any]:
    doc = labelme_doc({"Head": (5.0, 5.0)})
    doc["shapes"] += list(shapes)
    return doc


# (case, document, jpg on disk, the expected message after "<file>: ")
MALFORMED: list[tuple[str, dict[str, Any], bool, str]] = [
    (
        "unknown",
        _add(_shape("Hed", [[1, 1]])),
        True,
        "shapes[1].label: unknown keypoint 'Hed' (did you mean 'Head'?)",
    ),
    (
        "duplicate",
        _add(_shape("Head", [[2, 2]])),
        True,
        "shapes[1].label: 'Head' labelled twice (also shapes[0])",
    ),
    (
        "non-point keypoint",
        _add(_shape("Knee_L", [[1, 1], [3, 3]], "rectangle")),
        True,
        "shapes[1].shape_type: 'rectangle' for keypoint 'Knee_L', need 'point'",
    ),
    ("two pairs", _add(_shape("Nose", [[1, 1], [2, 2]])), True, "shapes[1].points: need one [x, y] pair"),
    ("not numbers", _add(_shape("Nose", [["a", 1]])), True, "shapes[1].points: need one [x, y] pair"),
    ("nan", _add(_shape("Nose", [[float("nan"), 1]])), True, "shapes[1].points: need finite numbers"),
    (
        "off right",
        _add(_shape("Nose", [[64.5, 3]])),
        True,
        "shapes[1].points: Nose at (64.5, 3.0) is off the 64x48 image",
    ),
    (
        "off top",
        _add(_shape("Nose", [[3, -0.75]])),
        True,
        "shapes[1].points: Nose at (3.0, -0.8) is off the 64x48 image",
    ),
    ("label not text", _add(_shape(None, [[1, 1]])), True, "shapes[1].label: need a string, got None"),  # type: ignore[arg-type]
    ("shapes missing", _doc(shapes=None), True, "shapes: need a list, got NoneType"),
    ("width wrong", _doc(imageWidth=80), True, f"imageWidth/imageHeight: say 80x48 but {STEM}.jpg is 64x48"),
    ("height missing", _doc(imageHeight=None), True, "imageHeight: need a positive integer, got None"),
    ("height zero", _doc(imageHeight=0), True, "imageHeight: need a positive integer, got 0"),
    ("data not base64", _doc(imageData="@@not base64@@"), True, "imageData: not valid base64"),
    (
        "data not an image",
        _doc(imageData=base64.b64encode(b"hello").decode()),
        True,
        "imageData: not a readable image",
    ),
    (
        "data wrong size",
        _doc(imageData=base64.b64encode(jpeg_bytes(32, 48)).decode()),
        True,
        "imageWidth/imageHeight: say 64x48 but imageData is 32x48",
    ),
    ("no image at all", _doc(), False, "imagePath: no image "),
]


@pytest.mark.parametrize(("doc", "jpg", "message"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_frame_is_one_line_naming_file_and_field(
    tmp_path: Path, doc: dict[str, Any], jpg: bool, message: str
) -> None:
    path = _frame(tmp_path, doc, jpg=jpg)
    with pytest.raises(DatasetError) as err:
        read_frame(path, tmp_path / "img")
    text = str(err.value)
    assert text.startswith(f"{path}: {message}"), text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (f"{STEM}.json", b"\xff\xfe\x00{", "not UTF-8 or Big5 text"),
        (f"{STEM}.json", b'{"shapes": [', "not valid JSON"),
        (f"{STEM}.json", b"[1, 2]", "need a LabelMe object, got list"),
        ("frame7.json", json.dumps(labelme_doc({})).encode(), "file name: need VVV_FFFFFFFF.json"),
    ],
)
def test_unreadable_file_is_one_line(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / "ann" / name
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(DatasetError) as err:
        read_frame(path, tmp_path / "img")
    assert str(err.value).startswith(f"{path}: {message}") and "\n" not in str(err.value)


def test_image_on_disk_wins_over_embedded_data_but_both_are_checked(tmp_path: Path) -> None:
    data = base64.b64encode(jpeg_bytes(seed=4)).decode()
    img = read_frame(_frame(tmp_path, _doc(imageData=data)), tmp_path / "img")
    assert img.image_path == tmp_path / "img" / f"{STEM}.jpg" and img.image_bytes is None
    small = base64.b64encode(jpeg_bytes(8, 8)).decode()
    with pytest.raises(DatasetError, match="say 64x48 but imageData is 8x8"):
        read_frame(_frame(tmp_path, _doc(imageData=small)), tmp_path / "img")


def test_generator_extension_gives_occlusion_flags_and_the_body_box(tmp_path: Path) -> None:
    pts = {"Head": (10.0, 20.0), "Wrist_L": (30.0, 40.0)}
    doc = labelme_doc(pts)
    doc["infant_stream"] = {
        "bbox": [2.5, 3.5, 50.0, 40.0],
        "visibility": {"Head": 2, "Wrist_L": 1, "Knee_R": 0},
    }
    (inst,) = read_frame(_frame(tmp_path, doc), tmp_path / "img").instances
    from pipeline.contract.keypoints import NYCU22

    assert inst.keypoints[NYCU22.index("Head"), 2] == 2
    assert inst.keypoints[NYCU22.index("Wrist_L"), 2] == 1
    assert inst.keypoints[NYCU22.index("Knee_R"), 2] == 0
    assert inst.bbox == (2.5, 3.5, 50.0, 40.0) and inst.is_synthetic


@pytest.mark.parametrize(
    ("ext", "field"),
    [
        ({"visibility": {"Elbow": 1}}, "infant_stream.visibility.Elbow"),
        ({"visibility": {"Head": 3}}, "infant_stream.visibility.Head"),
        ({"bbox": [0, 0, -1, 5]}, "infant_stream.bbox"),
        ([1, 2], "infant_stream"),
    ],
)
def test_malformed_generator_extension_is_one_line_naming_the_field(
    tmp_path: Path, ext: Any, field: str
) -> None:
    doc = labelme_doc({"Head": (10.0, 20.0)})
    doc["infant_stream"] = ext
    with pytest.raises(DatasetError) as err:
        read_frame(_frame(tmp_path, doc), tmp_path / "img")
    msg = str(err.value)
    assert "\n" not in msg and STEM in msg and f"{field}:" in msg
