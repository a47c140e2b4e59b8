"""Per-source counters with a pose thread (real segmentation and pose ONNX models, a real pose stage).

With a pose model, what inference has handed on is what went into the source's ``segmented`` lane
(inference → pose); the ``inferred`` lane (pose → postprocess) counts only what the pose stage has
finished. Every blocking wait below has a deadline (and pytest-timeout, setup.cfg).
"""

import threading
from collections.abc import Sequence

import numpy as np

from pipeline.frames import Inferred
from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.pose.model import PoseModel
from pipeline.pose.stage import PoseStage
from tests.helpers.media import DEADLINE_S, ListSink, SyntheticCamera, colour_pipeline, run_to_end
from tests.helpers.pose_models import heatmap_model


class GatedPose:
    """The real pose stage, held at the start of each batch until the test lets it go.

    The gate is the one thing not real here: without it, when the pose thread holds a frame (taken
    from the ``segmented`` lane, not yet put on ``inferred``) is a race the test cannot observe.
    """

    def __init__(self, stage: PoseStage) -> None:
        self.stage = stage
        self.entered = threading.Event()
        self.release = threading.Event()

    def batch(self, items: Sequence[Inferred]) -> list[Inferred]:
        self.entered.set()
        assert self.release.wait(DEADLINE_S), "the test never released the pose stage"
        return self.stage.batch(items)


def test_inference_count_comes_from_the_empty_segmented_lane(tmp_path, colour_model_path):
    """One frame: inference has handed it on (the segmented lane accepted it) and the pose thread has
    taken it (the lane is empty, so falsy) but not finished it (the inferred lane has accepted none).
    Inference's count is 1, from the segmented lane, not the inferred lane's 0."""
    backend = OrtBackend(colour_model_path)
    gate = GatedPose(PoseStage(PoseModel(heatmap_model(tmp_path / "pose.onnx"))))
    camera = SyntheticCamera(1, 0.01, np.zeros((32, 32, 3), np.uint8), source_id="cam0")
    sink = ListSink()
    p = colour_pipeline(camera, backend, [sink], pose=gate)
    p.start()
    try:
        assert gate.entered.wait(DEADLINE_S), "the pose stage never got the frame"
        segmented, inferred = p.q_segmented.lane("cam0"), p.q_inferred.lane("cam0")
        assert (segmented.accepted, len(segmented), inferred.accepted) == (1, 0, 0)
        assert not segmented  # an empty lane is falsy: `segmented or inferred` picked the wrong one
        (cam,) = p.counters().sources
        assert cam.processed("inference") == 1
        assert cam.processed("pose") == 0 and cam.processed("postprocess") == 0
    finally:
        gate.release.set()
    assert p.wait(DEADLINE_S), "pipeline did not finish in time"
    p.join()
    (cam,) = p.counters().sources
    assert [cam.processed(s) for s in ("inference", "pose", "postprocess")] == [1, 1, 1]
    assert [r.meta.seq for r in sink.results] == [0]


def test_counts_without_a_pose_thread_come_from_the_inferred_lane(tmp_path, colour_model_path):
    """No pose model: no segmented lane, no ``pose`` entry; inference's count is the inferred lane's."""
    p = colour_pipeline(
        SyntheticCamera(3, 0.01, np.zeros((32, 32, 3), np.uint8)), OrtBackend(colour_model_path), []
    )
    run_to_end(p)
    (cam,) = p.counters().sources
    assert p.q_segmented is None and [s.name for s in cam.stages][-1] == "postprocess"
    assert (
        cam.processed("inference")
        == p.q_inferred.lane(cam.source_id).accepted
        == cam.processed("postprocess")
    )
