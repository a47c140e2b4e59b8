"""The ``infant-stream`` command: dispatches to subcommands, turns errors into one line.

Only the chosen subcommand's module is imported (the trainer's torch import costs seconds).
Exit codes: 0 ok, 1 runtime failure, 2 bad config/CLI, 3 source, 4 model, 5 dataset,
128+N ended by signal N (130 SIGINT, 143 SIGTERM). ``--debug`` anywhere shows tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import Final, NoReturn

from pipeline.errors import ConfigError, InfantStreamError

COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "run": ("pipeline.cli.run", "segment a video source and write/publish the parts"),
    "subscribe": ("pipeline.cli.subscribe", "receive published records over ZeroMQ: print or save them"),
    "serve": (
        "pipeline.cli.serve",
        "the web app: upload images/videos, video jobs, live views of run --zmq publishers",
    ),
    "keys": ("pipeline.cli.keys", "create CURVE key pairs for encrypted ZeroMQ publishing"),
    "plot": ("pipeline.cli.plot", "plot per-part centroid trajectories (raw vs smoothed) from a JSONL file"),
    "analyze": (
        "pipeline.cli.analyze",
        "movement features of JSONL recordings: features/windows/QC tables and an HTML report",
    ),
    "config": ("pipeline.cli.config", "print the JSON Schema of the run config (config schema)"),
    "export-triton": (
        "pipeline.cli.export_triton",
        "write a Triton model repository of the models (config.pbtxt + model.onnx each)",
    ),
    "build-engine": ("pipeline.cli.build_engine", "build the TensorRT engine of a model ahead of time (GPU)"),
    "export-pose": (
        "pipeline.cli.export_pose",
        "export the joints of a JSONL recording as DeepLabCut CSV, COCO keypoints JSON or NWB (ndx-pose)",
    ),
    "synth": (
        "trainer.synth.cli",
        "generate synthetic infant data (YIBP dataset, keypoint dataset or video)",
    ),
    "prepare": ("trainer.prepare", "convert a YIBP (masks) or NYCU/SyRIP keypoint dataset for training"),
    "verify": ("trainer.verify", "check a prepared dataset (segmentation masks or keypoints)"),
    "train": ("trainer.commands", "train a segmentation or (--task keypoints) keypoint model"),
    "evaluate": ("trainer.commands", "evaluate a checkpoint or ONNX model (YIBP Dice / NYCU PCKsh, mKS)"),
    "export": ("trainer.commands", "export a checkpoint to ONNX with pipeline metadata"),
}


def _usage(commands: Mapping[str, tuple[str, str]]) -> str:
    rows = "\n".join(f"  {name:<12} {text}" for name, (_, text) in commands.items())
    return f"usage: infant-stream COMMAND [options]   (infant-stream COMMAND --help)\n\ncommands:\n{rows}\n"


_REST_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_REST_LITERAL = re.compile(r"``([^`]+)``")


def plain_text(text: str) -> str:
    """Docstring text for a terminal: reST roles (:func:`~a.b`) and literals (``x``) unwrapped."""
    text = _REST_ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return _REST_LITERAL.sub(r"\1", text)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (a bad flag or value is a :class:`ConfigError`, exit 2, naming
    the command once, like every other bad input) and help without reST markup."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("infant-stream").strip()
        where = f"{command}: " if command else ""
        raise ConfigError(f"{where}{message} (--help lists the options)")

    def format_help(self) -> str:
        return plain_text(super().format_help())


def main(argv: Sequence[str] | None = None, commands: Mapping[str, tuple[str, str]] = COMMANDS) -> int:
    """Run one command of ``commands`` (name → (module, help)); returns the exit code.

    Developer scripts (``python -m tools.bench``) pass their own table, so their errors read the same.
    """
    args_in = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_in
    args_in = [a for a in args_in if a != "--debug"]
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="infant-stream: %(levelname)s: %(name)s: %(message)s",
    )
    if not args_in or args_in[0] in ("-h", "--help"):
        print(_usage(commands), end="")
        return 0 if args_in else 2
    name = args_in[0]
    if name not in commands:
        print(f"infant-stream: error: unknown command {name!r}\n{_usage(commands)}", file=sys.stderr, end="")
        return 2
    try:
        module = importlib.import_module(commands[name][0])
        parser = _Parser(prog="infant-stream")
        parser.add_argument("--debug", action="store_true", help="show tracebacks")
        subparsers = parser.add_subparsers(dest="command", required=True)
        module.register(subparsers)
        for sub in subparsers.choices.values():  # accepted anywhere; listed in every command's --help
            sub.add_argument("--debug", action="store_true", help="show tracebacks of errors")
        args = parser.parse_args(args_in)
        return int(args.func(args))
    except InfantStreamError as exc:
        if debug:
            traceback.print_exc()
        print(f"infant-stream: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("infant-stream: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for users, the traceback with --debug
        if debug:
            traceback.print_exc()
        print(
            f"infant-stream: internal error: {type(exc).__name__}: {exc} (--debug shows more)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
