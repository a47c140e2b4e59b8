"""Config rules and their one-line messages: a pydantic ``ValidationError`` becomes
``ConfigError("<where>.<dotted.key>: <rule>, got <value>")`` (its first error, the value shortened)."""

from __future__ import annotations

import re
import reprlib
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from pipeline.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

SOURCE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a source id may be: it becomes a ZeroMQ topic part, a metric label and a file-name part."""
ID_PATTERN = f"^{SOURCE_ID.pattern}$"
HOST_PATTERN = r"\S"
PATTERN_RULES = {
    ID_PATTERN: "must be 1-64 letters, digits, _ or -",
    HOST_PATTERN: "must not be empty (0.0.0.0 = every interface)",
}
ZMQ_TRANSPORTS = ("tcp", "ipc", "inproc")


def endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` cannot be a ZeroMQ endpoint (None when it can; "" = not publishing).

    ``tcp://HOST:PORT`` (HOST a name, an address, ``[v6]`` or ``*`` to bind every interface; PORT
    1..65535: ZeroMQ itself would bind a random port for 99999), ``ipc://PATH`` or ``inproc://NAME``.
    """
    if not endpoint:
        return None
    transport, sep, rest = endpoint.partition("://")
    if not sep or transport not in ZMQ_TRANSPORTS:
        return "must be tcp://HOST:PORT, ipc://PATH or inproc://NAME"
    if not rest:
        return f"needs an address after {transport}://"
    if transport != "tcp":
        return None
    host, colon, port = rest.rpartition(":")
    if not colon or not host or host.startswith("[") != host.endswith("]"):
        return "must be tcp://HOST:PORT (e.g. tcp://127.0.0.1:5555)"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return "the port must be 1..65535"
    return None


RULE = "config_rule"
"""The type of the models' own validation errors (PydanticCustomError): their message is the whole rule."""


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict = 2, 60, 60, 4, 4


def show(value: Any) -> str:
    """A short one-line repr of a config value for error messages (never raises)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<an integer of {value.bit_length()} bits>"
    try:
        text = _SHORT.repr(value)
    except (ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    return text.replace("\n", "\\n").replace("\r", "\\r")


def key_label(key: Any) -> str:
    """A config key as it appears in messages: plain when printable text, else its short repr."""
    return key if isinstance(key, str) and key.isprintable() else show(key)


_TYPE_RULES = {
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
}
_OPS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _walk(
    model: type[BaseModel], loc: tuple[int | str, ...]
) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The section that holds the field at ``loc`` (list indices skipped), and that field."""
    owner: type[BaseModel] | None = model
    info: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue
        if owner is None or part not in owner.model_fields:
            return None, None
        info = owner.model_fields[part]
        inner = [a for a in (info.annotation, *get_args(info.annotation)) if isinstance(a, type)]
        models = [a for a in inner if issubclass(a, BaseModel)]
        owner = models[0] if models else owner
    return owner, info


def _bound_rule(info: FieldInfo | None) -> str:
    """``must be > 0``, ``must be >= 1`` or ``must be 0..256`` from a field's constraints."""
    metadata = info.metadata if info is not None else []
    limits = {k: getattr(m, k) for m in metadata for k in _OPS if getattr(m, k, None) is not None}
    if "ge" in limits and "le" in limits:
        return f"must be {limits['ge']}..{limits['le']}"
    return " and ".join(f"must be {op} {limits[k]}" for k, op in _OPS.items() if k in limits)


def _path(where: str, loc: tuple[int | str, ...], bare: bool) -> str:
    """Where an error is: ``configs/x.yaml: source.mode`` (a file or flag, then the dotted key), or
    ``SourceConfig.mode`` (a model built in code); ``bare``: ``where`` alone (a flag's own value)."""
    if bare or not loc:
        return where
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    return f"{where}.{dotted}" if where.isidentifier() else f"{where}: {dotted}"


def _message(err: ErrorDetails, model: type[BaseModel], where: str, bare: bool) -> str:
    """One pydantic error as ``<where>.<dotted.field>: <rule>, got <value>``."""
    loc, kind, value = err["loc"], err["type"], err["input"]
    at = _path(where, loc, bare)
    if kind in ("extra_forbidden", "invalid_key"):  # invalid_key: not text (its loc is a str() of it)
        owner, _ = _walk(model, loc[:-1])
        key = value if kind == "invalid_key" else loc[-1]
        known = ", ".join(owner.model_fields) if owner else ""
        return f"{_path(where, (*loc[:-1], key_label(key)), bare)}: unknown key (known: {known})"
    if kind == "model_type":
        return f"{at}: must be a mapping, got {type(value).__name__}"
    if kind == RULE:
        return f"{at}: {err['msg']}"
    info = _walk(model, loc)[1]
    if kind == "literal_error" and info is not None:
        rule = f"must be one of {', '.join(map(str, get_args(info.annotation)))}"
    elif kind in _BOUNDS:
        rule = _bound_rule(info)
    elif kind == "string_pattern_mismatch":
        rule = PATTERN_RULES.get(err.get("ctx", {}).get("pattern", ""), err["msg"])
    elif kind == "float_type" and isinstance(value, int) and not isinstance(value, bool):
        rule = _TYPE_RULES["finite_number"]  # an int past float range
    else:
        rule = _TYPE_RULES.get(kind, err["msg"].replace("\n", " "))
    return f"{at}: {rule}, got {show(value)}"


def config_error(exc: ValidationError, model: type[BaseModel], where: str, bare: bool = False) -> ConfigError:
    """The first error of ``exc`` as a one-line ConfigError; ``bare``: name ``where`` alone (a flag)."""
    return ConfigError(_message(exc.errors(include_url=False)[0], model, where, bare))


def validated(cls: type[M], data: Any, where: str, bare: bool = False) -> M:
    """``cls`` validated from ``data`` (a mapping or an instance); errors as :func:`config_error`."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, cls, where, bare) from None
