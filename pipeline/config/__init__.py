"""Typed configuration: frozen pydantic models loaded once from YAML, CLI overrides on top.

Every field has a default (``configs/default.yaml`` shows them all, and a test keeps the two
equal). Every model is validated when it is made: from YAML (:func:`load_config`), from a flag
(:func:`override`), in code (``SourceConfig(fps=-1)``) and when changed (:func:`evolve`; pydantic's
``model_copy`` does not validate, so it is not used on configs). A bad value is a one-line
:class:`~pipeline.errors.ConfigError` naming the file (or flag, or model), the dotted field and the
value. ``infant-stream config schema`` prints the JSON Schema of :class:`Config`.

:mod:`.models` holds the sections, :mod:`.fields` the vocabularies and field types they are made of, :mod:`.rules` the rules' messages,
:mod:`.load` the loading and changing.
"""

from __future__ import annotations

from pipeline.config.fields import (
    BackendName,
    DisplayMode,
    Motion,
    Policy,
    Precision,
    PrivacyApplied,
    PrivacyMode,
    SourceMode,
    Transport,
)
from pipeline.config.load import as_dict, evolve, from_mapping, load_config, override
from pipeline.config.models import (
    ZMQ_DEFAULT_ENDPOINT,
    Config,
    DisplayConfig,
    KeypointTrackerConfig,
    MetricsConfig,
    ModelConfig,
    OutputConfig,
    PoseConfig,
    PostprocessConfig,
    PrivacyConfig,
    QueueConfig,
    RecordConfig,
    RunConfig,
    SourceConfig,
    TrackerConfig,
    ZmqConfig,
)
from pipeline.config.rules import SOURCE_ID, key_label
from pipeline.config.serve import ServeConfig

__all__ = [
    "SOURCE_ID",
    "ZMQ_DEFAULT_ENDPOINT",
    "BackendName",
    "Config",
    "DisplayConfig",
    "DisplayMode",
    "KeypointTrackerConfig",
    "MetricsConfig",
    "ModelConfig",
    "Motion",
    "OutputConfig",
    "Policy",
    "PoseConfig",
    "PostprocessConfig",
    "Precision",
    "PrivacyApplied",
    "PrivacyConfig",
    "PrivacyMode",
    "QueueConfig",
    "RecordConfig",
    "RunConfig",
    "ServeConfig",
    "SourceConfig",
    "SourceMode",
    "TrackerConfig",
    "Transport",
    "ZmqConfig",
    "as_dict",
    "evolve",
    "from_mapping",
    "key_label",
    "load_config",
    "override",
]
