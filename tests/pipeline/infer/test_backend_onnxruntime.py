"""A real ONNX model (built with onnx.helper) in ONNX Runtime, through preprocess and postprocess."""

import numpy as np
import pytest

from pipeline.errors import ModelError
from pipeline.frames import Frame, FrameMeta
from pipeline.infer.backends.onnxruntime import OrtBackend, OrtOptions, choose_providers
from pipeline.infer.inference import InferenceStage
from pipeline.infer.preprocess import Preprocessor
from pipeline.postprocess.stage import Postprocessor
from tests.helpers.media import BLUE, COLOUR_CLASS, COLOUR_SPEC, GREEN, RED, WHITE, colour_model, scene


def scene_classes(img: np.ndarray) -> np.ndarray:
    """The class of every pixel of a colour-model scene."""
    out = np.zeros(img.shape[:2], np.uint8)
    for colour, cls in COLOUR_CLASS.items():
        out[(img == colour).all(axis=2)] = cls
    return out


def frame_of(img: np.ndarray, seq: int = 0) -> Frame:
    h, w = img.shape[:2]
    return Frame(FrameMeta("t", seq, 0.0, 0.0, None, w, h), img)


def test_loads_spec_from_metadata(colour_model_path):
    backend = OrtBackend(colour_model_path, OrtOptions(providers="CPUExecutionProvider"))
    assert backend.spec == COLOUR_SPEC
    assert backend.name == "onnxruntime:CPUExecutionProvider"
    out = backend.infer(np.zeros((2, 3, 64, 64), np.float32))
    assert out.shape == (2, 5, 64, 64)


def test_parts_exact_in_original_coordinates_through_letterbox(colour_model_path):
    # 128x64 landscape frame -> 64x32 content in the 64x64 canvas (scale 1/2, 16 rows padding top).
    rects = [
        (RED, (10, 4, 30, 24)),  # head: 20x20
        (GREEN, (40, 40, 50, 60)),  # arm instance A: 10x20
        (GREEN, (100, 2, 124, 10)),  # arm instance B: 24x8 (smaller)
        (BLUE, (60, 20, 90, 50)),  # torso: 30x30
        (WHITE, (0, 56, 8, 64)),  # leg in the corner: 8x8
    ]
    img = scene(64, 128, rects)
    backend = OrtBackend(colour_model_path)
    pre, post = Preprocessor(backend.spec), Postprocessor(backend.spec, min_area_px=1)
    result = post(InferenceStage(backend)(pre(frame_of(img))))
    assert result.class_map.shape == (32, 64)  # model resolution, padding cropped
    full = result.full_class_map()
    assert full.shape == (64, 128)
    assert (full == scene_classes(img)).all()
    got = {(p.class_id, p.instance): (p.box, p.centroid, p.area_px) for p in result.parts}
    expected = {}
    by_class: dict[int, list] = {}
    for colour, (x0, y0, x1, y1) in rects:
        cls = {RED: 1, GREEN: 2, BLUE: 3, WHITE: 4}[colour]
        by_class.setdefault(cls, []).append((x0, y0, x1, y1))
    for cls, boxes in by_class.items():
        boxes.sort(key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            expected[(cls, i)] = (
                (x0, y0, x1, y1),
                ((x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2),
                (x1 - x0) * (y1 - y0),
            )
    assert got == expected
    # softmax of the colour model's logits: red/green/blue (4 vs 1, -1, -2, -2), white (3 vs 1, 0, 0, 0)
    primary = np.exp(4) / (np.exp(4) + np.exp(1) + np.exp(-1) + 2 * np.exp(-2))
    white = np.exp(3) / (np.exp(3) + np.exp(1) + 3)
    for p in result.parts:
        assert p.score == pytest.approx(white if p.class_id == 4 else primary, abs=1e-4)
    arm = next(c for c in result.classes if c.name == "arm")
    assert arm.instances == 2 and arm.area_px == 200 + 192 and arm.box == (40, 2, 124, 60)


def test_min_area_drops_small_regions(colour_model_path):
    img = scene(64, 64, [(RED, (0, 0, 4, 4)), (RED, (20, 20, 40, 40))])
    backend = OrtBackend(colour_model_path)
    result = Postprocessor(backend.spec, min_area_px=50)(
        InferenceStage(backend)(Preprocessor(backend.spec)(frame_of(img)))
    )
    assert [(p.class_id, p.area_px) for p in result.parts] == [(1, 400)]
    assert result.classes[0].area_px == 416


def test_unreadable_model(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(ModelError, match=r"bad\.onnx: cannot load model"):
        OrtBackend(bad)


def test_missing_model(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        OrtBackend(tmp_path / "none.onnx")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": 1}, r"must be \(N, 3, H, W\)"),
        ({"classes": 4}, r"has 4 classes, metadata names 5"),
    ],
)
def test_model_with_wrong_shapes(tmp_path, kwargs, message):
    path = colour_model(tmp_path / "wrong.onnx", **kwargs)
    with pytest.raises(ModelError, match=message):
        OrtBackend(path)


def test_dynamic_spatial_input_uses_metadata_size(tmp_path):
    path = colour_model(tmp_path / "dyn.onnx", input_hw=("h", "w"))
    assert OrtBackend(path).spec.input_hw == (64, 64)


@pytest.mark.parametrize(
    ("requested", "available", "driver", "expected"),
    [
        (
            "auto",
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
            True,
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        (
            "auto",
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
            False,
            ["CPUExecutionProvider"],
        ),
        (
            "auto",
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
            True,
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        ("CPUExecutionProvider", ["CPUExecutionProvider"], False, ["CPUExecutionProvider"]),
    ],
)
def test_choose_providers(requested, available, driver, expected):
    assert choose_providers(requested, available, driver) == expected


def test_unknown_provider_is_named():
    with pytest.raises(ModelError, match="FooExecutionProvider is not available"):
        choose_providers("FooExecutionProvider", ["CPUExecutionProvider"], False)
