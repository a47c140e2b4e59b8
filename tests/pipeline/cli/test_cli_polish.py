"""The rough edges a new user hit, each through the real command: one prefix per error, --debug in
every command's help, honest defaults in help, plain (not reST) help text, trainer help without
torch, a file paced with --realtime stays lossless, and plots readable by others (mode 0644)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline.sources.base import queue_policy
from pipeline.sources.file import FileSource
from tests.helpers.media import write_h264


def cli(infant_stream: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*infant_stream, *args], capture_output=True, text=True, timeout=60)


def test_an_unknown_flag_names_the_program_once(infant_stream):
    proc = cli(infant_stream, "run", "--bogus")
    assert proc.returncode == 2
    assert proc.stderr == "infant-stream: error: unrecognized arguments: --bogus (--help lists the options)\n"


def test_a_bad_choice_names_its_command(infant_stream):
    proc = cli(infant_stream, "evaluate", "--model", "m.onnx", "--split", "nope")
    assert proc.returncode == 2
    assert proc.stderr.startswith("infant-stream: error: evaluate: argument --split: invalid choice")
    assert proc.stderr.count("infant-stream") == 1


@pytest.mark.parametrize("command", ["run", "subscribe", "plot", "train", "evaluate", "config"])
def test_every_command_lists_debug(infant_stream, command):
    proc = cli(infant_stream, command, "--help")
    assert proc.returncode == 0 and "--debug" in proc.stdout


def test_run_help_tells_the_real_max_batch_default(infant_stream):
    text = " ".join(cli(infant_stream, "run", "--help").stdout.split())
    assert "--max-batch MAX_BATCH frames inferred together (default 0: one frame per source)" in text


@pytest.mark.parametrize("command", ["train", "evaluate", "export", "prepare", "verify"])
def test_trainer_help_is_plain_text(infant_stream, command):
    out = cli(infant_stream, command, "--help").stdout
    assert "``" not in out and ":mod:" not in out and ":func:" not in out and ":class:" not in out


def test_trainer_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from pipeline.cli.main import main\n"
        "for name in ('train', 'evaluate', 'export'):\n"
        "    try:\n"
        "        main([name, '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_a_realtime_file_stays_lossless(tmp_path):
    video = write_h264(tmp_path / "v.mp4", frames=3)
    paced = FileSource(video, "f", realtime=True)
    assert queue_policy(paced) == "lossless"  # pacing does not make a recording drop frames
    assert queue_policy(paced, "latest") == "latest"  # unless asked for


def test_plot_png_is_readable_by_others(infant_stream, tmp_path):
    record = {
        "schema": 1,
        "source": "cam0",
        "seq": 0,
        "capture_ts": 1.7e9,
        "width": 64,
        "height": 48,
        "parts": [
            {"name": "head", "track_id": 1, "state": "observed", "centroid": [5, 5], "smoothed": [5, 5]}
        ],
    }
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text(json.dumps(record) + "\n")
    old = os.umask(0o022)
    try:
        proc = cli(infant_stream, "plot", str(jsonl))
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r.png").stat().st_mode & 0o777 == 0o644
