"""The record's JSON Schema (``docs/record.schema.json``, draft 2020-12) as a test check.

:func:`validate_record` raises an ``AssertionError`` naming the offending field's path (e.g.
``keypoints/0/score``) and what is wrong with it, for every error the record has.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import jsonschema

from tests.helpers.procs import REPO

SCHEMA_FILE = REPO / "docs" / "record.schema.json"


@functools.cache
def record_validator() -> jsonschema.Draft202012Validator:
    """The validator of ``docs/record.schema.json`` (read once)."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def record_errors(record: Mapping[str, Any]) -> list[str]:
    """``path: message`` of each schema error of ``record`` (empty: valid); ``(record)`` for the top."""
    errors = sorted(record_validator().iter_errors(record), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(record)'}: {e.message}" for e in errors]


def validate_record(rec: Mapping[str, Any]) -> None:
    """Assert that ``rec`` (a frame or status record) matches ``docs/record.schema.json``."""
    errors = record_errors(rec)
    if errors:
        what = f"{rec.get('source')}#{rec.get('seq', rec.get('type'))}"
        raise AssertionError(f"record {what} does not match {SCHEMA_FILE.name}: " + "; ".join(errors))
