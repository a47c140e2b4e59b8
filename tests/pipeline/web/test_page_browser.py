"""The web page in a real headless Chromium against a real ``infant-stream serve`` (and a live publisher).

No mocks: Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` driven by Selenium 4, the real
server process on a free loopback port, the real ``infant-stream run --zmq`` publisher, synthetic
infant videos from ``infant-stream synth video``. Missing browser binaries fail the tests (CI installs
them), they do not skip.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import pytest

from tests.helpers.procs import REPO, cli_command
from tests.helpers.web import Publisher, Server, chromium, missing_browser

STATIC = REPO / "pipeline" / "web" / "static"
PARTS = ("head", "arm", "torso", "leg")
COLOURS = {"head": (44, 160, 44), "arm": (31, 119, 180), "torso": (255, 127, 14), "leg": (214, 39, 40)}
TOKEN = "page-test-token-0123456789"
JOB_DEADLINE_S = 150.0
LIVE_DEADLINE_S = 45.0

# Pixels of one colour (within tol per channel) on a canvas: proof that the chart drew that series.
COUNT_COLOUR_JS = """
const [canvas, rgb, tol] = arguments;
const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
let n = 0;
for (let i = 0; i < data.length; i += 4) {
  if (Math.abs(data[i] - rgb[0]) <= tol && Math.abs(data[i + 1] - rgb[1]) <= tol
      && Math.abs(data[i + 2] - rgb[2]) <= tol && data[i + 3] > 200) n++;
}
return n;
"""


def run_cli(*args: str, timeout: float = 120.0) -> None:
    subprocess.run([*cli_command(), *args], cwd=REPO, check=True, capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Synthetic infant clips (job, cancel, live publisher), a still image of one, and a non-image."""
    folder = tmp_path_factory.mktemp("page-media")
    clips = {"clip": ("40", "25", "3"), "long": ("150", "25", "4"), "live": ("40", "10", "5")}
    for name, (frames, fps, seed) in clips.items():
        run_cli(
            "synth", "video", "--out", str(folder / f"{name}.mp4"), "--frames", frames, "--fps", fps,
            "--width", "320", "--height", "240", "--seed", seed,
        )  # fmt: skip
    with av.open(str(folder / "clip.mp4")) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    cv2.imwrite(str(folder / "still.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (folder / "broken.png").write_bytes(b"this is not an image at all\n" * 4)
    return {name: folder / f"{name}.mp4" for name in clips} | {
        "still": folder / "still.png",
        "broken": folder / "broken.png",
    }


@pytest.fixture(scope="module")
def publisher(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``infant-stream run --zmq`` publishing the live clip in a loop; yields its endpoint."""
    log = tmp_path_factory.mktemp("page-publisher") / "run.log"
    with Publisher(media["live"], "--no-flip-test", log=log) as pub:
        yield pub.endpoint


@pytest.fixture(scope="module")
def server(publisher: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server("--zmq", publisher, log_dir=tmp_path_factory.mktemp("page-serve")) as srv:
        yield srv


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One headless Chromium for the module (fails, never skips, when the binaries are missing)."""
    missing = missing_browser()
    if missing:
        pytest.fail(
            f"browser tests need {' and '.join(missing)} (Debian: apt-get install chromium chromium-driver)"
        )
    chrome = chromium(console_log=True)
    try:
        yield chrome
    finally:
        chrome.quit()


def wait_for(driver: Any, condition: Callable[[Any], Any], timeout: float, what: str) -> Any:
    """WebDriverWait with a deadline and a message naming what did not happen (and the page's error)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)
    except TimeoutException:
        error = driver.execute_script("return document.getElementById('error').textContent")
        raise AssertionError(f"after {timeout} s: {what} (page error: {error!r})") from None


def open_page(driver: Any, url: str) -> None:
    """Load the page and wait until it has read /health (the header names the models)."""
    driver.get(url)
    wait_for(
        driver, lambda d: "segmentation" in d.find_element("id", "models").text, 20, "header from /health"
    )


def choose_file(driver: Any, path: Path) -> None:
    driver.find_element("id", "file-input").send_keys(str(path))


def count_colour(driver: Any, canvas: Any, rgb: tuple[int, int, int], tol: int = 10) -> int:
    return int(driver.execute_script(COUNT_COLOUR_JS, canvas, list(rgb), tol))


def console_messages(driver: Any) -> list[dict[str, Any]]:
    """What the page's own scripts wrote to the console (network errors are reported apart)."""
    return [e for e in driver.get_log("browser") if e.get("source") == "console-api"]


# -- static checks of the shipped files ----------------------------------------------------------


def test_page_files_preview_nothing_log_nothing_and_load_nothing_external() -> None:
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    for forbidden in (r"\bFileReader\b", r"createObjectURL\s*\(", r"\bconsole\s*\.\s*\w+\s*\("):
        assert not re.search(forbidden, script), f"app.js: {forbidden} (privacy: no previews, no upload logs)"
    for name in ("index.html", "app.js", "style.css"):
        text = (STATIC / name).read_text(encoding="utf-8")
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), f"{name} loads something external"
        assert "@import" not in text and "url(http" not in text, f"{name} loads something external"


# -- the page in the browser ---------------------------------------------------------------------


def test_header_names_the_models_and_footer_disclaims(driver: Any, server: Server) -> None:
    open_page(driver, server.url)
    health = server.client().get("/health").json()
    assert health["message"] in driver.find_element("id", "models").text
    assert driver.find_element("tag name", "footer").text.startswith(
        "Research software, not a medical device"
    )
    assert not driver.find_element("id", "live-note").is_displayed()  # the server has a --zmq endpoint
    for empty in ("error", "image-result", "job"):  # nothing to show before the user acts
        assert not driver.find_element("id", empty).is_displayed(), empty
    label = driver.find_element("css selector", "label[for='file-input']")
    assert label.text.strip()
    accept = driver.find_element("id", "file-input").get_attribute("accept")
    assert "image/*" in accept and "video/*" in accept


def test_image_upload_shows_the_servers_overlay_and_tables(
    driver: Any, server: Server, media: dict[str, Path]
) -> None:
    open_page(driver, server.url)
    driver.get_log("browser")  # forget what loading the page wrote
    choose_file(driver, media["still"])
    overlay = driver.find_element("id", "overlay")
    wait_for(
        driver,
        lambda d: d.execute_script("return arguments[0].naturalWidth", overlay) > 0,
        60,
        "overlay decoded",
    )
    assert driver.execute_script(
        "return [arguments[0].naturalWidth, arguments[0].naturalHeight]", overlay
    ) == [
        320,
        240,
    ]
    src = overlay.get_attribute("src")
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1]) != media["still"].read_bytes()  # not the raw upload
    # The only images on the page are the server's answers, never a local preview of the file.
    sources = driver.execute_script("return [...document.images].map(i => i.src).filter(s => s)")
    assert sources and all(re.match(r"data:image/(png|jpeg);base64,", s) for s in sources), sources

    rows = driver.find_elements("css selector", "#parts-table tbody tr")
    names = [r.find_element("tag name", "th").text for r in rows]
    assert set(PARTS) <= set(names), names
    head = rows[names.index("head")].find_elements("tag name", "td")
    assert re.fullmatch(r"\d+, \d+, \d+, \d+", head[0].text)  # box
    assert re.fullmatch(r"[\d.]+, [\d.]+", head[1].text)  # centroid
    assert int(head[2].text) > 0 and 0.0 < float(head[3].text) <= 1.0  # area, score

    joints = [
        r.get_attribute("data-joint") for r in driver.find_elements("css selector", "#joints-table tbody tr")
    ]
    assert joints == server.client().get("/health").json()["config"]["keypoint_names"]
    assert re.search(r"model \d+ ms · server \d+ ms", driver.find_element("id", "runtime").text)
    assert not driver.find_element("id", "error").is_displayed()
    assert console_messages(driver) == []


