"""The live-outputs "done when", for real: ``infant-stream run --source vtest.avi --zmq ... --record
out.mp4 --no-display`` publishes schema-1 records with track ids and smoothed centroids that a
second process receives with ``infant-stream subscribe``, and the mp4 plays.

Two real processes, a real ZeroMQ TCP socket on 127.0.0.1, a real H.264 file read back with PyAV.
"""

import json
import subprocess
from pathlib import Path

import av

from tests.helpers.bounds import assert_records_in_frame
from tests.helpers.procs import free_port

MODEL = Path(__file__).resolve().parents[1] / "models" / "infant-seg.onnx"


def test_run_publishes_tracked_records_to_a_subscriber_and_records_a_playable_mp4(
    infant_stream, vtest_avi, tmp_path
):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    got = tmp_path / "got.jsonl"
    # The subscriber connects first (ZeroMQ retries until the publisher binds), then the run starts
    # paced at the file's 10 fps, so only the first frame or two can be missed by the slow joiner.
    sub = subprocess.Popen(
        [*infant_stream, "subscribe", endpoint, "--jsonl", str(got), "--count", "25", "--timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    mp4 = tmp_path / "out.mp4"
    try:
        run = subprocess.run(
            [
                *infant_stream,
                *("run", "--source", str(vtest_avi), "--model", str(MODEL), "--realtime"),
                *("--zmq", endpoint, "--record", str(mp4), "--no-display", "--max-frames", "40"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        out, err = sub.communicate(timeout=30)
    finally:
        sub.kill()
    assert run.returncode == 0, run.stderr
    assert sub.returncode == 0, err

    records = [json.loads(line) for line in got.read_text().splitlines()]
    assert len(records) == 25
    seqs = [r["seq"] for r in records]
    assert seqs == list(range(seqs[0], seqs[0] + 25)), "records arrive in order, none missing"
    assert all(r["schema"] == 1 and r["source"] == "cam0" for r in records)
    parts = [p for r in records for p in r["parts"]]
    assert parts and all(isinstance(p["track_id"], int) for p in parts)
    assert_records_in_frame(records)  # no part, observed or predicted, outside the frame
    observed = [p for p in parts if p["state"] == "observed"]
    assert observed and all(p["smoothed"] is not None and p["velocity"] is not None for p in observed)
    # a track keeps its id from frame to frame (the same id appears in many records)
    ids = [p["track_id"] for p in parts]
    assert max(ids.count(i) for i in set(ids)) >= 10

    status = [json.loads(line.split(" ", 1)[1]) for line in out.splitlines() if line.startswith("status.")]
    assert status and status[0]["type"] == "status" and status[0]["state"] == "running"

    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    assert len(frames) == 40
    assert (frames[0].width, frames[0].height) == (768, 576)
    assert frames[-1].time is not None and 3.7 <= frames[-1].time <= 4.1  # 40 frames at 10 fps
