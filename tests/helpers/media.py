"""Test media made in the test: H.264 files written with PyAV, and a tiny ONNX model built with
onnx.helper whose output is known exactly (the "colour model").

The colour model is a 1×1 convolution: pure red → head (1), green → arm (2), blue → torso (3),
white → leg (4), black → background (0). Its metadata: input 64×64, mean 0, std 1, centred
letterbox padded with 0 (black → background).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import av
import numpy as np
import onnx
from onnx import TensorProto, helper

from pipeline.config import PrivacyApplied
from pipeline.contract.geometry import cell_grid
from pipeline.contract.keypoints import KeypointSet
from pipeline.contract.model_meta import ModelSpec
from pipeline.frames import Frame, FrameMeta, Keypoint, PartInstance, PoseEstimate, Result, Timings
from pipeline.infer.inference import InferenceStage
from pipeline.infer.preprocess import Preprocessor
from pipeline.postprocess.stage import Postprocessor
from pipeline.record import sealed
from pipeline.runtime.pipeline import Pipeline
from pipeline.sources.base import FrameStamper

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
COLOUR_CLASS = {RED: 1, GREEN: 2, BLUE: 3, WHITE: 4}
COLOUR_SPEC = ModelSpec(input_hw=(64, 64), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), letterbox="center")


def colour_model(
    path: Path,
    input_hw: tuple[int | str, int | str] = (64, 64),
    channels: int = 3,
    classes: int = 5,
    spec: ModelSpec = COLOUR_SPEC,
) -> Path:
    """Write the colour model to ``path`` (shape knobs exist to build deliberately wrong models)."""
    w = np.zeros((classes, channels, 1, 1), np.float32)
    b = np.zeros(classes, np.float32)
    table = [((0, 0, 0), 1.0), ((4, -2, -2), 0.0), ((-2, 4, -2), 0.0), ((-2, -2, 4), 0.0), ((2, 2, 2), -3.0)]
    for c, (weights, bias) in enumerate(table[:classes]):
        w[c, : min(3, channels), 0, 0] = weights[: min(3, channels)]
        b[c] = bias
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, *input_hw])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", classes, *input_hw])
    node = helper.make_node("Conv", ["input", "W", "B"], ["out"])
    graph = helper.make_graph(
        [node],
        "colour",
        [x],
        [y],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel()),
            helper.make_tensor("B", TensorProto.FLOAT, b.shape, b),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in spec.to_props().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def scene(
    height: int, width: int, rects: list[tuple[tuple[int, int, int], tuple[int, int, int, int]]]
) -> np.ndarray:
    """A black RGB image (H, W, 3) uint8 with filled rectangles (colour, (x0, y0, x1, y1) exclusive)."""
    img = np.zeros((height, width, 3), np.uint8)
    for colour, (x0, y0, x1, y1) in rects:
        img[y0:y1, x0:x1] = colour
    return img


def moving_gradient(i: int, size: tuple[int, int]) -> np.ndarray:
    """Frame i of the default test picture: a horizontal gradient moving 4 px per frame, (H, W, 3) uint8."""
    w, h = size
    row = ((np.arange(w, dtype=np.uint16) + 4 * i) % 256).astype(np.uint8)
    return np.repeat(np.repeat(row[None, :, None], h, 0), 3, 2)


def write_h264(
    path: Path,
    frames: int,
    fps: int = 10,
    size: tuple[int, int] = (128, 96),
    draw: Callable[[int], np.ndarray] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Write ``frames`` frames of H.264 (yuv420p) at ``fps`` with PyAV; pts = i / fps exactly.

    ``draw(i)`` returns frame i as RGB (H, W, 3) uint8 of ``size`` = (width, height); default is a
    moving gradient so every frame differs.
    """
    w, h = size
    container = av.open(str(path), "w", options=options or {})
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.options = {"g": str(fps), "bf": "0"}
    for i in range(frames):
        img = moving_gradient(i, size) if draw is None else draw(i)
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


VOP_START: Final = b"\x00\x00\x01\xb6"
"""MPEG-4 Part 2 start code of a video object plane (one coded frame)."""
DIVX_PACKED: Final = b"\x00\x00\x01\xb2DivX503b1393p"
"""DivX user data; the trailing ``p`` says "packed bitstream" (FFmpeg's decoder looks for it)."""


def _vop_type(data: bytes) -> str:
    """I, P, B or S: the coding type of the first VOP in ``data``."""
    k = data.find(VOP_START)
    return "IPBS"[data[k + 4] >> 6]


