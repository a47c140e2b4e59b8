"""``infant-stream subscribe`` as a real subprocess against a real publisher on 127.0.0.1, and the
plain pyzmq example in docs/. Every wait has a deadline (plus pytest-timeout)."""

import csv
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.config import ZMQ_DEFAULT_ENDPOINT, ZmqConfig
from pipeline.publish.curve import create_keypair
from pipeline.publish.publisher import ZmqPublisher
from tests.helpers.media import OBSERVED_PART, PREDICTED_PART, wait_for
from tests.helpers.procs import REPO, free_port

ARM, HEAD = OBSERVED_PART, PREDICTED_PART


def record(source: str, seq: int) -> dict:
    return {
        "schema": 1,
        "source": source,
        "seq": seq,
        "pts_s": seq / 10,
        "capture_ts": 1795270000.0 + seq / 10,
        "width": 64,
        "height": 48,
        "dropped_since_last": 0,
        "latency_ms": {"preprocess": 1.0},
        "parts": [ARM, HEAD],
        "classes": [],
    }


class Feeder:
    """Publishes ``parts.<source>`` records (and whatever ``extra(seq)`` adds) every ``interval_s``."""

    def __init__(
        self,
        pub: ZmqPublisher,
        sources: tuple[str, ...] = ("cam0",),
        interval_s: float = 0.01,
        extra: Callable[[ZmqPublisher, int], None] | None = None,
    ) -> None:
        self.pub, self.sources, self.interval_s, self.extra = pub, sources, interval_s, extra
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        seq = 0
        while not self.stop.wait(self.interval_s):
            if self.extra is not None:
                self.extra(self.pub, seq)
            for s in self.sources:
                self.pub.publish(f"parts.{s}", json.dumps(record(s, seq)).encode())
            if seq % 10 == 0:
                self.pub.publish("status.cam0", b'{"type":"status","state":"running"}')
            seq += 1

    def __enter__(self) -> "Feeder":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.fixture
def publisher() -> Iterator[ZmqPublisher]:
    with ZmqPublisher(ZmqConfig(endpoint=f"tcp://127.0.0.1:{free_port()}")) as pub:
        yield pub


def subscribe(infant_stream, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*infant_stream, "subscribe", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen, timeout: float = 30) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(5)
        pytest.fail(f"subscribe did not end: {err}")
    return proc.returncode, out, err


def test_count_writes_jsonl_and_csv(tmp_path, publisher, infant_stream):
    jsonl, table = tmp_path / "out" / "r.jsonl", tmp_path / "out" / "r.csv"
    proc = subscribe(
        infant_stream,
        publisher.endpoint,
        "--count",
        "5",
        "--jsonl",
        str(jsonl),
        "--csv",
        str(table),
        "--timeout",
        "20",
    )
    with Feeder(publisher):
        rc, out, err = finish(proc)
    assert rc == 0, err
    assert err == ""
    lines = out.splitlines()
    parts_lines = [line for line in lines if line.startswith("parts.cam0 ")]
    assert len(parts_lines) == 5 and lines[-1] == parts_lines[-1]
    assert all(line.startswith(("parts.cam0 {", "status.cam0 {")) for line in lines)
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == 5 and jsonl.read_text().endswith("\n")
    assert [json.loads(line.split(" ", 1)[1]) for line in parts_lines] == records
    seqs = [r["seq"] for r in records]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    rows = list(csv.DictReader(table.open(newline="")))
    assert len(rows) == 10
    assert (
        [r["name"] for r in rows[:2]] == ["arm", "head"] and rows[1]["cx"] == "" and rows[1]["instance"] == ""
    )
    assert [int(r["seq"]) for r in rows] == [s for s in seqs for _ in range(2)]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_ends_cleanly_with_complete_lines(tmp_path, publisher, infant_stream, sig, code):
    jsonl, table = tmp_path / "r.jsonl", tmp_path / "r.csv"
    proc = subscribe(infant_stream, publisher.endpoint, "--jsonl", str(jsonl), "--csv", str(table), "--quiet")
    with Feeder(publisher, interval_s=0.002):
        wait_for(lambda: jsonl.exists() and jsonl.read_text().count("\n") >= 20, 20, "20 lines")
        proc.send_signal(sig)
        rc, out, err = finish(proc, 10)
    assert rc == code, err
    assert out == "" and "Traceback" not in err
    text = jsonl.read_text()
    assert text.endswith("\n")
    records = [json.loads(line) for line in text.splitlines()]
    rows = list(csv.DictReader(table.open(newline="")))
    assert len(rows) == 2 * len(records) and table.read_text().endswith("\n")


def malformed(pub: ZmqPublisher, seq: int) -> None:
    if seq % 3 == 0:
        pub.publish("parts.cam0", b"not json at all")
        pub.publish("parts.cam0", b'{"seq": 1}')  # JSON, but no schema-1 record
        pub.publish("status.cam0", b"[1, 2]")
        pub.publish("frame.cam0", b"{}")  # 2 parts instead of 3
        pub.publish("parts.cam0", b"{}", b"extra")  # 3 parts instead of 2
        pub.publish("parts.cam0", b"\xff\xfe")


