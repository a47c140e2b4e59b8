"""``prepare --format nycu|coco``: the prepared keypoint layout read back with read_split and verified,
embedded images written out, val carved by group, nothing half-written, and the CLI's exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli.main import main as cli_main
from pipeline.contract.keypoints import COCO17, NYCU22
from pipeline.errors import ConfigError, DatasetError
from tests.helpers.procs import REPO
from tests.trainer.pose.kp_data import H, W, jpeg_bytes, make_nycu, make_syrip, syrip_doc, write_syrip
from trainer.pose.layout import SPLITS, read_split
from trainer.pose.prepare import coco_split_files, prepare_coco, prepare_nycu
from trainer.pose.verify import verify_keypoints


@pytest.fixture
def nycu_root(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path / "nycu"
    return root, make_nycu(root)


def test_nycu_prepared_layout_reads_back_exactly(
    nycu_root: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    root, truth = nycu_root
    out = tmp_path / "out"
    counts = prepare_nycu(root, out)
    assert {s: (c.images, c.groups) for s, c in counts.items()} == {
        "train": (4, 2),
        "val": (2, 1),
        "test": (2, 1),
    }
    folder = {"train": "Train", "val": "Valid", "test": "Test"}
    for split in SPLITS:
        data = read_split(out, split)
        assert data.keypoint_set is NYCU22 and data.source == "NYCU infant keypoints"
        for s in data.samples:
            stem = s.image_path.stem
            assert (
                s.image_path == out / "images" / split / stem[:3] / f"{stem}.jpg" and s.image_path.is_file()
            )
            assert np.array_equal(s.keypoints, truth[f"{folder[split]}/{stem}"])
            assert (s.width, s.height, s.video, s.is_synthetic) == (W, H, stem[:3], False)
            labelled = s.keypoints[s.keypoints[:, 2] > 0, :2]
            x0, y0 = labelled.min(axis=0)
            x1, y1 = labelled.max(axis=0)
            assert np.allclose(s.bbox, (x0, y0, x1 - x0, y1 - y0))  # the points' extent
    assert verify_keypoints(out).problems == []


def test_embedded_image_is_written_out_byte_for_byte(
    nycu_root: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    root, _ = nycu_root
    assert not (root / "Train" / "img" / "001_00000001.jpg").exists()  # fixture: imageData only
    prepare_nycu(root, tmp_path / "out")
    written = tmp_path / "out" / "images" / "train" / "001" / "001_00000001.jpg"
    assert written.read_bytes() == jpeg_bytes(seed=1)
    copied = tmp_path / "out" / "images" / "train" / "001" / "001_00000002.jpg"
    assert copied.read_bytes() == (root / "Train" / "img" / "001_00000002.jpg").read_bytes()


def test_annotation_file_is_coco_with_names_and_one_based_skeleton(
    nycu_root: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    prepare_nycu(nycu_root[0], tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "annotations" / "val.json").read_text(encoding="utf-8"))
    cat = doc["categories"][0]
    assert cat["keypoints"] == list(NYCU22.names) and cat["skeleton"][0] == [1, 4]  # head - nose
    assert doc["images"][0] == {
        "id": 1,
        "file_name": "val/003/003_00000001.jpg",
        "width": W,
        "height": H,
        "video": "003",
        "is_synthetic": False,
    }
    ann = doc["annotations"][0]
    assert ann["num_keypoints"] == 21 and ann["keypoints"][0:3] == [0, 0, 0]  # frame 1 leaves out Head
    assert ann["area"] == pytest.approx(ann["bbox"][2] * ann["bbox"][3]) and ann["iscrowd"] == 0


def test_failure_leaves_out_untouched_and_no_temporary_folder(
    nycu_root: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    root, _ = nycu_root
    out = tmp_path / "out"
    prepare_nycu(root, out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    bad = root / "Test" / "ann" / "004_00000002.json"
    bad.write_text(bad.read_text(encoding="utf-8").replace('"Knee_L"', '"Knee_X"'), encoding="utf-8")
    with pytest.raises(
        DatasetError, match=r"004_00000002\.json: shapes\[\d+\]\.label: unknown keypoint 'Knee_X'"
    ):
        prepare_nycu(root, out, force=True)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nycu", "out"]


def test_out_rules(nycu_root: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    root, _ = nycu_root
    out = tmp_path / "out"
    prepare_nycu(root, out)
    with pytest.raises(ConfigError, match="already holds a prepared dataset; use --force"):
        prepare_nycu(root, out)
    (out / "annotations" / "stale.json").write_text("{}", encoding="utf-8")
    prepare_nycu(root, out, force=True)
    assert not (out / "annotations" / "stale.json").exists()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"holds other files \(notes\.txt\); not replacing it"):
        prepare_nycu(root, out, force=True)
    with pytest.raises(ConfigError, match="overlaps the source data"):
        prepare_nycu(root, root / "prepared", force=True)


def test_syrip_root_carves_val_by_group_and_keeps_flags(tmp_path: Path) -> None:
    files = make_syrip(tmp_path / "syrip", train=6, test=2)
    out = tmp_path / "out"
    counts = prepare_coco(
        coco_split_files(tmp_path / "syrip", None, None, None), out, val_fraction=0.34, seed=0
    )
    assert {s: c.images for s, c in counts.items()} == {"train": 4, "val": 2, "test": 2}
    splits = {s: read_split(out, s) for s in SPLITS}
    assert all(sp.keypoint_set is COCO17 for sp in splits.values())
    names = {s: sorted(x.image_path.name for x in sp.samples) for s, sp in splits.items()}
    assert sorted(names["train"] + names["val"]) == [f"train{i:05d}.jpg" for i in range(1, 7)]
    assert names["test"] == ["test00001.jpg", "test00002.jpg"]
    src = json.loads(files["train"].read_text(encoding="utf-8"))
    by_name = {im["file_name"]: a for im, a in zip(src["images"], src["annotations"], strict=True)}
    for sp in (splits["train"], splits["val"]):
        for s in sp.samples:
            assert np.array_equal(
                s.keypoints, np.asarray(by_name[s.image_path.name]["keypoints"]).reshape(17, 3)
            )
            assert s.bbox == (2.0, 3.0, 40.0, 30.0)  # the annotation's own box
            assert s.is_synthetic == (s.image_path.name <= "train00003.jpg")  # flagged on the images
            assert s.image_path.parent == out / "images" / sp.split
    assert (
        json.loads((out / "annotations" / "val.json").read_text(encoding="utf-8"))["info"]["val_fraction"]
        == 0.34
    )
    assert verify_keypoints(out).problems == []


def test_coco_explicit_files_bbox_clipped_and_extent_when_absent(tmp_path: Path) -> None:
    doc = syrip_doc(2, "a")
    doc["annotations"][0]["bbox"] = [-4.0, 10.0, 30.0, 100.0]  # overhangs left and bottom: cut to the image
    del doc["annotations"][1]["bbox"], doc["annotations"][1]["area"]
    doc["annotations"][1]["keypoints"] = [0] * 51
    doc["annotations"][1]["keypoints"][15:21] = [3.0, 4.0, 2, 13.0, 24.0, 1]  # left_shoulder, right_shoulder
    doc["annotations"][1]["num_keypoints"] = 2
    train = write_syrip(tmp_path, "a", doc)
    val = write_syrip(tmp_path, "b", syrip_doc(1, "b"))
    prepare_coco(coco_split_files(None, train, val, None), tmp_path / "out")
    samples = read_split(tmp_path / "out", "train").samples
    assert samples[0].bbox == (0.0, 10.0, 26.0, H - 10.0)
    assert samples[1].bbox == (3.0, 4.0, 10.0, 20.0)
    ann = json.loads((tmp_path / "out" / "annotations" / "train.json").read_text(encoding="utf-8"))[
        "annotations"
    ]
    assert ann[0]["area"] == 1200.0 and ann[1]["area"] == 200.0
    assert read_split(tmp_path / "out", "test").samples == ()


def test_coco_needs_a_training_file() -> None:
    with pytest.raises(ConfigError, match="--train: --format coco needs --train FILE or --root SYRIP_ROOT"):
        coco_split_files(None, None, Path("v.json"), None)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
    )


def test_cli_bad_frame_exit_5_with_one_line(
    nycu_root: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    root, _ = nycu_root
    bad = root / "Valid" / "ann" / "003_00000001.json"
    doc = json.loads(bad.read_text(encoding="utf-8"))
    doc["shapes"].append(dict(doc["shapes"][0]))
    bad.write_text(json.dumps(doc), encoding="utf-8")
    proc = _cli("prepare", "--format", "nycu", "--root", str(root), "--out", str(tmp_path / "o"))
    assert proc.returncode == 5, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and f"{bad}: shapes[21].label: '" in lines[0] and "labelled twice" in lines[0], (
        proc.stderr
    )
    assert not (tmp_path / "o").exists()


def test_cli_prepare_then_verify(
    nycu_root: tuple[Path, dict[str, np.ndarray]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = nycu_root
    out = tmp_path / "o"
    assert cli_main(["prepare", "--format", "nycu", "--root", str(root), "--out", str(out)]) == 0
    assert "prepared 8 images (8 labelled infants)" in capsys.readouterr().out
    assert cli_main(["verify", "--data", str(out)]) == 0
    shown = capsys.readouterr().out
    assert f"{out}: OK keypoints (train 4, val 2, test 2 annotations)" in shown
    assert [line.split() for line in shown.splitlines() if line.startswith("Head ")] == [
        ["Head", "50.0", "50.0", "50.0"]
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "nycu", "--train", "x.json"], "--train: only for --format coco"),
        (["--format", "nycu"], "--root: --format nycu needs --root"),
        (["--format", "coco"], "--train: --format coco needs --train FILE or --root SYRIP_ROOT"),
        (["--images", "x"], "--images: only for --format coco"),
        ([], "--root: --format yibp needs --root"),
        (["--format", "mmpose"], "argument --format: invalid choice"),
    ],
)
def test_cli_flag_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert cli_main(["prepare", *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_formats_replace_each_other_with_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A keypoint dataset replaces a segmentation one and back; verify follows what is there."""
    from tests.trainer.yibp_data import make_yibp

    yibp, nycu, out = tmp_path / "yibp", tmp_path / "nycu", tmp_path / "out"
    make_yibp(yibp, train_videos=2, test_videos=1, frames_per_video=1, unlabelled=False)
    make_nycu(nycu, frames=1)
    assert cli_main(["prepare", "--root", str(yibp), "--out", str(out), "--val-fraction", "0.5"]) == 0
    assert cli_main(["prepare", "--format", "nycu", "--root", str(nycu), "--out", str(out)]) == 2
    assert cli_main(["prepare", "--format", "nycu", "--root", str(nycu), "--out", str(out), "--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["annotations", "images"]
    assert cli_main(["verify", "--data", str(out)]) == 0 and "OK keypoints" in capsys.readouterr().out
    assert (
        cli_main(["prepare", "--root", str(yibp), "--out", str(out), "--force", "--val-fraction", "0.5"]) == 0
    )
    assert not (out / "annotations").exists()
    assert cli_main(["verify", "--data", str(out)]) == 0 and "OK keypoints" not in capsys.readouterr().out


def test_source_split_by_frame_is_kept_but_warned_and_verify_reports_it(
    nycu_root: tuple[Path, dict[str, np.ndarray]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """prepare keeps a dataset's published splits; a video in two of them is logged, and verify fails."""
    root, _ = nycu_root
    for sub, ext in (("ann", "json"), ("img", "jpg")):
        src = root / "Train" / sub / f"002_00000002.{ext}"
        src.rename(root / "Test" / sub / src.name)
    caplog.set_level("WARNING", logger="trainer")
    prepare_nycu(root, tmp_path / "out")
    assert "1 videos/subjects lie in more than one of the source's splits (e.g. 002)" in caplog.text
    assert verify_keypoints(tmp_path / "out").problems == [
        f"{tmp_path / 'out' / 'annotations'}: video/subject 002 is in more than one split: "
        "train (002_00000001.jpg), test (002_00000002.jpg)"
    ]


def test_root_uses_the_generators_val_and_test_files_when_present(tmp_path: Path) -> None:
    ann = tmp_path / "root" / "annotations"
    ann.mkdir(parents=True)
    for name in ("train", "val", "test", "validate"):
        (ann / f"person_keypoints_{name}_infant.json").write_text("{}")
    files = coco_split_files(tmp_path / "root", None, None, None)
    assert files["val"] == ann / "person_keypoints_val_infant.json"
    assert files["test"] == ann / "person_keypoints_test_infant.json"
    (ann / "person_keypoints_test_infant.json").unlink()
    (ann / "person_keypoints_val_infant.json").unlink()
    files = coco_split_files(tmp_path / "root", None, None, None)
    assert files["val"] is None and files["test"] == ann / "person_keypoints_validate_infant.json"