def test_a_file_the_server_refuses_shows_its_error_line(
    driver: Any, server: Server, media: dict[str, Path]
) -> None:
    open_page(driver, server.url)
    with media["broken"].open("rb") as f:
        refused = server.client().post("/analyze_image", files={"file": ("broken.png", f, "image/png")})
    assert 400 <= refused.status_code < 500
    choose_file(driver, media["broken"])
    error = driver.find_element("id", "error")
    wait_for(driver, lambda d: error.is_displayed(), 30, "the error line shown")
    assert error.text == refused.json()["error"]
    assert not driver.find_element("id", "image-result").is_displayed()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_video_job_progress_links_and_charts(driver: Any, server: Server, media: dict[str, Path]) -> None:
    open_page(driver, server.url)
    choose_file(driver, media["clip"])
    job = driver.find_element("id", "job")
    wait_for(driver, lambda d: job.get_attribute("data-job-id"), 60, "the job submitted")
    job_id = job.get_attribute("data-job-id")
    assert re.fullmatch(r"[0-9a-f]{32}", job_id)
    wait_for(driver, lambda d: job.get_attribute("data-state") == "done", JOB_DEADLINE_S, "the job done")

    text = driver.find_element("id", "job-progress-text").text
    assert "40 / 40 frames" in text and "100 %" in text, text
    assert driver.find_element("id", "job-bar").get_attribute("value") == "100"
    assert not driver.find_element("id", "job-cancel").is_displayed()

    links = driver.find_elements("css selector", "#job-links a")
    kinds = sorted(a.get_attribute("data-kind") for a in links)
    assert kinds == ["csv", "jsonl", "overlay"]
    client = server.client()
    for a in links:
        href = a.get_attribute("href")
        assert re.fullmatch(rf"{re.escape(server.url)}/jobs/{job_id}/files/(csv|jsonl|overlay)", href), href
        answer = client.get(href)
        assert answer.status_code == 200 and answer.content, href
        if a.get_attribute("data-kind") == "jsonl":
            assert len([json.loads(line) for line in answer.text.splitlines() if line.strip()]) == 40

    charts = driver.find_element("id", "job-charts")
    wait_for(driver, lambda d: charts.get_attribute("data-drawn") == "true", 30, "trajectory charts drawn")
    for canvas_id in ("chart-x", "chart-y"):
        canvas = driver.find_element("id", canvas_id)
        assert canvas.get_attribute("data-points") and int(canvas.get_attribute("data-points")) >= 4 * 40
        for part in PARTS:
            assert count_colour(driver, canvas, COLOURS[part]) > 20, f"{canvas_id}: no {part} line"
    row = driver.find_element("css selector", f"#jobs-table tr[data-job-id='{job_id}']")
    assert "done" in row.text
    assert not driver.find_element("id", "error").is_displayed()


