"""The monitor window: key table and handler without a display; the real window under Xvfb.

The window runs in a child process (this file run as a script): opencv-python's Qt backend binds
the process to the first X display it opens and exits the process when that display dies, so
the pytest process itself never opens a window. The child renders real results (colour model on
an H.264 clip, so every class region is known) and the test screenshots the X display.

Every threaded or child-process step has a deadline.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.config import DisplayConfig, PrivacyConfig
from pipeline.contract.geometry import cell_grid
from pipeline.frames import FrameMeta, Keypoint, Result, Timings
from pipeline.lifecycle import HealthStatus
from pipeline.render.hud import hud_lines
from pipeline.render.overlay import OverlayRenderer, OverlayStyle
from pipeline.render.palette import SIDE_COLOURS, blended, class_colour
from pipeline.render.privacy import pixelate_frame
from pipeline.sinks import window as window_mod
from pipeline.sinks.window import WindowSink, display_available, initial_window_size, key_action
from tests.helpers.media import make_result

REPO = Path(__file__).resolve().parents[3]
DEADLINE_S = 30.0
ALPHA = 0.5
W, H = 640, 480
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
# scene colour (→ class by the colour model), rect (x0, y0, x1, y1): below the HUD panel, on 10 px cells
REGIONS = [
    (RED, (40, 180, 160, 300)),
    (GREEN, (200, 180, 320, 300)),
    (BLUE, (360, 180, 480, 300)),
    (WHITE, (200, 340, 440, 460)),
]
CLASS_OF = {RED: 1, GREEN: 2, BLUE: 3, WHITE: 4}
STATUS = HealthStatus(
    source_id="clip",
    state="stalled",
    fps={"capture": 10.0, "preprocess": 10.0, "inference": 10.0, "postprocess": 10.0},
    dropped=2,
    frames_out=5,
    latency_p50_ms=12.0,
)


# ---- no display needed -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (ord("q"), "quit"),
        (ord("Q"), "quit"),
        (27, "quit"),
        (ord(" "), "pause"),
        (ord("m"), "mask"),
        (ord("b"), "blur"),
        (ord("t"), "trails"),
        (ord("k"), "keypoints"),
        (ord("x"), None),
        (-1, None),
    ],
)
def test_key_action_table(code, action):
    assert key_action(code) == action


def test_handle_key_toggles_and_quits_once():
    quits = []
    sink = WindowSink(DisplayConfig(), PrivacyConfig(block_px=12), lambda: quits.append(1))
    assert sink.toggles() == {"mask": True, "blur": True, "trails": True, "keypoints": True}
    for key in "mbtk ":
        sink.handle_key(ord(key))
    assert sink.toggles() == {"mask": False, "blur": False, "trails": False, "keypoints": False}
    assert sink.paused
    assert sink.renderer.privacy is not None and sink.renderer.privacy.block_px == 12
    sink.handle_key(ord(" "))
    assert not sink.paused
    assert sink.handle_key(ord("q")) == "quit" and sink.handle_key(27) == "quit"
    assert quits == [1] and sink.quit_requested
    sink.close()  # never started: returns at once


def test_k_toggles_the_skeleton():
    """On by default; ``k`` hides the joints and edges from the view (and brings them back)."""
    knee = Keypoint(16, "Knee_R", 20.0, 10.0, 0.9, smoothed=(20.0, 10.0))
    ankle = Keypoint(18, "Ankle_R", 20.0, 40.0, 0.9, smoothed=(20.0, 40.0))
    r = make_result(np.full((48, 64, 3), 90, np.uint8), keypoints=[knee, ankle], privacy="none")
    sink = WindowSink(DisplayConfig(), PrivacyConfig(), lambda: None)
    shown = sink.renderer(r)
    assert (shown[25, 20] == SIDE_COLOURS["R"]).all()  # the right shin, in the right side's colour
    assert sink.handle_key(ord("k")) == "keypoints" and sink.toggles()["keypoints"] is False
    assert np.array_equal(sink.renderer(r), r.image)  # nothing else to draw on this frame
    sink.handle_key(ord("k"))
    assert np.array_equal(sink.renderer(r), shown)
    assert "k keypoints" in hud_lines(None, None, False, sink.toggles())[-1]


def noisy_result(privacy: str) -> Result:
    img = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return make_result(img, np.zeros((12, 16), np.uint8), privacy=privacy)


def test_window_starts_fail_closed_and_b_shows_the_frame_clear_and_back():
    """The default view hides what the outputs hide (a frame without a head: all of it); ``b`` is a
    local switch to the clear frame and back."""
    sink = WindowSink(DisplayConfig(), PrivacyConfig(), lambda: None)
    r = noisy_result("frame")
    clear = OverlayRenderer(OverlayStyle(alpha=0.45), 3.0, None)(r)
    assert sink.toggles()["blur"] is True
    hidden = sink.renderer(r)
    assert np.array_equal(hidden, pixelate_frame(r.image, 16))  # nothing found: nothing drawn over it
    sink.handle_key(ord("b"))
    assert sink.toggles()["blur"] is False and np.array_equal(sink.renderer(r), clear)
    sink.handle_key(ord("b"))
    assert sink.toggles()["blur"] is True and np.array_equal(sink.renderer(r), hidden)


def test_window_of_an_off_run_starts_clear_and_b_fails_closed():
    sink = WindowSink(DisplayConfig(), PrivacyConfig(mode="off"), lambda: None)
    r = noisy_result("none")
    assert sink.toggles()["blur"] is False and np.array_equal(sink.renderer(r), r.image)
    sink.handle_key(ord("b"))
    assert sink.toggles()["blur"] is True
    assert np.array_equal(sink.renderer(r), pixelate_frame(r.image, 16))  # no head found: all of it


@pytest.mark.parametrize(
    ("env", "platform", "expected"),
    [({}, "linux", False), ({"HOME": "/root"}, "linux", False), ({}, "darwin", True), ({}, "win32", True)],
)
def test_display_available_without_display(env, platform, expected):
    assert display_available(env, platform) is expected


def test_display_available_false_for_a_dead_display():
    n = next(n for n in range(400, 500) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    assert display_available({**os.environ, "DISPLAY": f":{n}"}, "linux") is False


def test_initial_window_size():
    assert initial_window_size(640, 480) == (640, 480)
    assert initial_window_size(1920, 1080) == (1280, 720)
    assert initial_window_size(1080, 1920) == (405, 720)


def synthetic_result(seq: int) -> Result:
    img = np.zeros((48, 64, 3), np.uint8)
    cm = np.zeros((12, 16), np.uint8)
    return Result(
        FrameMeta("t", seq, time.monotonic(), 0.0, None, 64, 48),
        (),
        (),
        Timings(),
        0,
        img,
        cm,
        cell_grid((12, 16), (48, 64)),
    )


def test_window_creation_error_warns_once_and_keeps_consuming(monkeypatch, caplog):
    def fail(*args: object) -> None:
        raise cv2.error("no GUI backend in this build")

    monkeypatch.setattr(window_mod.cv2, "namedWindow", fail)
    sink = WindowSink(DisplayConfig(), PrivacyConfig(), lambda: None)
    with caplog.at_level(logging.WARNING, logger="pipeline.sinks.window"):
        sink.write(synthetic_result(0))
        deadline = time.monotonic() + DEADLINE_S
        while not sink.window_failed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.window_failed
        t0 = time.perf_counter()
        for i in range(1, 1000):
            sink.write(synthetic_result(i))
        assert (time.perf_counter() - t0) / 999 < 1e-3
        sink.on_health(STATUS)
        sink.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "continuing without it" in warnings[0].getMessage()
    assert sink.frames_shown == 0


# ---- Xvfb ----------------------------------------------------------------------------------


@pytest.fixture
def xvfb(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh Xvfb display ``:N``; DISPLAY points at it for this test only. CI=true: missing Xvfb fails."""
    exe = shutil.which("Xvfb")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Xvfb not installed (.ci/run installs the xvfb package)")
        pytest.skip("Xvfb not installed (apt: xvfb)")
    proc: subprocess.Popen[bytes] | None = None
    for n in range(100 + os.getpid() % 300, 800):
        if Path(f"/tmp/.X11-unix/X{n}").exists() or Path(f"/tmp/.X{n}-lock").exists():
            continue
        cmd = [exe, f":{n}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and proc.poll() is None:
            if Path(f"/tmp/.X11-unix/X{n}").exists():
                break
            time.sleep(0.05)
        if proc.poll() is None and Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        proc.kill()  # lost a race for this number, or it did not start: try the next one
        proc.wait(5)
        proc = None
    if proc is None:
        pytest.fail("could not start Xvfb on a free display number")
    display = f":{n}"
    monkeypatch.setenv("DISPLAY", display)
    yield display
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class Child:
    """This file run as a script (the window's process), talking JSON lines over stdin/stdout."""

    def __init__(self, mode: str, model: Path, tmp: Path) -> None:
        cmd = [sys.executable, "-m", "tests.pipeline.sinks.test_window", mode, str(model), str(tmp)]
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def read(self, timeout: float = DEADLINE_S) -> dict:
        try:
            return json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=5)
            pytest.fail(f"window child said nothing in {timeout} s; stderr:\n{err[-3000:]}")

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def finish(self) -> None:
        try:
            rc = self.proc.wait(DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            pytest.fail("window child did not exit")
        assert rc == 0, self.proc.stderr.read() if self.proc.stderr else ""


def screenshot(display: str) -> np.ndarray:
    from PIL import ImageGrab

    return np.asarray(ImageGrab.grab(xdisplay=display).convert("RGB"))


def near(img: np.ndarray, colour: tuple[int, int, int], tol: int) -> int:
    return int((np.abs(img.astype(np.int16) - np.array(colour, np.int16)) <= tol).all(axis=2).sum())


def window_crop(shot: np.ndarray) -> np.ndarray:
    """The (H, W) window: Xvfb's root is black, there is no window manager (no decorations), and the
    window's top-left corner is the red banner (its bottom rows are black like the scene's)."""
    ys, xs = np.nonzero(shot.max(axis=2) > 0)
    assert len(xs), "nothing on the X display"
    y0, x0 = ys.min(), xs.min()
    assert xs.max() - x0 + 1 <= W and ys.max() - y0 + 1 <= H, "window larger than the frame"
    return shot[y0 : y0 + H, x0 : x0 + W]


def test_window_shows_overlay_and_hud_under_xvfb(xvfb, colour_model_path, tmp_path):
    assert display_available(dict(os.environ), "linux")
    child = Child("show", colour_model_path, tmp_path)
    ready = child.read()
    assert ready["frames_shown"] > 0 and ready["last_shown_seq"] == ready["last_seq"]
    deadline = time.monotonic() + DEADLINE_S
    while True:  # the window may need a few event-loop turns to be painted
        win = window_crop(screenshot(xvfb))
        counts = {c: near(win, blended(c, class_colour(CLASS_OF[c]), ALPHA), 24) for c, _ in REGIONS}
        banner = near(win[:40], (200, 0, 0), 8)
        if (min(counts.values()) > 0 and banner > 0) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    child.send("pause")  # space: the view freezes while results keep coming, then catches up
    paused = child.read()
    assert paused["while_paused"] == paused["before"] and paused["after"] > paused["before"]
    child.send("close")
    assert child.read()["closed"] is True
    child.finish()
    assert win.shape[:2] == (H, W)
    for colour, (x0, y0, x1, y1) in REGIONS:
        expected = blended(colour, class_colour(CLASS_OF[colour]), ALPHA)
        area = (x1 - x0) * (y1 - y0)
        assert counts[colour] > 0.6 * area, (colour, expected, counts[colour], area)
        swapped = expected[::-1]  # a BGR/RGB mix-up would show this instead
        if abs(expected[0] - expected[2]) > 48:
            assert near(win, swapped, 8) < 0.05 * counts[colour], (colour, swapped)
    assert banner > W * 10, "no red STALLED banner"
    hud = win[40:200, 0:400]
    assert near(hud, (255, 255, 255), 20) > 200, "HUD text missing"


def test_quit_key_under_xvfb(xvfb, colour_model_path, tmp_path):
    if shutil.which("xdotool") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("xdotool not installed (.ci/run installs it)")
        pytest.skip("xdotool not installed (apt: xdotool); the key table and handler are tested above")
    child = Child("quit", colour_model_path, tmp_path)
    child.read()
    # no window manager: X sends keys to the window under the pointer
    subprocess.run(["xdotool", "mousemove", str(W // 2), str(H // 2), "key", "q"], check=True, timeout=10)
    assert child.read()["quit"] is True
    child.finish()


# ---- the child process -------------------------------------------------------------------


def _draw(i: int) -> np.ndarray:
    from tests.helpers.media import scene

    return scene(H, W, REGIONS)


def _child(mode: str, model: Path, tmp: Path) -> int:
    from pipeline.infer.backends.onnxruntime import OrtBackend
    from pipeline.infer.inference import InferenceStage
    from pipeline.infer.preprocess import Preprocessor
    from pipeline.postprocess.stage import Postprocessor
    from pipeline.runtime.pipeline import Pipeline
    from pipeline.sources.file import FileSource
    from tests.helpers.media import ListSink, write_h264

    def say(**kw: object) -> None:
        sys.stdout.write(json.dumps(kw) + "\n")
        sys.stdout.flush()

    clip = write_h264(tmp / "clip.mp4", frames=5, fps=10, size=(W, H), draw=_draw)
    backend = OrtBackend(model)
    results = ListSink()
    p = Pipeline(
        FileSource(clip, "clip"),
        Preprocessor(backend.spec),
        InferenceStage(backend),
        Postprocessor(backend.spec, 1),
        [results],
    )
    p.start()
    if not p.wait(DEADLINE_S):
        raise RuntimeError("pipeline did not finish")
    p.join()
    quit_event = threading.Event()
    sink = WindowSink(DisplayConfig(alpha=ALPHA), PrivacyConfig(), quit_event.set)
    sink.on_health(STATUS)
    for r in results.results:
        sink.write(r)
    last_seq = results.results[-1].meta.seq
    deadline = time.monotonic() + DEADLINE_S
    while sink.last_shown_seq != last_seq and time.monotonic() < deadline and sink.error is None:
        time.sleep(0.02)
    time.sleep(0.3)
    say(frames_shown=sink.frames_shown, last_shown_seq=sink.last_shown_seq, last_seq=last_seq)
    if mode == "quit":
        say(quit=quit_event.wait(DEADLINE_S))
    else:
        while sys.stdin.readline().strip() == "pause":
            before = sink.frames_shown
            sink.handle_key(ord(" "))
            for r in reversed(results.results):  # ends on a result not shown yet
                sink.write(r)
                time.sleep(0.05)
            while_paused = sink.frames_shown
            sink.handle_key(ord(" "))
            deadline = time.monotonic() + DEADLINE_S
            while sink.frames_shown == while_paused and time.monotonic() < deadline:
                time.sleep(0.02)
            say(before=before, while_paused=while_paused, after=sink.frames_shown)
    sink.close()
    say(closed=sink._done.is_set() and sink.error is None)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
