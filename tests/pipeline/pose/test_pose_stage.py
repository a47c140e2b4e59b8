"""The pose stage (pipeline/pose/stage.py) with real models: the colour segmentation model finds the
infant's box, a test-built pose model (heatmap or SimCC) finds a red and a green spot in the crop, and the
points come back in frame pixels; without segmentation the pose model runs on the letterboxed frame; in
a pipeline the stage has its own thread and postprocessing reuses its maps."""

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Config, evolve
from pipeline.frames import Inferred
from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.infer.inference import InferenceStage
from pipeline.infer.preprocess import Preprocessor
from pipeline.pose.model import PoseModel
from pipeline.pose.stage import NO_SEGMENTATION, PoseOnly, PoseStage
from pipeline.postprocess.stage import Postprocessor
from pipeline.session.build import build_pipeline
from pipeline.sources.base import FrameStamper
from pipeline.sources.file import FileSource
from tests.helpers.media import ListSink, colour_model, run_to_end, write_h264
from tests.helpers.pose_models import (
    GREEN_AT,
    INPUT_HW,
    RED_AT,
    heatmap_model,
    infant_scene,
    simcc_model,
)

# The crop of TORSO (120 × 120 px) padded by 0.1 → 144 × 144, widened to the model's 48:64 → 144 × 192
# frame px for 48 × 64 input px: 3 frame px per input px.
CROP = (88.0, 24.0, 232.0, 216.0)
INPUT_PX = 3.0


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pose")
    return {
        "colour": colour_model(d / "colour.onnx"),
        "heatmap": heatmap_model(d / "heatmap.onnx"),
        "simcc": simcc_model(d / "simcc.onnx"),
    }


@pytest.fixture(scope="module")
def seg(models) -> OrtBackend:
    return OrtBackend(models["colour"])


def inferred(seg: OrtBackend, images: list[np.ndarray]) -> list[Inferred]:
    """The colour model's output for each image, each from its own source (``s0``, ``s1``, ...)."""
    frames = [FrameStamper(f"s{i}").stamp(img, 0.0) for i, img in enumerate(images)]
    pre = Preprocessor(seg.spec)
    return InferenceStage(seg).batch([pre(f) for f in frames])


@pytest.mark.parametrize("kind", ["heatmap", "simcc"])
def test_spots_found_in_frame_pixels(models, seg, kind):
    pose = PoseModel(models[kind])
    (item,) = PoseStage(pose).batch(inferred(seg, [infant_scene()]))
    assert item.pose is not None and item.maps is not None
    assert item.pose.box == pytest.approx(CROP)
    assert item.pose.model == kind and item.pose.names == ("red", "green")
    assert item.pose.keypoints is pose.spec.keypoints  # the model's own set travels with the pose
    assert item.pose.xy.shape == (2, 2) and item.pose.xy.dtype == np.float32
    assert item.pose.xy[0] == pytest.approx(RED_AT, abs=INPUT_PX)  # within one model-input pixel
    assert item.pose.xy[1] == pytest.approx(GREEN_AT, abs=INPUT_PX)
    assert (item.pose.score > 0.5).all()
    assert item.timings.pose_ms > 0 and item.timings.inference_ms > 0  # the inference time is kept


def test_heatmap_points_are_sub_pixel(models, seg):
    (item,) = PoseStage(PoseModel(models["heatmap"])).batch(inferred(seg, [infant_scene()]))
    assert item.pose is not None
    assert item.pose.xy == pytest.approx(np.array([RED_AT, GREEN_AT]), abs=0.25)


def test_several_sources_batch_together(models, seg):
    images = [
        infant_scene(),
        infant_scene(red=(190.0, 70.0), green=(110.0, 170.0)),
        np.zeros((240, 320, 3), np.uint8),  # nobody there
        infant_scene(red=(60.0, 50.0), green=(150.0, 200.0), torso=(20, 10, 200, 230), size=(320, 240)),
    ]
    stage = PoseStage(PoseModel(models["heatmap"]))
    items = inferred(seg, images)
    out = stage.batch(items)
    assert [o.frame.meta.source_id for o in out] == ["s0", "s1", "s2", "s3"]  # in order, one per item
    assert out[0].pose is not None and out[0].pose.xy == pytest.approx(
        np.array([RED_AT, GREEN_AT]), abs=INPUT_PX
    )
    assert out[1].pose is not None and out[1].pose.xy == pytest.approx(
        np.array([[190, 70], [110, 170]]), abs=INPUT_PX
    )
    assert out[2].pose is None and out[2].maps is not None and not out[2].maps[0].any()
    big = out[3].pose  # a bigger infant, a bigger crop: one input pixel is more frame pixels
    assert big is not None
    px = (big.box[2] - big.box[0]) / INPUT_HW[1]
    assert big.xy == pytest.approx(np.array([[60, 50], [150, 200]]), abs=px)
    assert all(o.timings.pose_ms > 0 for o in out)