@pytest.mark.timeout(180)
def test_cancel_deletes_a_running_job(driver: Any, server: Server, media: dict[str, Path]) -> None:
    open_page(driver, server.url)
    choose_file(driver, media["long"])
    cancel = driver.find_element("id", "job-cancel")
    wait_for(driver, lambda d: cancel.is_displayed(), 60, "the Cancel button while the job runs")
    job = driver.find_element("id", "job")
    job_id = job.get_attribute("data-job-id")
    assert job.get_attribute("data-state") in ("queued", "running")
    cancel.click()
    wait_for(driver, lambda d: job.get_attribute("data-state") == "cancelled", 30, "the job cancelled")
    assert server.client().get(f"/jobs/{job_id}").status_code == 404
    assert not cancel.is_displayed()
    assert driver.find_elements("css selector", "#job-links a") == []
    assert "cancelled" in driver.find_element("id", "job-progress-text").text
    assert not driver.find_element("id", "error").is_displayed()


def wait_live_card(driver: Any, source: str = "cam0") -> Any:
    """The live card of ``source`` once it shows ``running``, a decoded frame and ≥ 10 samples charted."""
    selector = f"#live .live-card[data-source='{source}']"
    wait_for(
        driver, lambda d: d.find_elements("css selector", selector), LIVE_DEADLINE_S, f"a card for {source}"
    )
    card = driver.find_element("css selector", selector)
    badge = card.find_element("css selector", "[data-field='state']")
    wait_for(driver, lambda d: badge.text == "running", LIVE_DEADLINE_S, "the live state running")
    frame = card.find_element("css selector", "img[data-field='frame']")
    wait_for(
        driver, lambda d: d.execute_script("return arguments[0].naturalWidth", frame) > 0, 20, "a live frame"
    )
    wait_for(driver, lambda d: int(card.get_attribute("data-samples") or 0) >= 10, 20, "live samples")
    return card


