"""Media for the web app's tests: a synthetic infant clip and still (no real infant footage exists
here), a truncated video, a file that is no image or video."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from tests.helpers.media import truncated_h264

CLIP_FRAMES = 24
CLIP_FPS = 12.0


@pytest.fixture(scope="session")
def web_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``clip`` (an H.264 mp4 of a synthetic infant, 24 frames at 12 fps, 320×240), ``still`` (its
    first frame as PNG), ``jpeg`` (the same as JPEG), ``truncated`` (an mp4 cut in half), ``text``."""
    from trainer.synth.video import video_frames, write_video

    folder = tmp_path_factory.mktemp("web-media")
    clip = folder / "clip.mp4"
    write_video(clip, frames=CLIP_FRAMES, fps=CLIP_FPS, width=320, height=240, seed=2)
    _, first = next(video_frames(frames=1, fps=CLIP_FPS, width=320, height=240, seed=2))
    bgr = cv2.cvtColor(first.image, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(folder / "still.png"), bgr)
    cv2.imwrite(str(folder / "still.jpg"), bgr)
    text = folder / "notes.png"  # a name that claims an image
    text.write_text("this is not an image\n")
    return {
        "clip": clip,
        "still": folder / "still.png",
        "jpeg": folder / "still.jpg",
        "truncated": truncated_h264(folder),
        "text": text,
    }
