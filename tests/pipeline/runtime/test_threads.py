"""The thread plan (pipeline/runtime/threads.py): workers and intra-op threads from the core count, the
models that share the cores, and the configured overrides — on 1, 2, 16 and 64 cores. The ONNX Runtime
threads of all models together never exceed the cores (the 16-core machine must not oversubscribe)."""

import pytest

from pipeline.config import Config, from_mapping
from pipeline.runtime.threads import MAX_WORKERS, ThreadPlan, available_cores, plan_threads
from pipeline.session.build import pose_threads, segmentation_threads


@pytest.mark.parametrize(
    ("cores", "models", "expect"),
    [
        (1, 1, ThreadPlan(1, 1)),
        (1, 2, ThreadPlan(1, 1)),
        (2, 1, ThreadPlan(2, 1)),  # the dev machine, segmentation alone: two frames in flight
        (2, 2, ThreadPlan(2, 1)),  # ... with the pose model: two single-thread workers each
        (3, 2, ThreadPlan(3, 1)),
        (4, 2, ThreadPlan(4, 1)),
        (8, 2, ThreadPlan(4, 1)),
        (4, 1, ThreadPlan(4, 1)),
        (16, 1, ThreadPlan(4, 4)),
        (16, 2, ThreadPlan(4, 2)),
        (64, 2, ThreadPlan(4, 8)),
    ],
)
def test_plan_from_cores(cores, models, expect):
    plan = plan_threads(cores, models)
    assert plan == expect
    assert plan.workers <= MAX_WORKERS
    assert plan.intra == 1 or models * plan.workers * plan.intra <= cores  # extra threads only single ones


@pytest.mark.parametrize("cores", range(1, 129))
@pytest.mark.parametrize("models", [1, 2])
def test_no_oversubscription_on_any_core_count(cores, models):
    plan = plan_threads(cores, models)
    assert 1 <= plan.workers <= min(cores, MAX_WORKERS) and plan.intra >= 1
    # all the models' ONNX Runtime threads fit the cores, or every one is single (the workers block
    # when idle, never spin)
    assert models * plan.workers * plan.intra <= max(cores, models * plan.workers)


def test_configured_counts_win_and_gpu_gets_one_worker():
    assert plan_threads(16, 1, workers=2) == ThreadPlan(2, 8)
    assert plan_threads(16, 1, intra=3) == ThreadPlan(4, 3)
    assert plan_threads(2, 1, workers=3, intra=2) == ThreadPlan(3, 2)
    assert plan_threads(16, 1, gpu=True) == ThreadPlan(1, 4)  # intra as the CPU plan: host threads only wait


@pytest.mark.parametrize(
    ("cores", "models", "expect"),
    [
        (2, 1, ThreadPlan(1, 1)),
        (2, 2, ThreadPlan(1, 1)),
        (16, 1, ThreadPlan(1, 4)),
        (16, 2, ThreadPlan(1, 2)),
    ],
)
def test_live_runs_get_one_worker_and_the_same_intra_threads(cores, models, expect):
    assert plan_threads(cores, models, live=True) == expect
    assert plan_threads(cores, models, live=True, workers=3).workers == 3  # configured wins


def test_bad_arguments():
    with pytest.raises(ValueError, match="cores, models >= 1"):
        plan_threads(0, 1)
    with pytest.raises(ValueError, match="counts >= 0"):
        plan_threads(2, 1, workers=-1)


def test_available_cores_is_positive():
    assert available_cores() >= 1


def test_config_decides_the_models_that_share_the_cores(tmp_path):
    pose = tmp_path / "pose.onnx"
    pose.write_bytes(b"")  # only its presence counts here
    with_pose = from_mapping(Config, {"pose": {"model": str(pose)}}, "cfg.yaml")
    no_pose = from_mapping(Config, {"pose": {"enabled": False}}, "cfg.yaml")
    pose_only = from_mapping(Config, {"model": {"path": ""}, "pose": {"model": str(pose)}}, "cfg.yaml")
    assert segmentation_threads(with_pose, cores=16) == ThreadPlan(4, 2)
    assert pose_threads(with_pose, cores=16) == ThreadPlan(4, 2)
    assert segmentation_threads(no_pose, cores=16) == ThreadPlan(4, 4)
    assert pose_threads(pose_only, cores=16) == ThreadPlan(4, 4)
    threads = from_mapping(
        Config, {"model": {"threads": 3}, "pose": {"model": str(pose), "workers": 1}}, "c.yaml"
    )
    assert pose_threads(threads, cores=16) == ThreadPlan(1, 3)  # pose.threads 0 follows model.threads


class _GpuBackend:
    """Stands in for a backend on a GPU (none exists here): only what stage_workers reads."""

    on_gpu = True
    remote = False


def test_stage_workers_follow_the_plan_the_device_and_live_runs(tmp_path):
    from pipeline.infer.backends.onnxruntime import OrtBackend
    from pipeline.session.build import stage_workers
    from tests.helpers.media import colour_model

    cpu = OrtBackend(colour_model(tmp_path / "colour.onnx"))  # a real CPU session
    cfg = from_mapping(Config, {"pose": {"enabled": False}}, "cfg.yaml")
    cores = available_cores()
    assert stage_workers(cfg, cpu, None) == (plan_threads(cores, 1).workers, 1)
    assert stage_workers(cfg, cpu, None, live=True) == (1, 1)
    assert stage_workers(cfg, _GpuBackend(), None) == (1, 1)  # type: ignore[arg-type]
    pinned = from_mapping(Config, {"pose": {"enabled": False}, "model": {"workers": 3}}, "cfg.yaml")
    assert stage_workers(pinned, _GpuBackend(), None, live=True) == (3, 1)  # type: ignore[arg-type]
