"""prepare: exact colour → class mapping, splits by video, one-line errors naming the entry."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import ConfigError, DatasetError
from tests.trainer.yibp_data import b64, class_map, edit_entry, make_yibp, palette_png, rgb_png
from trainer import prepare
from trainer.layout import Layout, load_mask, video_of
from trainer.prepare import prepare_dataset, split_videos
from trainer.yibp import Entry, decode_label, rgb_to_class_ids


def test_palette_indices_differ_from_class_ids() -> None:
    """Guard for the fixture itself: raw palette indices are NOT the class ids."""
    ids = class_map(48, 64, seed=1)
    raw = np.asarray(Image.open(io.BytesIO(palette_png(ids))))
    assert Image.open(io.BytesIO(palette_png(ids))).mode == "P"
    assert not np.array_equal(raw, ids)


def test_decode_label_maps_by_colour_not_palette_index() -> None:
    ids = class_map(72, 40, seed=3)
    entry = Entry("train_label.json", "1000001", "1000001000000.jpg", b64(palette_png(ids)))
    assert np.array_equal(decode_label(entry), ids)


def test_rgb_labels_decode_too() -> None:
    ids = class_map(20, 30, seed=4)
    rgb = np.array([(0, 0, 0), (44, 160, 44), (31, 119, 180), (255, 127, 14), (214, 39, 40)], np.uint8)[ids]
    entry = Entry("x.json", "1000001", "1000001000000.jpg", b64(rgb_png(rgb)))
    assert np.array_equal(decode_label(entry), ids)


def test_unknown_colour_message_names_colour_and_count() -> None:
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[0, :3] = (1, 2, 3)
    rgb[1, 0] = (9, 9, 9)
    with pytest.raises(
        DatasetError, match=r"here: unknown label colour RGB\(1, 2, 3\) in 3 pixels \(\+1 other"
    ):
        rgb_to_class_ids(rgb, "here")


def test_prepare_recovers_exact_class_ids(
    prepared: Path, yibp_session: tuple[Path, dict[str, np.ndarray]]
) -> None:
    _, truth = yibp_session
    layout = Layout(prepared)
    stems = sorted(p.stem for p in layout.masks.glob("*.png"))
    assert stems == sorted(truth)
    for stem, ids in truth.items():
        mask = load_mask(layout.mask(stem))
        assert mask.dtype == np.uint8 and mask.shape == ids.shape
        assert np.array_equal(mask, ids), stem
        assert layout.image(stem).read_bytes() == (yibp_session[0] / "all_data" / f"{stem}.jpg").read_bytes()
    assert {m.shape for m in truth.values()} == {(48, 64), (72, 40), (60, 80)}  # portrait included


def test_splits_are_by_video_and_deterministic(prepared: Path, tmp_path: Path) -> None:
    layout = Layout(prepared)
    splits = {s: layout.read_split(s) for s in ("train", "val", "test")}
    videos = {s: {video_of(x) for x in stems} for s, stems in splits.items()}
    assert len(videos["val"]) == 2 and len(videos["train"]) == 4  # round(6 * 0.34) = 2
    assert videos["test"] == {"2000001", "2000002"}
    assert not (videos["train"] & videos["val"]) and not (videos["train"] | videos["val"]) & videos["test"]
    assert all(len(stems) == 2 * len(videos[s]) for s, stems in splits.items())  # whole videos move
    # Unlabelled frames follow their video.
    unl = layout.read_split("unlabelled")
    assert {video_of(s) for s in unl} == videos["train"]
    assert {video_of(s) for s in layout.read_split("unlabelled_val")} == videos["val"]
    assert {video_of(s) for s in layout.read_split("unlabelled_test")} == videos["test"]
    assert all((layout.unlabelled / f"{s}.jpg").is_file() for s in unl)
    info = json.loads(layout.info.read_text())
    assert info["frames"]["train"] == len(splits["train"]) and info["source"] == "Youtube-Infant-Body-Parsing"
    # Same seed → same split; the split depends on the video ids only.
    assert split_videos([f"{i:07d}" for i in range(20)], 0.25, 7) == split_videos(
        [f"{i:07d}" for i in reversed(range(20))], 0.25, 7
    )
    assert split_videos([f"{i:07d}" for i in range(20)], 0.25, 7) != split_videos(
        [f"{i:07d}" for i in range(20)], 0.25, 8
    )


@pytest.mark.parametrize(
    ("videos", "fraction", "n_val"),
    [(10, 0.1, 1), (10, 0.0, 0), (2, 0.01, 1), (1, 0.5, 0), (68, 0.1, 7), (3, 0.9, 2)],
)
def test_split_videos_counts(videos: int, fraction: float, n_val: int) -> None:
    train, val = split_videos([f"{i:07d}" for i in range(videos)], fraction, 0)
    assert len(val) == n_val and len(train) == videos - n_val and not set(train) & set(val)


def test_val_fraction_out_of_range() -> None:
    with pytest.raises(ConfigError, match="--val-fraction"):
        split_videos(["0000001"], 1.0, 0)


def _bad_base64(root: Path) -> str:
    return edit_entry(root, "train_label.json", "1000002", 1, label="not base64 !!")


def _not_png(root: Path) -> str:
    return edit_entry(root, "train_label.json", "1000002", 1, label=b64(b"GIF89a definitely not a png"))


def _unknown_colour(root: Path) -> str:
    rgb = np.zeros((72, 40, 3), np.uint8)
    rgb[:5, :4] = (12, 34, 56)
    return edit_entry(root, "train_label.json", "1000002", 1, label=b64(rgb_png(rgb)))


def _size_mismatch(root: Path) -> str:
    return edit_entry(root, "train_label.json", "1000002", 1, label=b64(palette_png(class_map(40, 72, 0))))


def _missing_image(root: Path) -> str:
    (root / "all_data" / "1000002000004.jpg").unlink()
    return "1000002000004.jpg"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_missing_image, r"image .*1000002000004\.jpg not found"),
        (_bad_base64, r"label is not valid base64"),
        (_not_png, r"label is not a decodable PNG"),
        (_unknown_colour, r"unknown label colour RGB\(12, 34, 56\) in 20 pixels"),
        (_size_mismatch, r"label is 72x40 but image is 40x72"),
    ],
)
def test_bad_entries_raise_one_line_naming_the_entry(
    yibp_root: tuple[Path, dict[str, np.ndarray]], tmp_path: Path, damage: Callable[[Path], str], message: str
) -> None:
    root, _ = yibp_root
    image = damage(root)
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=message) as info:
        prepare_dataset(root, out, 0.2, 0)
    text = str(info.value)
    assert text.startswith(f"train_label.json: entry 1000002/{image}: ") and "\n" not in text
    assert not (out / "images").exists() and not (out / "masks").exists()  # nothing partial left


def test_train_test_video_overlap_and_bad_names(
    yibp_root: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    root, _ = yibp_root
    data = json.loads((root / "test_label.json").read_text())
    data["1000001"] = data.pop("2000001")
    for i, e in enumerate(data["1000001"]):
        e["image"] = f"1000001{500 + i:06d}.jpg"
    (root / "test_label.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"video 1000001 is also in train_label\.json"):
        prepare_dataset(root, tmp_path / "o1")
    edit_entry(root, "test_label.json", "1000001", 0, image="1234567000000.jpg")
    with pytest.raises(DatasetError, match=r"test_label\.json: entry 1000001/1234567000000\.jpg: image name"):
        prepare_dataset(root, tmp_path / "o2")


def test_missing_json_and_existing_output(
    yibp_root: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    root, _ = yibp_root
    out = tmp_path / "out"
    prepare_dataset(root, out, 0.2, 0)
    with pytest.raises(ConfigError, match="--force"):
        prepare_dataset(root, out, 0.2, 0)
    summary = prepare_dataset(root, out, 0.2, 1, force=True)
    assert summary.frames["test"] == 4 and summary.videos["val"] == 1
    (root / "test_label.json").unlink()
    with pytest.raises(DatasetError, match=r"test_label\.json: missing"):
        prepare_dataset(root, tmp_path / "other")


def test_cli_register_and_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "yibp"
    make_yibp(root, train_videos=3, test_videos=1, frames_per_video=1, unlabelled=False)
    parser = argparse.ArgumentParser()
    prepare.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["prepare", "--root", str(root), "--out", str(tmp_path / "d"), "--val-fraction", "0.3"]
    )
    assert args.func(args) == 0
    layout = Layout(tmp_path / "d")
    assert len(layout.read_split("val")) == 1 and len(layout.read_split("train")) == 2
    assert layout.read_split("unlabelled") == []
    assert "prepared 4 labelled frames" in capsys.readouterr().out


def test_console_command_reports_one_line_and_exit_5(
    yibp_root: tuple[Path, dict[str, np.ndarray]], tmp_path: Path, infant_stream: list[str]
) -> None:
    root, _ = yibp_root
    _unknown_colour(root)
    proc = subprocess.run(
        [*infant_stream, "prepare", "--root", str(root), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 5, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "error" in line]
    assert (
        len(lines) == 1
        and "train_label.json: entry 1000002/1000002000004.jpg: unknown label colour" in lines[0]
    )
    assert "Traceback" not in proc.stderr
