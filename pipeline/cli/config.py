"""``infant-stream config schema``: the JSON Schema of the ``run`` configuration (``configs/*.yaml``).

Generated from :class:`pipeline.config.Config` (types, choices, bounds, defaults, the docstrings
as descriptions), so editors can check and complete config files: ``configs/config.schema.json`` is
this output (a test keeps it current). Some rules only the loader checks (distinct source ids, a
``sources`` entry inheriting ``source``): ``infant-stream run --config`` stays the final word.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
"""Draft 7: what the YAML language server (editors' YAML support) validates with. Pydantic's output
uses only draft-7 keywords once its ``$defs`` are moved to ``definitions``."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "config",
        help="print the JSON Schema of the run config (config schema)",
        description="Tools for configs/*.yaml.",
    )
    actions = p.add_subparsers(dest="action", required=True)
    schema = actions.add_parser(
        "schema",
        help="print the JSON Schema of the run config (for editors' YAML language server)",
        description="Print the JSON Schema (draft 7) of infant-stream run's YAML config.",
    )
    schema.add_argument("--out", help="write it to this file instead of stdout")
    p.set_defaults(func=main)


def schema_text() -> str:
    """The JSON Schema of :class:`~pipeline.config.Config`, as written to ``configs/config.schema.json``."""
    from pipeline.config import Config

    schema = Config.model_json_schema(ref_template="#/definitions/{model}")
    schema = {"$schema": SCHEMA_DIALECT, "definitions": schema.pop("$defs"), **schema}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(args: argparse.Namespace) -> int:
    from pipeline.errors import ConfigError

    text = schema_text()
    if not args.out:
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out: cannot write {out} ({exc.strerror or exc})") from None
    return 0
