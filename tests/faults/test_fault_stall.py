"""A camera that hangs: the RTSP server stays up with its session open but stops sending frames
(SIGUSR1 closes a valve before its encoder). ``infant-stream run`` (default settings) must report
``stalled`` once no frame has come for ``source.stall_timeout_s``, drop the dead session, and
deliver records again once the camera sends frames again (SIGUSR2)."""

import time

import pytest

from pipeline.config import SourceConfig
from tests.faults.fault_live import published_run, signal_and_wait, transitions
from tests.helpers.media import wait_for

STALL_S = SourceConfig().stall_timeout_s
STALL_FOR_S = STALL_S + 2.5
"""How long the server sends nothing: long enough for the stall and a status record to show it."""


@pytest.mark.slow
def test_stalled_stream_is_reported_stalled_then_resumes(
    rtsp_server, infant_stream, colour_model_path, ctx, tmp_path
):
    err = tmp_path / "stderr.txt"
    with published_run(
        ctx, infant_stream, "--source", rtsp_server.url, "--model", str(colour_model_path), stderr_path=err
    ) as (sub, proc):
        wait_for(lambda: len(sub.parts()) >= 10 and sub.states()[-1:] == ["running"], 30, "running")
        rtsp_server.stall()
        t_stall = time.monotonic()
        t_seen = wait_for(lambda: "stalled" in sub.states(since=t_stall), STALL_S + 5, "a stalled status")
        quiet = sub.parts(since=t_stall + 1.0)  # frames already on their way may still land
        time.sleep(max(0.0, t_stall + STALL_FOR_S - time.monotonic()))
        assert rtsp_server.proc is not None and rtsp_server.proc.poll() is None, "the server must stay up"
        rtsp_server.resume()
        t_resume = time.monotonic()
        t_back = wait_for(lambda: len(sub.parts(since=t_resume)) >= 5, 15, "records after the stall")
        back = sub.parts(since=t_resume)[0].at - t_resume
        wait_for(lambda: "running" in sub.states(since=t_back), 5, "a running status after the stall")
        states = transitions(["running", *sub.states(since=t_stall)])
        code, _ = signal_and_wait(proc)
    stderr = err.read_text()
    assert code in (0, 130), stderr
    assert not quiet, f"{len(quiet)} records arrived while the server sent nothing"
    detect = t_seen - t_stall
    # not before the stall timeout (a real stall, not a blip), and within a status interval or two after
    assert STALL_S - 0.5 <= detect <= STALL_S + 3.0, f"stalled reported {detect:.2f} s after the stall"
    assert states[:2] == ["running", "stalled"] and states[-1] == "running", states
    assert set(states[1:-1]) <= {"stalled", "reconnecting"}, states
    assert f"no frame for {STALL_S:.1f} s; reconnecting" in stderr, stderr
    assert "Traceback" not in stderr
    print(
        f"stalled reported after {detect:.2f} s; records back {back:.2f} s after the "
        f"server resumed; states {states}"
    )
