import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from pipeline.config import TrackerConfig
from pipeline.contract.geometry import compute_letterbox
from pipeline.contract.model_meta import ModelSpec
from pipeline.frames import Frame, FrameMeta, Inferred, PartInstance, Timings
from pipeline.postprocess.stage import Postprocessor
from pipeline.postprocess.tracking import PartTracker
from pipeline.postprocess.tracking.motion import measurement_std
from pipeline.postprocess.tracking.tracker import assign
from tests.helpers.bounds import assert_parts_in_frame
from trainer.accuracy import compare_tracks

MIN_HITS_TO_COAST = TrackerConfig().min_hits_to_coast

FPS = 30.0
NAMES = {1: "head", 2: "arm", 3: "torso", 4: "leg"}


def meta(
    seq: int, t: float | None, source: str = "cam0", mono: float = 0.0, size: tuple[int, int] = (640, 480)
) -> FrameMeta:
    return FrameMeta(source, seq, mono, 1.7e9 + mono, t, *size)


class BoundedTracker(PartTracker):
    """The tracker under test: every part it returns is checked to lie inside its frame."""

    def update(self, meta: FrameMeta, parts: tuple[PartInstance, ...]) -> tuple[PartInstance, ...]:
        out = super().update(meta, parts)
        assert_parts_in_frame(meta, out)
        return out


def part(x: float, y: float, class_id: int = 1, area: int = 2000, score: float = 1.0, instance: int = 0):
    """A region of ``area`` px centred on (x, y) with a 40×50 box."""
    return PartInstance(
        class_id=class_id,
        name=NAMES[class_id],
        instance=instance,
        box=(round(x) - 20, round(y) - 25, round(x) + 20, round(y) + 25),
        centroid=(x, y),
        area_px=area,
        score=score,
    )


def observed(out):
    return [p for p in out if p.state == "observed"]


def predicted(out):
    return [p for p in out if p.state == "predicted"]


# --- assignment -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cost", "expected"),
    [
        ([[1.0, 5.0], [5.0, 1.0]], [(0, 0), (1, 1)]),
        ([[5.0, 1.0], [1.0, 5.0]], [(0, 1), (1, 0)]),
        ([[-3.0, 5.0], [5.0, -4.0]], [(0, 0), (1, 1)]),  # d² + ln det S can be negative
        ([[1.0, 50.0], [50.0, 50.0]], [(0, 0)]),  # row 1 is gated off everything
        ([[2.0, 3.0]], [(0, 0)]),  # more regions than tracks
        ([[20.0], [30.0]], []),  # nothing inside the gate
        # gated pairs are forbidden, not merely expensive: both allowed pairs beat one cheap pair
        ([[1.0, 9.0], [9.0, 100.0]], [(0, 1), (1, 0)]),
    ],
)
def test_assign_is_gated_min_cost(cost, expected):
    cost = np.asarray(cost)
    assert assign(cost, cost <= 10.0) == expected


def test_assign_empty():
    assert assign(np.zeros((0, 3)), np.zeros((0, 3), bool)) == []
    assert assign(np.zeros((2, 0)), np.zeros((2, 0), bool)) == []


def test_confident_track_wins_over_uncertain_one():
    """Two tracks near one spot, one coasting for a while: the region goes to the confident one
    even though its Mahalanobis distance is larger (d² alone favours uncertain tracks)."""
    tracker = BoundedTracker(TrackerConfig())
    for k in range(12):
        second = (part(100.0, 120.0, 3, area=150),) if k < MIN_HITS_TO_COAST else ()
        tracker.update(meta(k, k / FPS), (part(100.0, 100.0, 3), *second))
    confident, coasting = tracker.tracks("cam0")
    assert (confident.track_id, confident.state, coasting.track_id, coasting.state) == (
        1,
        "observed",
        2,
        "predicted",
    )
    z = (100.0, 104.0)
    for tr in (confident, coasting):
        tr.predict_to(12 / FPS)
    assert coasting.mahalanobis2(z, 2.0) < confident.mahalanobis2(z, 2.0) <= 13.8
    out = tracker.update(meta(12, 12 / FPS), (part(*z, 3),))
    assert [(p.track_id, p.state) for p in out] == [(1, "observed"), (2, "predicted")]


