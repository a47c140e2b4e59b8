"""The keypoint model: heatmaps at a quarter of the input, one per keypoint, for both backbones."""

from __future__ import annotations

import pytest
import torch

from pipeline.errors import ConfigError, ModelError
from trainer.pose.model import HEATMAP_STRIDE, architecture_name, build_pose_model


@pytest.mark.parametrize(
    ("arch", "head", "k", "hw", "out_hw"),
    [
        ("mnv3-large", 32, 22, (192, 192), (48, 48)),
        ("mnv3-small", 16, 17, (256, 192), (64, 48)),
        ("mnv3-small", 8, 3, (64, 96), (16, 24)),
    ],
)
def test_output_shape_is_a_quarter_of_the_input(
    arch: str, head: int, k: int, hw: tuple[int, int], out_hw: tuple[int, int]
) -> None:
    model = build_pose_model(arch, k, head).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, *hw))
    assert out.shape == (2, k, *out_hw)
    assert (hw[0] // HEATMAP_STRIDE, hw[1] // HEATMAP_STRIDE) == out_hw
    deconvs = [m for m in model.deconv if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.kernel_size, m.stride, m.out_channels) for m in deconvs] == [((4, 4), (2, 2), head)] * 3


def test_names_and_bad_arch() -> None:
    assert architecture_name("mnv3-large", 128) == "simplebaseline_mobilenet_v3_large_h128"
    assert architecture_name("mnv3-small", 64) == "simplebaseline_mobilenet_v3_small_h64"
    with pytest.raises(
        ConfigError, match="--arch: keypoints take one of mnv3-large, mnv3-small, got 'lraspp'"
    ):
        build_pose_model("lraspp", 22)
    with pytest.raises(ConfigError, match="--weights-backbone"):
        build_pose_model("mnv3-small", 22, weights_backbone="coco")


@pytest.mark.usefixtures("offline")
def test_weights_backbone_offline_is_one_clear_error() -> None:
    with pytest.raises(
        ModelError, match=r"--weights-backbone imagenet: cannot download .*mobilenet_v3_small"
    ) as e:
        build_pose_model("mnv3-small", 22, weights_backbone="imagenet")
    assert "\n" not in str(e.value) and "--weights-backbone none" in str(e.value)
