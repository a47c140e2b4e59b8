"""Invalid configs and CLI values through the real ``infant-stream run`` (a subprocess, with a deadline).

One table, one row per mistake a user can make: a bad number, an unknown key, a wrong type, a bad URL,
a missing or wrong file, a model of the wrong shape, a bad ZeroMQ endpoint, an unwritable output, broken
YAML. Every row must end the same way: a non-zero exit code (the documented one: 2 config/flag,
3 source, 4 model), stderr exactly one line ``infant-stream: error: ...`` naming the file, field, flag
or URL, no traceback, no password, and no output file left behind.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from pipeline.cli.run import OVERRIDES, register
from tests.helpers.media import COLOUR_SPEC, colour_model, write_h264

DEADLINE_S = 15.0
"""A refused start takes ~1-2 s; a run still going after this hangs instead of failing."""
PASSWORD = "s3cret-pw"
"""In every URL with credentials below; must never be printed."""
DEFAULT_OUTPUTS = {"--jsonl": "o.jsonl", "--csv": "o.csv", "--record": "o.mp4"}
"""Outputs every case asks for (unless it names that flag itself): none may exist afterwards."""


def flag_of(dotted: str) -> str:
    """The CLI flag that sets config field ``dotted`` (so a renamed flag does not break the table)."""
    return next(flag for flag, (target, _) in OVERRIDES.items() if target == dotted)


def _run_flags() -> set[str]:
    """Every option the real ``run`` parser accepts (plus the global ``--debug``)."""
    parser = argparse.ArgumentParser(prog="infant-stream")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    run_parser = subparsers.choices["run"]
    return {opt for action in run_parser._actions for opt in action.option_strings} | {"--debug"}


KNOWN_FLAGS = _run_flags()


@dataclass(frozen=True)
class Case:
    """``args`` of ``infant-stream run`` (``{video}``, ``{model}``, ``{media}``: shared inputs;
    ``{tmp}``: this case's folder, holding ``files``; ``{out}``: the output folder, must stay empty),
    the exit code, and the strings the error line must contain (formatted the same way)."""

    args: tuple[str, ...]
    code: int
    needles: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)


def ok(*args: str) -> tuple[str, ...]:
    """A valid source and model, then ``args``."""
    return ("--source", "{video}", "--model", "{model}", *args)


def yaml_case(text: str, code: int, *needles: str, args: tuple[str, ...] = ()) -> Case:
    """``--config {tmp}/bad.yaml`` holding ``text``; the error names bad.yaml and the ``needles``."""
    return Case(ok("--config", "{tmp}/bad.yaml", *args), code, ("bad.yaml", *needles), {"bad.yaml": text})


CASES = [
    # --- CLI values
    pytest.param(Case(ok("--max-frames", "-1"), 2, ("--max-frames", "-1")), id="max-frames-negative"),
    pytest.param(Case(ok("--max-frames", "many"), 2, ("--max-frames", "many")), id="max-frames-not-a-number"),
    pytest.param(Case(ok("--min-area", "0"), 2, ("--min-area", "0")), id="min-area-zero"),
    pytest.param(Case(ok("--duration", "-5"), 2, ("--duration", "-5")), id="duration-negative"),
    pytest.param(Case(ok("--duration", "nan"), 2, ("--duration", "nan")), id="duration-nan"),
    pytest.param(Case(ok("--threads", "-1"), 2, ("--threads", "-1")), id="threads-negative"),
    pytest.param(Case(ok("--max-batch", "1000"), 2, ("--max-batch", "1000")), id="max-batch-too-big"),
    pytest.param(Case(ok("--mode", "fastest"), 2, ("--mode", "fastest")), id="mode-unknown"),
    pytest.param(Case(ok("--backend", "cuda"), 2, ("--backend", "cuda")), id="backend-unknown"),
    pytest.param(Case(ok("--precision", "fp8"), 2, ("--precision", "fp8")), id="precision-unknown"),
    pytest.param(Case(ok("--source-id", "a b"), 2, ("--source-id", "a b")), id="source-id-invalid"),
    pytest.param(
        Case(ok("--display", "--no-display"), 2, ("--display and --no-display", "one or the other")),
        id="display-and-no-display",
    ),
    pytest.param(Case(ok("--bogus"), 2, ("--bogus",)), id="unknown-flag"),
    pytest.param(
        Case(ok("--source", "{video}", "--source-id", "a", "--source-id", "a"), 2, ("--source-id", "'a'")),
        id="two-sources-same-id",
    ),
    pytest.param(
        Case(ok("--source-id", "a", "--source-id", "b"), 2, ("--source-id", "2 ids", "1 --source")),
        id="more-ids-than-sources",
    ),
    # --- YAML config
    pytest.param(
        yaml_case("queues:\n  capacity: -2\n", 2, "queues.capacity", "-2"), id="yaml-capacity-negative"
    ),
    pytest.param(
        yaml_case("source:\n  stall_timeout_s: -2\n", 2, "source.stall_timeout_s", "-2"),
        id="yaml-stall-timeout-negative",
    ),
    pytest.param(yaml_case("run:\n  duration_s: .nan\n", 2, "run.duration_s", "nan"), id="yaml-duration-nan"),
    pytest.param(yaml_case("sauce:\n  uri: x\n", 2, "sauce", "unknown key"), id="yaml-unknown-top-level-key"),
    pytest.param(
        yaml_case("source:\n  colour: red\n", 2, "source.colour", "unknown key"), id="yaml-unknown-nested-key"
    ),
    pytest.param(
        yaml_case("run:\n  max_frames: many\n", 2, "run.max_frames", "many"), id="yaml-int-field-as-text"
    ),
    pytest.param(
        yaml_case("run:\n  max_frames: 1.5\n", 2, "run.max_frames", "1.5"), id="yaml-int-field-as-float"
    ),
    pytest.param(
        yaml_case("output:\n  progress: maybe\n", 2, "output.progress", "maybe"), id="yaml-bool-as-text"
    ),
    pytest.param(yaml_case("source:\n  mode: 1\n", 2, "source.mode", "1"), id="yaml-choice-as-number"),
    pytest.param(yaml_case("source: [1, 2]\n", 2, "source", "must be a mapping"), id="yaml-section-as-list"),
    pytest.param(yaml_case("- source\n- model\n", 2, "must be a mapping"), id="yaml-top-level-list"),
    pytest.param(yaml_case("source: {uri: [\n", 2, "not valid YAML"), id="yaml-syntax-error"),
    pytest.param(yaml_case("source:\n\tfps: 5\n", 2, "not valid YAML"), id="yaml-tab-indent"),
    pytest.param(
        yaml_case("source:\n  fps: 1" + "0" * 400 + "\n", 2, "source.fps"), id="yaml-number-past-float-range"
    ),
    pytest.param(
        yaml_case(
            "sources:\n  - {id: a, uri: '{video}'}\n  - {id: a, uri: '{video}'}\n", 2, "sources", "'a'"
        ),
        id="yaml-sources-duplicate-id",
    ),
    pytest.param(
        yaml_case("sources:\n  - {uri: '{video}', colour: red}\n", 2, "sources", "colour", "unknown key"),
        id="yaml-sources-entry-unknown-key",
    ),
    pytest.param(yaml_case("sources: {uri: x}\n", 2, "sources", "list"), id="yaml-sources-not-a-list"),
    pytest.param(
        Case(ok("--config", "{tmp}/missing.yaml"), 2, ("missing.yaml", "not found")), id="config-missing"
    ),
    pytest.param(Case(ok("--config", "{media}"), 2, ("{media}",)), id="config-is-a-folder"),
    # --- sources and URLs
    pytest.param(Case(("--model", "{model}"), 3, ("--source", "no source given")), id="source-not-given"),
    pytest.param(
        Case(("--source", "{tmp}/missing.mp4", "--model", "{model}"), 3, ("missing.mp4", "no such file")),
        id="source-missing-file",
    ),
    pytest.param(
        Case(
            ("--source", "{media}/notes.mp4", "--model", "{model}"), 3, ("notes.mp4", "not a readable video")
        ),
        id="source-not-a-video",
    ),
    pytest.param(
        Case(("--source", "{media}/empty", "--model", "{model}"), 3, ("empty", "no images")),
        id="source-empty-folder",
    ),
    pytest.param(
        Case(
            ("--source", f"ftp://admin:{PASSWORD}@cam.local/live", "--model", "{model}"),
            3,
            ("ftp://***:***@cam.local/live", "unsupported URL scheme"),
        ),
        id="url-unsupported-scheme-with-password",
    ),
    pytest.param(
        Case(("--source", f"rtsp://admin:{PASSWORD}@/stream1", "--model", "{model}"), 3, ("rtsp://***",)),
        id="rtsp-url-without-host",
    ),
    pytest.param(
        Case(
            ("--source", f"rtsp://admin:{PASSWORD}@cam:port/stream1", "--model", "{model}"),
            3,
            ("rtsp://***",),
        ),
        id="rtsp-url-port-not-a-number",
    ),
    pytest.param(
        Case(("--source", f"rtsp://admin:{PASSWORD}@[::1/stream1", "--model", "{model}"), 3, ("rtsp://***",)),
        id="rtsp-url-unclosed-ipv6-bracket",
    ),
    # --- models
    pytest.param(
        Case(("--source", "{video}", "--model", "{tmp}/nope.onnx"), 4, ("nope.onnx", "model file not found")),
        id="model-missing",
    ),
    pytest.param(
        Case(
            ("--source", "{video}", "--model", "{media}"),
            4,
            ("{media}", "is a folder, not an ONNX model file"),
        ),
        id="model-is-a-folder",
    ),
    pytest.param(
        Case(("--source", "{video}", "--model", "{media}/fake.onnx"), 4, ("fake.onnx", "cannot load model")),
        id="model-not-onnx",
    ),
    pytest.param(
        Case(("--source", "{video}", "--model", "{media}/gray.onnx"), 4, ("gray.onnx", "(N, 3, H, W)")),
        id="model-input-one-channel",
    ),
    pytest.param(
        Case(("--source", "{video}", "--model", "{media}/rank3.onnx"), 4, ("rank3.onnx", "(N, 3, H, W)")),
        id="model-input-rank-3",
    ),
    pytest.param(
        Case(("--source", "{video}", "--model", "{media}/bytes.onnx"), 4, ("bytes.onnx", "float32")),
        id="model-input-uint8",
    ),
    pytest.param(
        Case(("--source", "{video}", "--model", "{media}/flat.onnx"), 4, ("flat.onnx", "(N, C, H, W)")),
        id="model-output-rank-3",
    ),
    pytest.param(
        Case(("--source", "{video}", "--model", "{media}/three.onnx"), 4, ("three.onnx", "3 classes")),
        id="model-output-wrong-class-count",
    ),
    pytest.param(
        Case(ok("--providers", "NopeExecutionProvider"), 4, ("NopeExecutionProvider", "not available")),
        id="providers-unknown",
    ),
    # --- ZeroMQ
    pytest.param(Case(ok("--zmq", "bad://x"), 2, ("--zmq", "bad://x")), id="zmq-unknown-transport"),
    pytest.param(
        Case(ok("--zmq", "tcp://127.0.0.1:notaport"), 2, ("--zmq", "tcp://127.0.0.1:notaport")),
        id="zmq-port-not-a-number",
    ),
    pytest.param(
        Case(ok("--zmq", "tcp://no-such-interface:5555"), 2, ("--zmq", "no-such-interface")),
        id="zmq-unknown-interface",
    ),
    pytest.param(
        Case(ok("--zmq", "tcp://127.0.0.1:99999"), 2, ("--zmq", "1..65535", "99999")),
        id="zmq-port-out-of-range",
    ),
    pytest.param(Case(ok("--zmq", "tcp://127.0.0.1"), 2, ("--zmq", "HOST:PORT")), id="zmq-no-port"),
    pytest.param(Case(ok("--zmq", ""), 2, ("--zmq", "empty value")), id="zmq-empty"),
    pytest.param(
        Case(("--source", "", "--model", "{model}"), 2, ("--source", "empty value")), id="source-empty"
    ),
    pytest.param(
        Case(
            ok("--zmq", "tcp://127.0.0.1:5599", flag_of("zmq.curve_secret_key"), "{tmp}/missing.key"),
            2,
            ("missing.key",),
        ),
        id="zmq-curve-key-missing",
    ),
    # --- outputs
    pytest.param(Case(ok("--jsonl", "{video}/o.jsonl"), 2, ("--jsonl", "o.jsonl")), id="jsonl-under-a-file"),
    pytest.param(Case(ok("--jsonl", "{out}"), 2, ("--jsonl", "{out}")), id="jsonl-is-a-folder"),
    pytest.param(
        Case(ok("--csv", "/proc/nope/o.csv"), 2, ("--csv", "/proc/nope/o.csv")), id="csv-unwritable"
    ),
    pytest.param(Case(ok("--record", "{video}/o.mp4"), 2, ("--record", "o.mp4")), id="record-under-a-file"),
    pytest.param(
        Case(ok("--record-raw", "/proc/nope/r.mp4"), 2, ("--record-raw", "/proc/nope/r.mp4")),
        id="record-raw-unwritable",
    ),
]


def _graph_model(path: Path, node: onnx.NodeProto, x: onnx.ValueInfoProto, y: onnx.ValueInfoProto) -> Path:
    """A one-node ONNX model with the colour model's pipeline metadata (input ``input``, output ``out``)."""
    model = helper.make_model(
        helper.make_graph([node], "wrong", [x], [y]), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    for k, v in COLOUR_SPEC.to_props().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def _tensor(name: str, dtype: int, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared inputs: a video, the colour model, models of the wrong shape, files that are not
    what their names say, an empty folder."""
    d = tmp_path_factory.mktemp("invalid-input")
    write_h264(d / "v.mp4", frames=3)
    colour_model(d / "m.onnx")
    colour_model(d / "gray.onnx", channels=1)
    colour_model(d / "three.onnx", classes=3)
    f32, u8 = TensorProto.FLOAT, TensorProto.UINT8
    _graph_model(
        d / "rank3.onnx",
        helper.make_node("Identity", ["input"], ["out"]),
        _tensor("input", f32, ["batch", 3, 64]),
        _tensor("out", f32, ["batch", 3, 64]),
    )
    _graph_model(
        d / "bytes.onnx",
        helper.make_node("Cast", ["input"], ["out"], to=f32),
        _tensor("input", u8, ["batch", 3, 64, 64]),
        _tensor("out", f32, ["batch", 3, 64, 64]),
    )
    _graph_model(
        d / "flat.onnx",
        helper.make_node("ReduceMax", ["input"], ["out"], axes=[1], keepdims=0),
        _tensor("input", f32, ["batch", 3, 64, 64]),
        _tensor("out", f32, ["batch", 64, 64]),
    )
    (d / "notes.mp4").write_text("not a video")
    (d / "fake.onnx").write_text("not a model either")
    (d / "empty").mkdir()
    return d


def _fill(text: str, places: dict[str, str]) -> str:
    for key, value in places.items():
        text = text.replace("{" + key + "}", value)
    return text


def run_cli(cmd: list[str], args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``infant-stream run ARGS`` headless, failing the test (with what it printed) past the deadline."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    try:
        return subprocess.run(
            [*cmd, "run", *args], capture_output=True, text=True, timeout=DEADLINE_S, cwd=cwd, env=env
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        assert PASSWORD not in err, "the password was printed"
        tail = "\n".join(err.splitlines()[-3:])
        pytest.fail(
            f"still running after {DEADLINE_S:.0f} s instead of refusing the input; stderr ends:\n{tail}"
        )


@pytest.mark.parametrize("case", CASES)
def test_invalid_input_is_one_line_error(
    case: Case, media: Path, tmp_path: Path, infant_stream: list[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    places = {"video": str(media / "v.mp4"), "model": str(media / "m.onnx"), "media": str(media)}
    places |= {"tmp": str(tmp_path), "out": str(out)}
    for name, text in case.files.items():
        (tmp_path / name).write_text(_fill(text, places))
    args = [_fill(a, places) for a in case.args]
    for flag, name in DEFAULT_OUTPUTS.items():
        if flag not in case.args:
            args += [flag, str(out / name)]

    proc = run_cli(infant_stream, args, tmp_path)

    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr, "the password was printed"
    assert len(lines) == 1, f"stderr must be one line:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("infant-stream: error: "), line
    assert proc.returncode == case.code, (proc.returncode, line)
    for needle in case.needles:
        assert _fill(needle, places) in line, (needle, line)
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", line))
    named -= {a for a in args if a.startswith("--")} | {"--help"}  # the user's own flags, argparse's --help
    assert named <= KNOWN_FLAGS, f"the error names flags that do not exist: {named - KNOWN_FLAGS}: {line}"
    assert not list(out.iterdir()), f"a refused start left output files: {list(out.iterdir())}"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(("--source", "{tmp}/x.mp4", "--model", "{model}"), 3, id="missing-source"),
        pytest.param(
            ("--source", f"ftp://admin:{PASSWORD}@cam/live", "--model", "{model}"), 3, id="url-password"
        ),
    ],
)
def test_debug_shows_the_traceback(
    args: tuple[str, ...], code: int, media: Path, tmp_path: Path, infant_stream: list[str]
) -> None:
    """``--debug``: the same error, with the traceback before it (and still no password)."""
    places = {"model": str(media / "m.onnx"), "tmp": str(tmp_path)}
    proc = run_cli(infant_stream, ["--debug", *(_fill(a, places) for a in args)], tmp_path)
    assert proc.returncode == code, proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("infant-stream: error: ")
    assert PASSWORD not in proc.stdout + proc.stderr
