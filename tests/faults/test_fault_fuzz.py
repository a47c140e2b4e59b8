"""Fuzzing what users and peers feed the program: published messages, JSONL files, YAML configs, CLI values.

Every property has the same shape: arbitrary input either decodes into something valid, or fails with
the error the caller expects — ``ValueError`` from the subscriber's decoder (it skips the message),
the project's one-line :class:`~pipeline.errors.InfantStreamError` naming the file (and line, or the
dotted field) elsewhere — never any other exception type.

The config strategies are derived from the models' ``model_fields`` (types and constraints), so a new
field (or section, or list of sections) is fuzzed without touching this file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import operator
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pipeline.cli.plot import extract_series, read_records
from pipeline.cli.run import FLAGS, OVERRIDES, config_from_args
from pipeline.cli.run import register as register_run
from pipeline.config import Config, from_mapping, key_label, load_config, override
from pipeline.contract.classes import CLASS_NAMES
from pipeline.errors import ConfigError, InfantStreamError
from pipeline.sinks.received import describe
from pipeline.sinks.table import COLUMNS, record_rows

pytestmark = pytest.mark.records_by_hand  # fuzzed records: any geometry, on purpose

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
FEW = settings(FUZZ, max_examples=40)

HUGE_INTS = (10**400, -(10**400), 2**63, -(2**64))
"""Integers past float range (ints past Python's 4300-digit str() limit: explicit cases below)."""
SPECIAL_FLOATS = (math.inf, -math.inf, math.nan, 1e308, -0.0, 5e-324)

# ---------------------------------------------------------------------------------------------
# Generic junk


def _scalar_junk() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(HUGE_INTS),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(SPECIAL_FLOATS),
        st.text(max_size=12),
        st.binary(max_size=6),
        st.dates(),
    )


def _key() -> st.SearchStrategy[Any]:
    return st.one_of(st.text(max_size=10), st.integers(-5, 5), st.none(), st.booleans())


junk: st.SearchStrategy[Any] = st.recursive(
    _scalar_junk(),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_key(), inner, max_size=4)),
    max_leaves=12,
)

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
json_junk: st.SearchStrategy[Any] = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

DEEP = 200_000
"""Nesting far past Python's recursion limit."""
SPECIAL_PAYLOADS = (
    b"",
    b"NaN",
    b"-Infinity",
    b"1e999",
    b"9" * 5000,
    b'{"seq": ' + b"9" * 5000 + b"}",
    b"[" * DEEP,
    b"[" * DEEP + b"]" * DEEP,
    b'{"a":' * DEEP,
    b'{"parts": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    b"\xff\xfe{}",
    b'"\\ud800"',
    b"{}",
    b"[]",
    b"null",
    b'{"parts": []}',
)

# ---------------------------------------------------------------------------------------------
# (a) the subscriber's decoder: pipeline.sinks.received.describe and pipeline.table.record_rows

finite = st.floats(allow_nan=False, allow_infinity=False)
pair = st.lists(finite, min_size=2, max_size=2)
no_surrogates = st.characters(blacklist_categories=("Cs",))