def _not_coded_vop(ref: bytes, time_bits: int) -> bytes:
    """A DivX placeholder ("N-VOP", ``vop_coded = 0``) at the time of the reference VOP ``ref``."""
    k = ref.find(VOP_START)
    bits = "".join(format(b, "08b") for b in ref[k + 4 : k + 16])
    i = 2  # after vop_coding_type: modulo_time_base (1s then a 0), marker, vop_time_increment
    while bits[i] == "1":
        i += 1
    increment = bits[i + 2 : i + 2 + time_bits]
    out = "01" + "0" + "1" + increment + "1" + "0"  # P, same second, marker, time, marker, not coded
    out += "0" + "1" * ((-len(out) - 1) % 8)  # MPEG-4 stuffing: a 0 then 1s to the byte boundary
    return VOP_START + int(out, 2).to_bytes(len(out) // 8, "big")


def write_packed_avi(
    path: Path,
    frames: int,
    fps: int = 25,
    size: tuple[int, int] = (128, 96),
    draw: Callable[[int], np.ndarray] | None = None,
    b_frames: int = 1,
    packed: bool = True,
) -> Path:
    """An MPEG-4 Part 2 AVI with DivX/Xvid-style *packed B-frames*, as old DivX/Xvid encoders wrote them
    (``packed=False``: the same B-frames the way FFmpeg writes them, one per chunk).

    FFmpeg's ``mpeg4`` encoder writes B-frames one per packet, in decode order (its AVI files decode
    with correct timestamps), and FFmpeg has no filter that packs them, so this packs them itself:
    the packets of PyAV's ``mpeg4`` encoder (``max_b_frames = b_frames``), decode order I P B (B) P
    B (B) ..., become AVI chunks [I] [P+B] ([B]) [N-VOP] [P+B] ([B]) [N-VOP] ...: each reference
    frame shares its chunk with the first B-frame after it, and a not-coded placeholder VOP
    (N-VOP) keeps one chunk per frame; DivX user data with the ``p`` flag marks the stream packed.
    Chunk ``j`` has timestamp ``j / fps``. Decoded, the frames come out in presentation order but
    with the pts of the wrong chunks (0.04, 0.12, 0.08, 0.20, 0.16, ... s at 25 fps), as real
    DivX/Xvid files do in FFmpeg.

    ``draw(i)`` gives frame i as RGB (H, W, 3) uint8 of ``size`` = (width, height); default: a moving
    gradient.
    """
    w, h = size
    enc: Any = av.CodecContext.create("mpeg4", "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
    enc.time_base, enc.framerate = Fraction(1, fps), Fraction(fps, 1)
    enc.max_b_frames, enc.gop_size = b_frames, 12
    enc.bit_rate = 40 * w * h  # good quality: the pictures matter to the tests, not the size
    encoded: list[Any] = []
    for i in range(frames):
        img = moving_gradient(i, size) if draw is None else draw(i)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        encoded += enc.encode(frame)
    encoded += enc.encode(None)
    if not packed:
        with av.open(str(path), "w", format="avi") as out:
            stream: Any = out.add_stream("mpeg4", rate=fps)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.time_base = Fraction(1, fps)
            for packet in encoded:
                packet.stream = stream
                out.mux(packet)
        return path
    packets = [bytes(p) for p in encoded]
    time_bits = max(1, (fps - 1).bit_length())  # FFmpeg's vop_time_increment width for rate ``fps``
    chunks: list[bytes] = []
    i = 0
    while i < len(packets):
        j = i + 1
        while j < len(packets) and _vop_type(packets[j]) == "B":
            j += 1
        if j > i + 1:  # a reference frame followed by B-frames
            chunks += [
                packets[i] + packets[i + 1],
                *packets[i + 2 : j],
                _not_coded_vop(packets[i], time_bits),
            ]
        else:
            chunks.append(packets[i])
        i = j
    k = chunks[0].find(VOP_START)
    chunks[0] = chunks[0][:k] + DIVX_PACKED + chunks[0][k:]
    assert len(chunks) == frames
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for n, data in enumerate(chunks):
            packet = av.Packet(data)
            packet.stream = stream
            packet.pts = packet.dts = n
            packet.time_base = Fraction(1, fps)
            packet.is_keyframe = _vop_type(data) == "I"
            out.mux(packet)
    return path


def truncated_h264(folder: Path, keep: float = 0.5, frames: int = 40) -> Path:
    """An mp4 (moov first, so it still opens) of ``frames`` noisy frames cut after ``keep`` of its bytes."""
    full = write_h264(
        folder / "full.mp4",
        frames=frames,
        fps=10,
        options={"movflags": "+faststart"},
        draw=lambda i: np.random.default_rng(i).integers(0, 255, (96, 128, 3), dtype=np.uint8),
    )
    data = full.read_bytes()
    cut = folder / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * keep)])
    return cut