@pytest.mark.parametrize(
    ("hits", "coasts"), [(1, False), (MIN_HITS_TO_COAST - 1, False), (MIN_HITS_TO_COAST, True)]
)
def test_young_tracks_end_at_their_first_miss(hits, coasts):
    tracker = BoundedTracker(TrackerConfig())
    for k in range(hits):
        tracker.update(meta(k, k / FPS), (part(100.0 + k, 100.0),))
    out = tracker.update(meta(hits, hits / FPS), ())
    assert [(p.track_id, p.state) for p in out] == ([(1, "predicted")] if coasts else [])
    (back,) = tracker.update(meta(hits + 1, (hits + 1) / FPS), (part(100.0 + hits + 1, 100.0),))
    assert back.track_id == (1 if coasts else 2)


# --- smoothing ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("motion", "process_noise"), [("constant_velocity", 500.0), ("constant_acceleration", 100.0)]
)
@pytest.mark.parametrize("seed", [1, 2])
def test_smoothed_positions_beat_raw_on_noisy_smooth_path(motion, process_noise, seed):
    rng = np.random.default_rng(seed)
    cfg = TrackerConfig(motion=motion, process_noise=process_noise, measurement_noise_px=3.0)
    tracker = BoundedTracker(cfg)
    t = np.arange(150) / FPS
    truth = np.stack([320 + 80 * np.sin(2 * np.pi * 0.3 * t), 240 + 50 * np.sin(2 * np.pi * 0.2 * t + 1)], 1)
    meas = truth + rng.normal(0.0, 3.0, truth.shape)
    smoothed, ids = [], set()
    for k in range(len(t)):
        (out,) = tracker.update(meta(k, float(t[k])), (part(*meas[k]),))
        assert out.centroid == (meas[k][0], meas[k][1])  # the measurement is kept as measured
        smoothed.append(out.smoothed)
        ids.add(out.track_id)
    settled = slice(15, None)
    raw_rmse = np.sqrt(((meas - truth)[settled] ** 2).sum(1).mean())
    smooth_rmse = np.sqrt(((np.asarray(smoothed) - truth)[settled] ** 2).sum(1).mean())
    assert ids == {1}
    assert smooth_rmse <= 0.7 * raw_rmse


def test_new_track_starts_at_rest_on_its_measurement():
    cfg = TrackerConfig()
    (out,) = BoundedTracker(cfg).update(meta(0, 0.0), (part(100.0, 50.0, area=500, score=0.8),))
    std = measurement_std(cfg.measurement_noise_px, cfg.reference_area_px, 500, 0.8)
    assert out.track_id == 1 and out.state == "observed"
    assert out.smoothed == pytest.approx((100.0, 50.0))
    assert out.velocity == (0.0, 0.0)
    assert out.uncertainty == pytest.approx((std, std))


# --- occlusion ---------------------------------------------------------------------------------------------


def moving(k: int) -> tuple[float, float]:
    """A target at 90 px/s right and 30 px/s up, sampled at FPS."""
    return 200.0 + 3.0 * k, 300.0 - 1.0 * k


