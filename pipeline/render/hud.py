"""The monitor's heads-up display: health text in a corner and a red banner when the source is in trouble.

Text is ASCII only (cv2's Hershey fonts have no other glyphs). Drawn in RGB, in place, on an image
the caller owns (a renderer's copy, never ``result.image``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import cv2
import numpy as np

from pipeline.lifecycle import HealthStatus, State

FONT = cv2.FONT_HERSHEY_SIMPLEX
BANNERS: Final[dict[State, str]] = {
    State.RECONNECTING: "RECONNECTING...",
    State.STALLED: "STALLED",
    State.BACKEND_UNAVAILABLE: "INFERENCE SERVER UNAVAILABLE...",
    State.ERROR: "ERROR",
    State.BUILDING_ENGINE: "BUILDING ENGINE...",
}
"""Pipeline state → banner text (red). Other states show no banner."""
BANNER_RGB: Final = (200, 0, 0)
TEXT_RGB: Final = (255, 255, 255)
STAGES: Final = (("capture", "cap"), ("preprocess", "pre"), ("inference", "inf"), ("postprocess", "post"))
PANEL_DIM: Final = 0.35
"""The HUD panel darkens the frame under it to this fraction, so white text stays readable."""


def banner_for(status: HealthStatus | None) -> str | None:
    """The banner text for ``status``'s state (see :data:`BANNERS`), or None."""
    return None if status is None else BANNERS.get(status.state)


def hud_lines(
    status: HealthStatus | None,
    display_latency_ms: float | None,
    paused: bool,
    toggles: Mapping[str, bool],
) -> list[str]:
    """The HUD text, one string per line.

    Args:
        status: the latest health snapshot (None before the first one).
        display_latency_ms: capture → display latency of the frame shown (None before the first).
        paused: the view is frozen (space).
        toggles: layer name → on/off, shown in this order (e.g. mask, blur, trails).
    """
    lines: list[str] = []
    if status is None:
        lines.append("waiting for status")
    else:
        lines.append(f"{status.source_id}  {status.state}")
        rates = "  ".join(f"{short} {status.fps.get(name, 0.0):.1f}" for name, short in STAGES)
        lines.append(f"fps  {rates}")
    lat = "-" if display_latency_ms is None else f"{display_latency_ms:.0f} ms"
    drops = "-" if status is None else str(status.dropped)
    lines.append(f"latency capture->display {lat}  drops {drops}")
    flags = "  ".join(f"{name} {'on' if on else 'off'}" for name, on in toggles.items())
    lines.append(f"{flags}{'  PAUSED' if paused else ''}")
    lines.append("q quit  space pause  m mask  b blur  t trails  k keypoints")
    return lines


def text_scale(height: int, width: int) -> float:
    """cv2 font scale for HUD text on a frame of this size (0.5 at 640x480, 0.75 at 720p, 1.0 max)."""
    return min(1.0, max(0.4, min(height, width) / 960))


def draw_hud(image_rgb: np.ndarray, lines: list[str], banner: str | None) -> None:
    """Draw ``lines`` in a darkened panel at the top left, and ``banner`` as a red bar across the top.

    Args:
        image_rgb: (H, W, 3) uint8 RGB, written in place (must be the caller's own copy).
        lines: ASCII text lines.
        banner: text for the red banner, or None.
    """
    h, w = image_rgb.shape[:2]
    fs = text_scale(h, w)
    thick = max(1, round(fs * 2))
    (_, th), base = cv2.getTextSize("Ag", FONT, fs, thick)
    step = th + base + 4
    top = 0
    if banner:
        bfs = fs * 1.6
        bthick = thick + 1
        (bw, bh), bbase = cv2.getTextSize(banner, FONT, bfs, bthick)
        bar_h = bh + bbase + 12
        cv2.rectangle(image_rgb, (0, 0), (w - 1, bar_h - 1), BANNER_RGB, cv2.FILLED)
        org = (max(4, (w - bw) // 2), bar_h - bbase - 6)
        cv2.putText(image_rgb, banner, org, FONT, bfs, TEXT_RGB, bthick, cv2.LINE_AA)
        top = bar_h
    if not lines:
        return
    width = max(cv2.getTextSize(text, FONT, fs, thick)[0][0] for text in lines) + 12
    x1, y1 = min(w, width), min(h, top + step * len(lines) + 8)
    panel = image_rgb[top:y1, 0:x1]
    panel[:] = cv2.convertScaleAbs(panel, alpha=PANEL_DIM)
    for i, text in enumerate(lines):
        cv2.putText(image_rgb, text, (6, top + 4 + th + i * step), FONT, fs, TEXT_RGB, thick, cv2.LINE_AA)