def test_malformed_messages_warn_and_continue(tmp_path, publisher, infant_stream):
    jsonl = tmp_path / "r.jsonl"
    proc = subscribe(
        infant_stream, publisher.endpoint, "--count", "6", "--jsonl", str(jsonl), "--timeout", "20"
    )
    with Feeder(publisher, interval_s=0.02, extra=malformed):
        rc, _, err = finish(proc)
    assert rc == 0, err
    assert "Traceback" not in err
    warnings = err.splitlines()
    assert len(warnings) >= 5 and all(
        w.startswith("infant-stream: warning: malformed message") for w in warnings
    )
    assert any("not UTF-8 JSON" in w for w in warnings) and any("expected 3" in w for w in warnings)
    assert any("not a schema-1 parts record" in w for w in warnings)
    assert len(jsonl.read_text().splitlines()) == 6
    assert all(json.loads(line)["schema"] == 1 for line in jsonl.read_text().splitlines())


def test_frames_printed_as_a_short_line_and_topic_filter(publisher, infant_stream):
    def frames(pub: ZmqPublisher, seq: int) -> None:
        header = {"schema": 1, "source": "cam0", "seq": seq, "width": 96, "height": 72, "encoding": "jpeg"}
        pub.publish("frame.cam0", json.dumps(header).encode(), b"\xff\xd8" + b"x" * 1232)

    proc = subscribe(
        infant_stream,
        publisher.endpoint,
        "--topic",
        "frame.",
        "--topic",
        "parts.cam1",
        "--count",
        "4",
        "--timeout",
        "20",
    )
    with Feeder(publisher, sources=("cam0", "cam1"), extra=frames):
        rc, out, err = finish(proc)
    assert rc == 0, err
    lines = out.splitlines()
    assert {line.split(" ", 1)[0] for line in lines} <= {"frame.cam0", "parts.cam1"}
    frame_lines = [line for line in lines if line.startswith("frame.")]
    assert frame_lines and all(
        line.endswith(" 96x72 jpeg 1234 bytes") and line.split()[1] == "seq" for line in frame_lines
    )
    assert sum(line.startswith("parts.cam1 ") for line in lines) == 4


def test_curve_subscribe(tmp_path, infant_stream):
    keys = tmp_path / "keys"
    create_keypair(keys, "server")
    create_keypair(keys, "client")
    cfg = ZmqConfig(
        endpoint=f"tcp://127.0.0.1:{free_port()}", curve_secret_key=str(keys / "server.key_secret")
    )
    with ZmqPublisher(cfg) as pub:
        proc = subscribe(
            infant_stream,
            pub.endpoint,
            "--count",
            "2",
            "--timeout",
            "20",
            "--curve-server-key",
            str(keys / "server.key"),
            "--curve-client-key",
            str(keys / "client.key_secret"),
        )
        with Feeder(pub):
            rc, out, err = finish(proc)
    assert rc == 0, err
    assert sum(line.startswith("parts.cam0 ") for line in out.splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["tcp://127.0.0.1:notaport"], 2, "subscribe 'tcp://127.0.0.1:notaport': the port must be 1..65535"),
        (["nonsense"], 2, "subscribe 'nonsense': must be tcp://HOST:PORT, ipc://PATH or inproc://NAME"),
        (["tcp://127.0.0.1:99999"], 2, "subscribe 'tcp://127.0.0.1:99999': the port must be 1..65535"),
        ([""], 2, "subscribe '': empty value"),
        (["tcp://127.0.0.1:1", "--count", "-1"], 2, "--count: must be >= 0, got -1"),
        (
            ["tcp://127.0.0.1:1", "--curve-server-key", "x.key"],
            2,
            "--curve-server-key and --curve-client-key: give both or neither",
        ),
        (
            ["tcp://127.0.0.1:1", "--curve-server-key", "x.key", "--curve-client-key", "y.key_secret"],
            2,
            "--curve-server-key x.key: no such key file",
        ),
        (["tcp://127.0.0.1:1", "--timeout", "0.5"], 1, "tcp://127.0.0.1:1: nothing received for 0.5 s"),
    ],
)
def test_errors_are_one_line(infant_stream, tmp_path, args, code, message):
    proc = subprocess.run(
        [*infant_stream, "subscribe", *args], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert proc.returncode == code
    assert proc.stderr == f"infant-stream: error: {message}\n"


def test_docs_example_really_works(publisher):
    example = REPO / "docs" / "subscriber_example.py"
    assert len(example.read_text().splitlines()) <= 20
    proc = subprocess.Popen(
        [sys.executable, str(example), publisher.endpoint],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with Feeder(publisher):
            line_box: list[str] = []
            reader = threading.Thread(target=lambda: line_box.append(proc.stdout.readline()), daemon=True)
            reader.start()
            reader.join(20)
    finally:
        proc.kill()
        proc.wait(5)
    assert line_box, "the example printed nothing"
    source, seq, rest = line_box[0].rstrip("\n").split(" ", 2)
    assert source == "cam0" and int(seq) >= 0
    assert rest == "arm#7 [19.4, 29.6], head#3 [2.0, 3.0]"


def test_without_an_endpoint_listens_where_run_zmq_publishes(infant_stream):
    """``subscribe`` alone connects to the publisher's default endpoint (``run --zmq`` alone)."""
    with ZmqPublisher(ZmqConfig(endpoint=ZMQ_DEFAULT_ENDPOINT)) as pub, Feeder(pub):
        code, out, err = finish(subscribe(infant_stream, "--count", "3", "--topic", "parts."))
    assert code == 0, err
    assert len(out.splitlines()) == 3 and all(line.startswith("parts.cam0 ") for line in out.splitlines())


def test_help_lists_options(infant_stream):
    proc = subprocess.run([*infant_stream, "subscribe", "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    for flag in (
        "--topic",
        "--jsonl",
        "--csv",
        "--count",
        "--timeout",
        "--curve-server-key",
        "--curve-client-key",
    ):
        assert flag in proc.stdout
    assert Path(REPO / "pipeline" / "cli" / "subscribe.py").exists()