@pytest.mark.parametrize("damping", [0.0, 2.0])
@pytest.mark.parametrize("motion", ["constant_velocity", "constant_acceleration"])
@pytest.mark.parametrize(("gap", "same_id"), [(8, True), (14, True), (15, False), (40, False)])
def test_occlusion_coasts_then_resumes_or_ends(motion, gap, same_id, damping):
    """Without damping the coasting part goes on along the true straight path; with it, it slows down
    along the same line (the damped motion of the last observed state), and is still re-found."""
    cfg = TrackerConfig(motion=motion, max_coast_s=0.5, coast_damping_per_s=damping)  # 15 frames at 30 fps
    tracker = BoundedTracker(cfg)
    first, last = 20, 20 + gap  # frames first..last-1 have no region
    for k in range(first):
        (out,) = tracker.update(meta(k, k / FPS), (part(*moving(k)),))
    assert out.track_id == 1
    at_loss = out
    for k in range(first, last):
        out_k = tracker.update(meta(k, k / FPS), ())
        tau = (k - first + 1) / FPS
        if tau <= cfg.max_coast_s + 1e-9:
            (p,) = out_k
            assert (p.state, p.track_id, p.centroid, p.instance, p.area_px, p.score) == (
                "predicted",
                1,
                None,
                None,
                0,
                0.0,
            )
            if damping == 0.0:
                x, y = moving(k)
                assert p.smoothed == pytest.approx((x, y), abs=2.0)
                assert p.velocity == pytest.approx((90.0, -30.0), abs=3.0)
            else:
                decay = math.exp(-damping * tau)
                travelled = (1.0 - decay) / damping
                v0 = at_loss.velocity
                assert p.velocity == pytest.approx((v0[0] * decay, v0[1] * decay))
                assert p.smoothed == pytest.approx(
                    (at_loss.smoothed[0] + v0[0] * travelled, at_loss.smoothed[1] + v0[1] * travelled)
                )
            shift = (round(p.smoothed[0] - at_loss.smoothed[0]), round(p.smoothed[1] - at_loss.smoothed[1]))
            assert (p.box[0] - at_loss.box[0], p.box[1] - at_loss.box[1]) == shift
            assert p.box[2] - p.box[0] == 40 and p.box[3] - p.box[1] == 50
        else:
            assert out_k == ()
    (back,) = tracker.update(meta(last, last / FPS), (part(*moving(last)),))
    assert back.state == "observed"
    assert back.track_id == (1 if same_id else 2)


def test_uncertainty_grows_while_coasting():
    tracker = BoundedTracker(TrackerConfig())
    for k in range(10):
        tracker.update(meta(k, k / FPS), (part(*moving(k)),))
    sigmas = [tracker.update(meta(k, k / FPS), ())[0].uncertainty[0] for k in range(10, 20)]
    assert all(b > a for a, b in itertools.pairwise(sigmas))


# --- coasting stays physically plausible and inside the frame ------------------------------------------------


def coast_after(cfg: TrackerConfig, path, frames_seen: int, frames_after: int, size=(640, 480)):
    """Feed ``frames_seen`` frames of one part at ``path(k)``, then ``frames_after`` empty frames.

    Returns (the last observed output part, [output of each empty frame])."""
    tracker = BoundedTracker(cfg)
    for k in range(frames_seen):
        (last,) = tracker.update(meta(k, k / FPS, size=size), (part(*path(k)),))
    after = [
        tracker.update(meta(k, k / FPS, size=size), ())
        for k in range(frames_seen, frames_seen + frames_after)
    ]
    return last, after


def speed(p: PartInstance) -> float:
    assert p.velocity is not None
    return math.hypot(*p.velocity)