@pytest.mark.timeout(120)
def test_live_card_shows_running_frame_rates_and_recent_positions(driver: Any, server: Server) -> None:
    open_page(driver, server.url)
    card = wait_live_card(driver)
    frame = card.find_element("css selector", "img[data-field='frame']")
    assert frame.get_attribute("src").startswith("data:image/jpeg;base64,")
    assert driver.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", frame) == [
        320,
        240,
    ]
    fps = card.find_element("css selector", "[data-field='fps']").text
    assert re.fullmatch(r"[\d.]+/s", fps) and float(fps[:-2]) > 0, fps
    assert re.fullmatch(r"\d+ ms", card.find_element("css selector", "[data-field='latency']").text)
    assert int(card.find_element("css selector", "[data-field='records']").text) > 0
    for field in ("chart-x", "chart-y"):
        canvas = card.find_element("css selector", f"canvas[data-field='{field}']")
        for part in ("head", "torso"):
            assert count_colour(driver, canvas, COLOURS[part]) > 10, f"{field}: no recent {part} positions"
    # The window keeps growing while samples stay within history_s (the buffer is the page's own).
    before = int(card.get_attribute("data-samples"))
    wait_for(driver, lambda d: int(card.get_attribute("data-samples")) > before, 10, "more live samples")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_with_a_token_the_cookie_carries_fetch_uploads_and_the_websocket(
    driver: Any, publisher: str, media: dict[str, Path], tmp_path: Path
) -> None:
    with Server("--token", TOKEN, "--zmq", publisher, log_dir=tmp_path, token=TOKEN) as srv:
        try:
            check_token_page(driver, srv, media)
        finally:
            driver.delete_all_cookies()  # other servers of this module run without a token


def check_token_page(driver: Any, srv: Server, media: dict[str, Path]) -> None:
    """Page, upload and live card work on a token server opened once with ``?token=``."""
    assert httpx.get(f"{srv.url}/health", timeout=10).status_code == 401  # the gate is on
    open_page(driver, f"{srv.url}/?token={TOKEN}")
    assert TOKEN not in driver.execute_script("return document.cookie")  # HttpOnly: not readable by JS
    choose_file(driver, media["still"])
    overlay = driver.find_element("id", "overlay")
    wait_for(
        driver, lambda d: d.execute_script("return arguments[0].naturalWidth", overlay) > 0, 60, "overlay"
    )
    wait_live_card(driver)
    assert not driver.find_element("id", "error").is_displayed()


@pytest.mark.timeout(120)
def test_without_live_endpoints_the_page_says_how_to_add_one(driver: Any, tmp_path: Path) -> None:
    with Server(log_dir=tmp_path) as srv:
        assert srv.client().get("/health").json()["live_endpoints"] == []
        open_page(driver, srv.url)
        note = driver.find_element("id", "live-note")
        wait_for(driver, lambda d: note.is_displayed(), 10, "the no-endpoint note")
        assert "--zmq" in note.text
        assert driver.find_elements("css selector", "#live .live-card") == []
