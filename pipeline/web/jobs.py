"""Video jobs: uploads run one at a time (or a few: ``serve.jobs``) on worker threads, each in its own
folder under the server's temporary folder, cancellable, removed when deleted or when the server stops.

A job's folder holds ``input`` (the upload) and, as the run writes them, ``results.jsonl``,
``results.csv`` and ``overlay.mp4`` (the overlay with head privacy, as ``run --record``). Clients name
jobs by id and files by those fixed names only: no path ever comes from a client.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from pipeline.config import Config
from pipeline.errors import InfantStreamError
from pipeline.session.session import Session
from pipeline.web.uploads import HttpError, VideoInfo
from pipeline.web.video import Progress, run_video, video_config

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
INPUT: Final = "input"
FILES: Final[dict[str, tuple[str, str]]] = {
    "jsonl": ("results.jsonl", "application/x-ndjson"),
    "csv": ("results.csv", "text/csv"),
    "overlay": ("overlay.mp4", "video/mp4"),
}
"""Output kind → (file name in the job's folder, media type)."""
CANCEL_WAIT_S: Final = 15.0
"""How long deleting a running job waits for its run to end before removing its folder anyway."""


@dataclass(frozen=True)
class JobView:
    """What ``GET /jobs/{id}`` shows of a job at one instant.

    Attributes:
        id: the job's id (32 hex digits).
        state: queued, running, done, failed or cancelled.
        frames_done: frames processed and written so far.
        frames_total: frames the video declares (an estimate; 0 when unknown).
        fps: frames per second so far (0.0 before the run starts); once ended, over the run's start
            (models loaded) to its last frame, as ``run``'s summary counts.
        eta_s: seconds left at that rate (None when unknown or ended).
        elapsed_s: seconds since the run started (0.0 while queued).
        error: one line when ``failed`` (what was written before the failure is still offered).
        files: output kind → file name, for the files that exist (when the job has ended).
        video: the upload's width, height, fps and declared frames.
    """

    id: str
    state: JobState
    frames_done: int
    frames_total: int
    fps: float
    eta_s: float | None
    elapsed_s: float
    error: str | None
    files: dict[str, str]
    video: dict[str, Any]


@dataclass
class _Job:
    """One job's mutable state, guarded by the manager's lock (the run writes ``progress`` itself)."""

    id: str
    folder: Path
    info: VideoInfo
    state: JobState = "queued"
    error: str | None = None
    progress: Progress | None = None
    session: Session | None = None
    started: float = 0.0
    ended: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future[None] | None = None


class JobManager:
    """Runs video jobs on ``workers`` threads with at most ``max_queued`` waiting.

    Args:
        cfg: the server's run config (models, privacy, tracker, ...), made per job by :func:`video_config`.
        workers: jobs (and ``/analyze_video`` requests, :meth:`call`) run at once.
        max_queued: waiting jobs before :meth:`submit` refuses more (HTTP 429).
        root: where job folders go (default: a new temporary folder, removed by :meth:`close`).
    """

    def __init__(self, cfg: Config, workers: int = 1, max_queued: int = 8, root: Path | None = None) -> None:
        self.cfg = cfg
        self.max_queued = max_queued
        self.root = root or Path(tempfile.mkdtemp(prefix="infant-stream-serve-"))
        self.root.chmod(0o700)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._jobs: dict[str, _Job] = {}
        self._waiting = 0
        self._lock = threading.Lock()
        self._closed = False

    # -- folders --------------------------------------------------------------------------------

    def new_folder(self) -> tuple[str, Path]:
        """(a new job id, its empty folder): the upload is saved there as :data:`INPUT` first."""
        job_id = uuid.uuid4().hex
        folder = self.root / job_id
        folder.mkdir(mode=0o700)
        return job_id, folder

    @staticmethod
    def discard(folder: Path) -> None:
        """Remove a folder and everything in it (a refused upload, a deleted job)."""
        shutil.rmtree(folder, ignore_errors=True)

    # -- jobs -----------------------------------------------------------------------------------

    def submit(self, job_id: str, folder: Path, info: VideoInfo) -> JobView:
        """Queue the job whose upload is ``folder / INPUT``.

        Raises:
            HttpError: 429 when :attr:`max_queued` jobs are already waiting, 503 when closing.
        """
        job = _Job(job_id, folder, info)
        with self._lock:
            self._admit()
            self._waiting += 1
            self._jobs[job_id] = job
        job.future = self._pool.submit(self._run, job)
        return self.view(job_id)

    def _admit(self) -> None:
        """Refuse new work when closing or full (holding the lock)."""
        if self._closed:
            raise HttpError(503, "server is stopping")
        if self._waiting >= self.max_queued:
            raise HttpError(429, f"busy: {self._waiting} videos are waiting (try again later)")

    def _run(self, job: _Job) -> None:
        outputs = {kind: job.folder / name for kind, (name, _) in FILES.items()}
        cfg = video_config(self.cfg, job.folder / INPUT, outputs)
        progress = Progress(cfg)
        with self._lock:
            self._waiting -= 1
            if job.cancel.is_set():
                job.state = "cancelled"
                return
            job.state, job.progress = "running", progress

        def attach(session: Session) -> None:
            # the models are loaded: fps and ETA count from here, as run's summary does
            with self._lock:
                job.session, job.started = session, time.monotonic()

        try:
            run_video(cfg, [progress], on_session=attach, cancelled=job.cancel)
            state: JobState = "cancelled" if job.cancel.is_set() else "done"
            error = None
        except InfantStreamError as exc:
            state, error = ("cancelled" if job.cancel.is_set() else "failed"), str(exc)
        except Exception as exc:  # noqa: BLE001 - a job's failure is its state, not the server's
            log.error("job %s failed: %s: %s", job.id, type(exc).__name__, exc)
            state, error = "failed", f"internal error: {type(exc).__name__} (see the server log)"
        with self._lock:
            job.state, job.error, job.ended, job.session = state, error, time.monotonic(), None

    def call(self, work: Callable[[], Any]) -> Future[Any]:
        """Run ``work`` on a job worker (``/analyze_video``: it waits its turn like a job).

        Raises:
            HttpError: 429 when full, 503 when closing.
        """
        with self._lock:
            self._admit()
            self._waiting += 1

        def wrapped() -> Any:
            with self._lock:
                self._waiting -= 1
            return work()

        return self._pool.submit(wrapped)

    def view(self, job_id: str) -> JobView:
        """The job's state now. Raises HttpError 404 for an unknown id."""
        with self._lock:
            job = self._find(job_id)
            done = job.progress.frames if job.progress is not None else 0
            elapsed = ((job.ended or time.monotonic()) - job.started) if job.started else 0.0
            # an ended job's rate is over its processing (to its last frame, as run's summary counts),
            # not the recording's flush after it
            span = elapsed
            if job.ended and job.progress is not None and job.progress.last_at > job.started:
                span = job.progress.last_at - job.started
            fps = done / span if span > 0 else 0.0
            total = max(job.info.frames, done) if job.state == "running" else job.info.frames
            if job.state == "done":
                total = done
            eta = (total - done) / fps if job.state == "running" and fps > 0 and total else None
            files = {}
            if job.state in ("done", "failed"):
                files = {k: name for k, (name, _) in FILES.items() if (job.folder / name).is_file()}
            return JobView(
                id=job.id,
                state=job.state,
                frames_done=done,
                frames_total=total,
                fps=round(fps, 2),
                eta_s=None if eta is None else round(eta, 1),
                elapsed_s=round(elapsed, 2),
                error=job.error,
                files=files,
                video={
                    "width": job.info.width,
                    "height": job.info.height,
                    "fps": round(job.info.fps, 3),
                    "frames": job.info.frames,
                },
            )

    def ids(self) -> list[str]:
        """Every job's id, oldest first."""
        with self._lock:
            return list(self._jobs)

    def file(self, job_id: str, kind: str) -> tuple[Path, str]:
        """(path, media type) of a finished job's output ``kind`` (``jsonl``, ``csv``, ``overlay``).

        Raises:
            HttpError: 404 for an unknown job, kind or a file the job has not written; 409 while the
                job has not ended (a file being written is never served half done).
        """
        if kind not in FILES:
            raise HttpError(404, f"no output {kind!r} (one of {', '.join(FILES)})")
        view = self.view(job_id)
        if view.state in ("queued", "running"):
            raise HttpError(409, f"job {job_id} is {view.state}: its files are offered when it ends")
        name, media = FILES[kind]
        with self._lock:
            path = self._find(job_id).folder / name
        if kind not in view.files:
            raise HttpError(404, f"job {job_id} wrote no {name}")
        return path, media

    def delete(self, job_id: str) -> None:
        """Cancel the job if it has not ended, wait for its run to stop (at most
        :data:`CANCEL_WAIT_S`), remove its folder and forget it. Raises HttpError 404 if unknown."""
        with self._lock:
            job = self._find(job_id)
            job.cancel.set()
            session = job.session
        if session is not None:
            session.cancel()
        if job.future is not None and job.future.cancel():  # still waiting: it never runs
            with self._lock:
                self._waiting -= 1
        elif job.future is not None:
            with contextlib.suppress(Exception):  # the job recorded its own failure; the folder goes anyway
                job.future.result(timeout=CANCEL_WAIT_S)
        with self._lock:
            self._jobs.pop(job_id, None)
        self.discard(job.folder)

    def _find(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise HttpError(404, f"no job {job_id!r}")
        return job

    def counts(self) -> dict[str, int]:
        """Jobs per state (for metrics and ``/healthz``)."""
        with self._lock:
            out = dict.fromkeys(("queued", "running", "done", "failed", "cancelled"), 0)
            for job in self._jobs.values():
                out[job.state] += 1
            return out

    def close(self) -> None:
        """Cancel every job, wait for the workers, remove the temporary folder. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
            if job.session is not None:
                job.session.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.root, ignore_errors=True)