@pytest.mark.parametrize("motion", ["constant_velocity", "constant_acceleration"])
def test_fast_part_that_vanishes_slows_down_stays_in_the_frame_and_ends_at_the_edge(motion):
    """The live run's worst: a part at ~(1350, 890) px/s that vanishes. Before, its prediction flew on at
    full speed out of the 640×480 frame and was published there for the whole ``max_coast_s``."""
    cfg = TrackerConfig(motion=motion)
    last, after = coast_after(cfg, lambda k: (100.0 + 45.0 * k, 60.0 + 30.0 * k), 10, 45)
    assert speed(last) > 1300.0  # the filter did see the speed
    coasting = [out for out in after if out]
    assert coasting and all(after[: len(coasting)])  # it coasts for a while, then nothing
    pred = [p for (p,) in coasting]
    assert all((p.state, p.track_id) == ("predicted", 1) for p in pred)
    speeds = [speed(p) for p in pred]
    assert speeds[0] <= cfg.coast_max_speed_px_s + 1e-6  # bounded ...
    assert all(b < a for a, b in itertools.pairwise(speeds))  # ... and decaying
    # it ended because its prediction left the frame, well before max_coast_s
    assert len(pred) / FPS < 0.6 * cfg.max_coast_s
    x, y = pred[-1].smoothed
    vx, vy = pred[-1].velocity
    assert x + vx / FPS > 639 or y + vy / FPS > 479  # the next step is outside


def test_coasting_velocity_decays_exponentially_and_the_track_ends_after_max_coast_s():
    cfg = TrackerConfig()
    last, after = coast_after(cfg, moving, 20, 40)  # 90 px/s right, 30 px/s up, in the middle
    rate = cfg.coast_damping_per_s
    assert rate > 0
    coasting = [out for out in after if out]
    assert len(coasting) == round(cfg.max_coast_s * FPS)  # never leaves the frame: coasts max_coast_s
    for i, (p,) in enumerate(coasting):
        tau = (i + 1) / FPS
        decay = math.exp(-rate * tau)
        assert p.velocity == pytest.approx((last.velocity[0] * decay, last.velocity[1] * decay), rel=1e-9)
        travelled = (1.0 - decay) / rate
        assert p.smoothed == pytest.approx(
            (
                last.smoothed[0] + last.velocity[0] * travelled,
                last.smoothed[1] + last.velocity[1] * travelled,
            ),
            rel=1e-9,
        )
    assert not any(after[len(coasting) :])


@pytest.mark.parametrize("motion", ["constant_velocity", "constant_acceleration"])
def test_coasting_speed_is_capped(motion):
    cfg = TrackerConfig(motion=motion, coast_max_speed_px_s=300.0, coast_damping_per_s=0.0)
    last, after = coast_after(cfg, lambda k: (100.0 + 1.0 * k, 100.0 + 40.0 * k), 8, 3, size=(640, 2000))
    assert speed(last) > 1100.0
    for (p,) in after:
        assert speed(p) == pytest.approx(300.0)
        assert p.velocity[1] / p.velocity[0] == pytest.approx(last.velocity[1] / last.velocity[0])


def test_predicted_box_is_cut_at_the_frame_edge():
    """A slow part near the right edge: its centroid stays inside while coasting, its box is cut."""
    cfg = TrackerConfig(coast_damping_per_s=0.0)
    last, after = coast_after(cfg, lambda k: (600.0 + 1.0 * k, 200.0), 12, 30)  # 30 px/s right
    assert last.box[2] == 631
    boxes = [out[0].box for out in after if out]
    assert boxes and max(b[2] for b in boxes) == 640  # cut, not moved past the edge
    assert any(b[2] - b[0] < 40 for b in boxes)


@pytest.mark.parametrize("motion", ["constant_velocity", "constant_acceleration"])
def test_part_stopping_at_the_edge_after_a_fast_move_is_published_inside(motion):
    """A part moves left at 1200 px/s and stops at the frame's edge, a sliver of it still visible: the
    filter overshoots past the edge (smoothed x ≈ −9 px). What is published stays inside (smoothed held
    at the edge), and the overshooting track, whose estimate is outside, does not coast on."""
    tracker = BoundedTracker(TrackerConfig(motion=motion))
    outs = []
    for k in range(20):
        x = max(4.0, 300.0 - 40.0 * k)
        half = 4 if x < 20 else 20
        region = replace(part(x, 200.0), box=(round(x) - half, 175, round(x) + half, 225), area_px=400)
        outs.append(tracker.update(meta(k, k / FPS), (region,)))
    assert min(p.smoothed[0] for out in outs for p in out) == 0.0  # held at the edge
    assert not any(p.state == "predicted" for out in outs for p in out)


