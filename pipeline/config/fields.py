"""What every configuration section is made of: the vocabularies (one ``Literal`` each, imported by the
stages through :mod:`pipeline.config`), the constrained field types and the frozen section base."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import GetJsonSchemaHandler, JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from pipeline.config.rules import HOST_PATTERN, ID_PATTERN, RULE, config_error

# The vocabularies, each defined once: the stages that use one import it from pipeline.config.
Policy = Literal["latest", "lossless"]
"""Queue policy between stages: ``latest`` drops the oldest queued item when full (live sources:
latency stays bounded), ``lossless`` makes the producer wait (files: every frame processed)."""
SourceMode = Literal["auto", "latest", "lossless"]
"""A source's ``mode``: a :data:`Policy`, or ``auto`` (by kind: ``latest`` live, ``lossless`` files)."""
Transport = Literal["tcp", "udp"]
BackendName = Literal["onnxruntime", "tensorrt", "triton"]
Precision = Literal["fp32", "fp16", "int8"]
Motion = Literal["constant_velocity", "constant_acceleration"]
DisplayMode = Literal["auto", "on", "off"]
PrivacyMode = Literal["fail_closed", "head", "frame", "off"]
"""``privacy.mode``: how every image that leaves the process is hidden. ``fail_closed``: the head
region when the model finds a head with enough confidence (``privacy.min_head_score``,
``privacy.min_head_area_px``), else the whole image; ``head``: the head class's region only (none
when no head is found); ``frame``: always the whole image; ``off``: nothing (an explicit choice
that logs a warning)."""
PrivacyApplied = Literal["head", "frame", "none"]
"""What one frame's outgoing images got (the record's ``privacy`` key): the head region pixelated,
the whole image pixelated, or nothing."""


def _int_as_text(value: Any) -> Any:
    """A YAML number where text is expected (``uri: 0``, a camera index) is that text."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= 200:
        return str(value)
    return value


class _OrInteger:
    """JSON Schema of such text: the text's schema or an integer."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"anyOf": [handler(schema), {"type": "integer"}]}


Text = Annotated[str, BeforeValidator(_int_as_text), _OrInteger]
SourceId = Annotated[str, Field(pattern=ID_PATTERN), BeforeValidator(_int_as_text), _OrInteger]
Host = Annotated[str, Field(pattern=HOST_PATTERN), BeforeValidator(_int_as_text), _OrInteger]
Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]


class _Section(BaseModel):
    """Frozen, no unknown keys, no type coercion (bools are not ints, text is not a number), finite
    floats; ``null`` is an empty mapping. Made in code, a bad value raises ConfigError."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error(exc, type(self), type(self).__name__) from None

    # Like pydantic's RootModel: nested sections and model_validate still validate without __init__.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: Any) -> Any:
        return {} if data is None else data


def _replaced(data: Any, key: str, message: str) -> Any:
    """``data`` unchanged, unless it holds ``key``, a removed setting: then ``message`` (one rule)."""
    if isinstance(data, dict) and key in data:
        raise PydanticCustomError(RULE, message)
    return data
