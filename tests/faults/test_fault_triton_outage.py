"""The Triton server killed and restarted mid-run (a real PyTriton ``tritonserver``, ``infant-stream run
--backend triton`` as a child process, records read over a real SUB socket, metrics over HTTP).

While the server is down the source's status is ``backend_unavailable`` (status records, ``/healthz``,
the ``source_state`` gauge), nothing crashes, and records resume within 3 s of the server's return; the
outage is counted in ``backend_outages_total``.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.fault_live import published_run, signal_and_wait
from tests.helpers.media import wait_for
from tests.helpers.metrics import current, healthz
from tests.helpers.procs import REPO, free_port
from tests.helpers.triton import TritonServer

RESUME_S = 3.0
"""Records must follow the server's return (every model ready) within this long."""
SEG = REPO / "models" / "infant-seg.onnx"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_killed_and_restarted_server_is_an_outage_not_a_crash(infant_stream, ctx, tmp_path):
    from trainer.synth.video import write_video

    clip = tmp_path / "clip.mp4"
    write_video(clip, frames=40, fps=10, width=320, height=240, seed=4)
    port = free_port()
    metrics = f"http://127.0.0.1:{port}"
    with (
        TritonServer({"infant-seg": SEG}, tmp_path / "server") as server,
        published_run(
            ctx,
            infant_stream,
            *("--source", str(clip), "--realtime", "--loop", "--no-pose", "--no-progress"),
            *("--backend", "triton", "--triton-url", server.url, "--metrics-port", str(port)),
            stderr_path=tmp_path / "stderr.txt",
        ) as (sub, proc),
    ):
        wait_for(lambda: len(sub.parts()) >= 5, 60, "records through the server")
        t_kill = time.monotonic()
        server.kill()
        wait_for(
            lambda: "backend_unavailable" in sub.states(since=t_kill), 15, "a backend_unavailable status"
        )
        gauge = current(metrics, "infant_stream_source_state", source="cam0", state="backend_unavailable")
        code, health = healthz(metrics)
        assert proc.poll() is None, "the run ended when the server died"
        t_down = time.monotonic()
        server.start()  # returns once the server and the model are ready again
        t_back = time.monotonic()
        wait_for(lambda: bool(sub.parts(since=t_back)), 30, "records after the restart")
        resumed_s = sub.parts(since=t_back)[0].at - t_back
        wait_for(lambda: sub.states(since=t_back + resumed_s)[-1:] == ["running"], 10, "running again")
        outages = current(metrics, "infant_stream_backend_outages_total")
        exit_code, _ = signal_and_wait(proc)
    stderr = (tmp_path / "stderr.txt").read_text()
    print(
        f"server down {t_back - t_kill:.1f} s (restart took {t_back - t_down:.1f} s); records {resumed_s:.2f} s after"
    )
    assert gauge == 1.0
    assert code == 503 and health["sources"] == {"cam0": "backend_unavailable"}, health
    assert resumed_s <= RESUME_S, f"records resumed {resumed_s:.1f} s after the server was back\n{stderr}"
    assert outages == 1.0
    assert exit_code in (0, 130), stderr
    assert "Traceback" not in stderr, stderr
    assert "inference failed" in stderr and "answers again after" in stderr, stderr
