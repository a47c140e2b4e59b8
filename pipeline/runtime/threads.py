"""How many inference workers and ONNX Runtime threads each model gets, from the machine's core count.

Measured on the 2-vCPU dev machine (docs/benchmarks.md, issue 14): the shipped segmentation model runs
at 147 frames/s as one session with two intra-op threads, and at 236–256 frames/s as two threads that
each run a frame with one intra-op thread. Small CNNs parallelise far better across frames than inside
an operator, so on the CPU the default is a **pool of workers** per model (frames in flight, order kept:
:class:`pipeline.runtime.pool.PoolStage`), each running its frame with ``intra`` threads.

The rule (:func:`plan_threads`), with ``models`` the number of models that run on every frame
(segmentation, plus the pose model when there is one):

* each model gets an equal share of the cores for its intra-op threads: ``share = max(1, cores // models)``;
* ``workers = min(cores, MAX_WORKERS)``: every model may have a frame in flight on every core, so the
  work of whichever stage is the bottleneck spreads over all cores (on 2 cores with pose, 2 + 2 workers:
  65.1 frames/s against 57.9 with 1 + 1 — the stages are in series, so the workers of the two models
  mostly take turns);
* ``intra = max(1, share // workers)``, so each model's ``workers × intra`` stays within its share when
  the share is at least the workers: the models' ONNX Runtime threads together never exceed the cores
  on a machine with ``cores ≥ models × MAX_WORKERS`` (16 cores with pose: 4 workers × 2 threads per
  model = 16; without pose: 4 × 4). Below that every thread is single (intra 1) and the threads
  outnumber the cores only by the workers, which block (never spin) when their stage has no frame.

**Live runs** (every source ``latest``: cameras, streams) get **one worker** per model (the intra-op
threads stay as above): a camera's frames come slower than the pipeline can take them, so a second frame
in flight buys no throughput, and when they come faster the frames a second worker would run are the
ones ``latest`` drops anyway — measured on 2 cores, 30 fps source, segmentation alone: p50/p99
capture→output 12.9/16.7 ms with one worker against 16.0/25.7 with two (docs/benchmarks.md).

Idle workers block on their queue (never spin), so the decode, preprocess and postprocess threads get
the cores whenever inference waits. An explicit ``model.workers`` / ``model.threads`` (``pose.workers``
/ ``pose.threads``) overrides the rule for that model. A GPU execution provider gets one worker (the
device serialises the work; the host threads only wait).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

MAX_WORKERS: Final = 4
"""Most workers per model from the automatic rule: more frames in flight than this only add latency."""


@dataclass(frozen=True)
class ThreadPlan:
    """One model's threads.

    Attributes:
        workers: frames that model runs at the same time (threads of its stage), >= 1.
        intra: ONNX Runtime intra-op threads of each run, >= 1.
    """

    workers: int
    intra: int


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one), >= 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def plan_threads(
    cores: int, models: int, workers: int = 0, intra: int = 0, gpu: bool = False, live: bool = False
) -> ThreadPlan:
    """The plan of one model (module docstring).

    Args:
        cores: CPU cores available (:func:`available_cores`), >= 1.
        models: models that run on every frame (1 or 2), >= 1.
        workers: the configured worker count; 0 = by the rule.
        intra: the configured intra-op thread count; 0 = by the rule.
        gpu: the model runs on a GPU execution provider (one worker unless configured).
        live: every source is live (``latest``): one worker unless configured, the same intra-op threads.
    Raises:
        ValueError: ``cores`` or ``models`` below 1, or a negative count.
    """
    if cores < 1 or models < 1 or workers < 0 or intra < 0:
        raise ValueError(
            f"plan_threads: need cores, models >= 1 and counts >= 0, got {cores}, {models}, {workers}, {intra}"
        )
    share = max(1, cores // models)
    throughput = min(cores, MAX_WORKERS)
    i = intra or max(1, share // (workers or throughput))
    w = workers or (1 if gpu or live else throughput)
    return ThreadPlan(workers=w, intra=i)
