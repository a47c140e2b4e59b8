import pytest

from pipeline.contract.model_meta import KEY_INPUT_SIZE, KEY_LETTERBOX, KEY_PAD_VALUE, ModelSpec
from pipeline.errors import ModelError


def test_props_roundtrip():
    spec = ModelSpec(input_hw=(256, 320), letterbox="topleft", pad_value=114, metrics={"fg_dice": 0.9})
    assert ModelSpec.from_props(spec.to_props(), "m.onnx") == spec


def test_missing_props_give_defaults_and_graph_size_wins():
    spec = ModelSpec.from_props({}, "m.onnx", input_hw=(320, 240))
    assert spec.input_hw == (320, 240)
    assert spec.class_names[0] == "background" and spec.num_classes == 5


@pytest.mark.parametrize(
    ("key", "value"),
    [(KEY_INPUT_SIZE, "[0, 5]"), (KEY_INPUT_SIZE, "{"), (KEY_LETTERBOX, "middle"), (KEY_PAD_VALUE, "300")],
)
def test_bad_props_name_the_key(key, value):
    with pytest.raises(ModelError, match=key.replace(".", r"\.")):
        ModelSpec.from_props({key: value}, "m.onnx")
