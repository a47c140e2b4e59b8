"""The web app: the seed app's upload API, video jobs, live views and the page (FastAPI).

Routes (README "Web app" has the fields):

- ``GET /`` the page; ``GET /static/...`` its script and style (shipped in the package, no CDN);
- ``GET /health`` (seed fields), ``GET /healthz`` (ok / degraded), ``GET /metrics`` (Prometheus);
- ``POST /analyze_image``, ``POST /analyze_video[?fps=]`` (multipart field ``file``);
- ``POST /jobs``, ``GET /jobs``, ``GET /jobs/{id}``, ``GET /jobs/{id}/files/{jsonl|csv|overlay}``,
  ``GET /jobs/{id}/tracks``, ``DELETE /jobs/{id}`` (cancels, removes its files);
- ``GET /live``, ``GET /live/{source}/frame.jpg``, ``WS /live/ws`` (rate-limited updates).

Every error is ``{"error": "<one line>"}`` with a 4xx (5xx: ours) status.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Query, UploadFile, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import make_asgi_app
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.websockets import WebSocketDisconnect

import pipeline
from pipeline.config import Config
from pipeline.errors import InfantStreamError
from pipeline.render.overlay import OverlayRenderer, OverlayStyle
from pipeline.web.analyzer import ImageAnalyzer
from pipeline.web.answers import image_answer, joint_tracks, part_tracks, seed_tracks
from pipeline.web.jobs import FILES, INPUT, JobManager
from pipeline.web.live import LiveHub
from pipeline.web.metrics import WebMetrics
from pipeline.web.security import TokenGate
from pipeline.web.uploads import MIB, BodyLimit, HttpError, decode_image, probe_video, save_stream
from pipeline.web.video import Progress, run_video, video_config

log = logging.getLogger(__name__)
SMALL_BODY = 64 * 1024
"""Body limit of every route that takes no upload."""


@dataclass(frozen=True)
class WebParts:
    """What the app serves from, all opened by ``infant-stream serve`` (which also closes them).

    Attributes:
        cfg: the run config (``serve`` section included).
        analyzer: the models, loaded once.
        jobs: the video workers and their folders.
        hub: the live views' subscriber.
        token: the bearer token every request must carry (None = none needed: loopback, or
            ``allow_no_token``).
    """

    cfg: Config
    analyzer: ImageAnalyzer
    jobs: JobManager
    hub: LiveHub
    token: str | None = None


def body_limit(cfg: Config) -> Any:
    """Path → largest request body, bytes (``serve.max_image_mb`` / ``max_video_mb``)."""
    image, video = int(cfg.serve.max_image_mb * MIB), int(cfg.serve.max_video_mb * MIB)

    def limit(path: str) -> int:
        if path == "/analyze_image":
            return image
        if path in ("/analyze_video", "/jobs"):
            return video
        return SMALL_BODY

    return limit


def one_line(exc: RequestValidationError) -> str:
    """A validation error as one line naming the field (``file: Field required``)."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
    return f"{'.'.join(loc) or 'request'}: {first.get('msg', 'invalid')}"