# --- dropped frames ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("clock", ["pts", "capture_mono"])
@pytest.mark.parametrize(
    ("motion", "process_noise"), [("constant_velocity", 100.0), ("constant_acceleration", 50.0)]
)
def test_dropped_frames_keep_velocity_in_px_per_s(clock, motion, process_noise):
    """A constant-velocity target seen at irregular intervals (0 to 4 frames dropped between two)."""
    rng = np.random.default_rng(7)
    tracker = BoundedTracker(TrackerConfig(motion=motion, process_noise=process_noise))
    velocity = np.array([150.0, -80.0])
    seq, outs = 0, []
    size = (1600, 900)  # the target travels ~1000 px right and ~540 px up
    for _ in range(60):
        t = seq / FPS
        pos = np.array([100.0, 700.0]) + velocity * t + rng.normal(0.0, 1.0, 2)
        m = (
            meta(seq, t, mono=1000.0 + t, size=size)
            if clock == "pts"
            else meta(seq, None, mono=1000.0 + t, size=size)
        )
        outs.extend(tracker.update(m, (part(*pos),)))
        seq += int(rng.choice([1, 2, 3, 5]))  # 0, 1, 2 or 4 frames dropped
    assert {p.track_id for p in outs} == {1}
    assert all(p.state == "observed" for p in outs)
    for p in outs[-20:]:
        assert p.velocity == pytest.approx(tuple(velocity), abs=12.0)
    assert np.mean([p.velocity for p in outs[-20:]], axis=0) == pytest.approx(velocity, abs=5.0)


# --- crossing arms -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("motion", "process_noise"),
    [("constant_velocity", 2000.0), ("constant_velocity", 300.0), ("constant_acceleration", 500.0)],
)
@pytest.mark.parametrize("merged_frames", [0, 3])
def test_crossing_arms_keep_their_ids(motion, process_noise, merged_frames):
    """Two arms on crossing straight lines at constant speed, meeting at (320, 240) at frame 30.

    Instance numbers follow area (which flips at random); for ``merged_frames`` frames around the
    crossing the two regions are one (as a segmentation would see it).
    """
    rng = np.random.default_rng(3)
    tracker = BoundedTracker(TrackerConfig(motion=motion, process_noise=process_noise))
    start = {"left": np.array([200.0, 150.0]), "right": np.array([440.0, 150.0])}
    step = {"left": np.array([4.0, 3.0]), "right": np.array([-4.0, 3.0])}  # 150 px/s along each line
    id_of: dict[str, set[int]] = {"left": set(), "right": set()}
    half = merged_frames // 2
    for k in range(61):
        truth = {side: start[side] + step[side] * k for side in start}
        noisy = {side: truth[side] + rng.normal(0.0, 1.0, 2) for side in truth}
        if merged_frames and abs(k - 30) <= half:
            mid = (noisy["left"] + noisy["right"]) / 2
            regions = [(None, part(*mid, class_id=2, area=3000, instance=0))]
        else:
            areas = {side: int(rng.integers(1200, 2000)) for side in noisy}
            order = sorted(noisy, key=lambda s: -areas[s])
            regions = [
                (side, part(*noisy[side], class_id=2, area=areas[side], instance=i))
                for i, side in enumerate(order)
            ]
        out = tracker.update(meta(k, k / FPS), tuple(p for _, p in regions))
        apart = np.linalg.norm(truth["left"] - truth["right"]) > 6.0  # 6σ: who is who is defined
        for (side, _), got in zip(regions, out, strict=False):
            if side is not None and apart:
                id_of[side].add(got.track_id)
        if merged_frames and abs(k - 30) <= half:
            assert len(out) == 2 and {p.state for p in out} == {"observed", "predicted"}
    assert len(id_of["left"]) == 1 and len(id_of["right"]) == 1
    assert id_of["left"] != id_of["right"]
    # nothing coasting at the end: both tracks are observed again
    assert tracker.tracks("cam0") and all(tr.state == "observed" for tr in tracker.tracks("cam0"))
    assert len(tracker.tracks("cam0")) == 2