def test_no_foreground_no_pose(models, seg):
    (item,) = PoseStage(PoseModel(models["simcc"])).batch(inferred(seg, [np.zeros((120, 160, 3), np.uint8)]))
    assert item.pose is None and item.maps is not None


def test_box_past_the_frame_edge(models, seg):
    """An infant at the frame's corner: the padded crop extends past the frame (padding 0 there) and the
    spots still come back where they are."""
    scene = infant_scene(red=(20.0, 25.0), green=(60.0, 70.0), torso=(0, 0, 90, 100))
    (item,) = PoseStage(PoseModel(models["heatmap"])).batch(inferred(seg, [scene]))
    assert item.pose is not None and item.pose.box[0] < 0 and item.pose.box[1] < 0
    px = (item.pose.box[2] - item.pose.box[0]) / INPUT_HW[1]
    assert item.pose.xy == pytest.approx(np.array([[20.0, 25.0], [60.0, 70.0]]), abs=px)


@pytest.mark.parametrize("kind", ["heatmap", "simcc"])
def test_pose_only_on_the_letterboxed_frame(models, kind):
    only = PoseOnly(PoseModel(models[kind]))
    red, green = (60.0, 40.0), (250.0, 200.0)
    image = infant_scene(red=red, green=green, sigma=20.0, torso=None)
    (item,) = only.batch([only.preprocessor()(FrameStamper("cam").stamp(image, 0.0))])
    # 320 × 240 into 48 × 64: scale 0.15, 36 content rows, 14 padding rows above → the canvas spans
    # y from -14 / 0.15 to (64 - 14) / 0.15 frame px
    assert item.pose is not None and item.pose.box == pytest.approx((0.0, -93.333, 320.0, 333.333), abs=1e-3)
    assert item.pose.xy == pytest.approx(np.array([red, green]), abs=1 / 0.15)  # one input pixel
    assert item.logits is None and item.maps is NO_SEGMENTATION
    assert item.timings.pose_ms > 0 and item.timings.inference_ms == 0.0


def test_postprocess_uses_the_stage_maps_and_passes_the_pose_on(models, seg):
    (item,) = PoseStage(PoseModel(models["heatmap"])).batch(inferred(seg, [infant_scene()]))

    def never(*_: object) -> tuple[np.ndarray, np.ndarray]:
        raise AssertionError("postprocess computed the maps again")

    result = Postprocessor(seg.spec, 1, maps=never)(item)
    assert result.pose is item.pose
    assert result.class_map is item.maps[0]  # type: ignore[index]
    assert {c.name for c in result.classes} >= {"head", "arm", "torso"}  # the red, green spots and the torso


def test_pipeline_with_pose_thread(models, seg, tmp_path):
    """A file through build_pipeline with a pose model: a ``pose`` thread between inference and
    postprocess, every frame's pose in its result, the thread counted among the shared stages."""

    def draw(i: int) -> np.ndarray:
        return infant_scene(red=(130.0 + 2 * i, 100.0), green=(185.0, 150.0 - i))

    video = write_h264(tmp_path / "v.mp4", frames=12, fps=10, size=(320, 240), draw=draw)
    sink = ListSink()
    cfg = evolve(Config(), model=evolve(Config().model, max_batch=4))
    p = build_pipeline(cfg, [FileSource(video, "vid")], seg, [sink], pose=PoseModel(models["heatmap"]))
    assert [t.name for t in p.stages[:4]] == ["preprocess", "inference", "pose", "postprocess"]
    run_to_end(p)
    assert [r.meta.seq for r in sink.results] == list(range(12))
    for i, r in enumerate(sink.results):
        assert r.pose is not None, i
        assert r.pose.xy[0] == pytest.approx((130.0 + 2 * i, 100.0), abs=INPUT_PX)
        assert r.pose.xy[1] == pytest.approx((185.0, 150.0 - i), abs=INPUT_PX)
        assert r.timings.pose_ms > 0 and r.record is not None and r.record["latency_ms"]["pose"] > 0
    counters = p.counters()
    assert {s.name for s in counters.shared} >= {"inference", "pose", "postprocess"}
    assert next(s for s in counters.shared if s.name == "pose").processed == 12
    assert counters.sources[0].processed("pose") == 12 and counters.sources[0].processed("inference") == 12
    assert p.pose is not None and p.pose.stats.processed == 12
