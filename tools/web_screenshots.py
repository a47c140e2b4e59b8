"""Screenshots of the web page for the docs: ``python -m tools.web_screenshots --out docs``.

Starts a real ``infant-stream serve`` with a live publisher (``infant-stream run --zmq``) on synthetic
infant videos, drives headless Chromium (Debian's ``/usr/bin/chromium`` and ``chromedriver``) through
the three views and saves ``web-upload.png`` (an image analysed), ``web-job.png`` (a finished job with
its links and charts) and ``web-live.png`` (a live camera card running). Never imported by the product.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2
from PIL import Image
from selenium.webdriver.support.ui import WebDriverWait

from tests.helpers.procs import REPO, cli_command
from tests.helpers.web import Publisher, Server, chromium

MAX_BYTES = 400_000
"""Above this a screenshot is saved with a 256-colour palette (the docs stay small)."""


def synth(out: Path, frames: int, fps: int, seed: int) -> Path:
    args = ["synth", "video", "--out", str(out), "--frames", str(frames), "--fps", str(fps)]
    args += ["--width", "320", "--height", "240", "--seed", str(seed)]
    subprocess.run([*cli_command(), *args], cwd=REPO, check=True, capture_output=True, timeout=300)
    return out


def still_of(video: Path, out: Path) -> Path:
    with av.open(str(video)) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    cv2.imwrite(str(out), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return out


def wait(driver: Any, condition: Callable[[Any], Any], timeout: float = 120.0) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)


def natural_width(driver: Any, element: Any) -> int:
    return int(driver.execute_script("return arguments[0].naturalWidth", element))


def shoot(driver: Any, section_id: str | None, path: Path) -> None:
    """Scroll ``section_id`` to the top of the window (None: the page's top) and save a small PNG."""
    if section_id is None:
        driver.execute_script("window.scrollTo(0, 0)")
    else:
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView(true)", section_id)
    time.sleep(0.5)
    driver.save_screenshot(str(path))
    if path.stat().st_size > MAX_BYTES:
        Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"), help="folder for the PNGs (default docs)")
    out: Path = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="web-shots-") as tmp:
        folder = Path(tmp)
        clip = synth(folder / "clip.mp4", 60, 25, 3)
        live = synth(folder / "live.mp4", 40, 10, 5)
        still = still_of(clip, folder / "still.png")
        driver = None
        try:
            with (
                Publisher(live, "--no-flip-test", duration_s=300) as pub,
                Server("--zmq", pub.endpoint, log_dir=folder) as server,
            ):
                with server.client() as c:  # warm-up: the shot shows a steady-state runtime
                    c.post("/analyze_image", files={"file": ("still.png", still.read_bytes())})
                driver = chromium()
                driver.get(server.url)
                wait(driver, lambda d: "segmentation" in d.find_element("id", "models").text, 30)

                driver.find_element("id", "file-input").send_keys(str(still))
                overlay = driver.find_element("id", "overlay")
                wait(driver, lambda d: natural_width(d, overlay) > 0)
                shoot(driver, None, out / "web-upload.png")

                driver.find_element("id", "file-input").send_keys(str(clip))
                job = driver.find_element("id", "job")
                wait(driver, lambda d: job.get_attribute("data-state") == "done", 300)
                charts = driver.find_element("id", "job-charts")
                wait(driver, lambda d: charts.get_attribute("data-drawn") == "true", 60)
                shoot(driver, "jobs-section", out / "web-job.png")

                card = wait(driver, lambda d: d.find_elements("css selector", "#live .live-card"), 60)[0]
                badge = card.find_element("css selector", "[data-field='state']")
                wait(driver, lambda d: badge.text == "running", 60)
                frame = card.find_element("css selector", "img[data-field='frame']")
                wait(driver, lambda d: natural_width(d, frame) > 0, 30)
                # Twenty seconds of history (10 records/s) make a readable chart.
                wait(driver, lambda d: int(card.get_attribute("data-samples") or 0) >= 200, 90)
                shoot(driver, "live-section", out / "web-live.png")
        finally:
            if driver is not None:
                driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