@st.composite
def part_entries(draw: st.DrawFn) -> dict[str, Any]:
    """A schema-1 ``parts`` entry: observed or predicted (coasting), tracked or not."""
    class_id = draw(st.integers(1, len(CLASS_NAMES) - 1))
    observed = draw(st.booleans())
    tracked = draw(st.booleans()) or not observed  # only tracks coast
    return {
        "class_id": class_id,
        "name": CLASS_NAMES[class_id],
        "instance": draw(st.integers(0, 20)) if observed else None,
        "track_id": draw(st.integers(0, 10**6)) if tracked else None,
        "state": "observed" if observed else "predicted",
        "box": draw(st.lists(st.integers(0, 10_000), min_size=4, max_size=4)),
        "centroid": draw(pair) if observed else None,
        "smoothed": draw(pair) if tracked else None,
        "velocity": draw(pair) if tracked else None,
        "uncertainty": draw(pair) if tracked else None,
        "area_px": draw(st.integers(1, 10**7)) if observed else 0,
        "score": draw(st.floats(0, 1)) if observed else 0.0,
    }


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed schema-1 record (docs/architecture.md)."""
    return {
        "schema": 1,
        "source": draw(st.text(no_surrogates, min_size=1, max_size=12)),
        "seq": draw(st.integers(0, 2**53)),
        "pts_s": draw(st.none() | finite),
        "capture_ts": draw(finite),
        "width": draw(st.integers(1, 8192)),
        "height": draw(st.integers(1, 8192)),
        "dropped_since_last": draw(st.integers(0, 10**6)),
        "latency_ms": draw(
            st.fixed_dictionaries(
                {k: finite for k in ("preprocess", "inference", "postprocess", "capture_to_publish")}
            )
        ),
        "parts": draw(st.lists(part_entries(), max_size=6)),
        "classes": [],
    }


@st.composite
def mutated_records(draw: st.DrawFn) -> dict[str, Any]:
    """A record with one thing broken: a key gone, a value (or a whole part) replaced by junk."""
    rec = draw(records())
    where = draw(st.sampled_from(["top", "parts", "part"]))
    if where == "parts" or (where == "part" and not rec["parts"]):
        rec["parts"] = draw(json_junk)
        return rec
    target = rec if where == "top" else rec["parts"][draw(st.integers(0, len(rec["parts"]) - 1))]
    if where == "part" and draw(st.booleans()):
        rec["parts"][rec["parts"].index(target)] = draw(json_junk)
        return rec
    key = draw(st.sampled_from(sorted(target)))
    if draw(st.booleans()):
        del target[key]
    else:
        target[key] = draw(json_junk)
    return rec


def _payload(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8")


topics = st.one_of(
    st.sampled_from([b"parts.cam0", b"status.cam0", b"frame.cam0", b"parts.", b"frame.", b"", b"x"]),
    st.binary(max_size=12),
)


def check_describe(parts: list[bytes]) -> None:
    """``describe`` returns or raises ValueError; what it accepts as a parts record is one."""
    try:
        topic, line, record = describe(parts)
    except ValueError:
        return
    assert topic == parts[0].decode("utf-8")
    assert line.startswith(f"{topic} ")
    if record is not None:
        assert topic.startswith("parts.")
        rows = record_rows(record)  # what the CSV writer will do with it must not raise either
        assert len(rows) == len(record["parts"])


@FUZZ
@given(st.lists(st.binary(max_size=48), max_size=4))
@example([])
@example([b""])
@example([b"\xff"])
@example([b"parts.cam0"])
@example([b"frame.cam0", b"{}"])
def test_describe_arbitrary_bytes(parts: list[bytes]) -> None:
    check_describe(parts)


@FUZZ
@given(
    topic=topics,
    payload=st.one_of(
        st.sampled_from(SPECIAL_PAYLOADS),
        json_junk.map(_payload),
        mutated_records().map(_payload),
    ),
    extra=st.lists(st.binary(max_size=8), max_size=2),
)
@example(
    topic=b"parts.cam0", payload=b'{"source":"a","seq":1,"pts_s":1,"capture_ts":1,"parts":"ab"}', extra=[]
)
@example(
    topic=b"parts.cam0", payload=b'{"source":"a","seq":1,"pts_s":1,"capture_ts":1,"parts":[1]}', extra=[]
)
@example(
    topic=b"parts.cam0", payload=b'{"source":"a","seq":1,"pts_s":1,"capture_ts":1,"parts":{"a":1}}', extra=[]
)
@example(topic=b"parts.cam0", payload=b"[" * DEEP, extra=[])
def test_describe_malformed_json(topic: bytes, payload: bytes, extra: list[bytes]) -> None:
    check_describe([topic, payload, *extra])
    if topic.startswith(b"frame."):
        check_describe([topic, payload])


@FUZZ
@given(records())
def test_well_formed_records_round_trip(record: dict[str, Any]) -> None:
    topic = f"parts.{record['source']}"
    got_topic, line, got = describe([topic.encode("utf-8"), json.dumps(record).encode("utf-8")])
    assert (got_topic, got) == (topic, record)
    assert json.loads(line[len(topic) + 1 :]) == record
    rows = record_rows(got)
    assert len(rows) == len(record["parts"])
    pairs = {"centroid": ("cx", "cy"), "smoothed": ("sx", "sy"), "velocity": ("vx", "vy")}
    pairs |= {"uncertainty": ("sigma_x", "sigma_y"), "box": ("x0", "y0", "x1", "y1")}
    for row, part in zip(rows, record["parts"], strict=True):
        assert list(row) == list(COLUMNS)
        for key in ("source", "seq", "pts_s", "capture_ts"):
            assert row[key] == record[key]
        for key in ("class_id", "name", "instance", "track_id", "state", "area_px", "score"):
            assert row[key] == part[key]
        for key, columns in pairs.items():
            want = [None] * len(columns) if part[key] is None else part[key]
            assert [row[c] for c in columns] == want


@FEW
@given(
    header=st.fixed_dictionaries({"seq": st.integers(0, 10**9), "width": st.integers(1, 9999)}),
    jpeg=st.binary(),
)
def test_frame_messages_describe_without_a_record(header: dict[str, Any], jpeg: bytes) -> None:
    topic, line, record = describe([b"frame.cam0", json.dumps(header).encode(), jpeg])
    assert record is None and topic == "frame.cam0"
    assert line.endswith(f" {len(jpeg)} bytes") and "\n" not in line


# ---------------------------------------------------------------------------------------------
# (b) tools.plot.read_records on files with arbitrary lines

text_no_surrogates = st.text(no_surrogates, max_size=40)
SPECIAL_LINES = (
    "",
    "   ",
    "NaN",
    "[1, 2]",
    '"text"',
    "{}",
    '{"schema": 1, "parts": []}',
    "{bad json",
    "9" * 5000,
    '{"seq": ' + "9" * 5000 + "}",
    "[" * DEEP,
    '{"a":' * DEEP,
    "\x00",
    "\ufeff{}",
)
jsonl_lines = st.one_of(
    text_no_surrogates,
    st.sampled_from(SPECIAL_LINES),
    json_junk.map(lambda v: json.dumps(v, allow_nan=True)),
    records().map(json.dumps),
)


def _expected_records(path: Path) -> tuple[list[Any], int | None]:
    """What read_records should give: (records, None), or ([], the 1-based line that is bad; 0 = the
    file as a whole (empty))."""
    lines = path.read_text(encoding="utf-8").split("\n")
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            if number == len(lines):
                continue
            return [], number
        if not isinstance(value, dict):
            return [], number
        out.append(value)
    return (out, None) if out else ([], 0)


def _one_line(text: str) -> None:
    assert text and "\n" not in text and "\r" not in text, repr(text)


@FUZZ
@given(lines=st.lists(jsonl_lines, max_size=8), newline_at_end=st.booleans())
@example(lines=["[" * DEEP, "{}"], newline_at_end=True)
@example(lines=["9" * 5000, "{}"], newline_at_end=True)
@example(lines=["{}", "[" * DEEP], newline_at_end=False)
def test_read_records_arbitrary_lines(tmp_path: Path, lines: list[str], newline_at_end: bool) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + ("\n" if newline_at_end else ""), encoding="utf-8")
    want, bad_line = _expected_records(path)
    try:
        got = read_records(path)
    except InfantStreamError as exc:
        message = str(exc)
        _one_line(message)
        assert message.startswith(str(path)), message
        assert bad_line is not None, f"refused a readable file: {message}"
        if bad_line:
            assert message.startswith(f"{path}:{bad_line}: "), (message, bad_line)
        return
    assert bad_line is None, f"accepted a file with a bad line {bad_line}"
    assert json.dumps(got) == json.dumps(want)  # (json text: NaN == NaN)


@FEW
@given(data=st.binary(max_size=200))
@example(data=b"\xff\xfe\n{}")
@example(data=b"{}\n\x80")
def test_read_records_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(data)
    try:
        got = read_records(path)
    except InfantStreamError as exc:
        _one_line(str(exc))
        assert str(exc).startswith(str(path))
        return
    assert got and all(isinstance(r, dict) for r in got)


def test_read_records_missing_and_folder(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.jsonl", tmp_path):
        with pytest.raises(ConfigError) as info:
            read_records(path)
        _one_line(str(info.value))
        assert str(info.value).startswith(str(path))


@FUZZ
@given(
    st.lists(
        st.one_of(
            records(), mutated_records(), st.dictionaries(st.sampled_from(["parts", "pts_s"]), json_junk)
        ),
        min_size=1,
        max_size=5,
    )
)
@example([{"parts": [1]}])
@example([{"parts": [{"name": "arm", "centroid": ["a", 1]}]}])
@example([{"parts": [{"name": ["arm"]}]}])
@example([{"parts": [], "capture_ts": "x"}])
@example([{"parts": [{"name": "arm", "centroid": [10**400, 1]}], "pts_s": 10**400}])
def test_plot_series_from_any_records(records_in: list[dict[str, Any]]) -> None:
    """What ``infant-stream plot`` does after read_records: series, or a one-line error naming the file."""
    path = Path("r.jsonl")
    for source in (None, "cam0"):
        try:
            series = extract_series(records_in, path, source)
        except InfantStreamError as exc:
            _one_line(str(exc))
            assert str(exc).startswith((str(path), "--source")), str(exc)
            continue
        assert series.points > 0


# ---------------------------------------------------------------------------------------------
# (c) the config loader, from the models' own fields, types and constraints

INHERITS = {"sources": "source"}
"""List fields whose entries start from another section (``Config.sources`` from ``source``)."""


def is_section(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, BaseModel)


def model_fields(cls: Any) -> dict[str, FieldInfo]:
    """A section's fields (name → FieldInfo, ``.annotation`` the type without its constraints)."""
    return dict(cls.model_fields)


