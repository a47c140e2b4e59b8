"""The project's exception hierarchy.

Every error a user can cause (bad file, bad URL, bad config value, bad model) is an
:class:`InfantStreamError` whose message is one line naming the file, field or URL and
what is wrong. The CLI prints that line and exits non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations


class InfantStreamError(Exception):
    """Base of all errors the CLI reports as one line (exit code :attr:`exit_code`)."""

    exit_code = 1


class ConfigError(InfantStreamError):
    """A config file, config field or CLI value is invalid."""

    exit_code = 2


class SourceError(InfantStreamError):
    """A video source cannot be opened, or its data is damaged."""

    exit_code = 3


class ModelError(InfantStreamError):
    """A model file cannot be read or does not fit the pipeline."""

    exit_code = 4


class ServiceUnavailable(ModelError):
    """A service that runs the model (a Triton Inference Server) did not answer a call: down,
    restarting or too slow. A pipeline stage waits and retries (:mod:`pipeline.runtime.outage`);
    elsewhere it is a model error like any other."""


class DatasetError(InfantStreamError):
    """A dataset entry is missing, undecodable or inconsistent."""

    exit_code = 5


class StageError(InfantStreamError):
    """A pipeline stage failed; wraps the original exception as ``__cause__``."""

    exit_code = 1
