"""The ``serve:`` section: the web app (``infant-stream serve``, :mod:`pipeline.web`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from pipeline.config.fields import Count, Host, NonNegative, Positive, Text, _Section
from pipeline.config.rules import RULE, endpoint_problem, show


class ServeConfig(_Section):
    """The web app: where it listens, what it accepts, how much work it takes on, what it watches live.

    Attributes:
        host: address to bind; 127.0.0.1 (loopback) by default. Any other address needs a token
            (``token_file`` or ``serve --token``) or ``allow_no_token`` (a loud warning at start).
        port: TCP port (0 = any free port; the URL is printed at start).
        token_file: a file whose first line is the bearer token every request must carry ("" = none).
        allow_no_token: serve a non-loopback address without a token (warns loudly at start).
        max_image_mb: largest image upload, MiB (decoded, not trusted by its name).
        max_video_mb: largest video upload, MiB.
        jobs: videos processed at once (``POST /jobs`` and ``POST /analyze_video`` share them).
        max_queued: videos waiting for a worker before new ones are refused (HTTP 429).
        video_fps: ``/analyze_video`` frames per second of video analysed (0 = every frame; a
            request's ``?fps=`` wins).
        video_max_frames: ``/analyze_video`` analyses at most this many frames (0 = the whole video;
            use ``/jobs`` for long videos).
        zmq: publishers (``infant-stream run --zmq``) to show live, e.g. ``tcp://127.0.0.1:5555``.
        curve_server_key, curve_client_key: CURVE key files for encrypted publishers (both or neither).
        live_fps: live updates per second sent to each browser (newest state and frame; never more).
        live_history_s: seconds of part and joint positions kept and shown per live source.
        cors_origins: origins allowed to call the API from other pages (empty = CORS off).
        png_level: zlib level of the overlay PNGs the API answers with: 0 (default) stores them
            unfiltered, ~5 ms for 1280×720 but ~2.8 MB; 1..9 compress (SUB filter), ~40 % smaller
            and 10× slower (docs/benchmarks.md "Web app").
    """

    host: Host = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    token_file: Text = ""
    allow_no_token: bool = False
    max_image_mb: Positive = 50.0
    max_video_mb: Positive = 2048.0
    jobs: Annotated[int, Field(ge=1, le=64)] = 1
    max_queued: Count = 8
    video_fps: NonNegative = 0.0
    video_max_frames: Count = 0
    zmq: tuple[Text, ...] = ()
    curve_server_key: Text = ""
    curve_client_key: Text = ""
    live_fps: Annotated[float, Field(gt=0, le=30)] = 5.0
    live_history_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    cors_origins: tuple[Text, ...] = ()
    png_level: Annotated[int, Field(ge=0, le=9)] = 0

    @field_validator("zmq", "cors_origins", mode="before")
    @classmethod
    def _a_list(cls, value: object) -> object:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list | tuple):
            return tuple(value)
        raise PydanticCustomError(RULE, "must be a list, got {kind}", {"kind": type(value).__name__})

    @field_validator("zmq")
    @classmethod
    def _endpoints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for endpoint in value:
            problem = endpoint_problem(endpoint) if endpoint else "empty endpoint"
            if problem is not None:
                raise PydanticCustomError(
                    RULE, "{problem}, got {value}", {"problem": problem, "value": show(endpoint)}
                )
        if len(set(value)) != len(value):
            raise PydanticCustomError(RULE, "an endpoint is listed twice")
        return value
