"""Which recording an image source gets (pipeline.session.build.make_sinks): a folder of images, one per
input, or a video; never the input folder itself."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Config, RecordConfig
from pipeline.errors import ConfigError
from pipeline.session.build import make_sinks, overlay_renderer
from pipeline.sinks.images import ImageFileSink
from pipeline.sinks.video import VideoSink
from tests.helpers.media import make_result


def cfg_with(overlay: str = "", raw: str = "") -> Config:
    return Config(record=RecordConfig(overlay=overlay, raw=raw))


def test_image_source_records_into_a_folder_video_source_into_a_video(tmp_path: Path) -> None:
    images = {"cam0": tmp_path / "in"}
    (tmp_path / "in").mkdir()
    (sink,) = make_sinks(cfg_with(str(tmp_path / "out")), {"cam0": "lossless"}, images)
    assert isinstance(sink, ImageFileSink) and sink.folder == tmp_path / "out" and sink.folder.is_dir()
    (sink,) = make_sinks(cfg_with(str(tmp_path / "o.mp4")), {"cam0": "lossless"}, images)
    assert isinstance(sink, VideoSink)  # asked for one video: letterboxed frames
    with pytest.raises(ConfigError, match="must end in"):
        make_sinks(cfg_with(str(tmp_path / "out")), {"cam0": "lossless"})  # a video source


@pytest.mark.parametrize("input_is", ["folder", "file"])
def test_the_input_folder_is_never_overwritten(tmp_path: Path, input_is: str) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"")
    given = folder if input_is == "folder" else folder / "a.png"
    with pytest.raises(ConfigError, match="would overwrite"):
        make_sinks(cfg_with(str(folder)), {"cam0": "lossless"}, {"cam0": given})


def test_overlay_and_raw_need_different_folders(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    with pytest.raises(ConfigError, match="--record and --record-raw: give them different folders"):
        make_sinks(cfg_with(out, out), {"cam0": "lossless"}, {"cam0": tmp_path / "in"})


def test_image_file_sink_writes_each_image_whole_under_its_name(tmp_path: Path) -> None:
    sink = ImageFileSink(tmp_path / "out", overlay_renderer(Config()), source_id="cam0")
    for i, (name, (w, h)) in enumerate({"a.jpg": (40, 30), "b.png": (30, 50)}.items()):
        result = make_result(np.full((h, w, 3), 90, np.uint8), seq=i, source_id="cam0")
        sink.write(replace(result, meta=replace(result.meta, image_file=f"in/{name}", still=True)))
    sink.write(make_result(np.zeros((8, 8, 3), np.uint8), source_id="other"))  # another source's: ignored
    sink.close()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "b.png"]  # no temporary left
    assert sink.images == 2
    assert (tmp_path / "out" / "a.jpg").read_bytes()[:2] == b"\xff\xd8"  # JPEG stays JPEG
    assert (tmp_path / "out" / "b.png").read_bytes()[:4] == b"\x89PNG"
