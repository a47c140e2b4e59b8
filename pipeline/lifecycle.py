"""The lifecycle of a run and of each source: one vocabulary for status records, ``/healthz``,
metrics, the HUD and the window banner.

A source goes ``starting`` → ``running`` and, when live, may pass through ``reconnecting`` (the
stream was lost and is being reopened) and ``stalled`` (open but no frame for
``source.stall_timeout_s``); ``building_engine`` is reported while a TensorRT engine is built before
the first frame; ``backend_unavailable`` while the server that runs the model (Triton) does not answer
(frames wait or, for a live source, only the newest is kept; inference resumes when it is back); a run ends ``stopped`` (the source ended or the run was stopped) or ``error``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    """What a source (or the whole run) is doing now. Members are strings: ``State.RUNNING ==
    "running"``, and JSON writes them as their value."""

    STARTING = "starting"
    BUILDING_ENGINE = "building_engine"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    STALLED = "stalled"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    STOPPED = "stopped"
    ERROR = "error"

    @property
    def ended(self) -> bool:
        """The source will produce no more frames."""
        return self in (State.STOPPED, State.ERROR)

    @property
    def troubled(self) -> bool:
        """A live source that is not delivering frames right now (banner, ``degraded`` health)."""
        return self in (State.RECONNECTING, State.STALLED, State.BACKEND_UNAVAILABLE, State.ERROR)


@dataclass(frozen=True)
class HealthStatus:
    """One source's health over the last interval (a ``status.<source>`` record, a HUD, a gauge).

    Attributes:
        source_id: the source's id.
        state: the source's :class:`State`.
        fps: stage name → this source's items per second over the interval.
        dropped: this source's frames dropped between stages since the start.
        frames_out: this source's results produced since the start.
        latency_p50_ms: median capture → publish latency of recent frames, ms (NaN if none).
        reconnects: times the source was reopened since the start.
        timestamp_repairs: the source's frames whose timestamp was missing or out of order and was
            repaired, since the start.
        failed_outputs: names of best-effort outputs (window, ZeroMQ frames, live recordings) that
            failed and were stopped while the run went on.
    """

    source_id: str
    state: State
    fps: dict[str, float]
    dropped: int
    frames_out: int
    latency_p50_ms: float
    reconnects: int = 0
    timestamp_repairs: int = 0
    failed_outputs: tuple[str, ...] = field(default=())
