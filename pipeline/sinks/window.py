"""The live monitor window: the overlay and a HUD in an OpenCV (HighGUI) window.

Threads. ``write()`` runs on the sink's pipeline thread and only stores the latest result (O(1),
never blocks); a render loop draws and shows it at most :data:`MAX_HZ` times a second, so a slow
display never slows inference (the sink's queue is ``latest``, capacity 1).

Every HighGUI call (namedWindow, imshow, waitKey, getWindowProperty, destroyWindow) is made on
ONE thread for the whole process (:func:`gui_thread`): with the Qt backend of opencv-python, the
first thread that touches HighGUI owns the Qt application, and a HighGUI call from any other
thread afterwards blocks forever (measured with opencv-python 5.0). A window's render loop is a
job on that thread; a second window waits for the first to close.

A display that cannot be reached makes Qt abort the process (not a ``cv2.error``), so
:func:`display_available` probes in a child process before the window is used. A ``cv2.error``
at window creation (e.g. a headless OpenCV build) logs one warning; results are then consumed
silently and the pipeline goes on.

Colours: RGB everywhere; converted to BGR only for ``cv2.imshow``.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Final

import cv2
import numpy as np

from pipeline.config import Config, DisplayConfig, Policy, PrivacyConfig
from pipeline.frames import Result
from pipeline.lifecycle import HealthStatus
from pipeline.render.hud import banner_for, draw_hud, hud_lines
from pipeline.render.overlay import OverlayRenderer, OverlayStyle

log = logging.getLogger(__name__)

MAX_HZ: Final = 60.0
"""Most render-loop iterations (and window refreshes) per second."""
CLOSE_TIMEOUT_S: Final = 3.0
"""How long :meth:`WindowSink.close` waits for the render loop to end."""
PROBE_TIMEOUT_S: Final = 10.0
PLACEHOLDER_HW: Final = (360, 640)
"""Size of the black canvas shown (with the HUD) before the first frame arrives."""
MAX_WINDOW_WH: Final = (1280, 720)
"""Initial window size limit (width, height): larger frames open scaled down (the user may resize)."""
KEY_ACTIONS: Final[dict[int, str]] = {
    ord("q"): "quit",
    ord("Q"): "quit",
    27: "quit",  # Esc
    ord(" "): "pause",
    ord("m"): "mask",
    ord("b"): "blur",
    ord("t"): "trails",
    ord("k"): "keypoints",
    ord("n"): "next",
}
"""``cv2.waitKey`` code → action."""
_PROBE: Final = (
    "import cv2, numpy as np\n"
    "cv2.namedWindow('infant-stream probe', cv2.WINDOW_AUTOSIZE)\n"
    "cv2.imshow('infant-stream probe', np.zeros((2, 2, 3), np.uint8))\n"
    "cv2.waitKey(1)\n"
    "cv2.destroyAllWindows()\n"
    "cv2.waitKey(1)\n"
)


def key_action(code: int) -> str | None:
    """The action of a ``cv2.waitKey`` code (-1 = no key): quit, pause, mask, blur, trails, keypoints
    (the skeleton), next (show the next source) or None."""
    return None if code < 0 else KEY_ACTIONS.get(code & 0xFF)


def display_available(env: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether a monitor window can be opened.

    Linux and other X11/Wayland systems: ``DISPLAY`` or ``WAYLAND_DISPLAY`` must be set in ``env``
    and a child process must be able to create a cv2 window there (a failed connection aborts
    the process that tries, so it is never this one). macOS and Windows: always True.

    Args:
        env: environment to look at and to run the probe with (default ``os.environ``).
        platform: ``sys.platform`` value (default the running one).
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if platform == "darwin" or platform.startswith(("win", "cygwin")):
        return True
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return False
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE], env=dict(env), capture_output=True, timeout=PROBE_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def initial_window_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) to open a window for a frame of this size: the frame's, scaled down to fit
    :data:`MAX_WINDOW_WH` keeping the aspect ratio."""
    f = min(1.0, MAX_WINDOW_WH[0] / width, MAX_WINDOW_WH[1] / height)
    return max(1, round(width * f)), max(1, round(height * f))