# --- sources, time and order ---------------------------------------------------------------------------------


def test_sources_are_independent():
    tracker = BoundedTracker(TrackerConfig())
    for k in range(10):
        a = tracker.update(meta(k, 100.0 + k / FPS, source="a"), (part(100.0 + k, 100.0),))
        b = tracker.update(meta(k, 5.0 + k / FPS, source="b"), (part(400.0 - k, 300.0), part(50.0, 50.0, 3)))
        assert [p.track_id for p in a] == [1]
        assert [p.track_id for p in b] == [1, 2]
    # source b losing its parts leaves a alone
    b = tracker.update(meta(10, 5.0 + 10 / FPS, source="b"), ())
    a = tracker.update(meta(10, 100.0 + 10 / FPS, source="a"), (part(110.0, 100.0),))
    assert [(p.track_id, p.state) for p in b] == [(1, "predicted"), (2, "predicted")]
    assert [(p.track_id, p.state) for p in a] == [(1, "observed")]


def test_time_going_backwards_resets_that_source_only():
    tracker = BoundedTracker(TrackerConfig())
    for k in range(10):
        tracker.update(meta(k, k / FPS, source="loop"), (part(100.0 + k, 100.0),))
        tracker.update(meta(k, k / FPS, source="other"), (part(300.0, 300.0),))
    # the file restarts: pts back to 0; the part is where it was at the start
    out = tracker.update(meta(10, 0.0, source="loop"), (part(100.0, 100.0),))
    assert [(p.track_id, p.state, p.velocity) for p in out] == [(2, "observed", (0.0, 0.0))]
    out = tracker.update(meta(11, 1 / FPS, source="loop"), (part(100.0, 100.0),))
    assert [(p.track_id, p.state) for p in out] == [(2, "observed")]
    assert [
        p.track_id for p in tracker.update(meta(10, 10 / FPS, source="other"), (part(300.0, 300.0),))
    ] == [1]


def test_a_still_ends_every_track_of_its_source_first():
    """Images of a folder that is not a sequence: each image's parts start new tracks at rest, nothing
    coasts from one image into the next (another source keeps its tracks)."""
    tracker = BoundedTracker(TrackerConfig())
    for k in range(5):
        tracker.update(meta(k, k / FPS, source="video"), (part(300.0 + 5 * k, 300.0),))
    stills = [replace(meta(k, None, source="images", mono=float(k)), still=True) for k in range(5)]
    outs = [tracker.update(m, (part(100.0 + k, 100.0), part(200.0, 200.0, 3))) for k, m in enumerate(stills)]
    outs.append(tracker.update(replace(meta(5, None, source="images", mono=5.0), still=True), ()))
    assert [[p.track_id for p in out] for out in outs] == [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], []]
    assert all(p.state == "observed" and p.velocity == (0.0, 0.0) for out in outs for p in out)
    (video,) = tracker.update(meta(5, 5 / FPS, source="video"), (part(325.0, 300.0),))
    assert (video.track_id, video.state) == (1, "observed")


