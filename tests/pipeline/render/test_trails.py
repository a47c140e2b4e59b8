"""Trails: bounded by time (and a hard cap), ended tracks forgotten, predicted points kept smoothed-only."""

from dataclasses import replace

import numpy as np
import pytest

from pipeline.contract.geometry import cell_grid
from pipeline.frames import FrameMeta, PartInstance, Result, Timings
from pipeline.render.trails import MAX_POINTS, Trails


def part(track_id: int, x: float, predicted: bool = False, class_id: int = 2) -> PartInstance:
    return PartInstance(
        class_id=class_id,
        name="arm",
        instance=None if predicted else 0,
        box=(0, 0, 1, 1),
        centroid=None if predicted else (x, 10.0),
        area_px=0 if predicted else 1,
        score=0.0,
        track_id=track_id,
        state="predicted" if predicted else "observed",
        smoothed=(x + 0.5, 10.0),
    )


def result_at(t: float, parts: list[PartInstance], pts: bool = True) -> Result:
    meta = FrameMeta(
        "t", 0, capture_mono=1000.0 + t, capture_wall=0.0, pts_s=t if pts else None, width=4, height=4
    )
    return Result(
        meta=meta,
        parts=tuple(parts),
        classes=(),
        timings=Timings(),
        dropped_since_last=0,
        image=np.zeros((4, 4, 3), np.uint8),
        class_map=np.zeros((4, 4), np.uint8),
        grid=cell_grid((4, 4), (4, 4)),
    )


@pytest.mark.parametrize("pts", [True, False])
def test_points_older_than_trail_s_are_forgotten(pts):
    trails = Trails(1.0)
    for i in range(100):  # 10 s at 10 fps
        trails.update(result_at(i * 0.1, [part(7, float(i))], pts=pts))
    (path,) = trails.paths().values()
    assert path.class_id == 2
    assert trails.point_count() <= 11
    assert path.raw[:, 0].min() >= 89.0 and path.raw[-1, 0] == 99.0
    assert path.raw.shape[1] == 2 and path.smoothed.shape == path.raw.shape


def test_track_not_seen_for_trail_s_is_forgotten():
    trails = Trails(0.5)
    trails.update(result_at(0.0, [part(1, 0.0), part(2, 5.0)]))
    for i in range(1, 10):
        trails.update(result_at(i * 0.1, [part(1, float(i))]))
    assert set(trails.paths()) == {1}
    trails.update(result_at(2.0, []))
    assert len(trails) == 0 and trails.paths() == {}


def test_predicted_points_have_no_raw_point():
    trails = Trails(5.0)
    trails.update(result_at(0.0, [part(3, 0.0)]))
    trails.update(result_at(0.1, [part(3, 1.0, predicted=True)]))
    trails.update(result_at(0.2, [part(3, 2.0)]))
    path = trails.paths()[3]
    assert path.raw.tolist() == [[0.0, 10.0], [2.0, 10.0]]
    assert path.smoothed[:, 0].tolist() == [0.5, 1.5, 2.5]


def test_untracked_parts_have_no_trail_and_zero_trail_keeps_nothing():
    trails = Trails(1.0)
    untracked = PartInstance(2, "arm", 0, (0, 0, 1, 1), (1.0, 1.0), 1, 1.0)
    trails.update(result_at(0.0, [untracked]))
    assert len(trails) == 0
    off = Trails(0.0)
    off.update(result_at(0.0, [part(1, 0.0)]))
    assert len(off) == 0


def test_time_going_back_clears_and_frozen_time_is_capped():
    trails = Trails(1.0)
    trails.update(result_at(5.0, [part(1, 0.0)]))
    trails.update(result_at(0.0, [part(2, 0.0)]))  # a looped file
    assert set(trails.paths()) == {2}
    for i in range(MAX_POINTS + 500):  # a source whose timestamps never advance
        trails.update(result_at(0.0, [part(2, float(i))]))
    assert trails.point_count() == MAX_POINTS


def test_many_tracks_over_a_long_run_stay_bounded():
    trails = Trails(0.5)
    for i in range(3000):  # 100 s at 30 fps, a new track id every second
        trails.update(result_at(i / 30, [part(i // 30, float(i)), part(100_000 + i // 30, float(i))]))
    assert len(trails) <= 2 * 2 and trails.point_count() <= 2 * 16


def test_a_still_starts_without_trails():
    """An independent image (a still of an image folder) has no motion history: nothing of the previous
    image's tracks is drawn on it, and a sequence of frames still builds trails."""
    trails = Trails(3.0)
    for i in range(3):
        trails.update(result_at(i * 0.1, [part(1, float(i))], pts=False))
    assert trails.point_count() == 3
    still = result_at(0.3, [part(2, 50.0)], pts=False)
    trails.update(replace(still, meta=replace(still.meta, still=True, image_file="b.png")))
    assert set(trails.paths()) == {2} and trails.point_count() == 1