class ListSink:
    """A sink keeping every result in memory (lossless), for assertions."""

    name, policy, capacity, critical = "list", "lossless", 64, True

    def __init__(self) -> None:
        self.results: list[Result] = []
        self.closed = False

    def write(self, result: Result) -> None:
        self.results.append(result)

    def close(self) -> None:
        self.closed = True


# Schema-1 part entries as subscribers and CSV exporters see them (an observed region, a coasting track).
OBSERVED_PART = {
    "class_id": 2,
    "name": "arm",
    "instance": 0,
    "track_id": 7,
    "state": "observed",
    "box": [10, 20, 30, 40],
    "centroid": [19.5, 29.5],
    "smoothed": [19.4, 29.6],
    "velocity": [1.5, -2.0],
    "uncertainty": [0.8, 0.9],
    "area_px": 400,
    "score": 0.93,
}
PREDICTED_PART = {
    "class_id": 1,
    "name": "head",
    "instance": None,
    "track_id": 3,
    "state": "predicted",
    "box": [1, 2, 3, 4],
    "centroid": None,
    "smoothed": [2.0, 3.0],
    "velocity": [0.0, 0.0],
    "uncertainty": [4.0, 4.0],
    "area_px": 0,
    "score": 0.0,
}


class SyntheticCamera:
    """A live source (``latest`` policy) without a device: ``image`` every ``interval_s`` seconds,
    ``count`` times (None = until stopped). Frames are stamped like a real capture."""

    live = True
    reconnects = 0
    timestamp_repairs = 0
    description = "synthetic camera"

    def __init__(
        self,
        count: int | None,
        interval_s: float,
        image: np.ndarray | None = None,
        source_id: str = "live0",
    ) -> None:
        self.source_id, self.state = source_id, "starting"
        self.count, self.interval_s = count, interval_s
        self.image = np.zeros((32, 32, 3), np.uint8) if image is None else image

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        stamper = FrameStamper(self.source_id)
        self.state = "running"
        i = 0
        while (self.count is None or i < self.count) and not stop.wait(self.interval_s):
            yield stamper.stamp(self.image, i * self.interval_s)
            i += 1
        self.state = "stopped"


DEADLINE_S = 60.0
"""Longest a test pipeline may take to finish on its own."""


def wait_for(
    predicate: Callable[[], object], timeout: float = DEADLINE_S, what: str = "", step: float = 0.02
) -> float:
    """Poll ``predicate`` until it holds; the monotonic time it first held. Fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        if predicate():
            return now
        assert now < deadline, f"timed out after {timeout} s waiting for {what or 'the condition'}"
        time.sleep(step)


def colour_pipeline(source, backend, sinks, infer=None, **kw) -> Pipeline:
    """A pipeline over ``backend`` with the plain stages (regions of 1 px and up; ``infer``
    replaces the inference stage), not started."""
    return Pipeline(
        source,
        Preprocessor(backend.spec),
        infer or InferenceStage(backend),
        Postprocessor(backend.spec, 1),
        sinks,
        **kw,
    )


def run_to_end(p: Pipeline) -> float:
    """Start ``p``, wait (with a deadline) for it to end by itself, join; the seconds it took."""
    t0 = time.monotonic()
    p.start()
    assert p.wait(DEADLINE_S), "pipeline did not finish in time"
    p.join()
    return time.monotonic() - t0


def make_result(
    image: np.ndarray,
    class_map: np.ndarray | None = None,
    parts: tuple[PartInstance, ...] | list[PartInstance] = (),
    seq: int = 0,
    pts_s: float | None = 0.0,
    mono: float = 0.0,
    source_id: str = "t",
    privacy: PrivacyApplied = "frame",
    pose: PoseEstimate | None = None,
    keypoints: tuple[Keypoint, ...] | list[Keypoint] = (),
    keypoint_set: KeypointSet | None = None,
) -> Result:
    """A :class:`Result` for sink/overlay tests: ``image`` RGB, ``class_map`` over it (default 1x1 zeros),
    ``privacy`` the decision its outgoing images get (default ``frame``, as an undecided result),
    ``pose`` and ``keypoints`` the pose model's answer and the smoothed joints (default none),
    ``keypoint_set`` their set (default None: unknown, readers go by the names)."""
    h, w = image.shape[:2]
    cm = np.zeros((1, 1), np.uint8) if class_map is None else class_map
    return sealed(
        Result(
            meta=FrameMeta(source_id, seq, mono, 1.7e9 + mono, pts_s, w, h),
            parts=tuple(parts),
            classes=(),
            timings=Timings(),
            dropped_since_last=0,
            image=image,
            class_map=cm,
            grid=cell_grid(cm.shape, (h, w)),
            privacy=privacy,
            pose=pose,
            keypoints=tuple(keypoints),
            keypoint_set=keypoint_set,
        ),
        publish_mono=mono,
    )