def create_app(parts: WebParts) -> Any:
    """The ASGI app: FastAPI routes inside the token gate, the body limit and the request metrics."""
    cfg, analyzer, jobs, hub = parts.cfg, parts.analyzer, parts.jobs, parts.hub
    serve = cfg.serve
    app = FastAPI(
        title="infant-stream", version=pipeline.__version__, docs_url=None, redoc_url=None, openapi_url=None
    )
    metrics = WebMetrics(jobs.counts, lambda: (dict(hub.received), hub.rejected))
    static = files("pipeline.web") / "static"

    @app.exception_handler(HTTPException)  # ours (HttpError) and Starlette's (404, 405, ...)
    async def _starlette_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": one_line(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return JSONResponse(
            {"error": f"internal error: {type(exc).__name__} (see the server log)"}, status_code=500
        )

    # -- page, health, metrics -------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(
            (static / "index.html").read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"}
        )

    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        h, w = analyzer.image_size
        return {
            "model_loaded": True,
            "message": f"ready: {analyzer.describe()}",
            "config": {
                "num_classes": analyzer.num_classes,
                "image_size": [h, w],
                "video_max_frames": serve.video_max_frames,
                "video_fps": serve.video_fps,
                "model_path": cfg.model.path,
                "pose_model_path": analyzer.pose_path,
                "class_names": list(analyzer.names),
                "keypoint_names": list(analyzer.pose.spec.keypoints.names) if analyzer.pose else [],
                "privacy": cfg.privacy.mode,
                "jobs": serve.jobs,
                "max_image_mb": serve.max_image_mb,
                "max_video_mb": serve.max_video_mb,
                "live_fps": serve.live_fps,
                "live_history_s": serve.live_history_s,
            },
            "version": pipeline.__version__,
            "live_endpoints": list(hub.endpoints),
        }

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        live = {s: (hub.view(s) or {}).get("state", "unknown") for s in hub.source_ids()}
        bad = [s for s, state in live.items() if state in ("error", "silent")]
        body = {"status": "degraded" if bad else "ok", "jobs": jobs.counts(), "live": live}
        return JSONResponse(body, status_code=503 if bad else 200)

    # -- images and videos -----------------------------------------------------------------------

    def analyze_image_now(data: bytes) -> dict[str, Any]:
        t0 = time.perf_counter()
        image = decode_image(data)
        done = analyzer.analyze(image)
        overlay = OverlayRenderer(OverlayStyle(alpha=cfg.display.alpha), 0.0, cfg.privacy)(done.result)
        h, w = analyzer.image_size
        answer = image_answer(
            done.result, overlay, done.runtime_ms, analyzer.num_classes, (h, w), serve.png_level
        )
        seconds = time.perf_counter() - t0
        metrics.analyze_image.observe(seconds)
        answer["server_ms"] = round(seconds * 1000.0, 2)
        return answer

    @app.post("/analyze_image")
    async def analyze_image(file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        data = await file.read()
        return await run_in_threadpool(analyze_image_now, data)

    async def receive_video(file: UploadFile) -> tuple[str, Path, Any]:
        """Save an upload in a new job folder and check it decodes; the folder is removed on refusal."""
        job_id, folder = jobs.new_folder()
        try:
            await run_in_threadpool(save_stream, file.file, folder / INPUT)
            info = await run_in_threadpool(probe_video, folder / INPUT)
        except BaseException:
            jobs.discard(folder)
            raise
        return job_id, folder, info

    @app.post("/analyze_video")
    async def analyze_video(
        file: Annotated[UploadFile, File()], fps: Annotated[float | None, Query(ge=0, le=1000)] = None
    ) -> dict[str, Any]:
        _, folder, info = await receive_video(file)
        try:
            run_cfg = video_config(cfg, folder / INPUT, max_frames=serve.video_max_frames)
            progress = Progress(run_cfg, keep=True)
            sample = serve.video_fps if fps is None else fps
            t0 = time.perf_counter()
            await asyncio.wrap_future(jobs.call(lambda: run_video(run_cfg, [progress], sample)))
            runtime_ms = (time.perf_counter() - t0) * 1000.0
        except InfantStreamError as exc:
            raise HttpError(422, str(exc)) from None
        finally:
            jobs.discard(folder)
        records = progress.records
        h, w = analyzer.image_size
        return {
            "num_classes": analyzer.num_classes,
            "image_size": [h, w],
            "sampled_frames": len(records),
            "frame_timestamps_s": [r.get("pts_s") for r in records],
            "runtime_ms_total": round(runtime_ms, 1),
            "first_overlay_png_base64": progress.first_overlay,
            "tracks": seed_tracks(records),
            "part_tracks": part_tracks(records),
            "keypoint_tracks": joint_tracks(records),
            "fps": round(len(records) / max(runtime_ms / 1000.0, 1e-9), 2),
            "video": {
                "width": info.width,
                "height": info.height,
                "fps": round(info.fps, 3),
                "frames": info.frames,
            },
        }

    # -- jobs ------------------------------------------------------------------------------------

    def job_body(job_id: str) -> dict[str, Any]:
        view = asdict(jobs.view(job_id))
        view["links"] = {kind: f"/jobs/{job_id}/files/{kind}" for kind in view["files"]}
        return view

    @app.post("/jobs", status_code=202)
    async def submit_job(file: Annotated[UploadFile, File()]) -> JSONResponse:
        job_id, folder, info = await receive_video(file)
        try:
            jobs.submit(job_id, folder, info)
        except HttpError:
            jobs.discard(folder)
            raise
        return JSONResponse(job_body(job_id), status_code=202, headers={"Location": f"/jobs/{job_id}"})

    @app.get("/jobs")
    async def list_jobs() -> dict[str, Any]:
        return {"jobs": [job_body(i) for i in jobs.ids()]}

    @app.get("/jobs/{job_id}")
    async def get_job(job_id: str) -> dict[str, Any]:
        return job_body(job_id)

    @app.get("/jobs/{job_id}/files/{kind}")
    async def job_file(job_id: str, kind: str) -> FileResponse:
        path, media = jobs.file(job_id, kind)
        return FileResponse(path, media_type=media, filename=f"{job_id[:8]}-{FILES[kind][0]}")

    @app.get("/jobs/{job_id}/tracks")
    async def job_tracks(job_id: str) -> dict[str, Any]:
        path, _ = jobs.file(job_id, "jsonl")

        def read() -> dict[str, Any]:
            with path.open(encoding="utf-8") as f:
                records = [json.loads(line) for line in f if line.strip()]
            return {
                "frames": len(records),
                "frame_timestamps_s": [r.get("pts_s") for r in records],
                "tracks": seed_tracks(records),
                "part_tracks": part_tracks(records),
                "keypoint_tracks": joint_tracks(records),
                "width": records[0]["width"] if records else 0,
                "height": records[0]["height"] if records else 0,
            }

        return await run_in_threadpool(read)

    @app.delete("/jobs/{job_id}")
    async def delete_job(job_id: str) -> dict[str, Any]:
        await run_in_threadpool(jobs.delete, job_id)
        return {"deleted": job_id}

    # -- live ------------------------------------------------------------------------------------

    @app.get("/live")
    async def live() -> dict[str, Any]:
        views = [hub.view(s) for s in hub.source_ids()]
        return {
            "endpoints": list(hub.endpoints),
            "history_s": hub.history_s,
            "sources": [{k: v for k, v in x.items() if k != "history"} for x in views if x is not None],
        }

    @app.get("/live/{source_id}/frame.jpg")
    async def live_frame(source_id: str) -> Response:
        frame = hub.frame(source_id)
        if frame is None:
            raise HttpError(404, f"no frame from source {source_id!r} yet")
        return Response(frame[0], media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.websocket("/live/ws")
    async def live_ws(ws: WebSocket) -> None:
        await ws.accept()
        interval = 1.0 / serve.live_fps
        since: dict[str, float] = {}
        sent: dict[str, int] = {}
        loop = asyncio.get_running_loop()
        try:
            while True:
                t0 = loop.time()
                sources = []
                for sid in hub.source_ids():
                    view = hub.view(sid, since.get(sid, 0.0))
                    if view is None:
                        continue
                    if view["history"]:
                        since[sid] = view["history"][-1][0]
                    frame = hub.frame(sid)
                    if frame is not None and frame[1] != sent.get(sid):
                        view["frame_jpeg_base64"] = base64.b64encode(frame[0]).decode("ascii")
                        sent[sid] = frame[1]
                    sources.append(view)
                message = {
                    "type": "live",
                    "history_s": hub.history_s,
                    "endpoints": list(hub.endpoints),
                    "sources": sources,
                }
                await ws.send_text(json.dumps(message, separators=(",", ":")))
                await asyncio.sleep(max(0.0, interval - (loop.time() - t0)))
        except (WebSocketDisconnect, RuntimeError, OSError):
            return

    wrapped: Any = app
    if serve.cors_origins:
        wrapped = CORSMiddleware(
            wrapped,
            allow_origins=list(serve.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    wrapped = metrics.serving(wrapped, make_asgi_app(metrics.registry))
    wrapped = BodyLimit(wrapped, body_limit(cfg))
    wrapped = TokenGate(wrapped, parts.token)
    return metrics.middleware(wrapped)