def test_a_time_that_does_not_advance_never_predicts_it_ends_the_tracks_and_warns_once(caplog):
    """dt <= 0 is refused by design: no zero or negative Kalman step; the source's tracks end (the
    run goes on), a warning names the source once, and ``time_faults`` counts every such frame."""
    tracker = PartTracker(TrackerConfig())
    for k in range(5):
        tracker.update(meta(k, k / FPS), (part(100.0 + k, 100.0),))
    (track,) = tracker.tracks("cam0")
    covariance = track.kf.P.copy()
    with caplog.at_level("WARNING", logger="pipeline.postprocess.tracking.tracker"):
        same = tracker.update(meta(5, 4 / FPS), (part(105.0, 100.0),))  # the previous frame's time again
        back = tracker.update(meta(6, 3 / FPS), (part(106.0, 100.0),))  # and earlier still
    np.testing.assert_array_equal(track.kf.P, covariance)  # the ended track was never stepped
    assert [(p.track_id, p.state, p.velocity) for p in same] == [(2, "observed", (0.0, 0.0))]
    assert [p.track_id for p in back] == [3]
    assert tracker.time_faults == {"cam0": 2}
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith(
        "cam0: frame 5 at 0.133333 s is not after the previous frame"
    )
    with pytest.raises(ValueError, match="cannot predict back in time"):
        track.predict_to(0.0)


def test_time_jump_beyond_coasting_ends_tracks():
    tracker = BoundedTracker(TrackerConfig(max_coast_s=1.0))
    for k in range(5):
        tracker.update(meta(k, k / FPS), (part(100.0, 100.0),))
    assert tracker.update(meta(5, 5 / FPS + 1.5), ()) == ()
    (out,) = tracker.update(meta(6, 6 / FPS + 1.5), (part(100.0, 100.0),))
    assert out.track_id == 2


def test_output_order_observed_in_input_order_then_predicted_by_id():
    tracker = BoundedTracker(TrackerConfig())
    first = (part(100, 100, 2), part(300, 100, 2, instance=1), part(200, 300, 4), part(200, 50, 1))
    for k in range(MIN_HITS_TO_COAST):
        assert [p.track_id for p in tracker.update(meta(k, k / FPS), first)] == [1, 2, 3, 4]
    k = MIN_HITS_TO_COAST
    out = tracker.update(meta(k, k / FPS), (part(200, 50, 1), part(300, 100, 2)))
    assert [(p.track_id, p.state) for p in out] == [
        (4, "observed"),
        (2, "observed"),
        (1, "predicted"),
        (3, "predicted"),
    ]
    assert out[2].name == "arm" and out[3].name == "leg" and out[3].class_id == 4


def test_classes_never_share_a_track():
    tracker = BoundedTracker(TrackerConfig())
    for k in range(MIN_HITS_TO_COAST):
        out = tracker.update(meta(k, k / FPS), (part(100, 100, 1), part(100, 100, 3)))
        assert [p.track_id for p in out] == [1, 2]
    k = MIN_HITS_TO_COAST
    out = tracker.update(meta(k, k / FPS), (part(100, 100, 3),))
    assert [(p.track_id, p.state) for p in out] == [(2, "observed"), (1, "predicted")]


def test_ids_are_never_reused():
    tracker = BoundedTracker(TrackerConfig(max_coast_s=0.0))
    ids = []
    for k in range(6):
        out = tracker.update(meta(k, k / FPS), (part(100, 100),) if k % 2 == 0 else ())
        ids += [p.track_id for p in out]
    assert ids == [1, 2, 3]


def test_part_without_centroid_passes_through():
    tracker = BoundedTracker(TrackerConfig())
    odd = replace(part(50, 50), centroid=None)
    assert tracker.update(meta(0, 0.0), (odd,)) == (odd,)


# --- in the postprocess stage --------------------------------------------------------------------------------


def inferred(seq: int, t: float, head_x0: int | None) -> Inferred:
    """A 64×64 frame whose logits put an 8×10 head at (head_x0, 20) (None = no head)."""
    image = np.zeros((64, 64, 3), np.uint8)
    logits = np.zeros((5, 64, 64), np.float32)
    logits[0] = 5.0
    if head_x0 is not None:
        logits[1, 20:30, head_x0 : head_x0 + 8] = 10.0
    frame = Frame(FrameMeta("cam0", seq, 50.0 + t, 1.7e9, t, 64, 64), image)
    return Inferred(frame, compute_letterbox((64, 64), (64, 64), "center"), logits, Timings())


