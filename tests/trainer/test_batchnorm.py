import torch
from torch import nn

from trainer.batchnorm import recalibrate_batchnorm


def test_recalibration_matches_data_statistics_and_keeps_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4, momentum=0.01))
    weights = {
        k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k
    }
    batches = [(torch.randn(8, 3, 5, 5) * 3 + 2, torch.zeros(8, 5, 5)) for _ in range(4)]
    used = recalibrate_batchnorm(model, batches, torch.device("cpu"), limit=3)
    assert used == 3 and not model.training
    with torch.no_grad():
        feats = torch.cat([model[0](x) for x, _ in batches[:3]])  # equal-size batches: mean of means
    bn = model[1]
    assert torch.allclose(bn.running_mean, feats.mean(dim=(0, 2, 3)), atol=1e-5)
    assert bn.momentum == 0.01
    for k, v in weights.items():
        assert torch.equal(model.state_dict()[k], v)


def test_no_batches_leaves_statistics():
    model = nn.Sequential(nn.BatchNorm2d(2))
    model[0].running_mean.fill_(5.0)
    assert recalibrate_batchnorm(model, [], torch.device("cpu"), limit=3) == 0
    assert torch.all(model[0].running_mean == 5.0)


def test_layers_without_running_stats_are_left_alone():
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2, track_running_stats=False), nn.BatchNorm2d(2))
    used = recalibrate_batchnorm(model, [(torch.randn(4, 3, 3, 3), None)], torch.device("cpu"), limit=1)
    assert used == 1 and model[1].running_mean is None
    assert not torch.all(model[2].running_mean == 0)