class _GuiThread:
    """The process's single HighGUI thread: runs submitted jobs one after another (daemon)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="highgui", daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            self._jobs.get()()  # jobs catch their own errors


_GUI = _GuiThread()


def gui_thread() -> _GuiThread:
    """The process-wide HighGUI thread."""
    return _GUI


class WindowSink:
    """Shows results with the overlay and a HUD in a window (Sink protocol: name ``window``, ``latest``, 1).

    Args:
        cfg: window settings (alpha, trail_s).
        privacy: the run's privacy settings: the window starts showing each frame as every output
            gets it (its privacy decision: fail-closed by default); key ``b`` switches this local
            view to no pixelation and back (in an ``off`` run: to ``fail_closed`` and back).
        on_quit: called once, on the render thread, when the user quits (q, Esc, window closed);
            pass ``pipeline.stop``. Must not block.
        title: window title.

    Attributes (for tests and status): ``frames_shown`` (new results shown), ``last_shown_seq``,
    ``paused``, ``window_failed`` (creation failed, results consumed silently), ``quit_requested``.
    """

    name = "window"
    policy: Policy = "latest"
    capacity = 1
    critical = False

    def __init__(
        self,
        cfg: DisplayConfig,
        privacy: PrivacyConfig,
        on_quit: Callable[[], None],
        title: str = "infant-stream",
        max_hz: float = MAX_HZ,
        source_ids: Sequence[str] = (),
    ) -> None:
        self.title = title
        self.source_ids = tuple(source_ids)
        self.selected: str | None = self.source_ids[0] if self.source_ids else None
        """With several sources, the one shown (key ``n`` moves on); None = whatever comes."""
        self.on_quit = on_quit
        self.period_s = 1.0 / max_hz
        self.renderer = OverlayRenderer(OverlayStyle(alpha=cfg.alpha), cfg.trail_s, privacy)
        self.frames_shown = 0
        self.last_shown_seq: int | None = None
        self.paused = False
        self.window_failed = False
        self.quit_requested = False
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._latest: Result | None = None
        self._health: HealthStatus | None = None
        self._started = False
        self._stop = threading.Event()
        self._done = threading.Event()
        self._dirty = True

    # ---- called from other threads ------------------------------------------------------------

    def write(self, result: Result) -> None:
        """Keep ``result`` as the one to show next (O(1); the render loop picks it up)."""
        if self.error is not None:
            raise RuntimeError(f"window render loop failed: {self.error!r}") from self.error
        if self.selected is not None and result.meta.source_id != self.selected:
            return
        self._latest = result  # one reference swap: atomic under the GIL
        if not self._started:
            self.start()

    def on_health(self, status: HealthStatus) -> None:
        """HealthReporter listener: the HUD shows ``status`` (and its banner) from the next refresh."""
        if self.selected is not None and status.source_id != self.selected:
            return
        self._health = status
        if not self._started:
            self.start()

    def start(self) -> None:
        """Open the window (on the HighGUI thread); done by the first ``write``/``on_health`` anyway."""
        with self._lock:
            if self._started:
                return
            self._started = True
        gui_thread().submit(self._run)

    def close(self) -> None:
        """Stop the render loop and close the window (waits at most :data:`CLOSE_TIMEOUT_S`)."""
        self._stop.set()
        if self._started and not self._done.wait(CLOSE_TIMEOUT_S):
            log.warning("window: render loop did not end within %.1f s", CLOSE_TIMEOUT_S)

    # ---- the render loop (HighGUI thread) ------------------------------------------------------

    def toggles(self) -> dict[str, bool]:
        """Layer switches as shown in the HUD."""
        return {
            "mask": self.renderer.style.mask,
            "blur": self.hiding,
            "trails": self.renderer.style.trails,
            "keypoints": self.renderer.style.keypoints,
        }

    @property
    def hiding(self) -> bool:
        """Whether the view pixelates at all (``b`` toggles): as the outputs, or the local override."""
        privacy, view = self.renderer.privacy, self.renderer.view
        mode = view if view is not None else privacy.mode if privacy is not None else "off"
        return mode != "off"

    def handle_key(self, code: int) -> str | None:
        """Apply the action of ``cv2.waitKey`` code ``code``; returns the action (None for other keys)."""
        action = key_action(code)
        style, privacy = self.renderer.style, self.renderer.privacy
        if action == "quit":
            self._request_quit()
        elif action == "pause":
            self.paused = not self.paused
        elif action == "mask":
            self.renderer.style = replace(style, mask=not style.mask)
        elif action == "trails":
            self.renderer.style = replace(style, trails=not style.trails)
        elif action == "keypoints":
            self.renderer.style = replace(style, keypoints=not style.keypoints)
        elif action == "blur" and privacy is not None:
            if self.renderer.view is not None:
                self.renderer.view = None  # back to what the outputs get
            else:
                self.renderer.view = "off" if privacy.mode != "off" else "fail_closed"
        elif action == "next" and len(self.source_ids) > 1 and self.selected is not None:
            i = self.source_ids.index(self.selected)
            self.selected = self.source_ids[(i + 1) % len(self.source_ids)]
            self._health = None
        if action is not None:
            self._dirty = True
        return action

    def _request_quit(self) -> None:
        if not self.quit_requested:
            self.quit_requested = True
            self.on_quit()

    def _run(self) -> None:
        try:
            if self._stop.is_set():
                return
            try:
                cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
            except cv2.error as exc:
                msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                log.warning("window: cannot open the monitor window (%s); continuing without it", msg)
                self.window_failed = True
                return
            try:
                self._loop()
            finally:
                try:
                    cv2.destroyWindow(self.title)
                    cv2.waitKey(1)
                except cv2.error:
                    pass  # already closed by the user
        except BaseException as exc:  # raised by the next write(): the window then fails alone (best-effort)
            log.debug("window: render loop failed", exc_info=True)
            self.error = exc
        finally:
            self._done.set()

    def _loop(self) -> None:
        shown: Result | None = None
        window_hw: tuple[int, ...] = ()
        base = np.zeros((*PLACEHOLDER_HW, 3), np.uint8)  # the overlay without the HUD
        canvas = base.copy()  # reused: the overlay + HUD
        health: HealthStatus | None = None
        latency_ms: float | None = None
        while not self._stop.is_set():
            t0 = time.monotonic()
            latest, new_health = self._latest, self._health
            fresh = latest is not None and latest is not shown and not self.paused
            if fresh and latest is not None:
                shown = latest
                base = self.renderer(latest)
                latency_ms = (time.monotonic() - latest.meta.capture_mono) * 1000.0
            elif self._dirty and shown is not None:
                base = self.renderer(shown)  # a toggle changed: redraw the same frame
            if fresh or self._dirty or new_health is not health:
                health, self._dirty = new_health, False
                if canvas.shape != base.shape:
                    canvas = np.empty_like(base)
                np.copyto(canvas, base)
                draw_hud(
                    canvas, hud_lines(health, latency_ms, self.paused, self.toggles()), banner_for(health)
                )
                if canvas.shape[:2] != window_hw:  # new frame size: fit the window to it once
                    window_hw = canvas.shape[:2]
                    cv2.resizeWindow(self.title, *initial_window_size(canvas.shape[1], canvas.shape[0]))
                cv2.imshow(self.title, cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
                if fresh and shown is not None:
                    self.frames_shown += 1
                    self.last_shown_seq = shown.meta.seq
            wait_ms = max(1, round((self.period_s - (time.monotonic() - t0)) * 1000.0))
            if self.handle_key(cv2.waitKey(wait_ms)) == "quit":
                return
            if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                log.info("window: closed by the user")
                self._request_quit()
                return


def open_window(cfg: Config, on_quit: Callable[[], None]) -> WindowSink | None:
    """The monitor window if ``display.mode`` asks for one and a display exists (``on_quit``: what
    the quit key and closing the window do, e.g. stop the run).

    ``on`` without a usable display prints one line and the run continues headless.
    """
    mode = cfg.display.mode
    if mode == "off":
        return None
    if not display_available():
        if mode == "on":
            print(
                "infant-stream: no display available (DISPLAY/WAYLAND_DISPLAY unset or no window can "
                "be opened); running without the monitor window",
                file=sys.stderr,
            )
        return None
    ids = [s.id for s in cfg.source_list]
    return WindowSink(cfg.display, cfg.privacy, on_quit=on_quit, source_ids=ids if len(ids) > 1 else ())