def test_postprocessor_runs_the_tracker():
    spec = ModelSpec(input_hw=(64, 64))
    post = Postprocessor(spec, min_area_px=10, tracker=BoundedTracker(TrackerConfig()))
    plain = Postprocessor(spec, min_area_px=10)
    results = [post(inferred(k, k / 10, 10 + 2 * k)) for k in range(5)]
    for k, r in enumerate(results):
        (head,) = r.parts
        assert head.name == "head" and head.state == "observed" and head.track_id == 1
        assert head.centroid == pytest.approx((10 + 2 * k + 3.5, 24.5))
        assert head.smoothed == pytest.approx(head.centroid, abs=1.0)
        assert head.velocity is not None and head.uncertainty is not None
        assert r.timings.postprocess_ms > 0.0
    assert results[-1].parts[0].velocity[0] == pytest.approx(20.0, abs=6.0)  # 2 px per 0.1 s
    (coasting,) = post(inferred(5, 0.5, None)).parts
    assert (coasting.state, coasting.track_id, coasting.centroid) == ("predicted", 1, None)
    assert coasting.box[0] > results[-1].parts[0].box[0]
    (raw,) = plain(inferred(0, 0.0, 10)).parts
    assert (raw.track_id, raw.smoothed, raw.state) == (None, None, "observed")


# --- the measurement tool (trainer/accuracy.py) -----------------------------------------------------------------


def test_compare_tracks_raw_vs_smoothed_per_instance():
    """Left arm measured 2 px off alternately (jitter) and smoothed on the truth; right arm 1 px off."""
    frames, records = [], []
    for i in range(5):
        left, right, head = [100.0 + 10 * i, 50.0], [300.0 - 10 * i, 50.0], [200.0, 20.0]
        frames.append(
            {
                "index": i,
                "classes": {"arm": {"centroid": [200.0, 50.0]}, "head": {"centroid": head}},
                "instances": {
                    "arm": [{"side": "left", "centroid": left}, {"side": "right", "centroid": right}]
                },
            }
        )
        wobble = 2.0 if i % 2 else -2.0

        def rec(name, centroid, smoothed, track_id):
            return {
                "name": name,
                "state": "observed",
                "centroid": centroid,
                "smoothed": smoothed,
                "track_id": track_id,
            }

        parts = [
            rec(
                "arm", [right[0] + 1.0, 50.0], [right[0] + 1.0, 50.0], 2
            ),  # listed first: order must not matter
            rec("arm", [left[0] + wobble, 50.0], left, 1),
            rec("head", head, head, 3),
        ]
        if i == 4:
            parts.append(
                {"name": "arm", "state": "predicted", "centroid": None, "smoothed": [0.0, 0.0], "track_id": 9}
            )
        records.append({"seq": i, "parts": parts, "classes": []})
    report = {r.name: r for r in compare_tracks(records, {"frames": frames})}
    arm, head = report["arm"], report["head"]
    assert (arm.instances, arm.matched, arm.track_ids, arm.predicted) == (2, 10, 2, 1)
    assert arm.raw_err_px == pytest.approx(1.5) and arm.smoothed_err_px == pytest.approx(0.5)
    # left raw second differences are ±8 px (3 triples), right ones 0: RMS over 6 = sqrt(64 / 2)
    assert arm.raw_jitter_px == pytest.approx(np.sqrt(32.0))
    assert arm.smoothed_jitter_px == pytest.approx(0.0) and arm.truth_jitter_px == pytest.approx(0.0)
    assert (head.instances, head.matched, head.raw_err_px, head.smoothed_err_px) == (1, 5, 0.0, 0.0)
    assert compare_tracks([{"seq": 0, "parts": [], "classes": []}], {"frames": frames}) == []
