"""Bad ZeroMQ subscribers cost the publisher nothing: a real lossless pipeline (colour model, an H.264
clip written here) publishing every record and a JPEG of every frame through a real PUB socket, run
with nobody listening (the baseline, measured in this test), with a subscriber that connected and
never reads, and with a subscriber process that reads and is SIGKILLed early in the run. Every frame is
processed in every case, and frames/s stay at 0.8× the baseline or better.

The runs are :func:`tools.zmq_bench.run_case` (the benchmark that prints the same table).
"""

import numpy as np
import pytest

from pipeline.infer.backends.onnxruntime import OrtBackend
from tests.helpers.media import write_h264
from tools.zmq_bench import Run, run_case

FRAMES = 300
MIN_RATIO = 0.8
KILL_AT = 0.2
"""The reading subscriber is SIGKILLed this far into the run (as a fraction of the baseline's
duration): most of the run happens after the abrupt disconnect."""
ROUNDS, MAX_ROUNDS = 2, 5
"""Each case runs ROUNDS times, interleaved with the others, and the best run of each counts (a busy
machine can only slow a run down, never speed it up); while a ratio is below MIN_RATIO, more rounds
run, up to MAX_ROUNDS. A publisher that waits for its subscribers is slower in every round."""


def noisy(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 255, (240, 320, 3), dtype=np.uint8)


@pytest.mark.slow
@pytest.mark.timeout(100)  # the deadline of the whole measurement (up to 16 runs of ~1.3 s)
def test_stalled_and_killed_subscribers_keep_publisher_throughput(tmp_path, ctx, colour_model_path):
    clip = write_h264(tmp_path / "clip.mp4", frames=FRAMES, fps=25, size=(320, 240), draw=noisy)
    backend = OrtBackend(colour_model_path)
    run_case("none", clip, backend, True, ctx)  # warm-up: decoder, model, page cache
    runs: dict[str, list[Run]] = {"none": [], "stalled": [], "killed": []}
    kills: list[float] = []

    def ratios() -> dict[str, float]:
        best = {case: max(r.fps for r in done) for case, done in runs.items()}
        return {case: best[case] / best["none"] for case in ("stalled", "killed")}

    while len(runs["none"]) < ROUNDS or (
        min(ratios().values()) < MIN_RATIO and len(runs["none"]) < MAX_ROUNDS
    ):
        for case, done in runs.items():  # "none" first: "killed" times its kill by this round's baseline
            kill_after = max(0.2, KILL_AT * runs["none"][-1].seconds) if runs["none"] else 0.0
            done.append(run_case(case, clip, backend, True, ctx, kill_after_s=kill_after))
            kills += [kill_after] if case == "killed" else []
    best = {case: max(done, key=lambda r: r.fps) for case, done in runs.items()}
    for case, done in runs.items():
        assert all(x.frames == FRAMES for x in done), f"{case}: frames not processed {done}"
        # every record that reached the ZeroMQ sink went out of the socket (JPEGs come on top)
        assert all(x.sent + x.dropped >= FRAMES for x in done), f"{case}: {done}"
    assert all(r.seconds > k for r, k in zip(runs["killed"], kills, strict=True)), "killed after the run"
    got = ratios()
    assert all(v >= MIN_RATIO for v in got.values()), (got, runs)
    summary = ", ".join(f"{c} {r.fps:.0f} fps" for c, r in best.items())
    print(f"{summary}; ratios {got}; all {[(c, round(x.fps)) for c, d in runs.items() for x in d]}")