def hint_of(cls: Any, name: str) -> Any:
    return model_fields(cls)[name].annotation


def _args(hint: Any) -> tuple[Any, ...]:
    return tuple(a for a in typing.get_args(hint) if a is not type(None) and a is not Ellipsis)


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (types.UnionType, typing.Union)


def _sequence_origin(hint: Any) -> bool:
    return typing.get_origin(hint) in (tuple, list)


def typed_value(hint: Any) -> st.SearchStrategy[Any]:
    """Values of the field's own type, in and out of its valid range, as YAML would give them."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        return st.one_of(st.sampled_from(choices), st.sampled_from(choices).map(str).map(str.upper))
    if _is_union(hint):
        return st.none() | st.one_of([typed_value(a) for a in _args(hint)])
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.one_of(st.integers(-3, 300), st.integers(), st.sampled_from(HUGE_INTS))
    if hint is float:
        return st.one_of(
            st.integers(-3, 300),
            st.floats(-10, 1e6),
            st.sampled_from(SPECIAL_FLOATS),
            st.sampled_from(HUGE_INTS),
        )
    if hint is str:
        return st.one_of(
            st.text(max_size=16), st.integers(0, 999), st.sampled_from(["", "auto", "rtsp://u:p@h/x", "0"])
        )
    if _sequence_origin(hint):
        return st.lists(typed_value(_args(hint)[0]), max_size=3)
    if is_section(hint):
        return section(typing.cast(type, hint))
    return junk


def field_value(hint: Any) -> st.SearchStrategy[Any]:
    """Mostly the right type, sometimes anything at all."""
    return st.one_of(typed_value(hint), typed_value(hint), junk)


def section(cls: type) -> st.SearchStrategy[Any]:
    """A YAML mapping for section ``cls``: any subset of its fields, now and then an unknown key,
    now and then not a mapping at all."""
    known = st.fixed_dictionaries(
        {}, optional={name: field_value(f.annotation) for name, f in model_fields(cls).items()}
    )
    unknown = st.dictionaries(_key(), junk, max_size=1)
    mapping = st.builds(lambda a, b: {**b, **a}, known, st.one_of(st.just({}), st.just({}), unknown))
    return st.one_of(mapping, mapping, mapping, st.none(), junk)


def _paths(hint: Any, value: Any, where: str, base: Any = None, depth: int = 0) -> set[str]:
    """Every ``where`` an error about ``value`` (of type ``hint``) may name: the dotted fields
    present in the data (list entries as ``[i]`` or ``.i``), unknown keys included."""
    out = {where}
    if depth > 8:
        return out
    if _is_union(hint):
        for a in _args(hint):
            out |= _paths(a, value, where, base, depth + 1)
    elif _sequence_origin(hint) and isinstance(value, list | tuple):
        for i, v in enumerate(value):
            for w in (f"{where}[{i}]", f"{where}.{i}"):
                out |= _paths(_args(hint)[0], v, w, base, depth + 1)
    elif is_section(hint) and (value is None or isinstance(value, dict)):  # None: all defaults
        value = {**base, **(value or {})} if isinstance(base, dict) else value or {}
        known = model_fields(hint)
        sep = ": " if depth == 0 and not where.isidentifier() else "."  # "f.yaml: source.mode"
        out |= {f"{where}{sep}{name}" for name in known}  # a defaulted field may be at fault too
        for key, v in value.items():
            out.add(f"{where}{sep}{key_label(key)}")  # unprintable keys are shown as their repr
            if isinstance(key, str) and key in known:
                inherits = INHERITS.get(key)
                out |= _paths(
                    known[key].annotation,
                    v,
                    f"{where}{sep}{key}",
                    value.get(inherits) if inherits else None,
                    depth + 1,
                )
    return out


def _conforms(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return value in typing.get_args(hint)
    if _is_union(hint):
        return any(value is None if a is type(None) else _conforms(value, a) for a in typing.get_args(hint))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, float)
    if hint is str:
        return isinstance(value, str)
    if _sequence_origin(hint):
        return isinstance(value, origin) and all(_conforms(v, _args(hint)[0]) for v in value)
    if is_section(hint):
        assert_valid(value)
        return isinstance(value, hint)
    return True


def assert_valid(obj: Any) -> None:
    """Every field of a config section has its declared type and meets its declared constraints."""
    for name, f in model_fields(type(obj)).items():
        value = getattr(obj, name)
        assert _conforms(value, f.annotation), (type(obj).__name__, name, value)
        for rule in f.metadata:
            for bound, ok in BOUNDS.items():
                limit = getattr(rule, bound, None)
                assert limit is None or ok(value, limit), (type(obj).__name__, name, value, bound, limit)
            pattern = getattr(rule, "pattern", None)
            assert pattern is None or re.search(pattern, value), (type(obj).__name__, name, value, pattern)


BOUNDS = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}


def _same(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def assert_applied(obj: Any, data: Any, base: Any = None) -> None:
    """Each value given in ``data`` is the one in ``obj`` (``base``: inherited defaults of a list entry)."""
    if isinstance(base, dict):
        data = {**base, **(data or {})}  # a null entry of a list inherits like an empty one
    if data is None:
        return
    for key, value in data.items():
        hint, got = hint_of(type(obj), key), getattr(obj, key)
        if is_section(hint):
            assert_applied(got, value)
        elif _sequence_origin(hint) and is_section(_args(hint)[0]):
            inherits = INHERITS.get(key)
            for entry, item in zip(got, value, strict=True):
                assert_applied(entry, item, data.get(inherits) if inherits else None)
        elif hint is float:
            assert _same(got, float(value)), (key, got, value)
        elif hint is str:
            assert got == str(value), (key, got, value)
        elif not _sequence_origin(hint):
            assert got == value, (key, got, value)


def check_loaded(load: typing.Callable[[], Config], data: Any, where: str) -> None:
    """``load()`` gives a valid Config holding ``data``'s values, or a one-line ConfigError naming
    ``where`` and the dotted field at fault."""
    try:
        cfg = load()
    except ConfigError as exc:
        message = str(exc)
        _one_line(message)
        assert message.startswith(where), message
        candidates = _paths(Config, data, where)
        assert any(message.startswith(f"{p}:") for p in candidates), message
        if isinstance(data, dict) and data:
            named = [p for p in candidates - {where} if message.startswith(f"{p}:")]
            assert named, f"names no field: {message}"
        return
    assert isinstance(cfg, Config)
    assert_valid(cfg)
    assert_applied(cfg, data)


config_data = st.one_of(section(Config), section(Config), junk)


@FUZZ
@given(config_data)
def test_from_mapping_any_data(data: Any) -> None:
    check_loaded(lambda: from_mapping(Config, data, "f.yaml"), data, "f.yaml")


def _dumpable(value: Any) -> bool:
    try:
        yaml.safe_dump(value)
    except (ValueError, yaml.YAMLError, RecursionError):  # ints past str()'s digit limit
        return False
    return True


@FEW
@given(config_data.filter(_dumpable))
def test_load_config_dumped_yaml(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    check_loaded(lambda: load_config(path), yaml.safe_load(path.read_text(encoding="utf-8")), str(path))


def _all_field_names(cls: type, seen: set[str] | None = None) -> set[str]:
    seen = set() if seen is None else seen
    for name, f in model_fields(cls).items():
        seen.add(name)
        for h in (f.annotation, *typing.get_args(f.annotation)):
            if is_section(h):
                _all_field_names(h, seen)
    return seen


YAML_KEYS = [*sorted(_all_field_names(Config)), "colour", "1", "''", "a b", "? [a, b]", "<<", "- x"]
YAML_VALUES = (
    "",
    "~",
    "true",
    "no",
    "0",
    "-1",
    "-2",
    "1.5",
    ".inf",
    "-.inf",
    ".nan",
    "1e400",
    "1.0e+400",
    "0x10",
    "0o7",
    "1_000",
    "'text'",
    '"a\\nb"',
    "[]",
    "{}",
    "[1, 2]",
    "{a: 1}",
    "&a [*a]",
    "*undefined",
    "!!binary aGk=",
    "!!python/object:os.system",
    "2020-01-01",
    "12:30:00",
    "1" * 5000,
    "-" + "9" * 400,
    "9" * 400 + ".0",
    "[" * 500 + "]" * 500,
    "{a: " * 300 + "1" + "}" * 300,
    "tcp://127.0.0.1:5555",
    "auto",
    "latest",
    "lossless",
    "udp",
    "off",
    "fp16",
    "{",
    "'open",
    ": :",
)


@st.composite
def yaml_texts(draw: st.DrawFn) -> str:
    """YAML-looking text: lines of real (and junk) keys at a few indents with odd scalar values."""
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        indent = draw(st.sampled_from(["", "", "  ", "    ", "  - ", "- "]))
        key = draw(st.sampled_from(YAML_KEYS))
        value = draw(st.sampled_from(YAML_VALUES))
        lines.append(f"{indent}{key}:{' ' + value if value else ''}")
    return "\n".join(lines)


def _check_config_file(path: Path) -> None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - whatever YAML makes of it, the loader must say "this file"
        data = None
    check_loaded(lambda: load_config(path), data, str(path))


@FUZZ
@given(yaml_texts())
def test_load_config_yaml_like_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    _check_config_file(path)


@FEW
@given(st.one_of(st.text(no_surrogates, max_size=200).map(str.encode), st.binary(max_size=200)))
@example(b"\xff\xfesource: {}")
@example(b"source: {uri: \x00}")
def test_load_config_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(data)
    _check_config_file(path)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# Inputs the fuzzers above reach (or that are too big to print in their reports), kept explicit:
# (how it is loaded, the input, what the one-line error must start with after the file name).
LOADER_EDGES = [
    # PyYAML itself fails on this number, before any field is known: the file is named
    pytest.param(
        "yaml", "source:\n  uri: " + "1" * 5000, ": cannot read config", id="yaml-int-past-str-digit-limit"
    ),
    pytest.param("yaml", "source:\n  fps: 1" + "0" * 400, ": source.fps", id="yaml-int-past-float-range"),
    pytest.param("yaml", "[" * 5000 + "]" * 5000, "", id="yaml-nested-too-deeply"),
    pytest.param("yaml", '"source\\nsauce": 1', ": ", id="yaml-key-with-newline"),
    pytest.param("yaml", 'source: {"a\\rb": 1}', ": source.", id="yaml-nested-key-with-cr"),
    pytest.param("mapping", {"run": {"max_frames": -(10**5000)}}, ": run.max_frames", id="huge-negative-int"),
    pytest.param("mapping", {"source": {"uri": 10**5000}}, ": source.uri", id="int-past-str-limit-as-str"),
    pytest.param("mapping", {"source": {"fps": 10**400}}, ": source.fps", id="int-past-float-range"),
    pytest.param("mapping", {"source": {"uri": _nested(5000)}}, ": source.uri", id="value-nested-too-deeply"),
    pytest.param("override", ("--max-frames", -(10**5000)), "", id="override-huge-negative-int"),
    pytest.param("override", ("--duration", 10**400), "", id="override-int-past-float-range"),
]


@pytest.mark.parametrize(("kind", "data", "field"), LOADER_EDGES)
def test_loader_edge_cases(tmp_path: Path, kind: str, data: Any, field: str) -> None:
    """Each is refused with a one-line ConfigError naming the file (or flag) and field."""
    if kind == "yaml":
        path = tmp_path / "f.yaml"
        path.write_text(data, encoding="utf-8")
        where = str(path)
        with pytest.raises(ConfigError) as info:
            load_config(path)
    elif kind == "mapping":
        where = "f.yaml"
        with pytest.raises(ConfigError) as info:
            from_mapping(Config, data, where)
    else:
        where, value = data
        with pytest.raises(ConfigError) as info:
            override(Config(), OVERRIDES[where][0], value, where)
    message = str(info.value)
    _one_line(message)
    assert message.startswith(where + field), message
    assert len(message) < 1000, f"{len(message)} characters: the value must be shortened"


def test_null_list_entry_inherits_like_an_empty_one() -> None:
    """``sources: [null, ...]`` (a bare ``-`` in YAML): the entry starts from ``source`` like ``{}`` does."""
    base = {"source": {"fps": 5.0, "loop": True}}
    empty = from_mapping(Config, {**base, "sources": [{}, {"id": "b"}]}, "f.yaml")
    null = from_mapping(Config, {**base, "sources": [None, {"id": "b"}]}, "f.yaml")
    assert null.sources == empty.sources


# ---------------------------------------------------------------------------------------------
# CLI values: override() per flag, and the real argparse parser + config_from_args


def _base_configs() -> list[Config]:
    """Defaults, and (when Config has a ``sources`` list) two sources, so a flag meets both shapes."""
    base = [Config()]
    hints = {name: f.annotation for name, f in model_fields(Config).items()}
    if "sources" in hints and _sequence_origin(hints["sources"]):
        item = _args(hints["sources"])[0]
        base.append(from_mapping(Config, {"sources": [{"id": "a"}, {"id": "b"}]}, "two.yaml"))
        assert all(isinstance(s, item) for s in base[-1].sources)
    return base


BASES = _base_configs()
FLAG_NAMES = sorted(OVERRIDES)


def _flag_value(flag: str) -> st.SearchStrategy[Any]:
    kind = OVERRIDES[flag][1].get("type")
    strings = st.one_of(st.text(max_size=24), st.sampled_from(["", "-1", "0", "nan", "inf", "1e400", " 7 "]))
    if kind is int:
        return st.one_of(strings, st.integers(), st.sampled_from(HUGE_INTS))
    if kind is float:
        return st.one_of(strings, st.floats(), st.integers(-5, 10**6))
    return strings


@st.composite
def flag_values(draw: st.DrawFn) -> tuple[str, Any]:
    flag = draw(st.sampled_from(FLAG_NAMES))
    return flag, draw(_flag_value(flag))


@FUZZ
@given(flag_value=flag_values(), base=st.sampled_from(BASES))
def test_override_any_value_for_each_flag(flag_value: tuple[str, Any], base: Config) -> None:
    flag, value = flag_value
    dotted = OVERRIDES[flag][0]
    try:
        cfg = override(base, dotted, value, flag)
    except ConfigError as exc:
        _one_line(str(exc))
        assert str(exc).startswith(f"{flag}: "), str(exc)
        return
    assert_valid(cfg)
    section_name, name = dotted.split(".")
    sub = getattr(cfg, section_name)
    hint, got = hint_of(type(sub), name), getattr(sub, name)
    want = float(value) if hint is float else str(value) if hint is str else value
    assert _same(got, want), (flag, value, got)
    if section_name == "source":
        assert all(getattr(s, name) == got for s in getattr(cfg, "sources", ()))


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="infant-stream")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register_run(subparsers)
    return typing.cast(argparse.ArgumentParser, subparsers.choices["run"])


VALUE_ACTIONS = {
    action.option_strings[0]: action
    for action in _run_parser()._actions
    if action.option_strings and action.nargs != 0 and action.option_strings[0] not in ("--config", "--help")
}
"""Every ``run`` option that takes a value (from the real parser, so new flags are fuzzed too)."""


def _parse(argv: list[str]) -> argparse.Namespace | None:
    """``argv`` through the real ``run`` parser; None when argparse itself refuses it (exit 2)."""
    parser = argparse.ArgumentParser(prog="infant-stream")
    register_run(parser.add_subparsers(dest="command", required=True))
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            return parser.parse_args(["run", *argv])
        except SystemExit:
            return None


@st.composite
def cli_values(draw: st.DrawFn) -> list[str]:
    """One value flag (a repeatable one up to 3 times, sometimes with ``--source``) as ``--flag=text``."""
    flag = draw(st.sampled_from(sorted(VALUE_ACTIONS)))
    repeat = 3 if VALUE_ACTIONS[flag].__class__.__name__ == "_AppendAction" else 1
    texts = draw(st.lists(st.text(max_size=24), min_size=1, max_size=repeat))
    argv = [f"{flag}={t}" for t in texts]
    if flag == "--source-id" and draw(st.booleans()):
        argv += [f"--source=v{i}.mp4" for i in range(draw(st.integers(1, 3)))]
    return argv


@FUZZ
@given(cli_values())
@example(["--max-frames=-1"])
@example(["--duration=nan"])
@example(["--min-area=0"])
@example(["--mode=fastest"])
@example(["--zmq="])
@example(["--source-id=a", "--source-id=a", "--source=x.mp4", "--source=y.mp4"])
@example(["--source-id=a", "--source-id=b", "--source=x.mp4"])
def test_cli_flag_any_string(argv: list[str]) -> None:
    flag = argv[0].split("=", 1)[0]
    args = _parse(argv)
    if args is None:
        assert VALUE_ACTIONS[flag].type is not None, f"argparse refused {argv!r}"
        return
    try:
        cfg = config_from_args(args)
    except ConfigError as exc:
        _one_line(str(exc))
        given = {a.split("=", 1)[0] for a in argv}
        assert any(str(exc).startswith(f) for f in given), (str(exc), argv)
        return
    assert_valid(cfg)


@FEW
@given(st.sets(st.sampled_from(sorted(FLAGS))))
def test_cli_switch_combinations(switches: set[str]) -> None:
    args = _parse(sorted(switches))
    assert args is not None
    try:
        cfg = config_from_args(args)
    except ConfigError as exc:
        message = str(exc)
        _one_line(message)
        named = re.findall(r"--[a-z-]+", message)
        assert len(named) == 2 and set(named) <= switches and "one or the other" in message, message
        assert FLAGS[named[0]][0] == FLAGS[named[1]][0]
        return
    assert_valid(cfg)
    for switch in switches:
        dotted, value, _ = FLAGS[switch]
        section_name, name = dotted.split(".")
        assert getattr(getattr(cfg, section_name), name) == value
