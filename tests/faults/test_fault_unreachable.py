"""A camera that never answers: ``infant-stream run`` on an RTSP URL whose port nobody listens on keeps
retrying with a growing (capped) backoff, says so on stderr and in ``status.*`` records, never shows
the password, and a SIGINT ends it within 2 s (measured from the signal to the exit)."""

import re

from tests.faults.fault_live import published_run, signal_and_wait
from tests.helpers.media import wait_for
from tests.helpers.procs import free_port

RETRY = re.compile(r"cannot open \(.*\); retrying in ([0-9.]+) s")
STOP_S = 2.0
"""SIGINT → exit, at most."""


def test_unreachable_source_retries_with_backoff_and_sigint_ends_it_within_2s(
    infant_stream, colour_model_path, ctx, tmp_path
):
    url = f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/cam"  # closed port: connection refused
    err = tmp_path / "stderr.txt"
    with published_run(
        ctx, infant_stream, "--source", url, "--model", str(colour_model_path), stderr_path=err
    ) as (sub, proc):
        # default backoff 0.5, 1, 2 s…: the 4th attempt comes ~3.5 s after the first
        wait_for(lambda: len(RETRY.findall(err.read_text())) >= 4, 20, "four retry lines", step=0.1)
        wait_for(lambda: len(sub.states()) >= 2, 10, "status records")
        assert proc.poll() is None, "the process gave up on an unreachable camera"
        code, seconds = signal_and_wait(proc)
    stderr = err.read_text()
    assert code in (0, 130), stderr
    assert seconds <= STOP_S, f"SIGINT to exit took {seconds:.2f} s"
    delays = [float(d) for d in RETRY.findall(stderr)]
    assert delays[0] < delays[1] < delays[2] and delays == sorted(delays), delays
    assert "s3cret" not in stderr and "rtsp://***:***@127.0.0.1" in stderr
    assert "Traceback" not in stderr
    states = sub.states()
    assert states[-1] == "stopped", states  # the final status of a stopped run
    assert set(states[:-1]) <= {"starting", "reconnecting"} and "reconnecting" in states, states
    assert not sub.parts()
    print(f"SIGINT to exit: {seconds:.2f} s; retry delays {delays}; states {states}")
