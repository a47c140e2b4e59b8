"""Loading a pose model (pipeline/pose/model.py): its spec from ONNX metadata or a sidecar YAML, the
output kinds (heatmap; SimCC x/y found by name, length or order), and one-line errors naming the file
and the field."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from pipeline.contract.keypoints import COCO17
from pipeline.contract.pose_meta import KEY_TASK, PoseSpec
from pipeline.errors import ModelError
from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.pose.model import PoseModel, pose_providers, sidecar_path
from tests.helpers.media import colour_model
from tests.helpers.pose_models import NAMES, heatmap_model, pose_spec, simcc_model

ONE_LINE = "\n"


def load_error(path: Path) -> str:
    with pytest.raises(ModelError) as err:
        PoseModel(path)
    text = str(err.value)
    assert ONE_LINE not in text
    return text


def test_spec_from_metadata(tmp_path):
    spec = pose_spec("heatmap", activation="softmax", decoder="wa", heatmap_sigma=1.5, crop_padding=0.2)
    model = PoseModel(heatmap_model(tmp_path / "kp.onnx", spec))
    assert model.spec == spec and model.spec_from == "metadata"
    assert model.name == "kp" and model.keypoint_names == tuple(NAMES)
    assert model.io.outputs == ("heatmaps",) and model.io.max_batch == 64


def test_keypoint_count_of_the_output_is_checked_against_the_names(tmp_path):
    props = pose_spec("heatmap").to_props()
    for key in ("skeleton", "sides", "facial"):  # names only: the known set's skeleton and sides apply
        del props[f"infant_stream.{key}"]
    props["infant_stream.keypoints"] = json.dumps(list(COCO17.names))
    path = heatmap_model(tmp_path / "coco.onnx", props=props)
    with pytest.raises(ModelError, match="output heatmaps has 2 keypoints, its pose spec names 17"):
        PoseModel(path)  # the toy model has 2 channels


SIDECAR = """\
keypoints: [red, green]
input_size: [64, 48]
mean: [0, 0, 0]
std: [1, 1, 1]
output: simcc
simcc_split: 2
crop_padding: 0.25
"""


def test_spec_from_sidecar_next_to_a_third_party_model(tmp_path):
    path = simcc_model(tmp_path / "rtm.onnx", props={})  # no metadata at all, as a third-party export
    sidecar_path(path).write_text(SIDECAR)
    model = PoseModel(path)
    assert model.spec_from == str(tmp_path / "rtm.yaml")
    assert model.spec.output == "simcc" and model.spec.simcc_split == 2.0 and model.spec.crop_padding == 0.25
    assert model.spec.input_hw == (64, 48) and model.spec.keypoints.names == ("red", "green")
    assert model.io.outputs == ("simcc_x", "simcc_y")


def test_metadata_wins_over_a_sidecar(tmp_path):
    path = heatmap_model(tmp_path / "kp.onnx")
    sidecar_path(path).write_text("keypoints: [a, b, c]\n")
    assert PoseModel(path).spec_from == "metadata"


@pytest.mark.parametrize(
    ("names", "y_first", "expected"),
    [
        (("simcc_x", "simcc_y"), False, ("simcc_x", "simcc_y")),
        (("simcc_x", "simcc_y"), True, ("simcc_x", "simcc_y")),  # listed y first: found by name
        (("pred-X", "pred-Y"), True, ("pred-X", "pred-Y")),
        (("out_a", "out_b"), True, ("out_a", "out_b")),  # no names to go by: by length (W·k = 96, H·k = 128)
        (("out_a", "out_b"), False, ("out_a", "out_b")),
    ],
)
def test_simcc_outputs_found_by_name_then_length(tmp_path, names, y_first, expected):
    model = PoseModel(simcc_model(tmp_path / "s.onnx", names=names, y_first=y_first))
    assert model.io.outputs == expected
    crops = np.zeros((2, 3, 64, 48), np.float32)
    crops[0, 0, 10, 30] = 1.0  # red at column 30, row 10 → bins 60, 20 → (30, 10) input px
    crops[1, 1, 50, 7] = 1.0  # green at column 7, row 50
    xy, score = model.run(crops)
    assert xy.shape == (2, 2, 2) and score.shape == (2, 2)
    assert xy[0, 0] == pytest.approx((30.0, 10.0)) and xy[1, 1] == pytest.approx((7.0, 50.0))


def test_simcc_square_input_without_axis_names_goes_by_order(tmp_path):
    spec = pose_spec("simcc", input_size=[48, 48])
    model = PoseModel(simcc_model(tmp_path / "sq.onnx", spec, names=("first", "second")))
    assert model.io.outputs == ("first", "second")  # x first, as RTMPose exports


def test_heatmap_run_batches_and_decodes_to_input_pixels(tmp_path):
    model = PoseModel(heatmap_model(tmp_path / "kp.onnx"))
    crops = np.zeros((3, 3, 64, 48), np.float32)
    crops[:, 0, 20:24, 8:12] = 1.0  # red fills heatmap cell (5, 2) → input centre (9.5, 21.5)
    crops[2, 1, 40:44, 44:48] = 1.0  # green in the last column of cells
    xy, score = model.run(crops)
    assert xy.shape == (3, 2, 2) and xy.dtype == np.float32
    assert xy[:, 0] == pytest.approx(np.array([[9.5, 21.5]] * 3))
    assert xy[2, 1] == pytest.approx((45.5, 41.5)) and score[:, 0] == pytest.approx([1.0] * 3)


# --- one-line errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("keypoints: [a, b\n", ["line", "not valid YAML"]),
        ("- a\n- b\n", ["must be a mapping", "list"]),
        ("keypoints: [red, green]\nactivaton: none\n", ["activaton: unknown key"]),
        ("input_size: [64, 48]\n", ["keypoints:", "non-empty list"]),
        ("keypoints: [red, green]\ninput_size: [64]\n", ["input_size:", "[height, width]"]),
        ("keypoints: [red, green]\noutput: vectors\n", ["output:", "heatmap, simcc"]),
        ("keypoints: [red, green]\nstd: [1, 0, 1]\n", ["std:", "> 0"]),
        ("keypoints: [red, green]\nstd: [1, x, 1]\n", ["malformed pose field"]),
        ("keypoints: [red, green]\nmean: [0, zero, 0]\n", ["malformed pose field"]),
        ("keypoints: [red, green]\nheatmap_stride: -4\n", ["heatmap_stride:", "positive"]),
        ("keypoints: [red, green]\ntask: segmentation\n", ["task: must be keypoints"]),
    ],
)
def test_malformed_sidecar_is_one_line_naming_the_file(tmp_path, text, needles):
    path = heatmap_model(tmp_path / "third.onnx", props={})
    sidecar_path(path).write_text(text)
    message = load_error(path)
    assert message.startswith(str(sidecar_path(path)))
    for needle in needles:
        assert needle in message, message


def test_not_a_keypoints_model_without_sidecar(tmp_path):
    path = colour_model(tmp_path / "seg.onnx")  # segmentation metadata without a task key
    message = load_error(path)
    assert str(path) in message and "not a keypoints (pose) model" in message and "seg.yaml" in message


def test_segmentation_task_refused_even_with_a_sidecar(tmp_path):
    props = {KEY_TASK: "segmentation"}
    path = heatmap_model(tmp_path / "seg.onnx", props=props)
    sidecar_path(path).write_text(SIDECAR)
    assert "is a segmentation model, not a keypoints (pose) model" in load_error(path)


def test_missing_file_and_folder(tmp_path):
    assert load_error(tmp_path / "none.onnx") == f"{tmp_path / 'none.onnx'}: model file not found"
    assert "is a folder" in load_error(tmp_path)


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (
            lambda p: heatmap_model(p, input_hw=(32, 48)),
            "input input is 32×48, its pose spec says input_size [64, 48]",
        ),
        (lambda p: heatmap_model(p, pose_spec("heatmap", keypoints=["a", "b", "c"])), "has 2 keypoints"),
        (lambda p: heatmap_model(p, pose_spec("simcc")), "SimCC model needs two (N, K, bins) outputs"),
        (lambda p: simcc_model(p, pose_spec("heatmap")), "heatmap model needs one (N, K, h, w) output"),
        (
            lambda p: simcc_model(p, props=pose_spec("simcc", simcc_split=3.0).to_props()),
            "simcc_x has 96 bins, expected 48 px × simcc_split 3 = 144",
        ),
    ],
)
def test_model_that_does_not_fit_its_spec(tmp_path, build, needle):
    assert needle in load_error(build(tmp_path / "bad.onnx"))


def test_heatmap_stride_checked_on_the_output(tmp_path):
    spec = pose_spec("heatmap")
    path = heatmap_model(tmp_path / "kp.onnx", spec)
    m = onnx.load(str(path))
    for entry in m.metadata_props:
        if entry.key == "infant_stream.heatmap_stride":
            entry.value = "8"  # the graph pools by 4
    onnx.save(m, str(path))
    with pytest.raises(ModelError, match=r"heatmaps are \(1, 2, 16, 12\), expected .* heatmap_stride 8"):
        PoseModel(path)  # at warm-up, on the real output


def test_keypoints_model_given_as_the_segmentation_model(tmp_path):
    with pytest.raises(ModelError, match="is a keypoints \\(pose\\) model, not a segmentation model"):
        OrtBackend(heatmap_model(tmp_path / "kp.onnx"))


@pytest.mark.parametrize(
    ("requested", "available", "gpu", "expected"),
    [
        ("auto", ["CPUExecutionProvider"], False, ["CPUExecutionProvider"]),
        (
            "auto",
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
            True,
            ["CUDAExecutionProvider", "CPUExecutionProvider"],  # no TensorRT EP for pose models yet
        ),
        (
            "TensorrtExecutionProvider",
            ["TensorrtExecutionProvider", "CUDAExecutionProvider"],
            True,
            ["CUDAExecutionProvider"],
        ),
        ("TensorrtExecutionProvider", ["TensorrtExecutionProvider"], True, ["CPUExecutionProvider"]),
    ],
)
def test_pose_providers(requested, available, gpu, expected):
    assert pose_providers(requested, available, gpu) == expected


def test_spec_round_trips_through_props():
    spec = pose_spec("simcc", simcc_split=3.0, crop_padding=0.05)
    assert PoseSpec.from_props(spec.to_props(), "x") == spec


@pytest.mark.parametrize(
    ("fields", "sides", "facial", "skeleton"),
    [
        pytest.param(
            {"keypoints": ["nose", "Eye_L", "right_ear", "wrist_R", "hip", "upper-lip"]},
            ("", "L", "R", "R", "", ""),
            (0, 1, 2, 5),
            (),
            id="derived-from-names",
        ),
        pytest.param(
            {"keypoints": ["a", "b", "c"], "sides": ["R", "L", ""], "facial": [2], "skeleton": [[0, 1]]},
            ("R", "L", ""),
            (2,),
            ((0, 1),),
            id="stated",
        ),
        pytest.param(
            {"keypoints": list(COCO17.names)}, COCO17.sides, COCO17.facial, COCO17.skeleton, id="known"
        ),
    ],
)
def test_a_sidecar_without_sides_or_facial_gets_them_from_the_names(fields, sides, facial, skeleton):
    kset = PoseSpec.from_mapping(fields, "m.yaml").keypoints
    assert (kset.sides, kset.facial, kset.skeleton) == (sides, facial, skeleton)
