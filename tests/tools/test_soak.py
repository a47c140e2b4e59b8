"""``python -m tools.soak``: the pure statistics (tables), and the 2-minute soak of the real CLI (slow)."""

from __future__ import annotations

import itertools
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from tests.helpers.media import OBSERVED_PART, PREDICTED_PART, write_h264
from tools.soak import CLIP, child_args, outside_frame
from tools.soak_report import CLEAN_EXIT, DPI, FIG_SIZE_IN, Run, format_table, summarize
from tools.soak_stats import (
    MAX_P99_RATIO,
    MAX_RSS_GROWTH,
    WindowStats,
    default_warmup,
    frame_failures,
    growth,
    in_window,
    latency_creep,
    load_note,
    lost_records,
    p99,
    part_outside_frame,
    parts_outside_frame,
    per_second,
    per_second_p99,
    ratio,
    ratio_lower_bound,
    select,
    target_failures,
    trend_ratio,
    window_stats,
    windows,
)

REPO = Path(__file__).resolve().parents[2]
NAN = math.nan


@pytest.mark.parametrize(
    ("duration", "warmup"), [(1800, 10.0), (120, 10.0), (100, 10.0), (30, 3.0), (5, 0.5)]
)
def test_default_warmup(duration: float, warmup: float) -> None:
    assert default_warmup(duration) == pytest.approx(warmup)


@pytest.mark.parametrize(
    ("end", "first", "last"),
    [
        (120.0, (0.0, 12.0), (108.0, 120.0)),
        (1800.0, (0.0, 180.0), (1620.0, 1800.0)),
        (10.0, (0.0, 1.0), (9.0, 10.0)),
    ],
)
def test_windows(end: float, first: tuple[float, float], last: tuple[float, float]) -> None:
    w = windows(end)
    assert w.first == pytest.approx(first) and w.last == pytest.approx(last)


@pytest.mark.parametrize(("end", "fraction"), [(0.0, 0.1), (-1.0, 0.1), (10.0, 0.0), (10.0, 0.6)])
def test_windows_reject(end: float, fraction: float) -> None:
    with pytest.raises(ValueError):
        windows(end, fraction)


@pytest.mark.parametrize(
    ("t", "window", "closed", "want"),
    [
        ([-1.0, 0.0, 0.5, 1.0, 2.0], (0.0, 1.0), False, [0, 1, 1, 0, 0]),  # warm-up (< 0) excluded
        ([-1.0, 0.0, 0.5, 1.0, 2.0], (0.0, 1.0), True, [0, 1, 1, 1, 0]),  # the last window keeps its end
        ([], (0.0, 1.0), False, []),
    ],
)
def test_in_window(t: list[float], window: tuple[float, float], closed: bool, want: list[int]) -> None:
    np.testing.assert_array_equal(in_window(np.array(t), window, closed), np.array(want, bool))


def test_select() -> None:
    t, v = [-0.5, 0.2, 0.9, 9.5, 10.0], [99.0, 1.0, 2.0, 3.0, 4.0]
    np.testing.assert_array_equal(select(t, v, (0.0, 1.0), last=False), [1.0, 2.0])
    np.testing.assert_array_equal(select(t, v, (9.0, 10.0), last=True), [3.0, 4.0])


@pytest.mark.parametrize(
    ("first", "last", "want"),
    [(100.0, 105.0, 0.05), (100.0, 100.0, 0.0), (200.0, 150.0, -0.25), (0.0, 5.0, NAN), (NAN, 5.0, NAN)],
)
def test_growth(first: float, last: float, want: float) -> None:
    got = growth(first, last)
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


@pytest.mark.parametrize(
    ("first", "last", "want"), [(20.0, 22.0, 1.1), (20.0, 10.0, 0.5), (0.0, 1.0, NAN), (NAN, 1.0, NAN)]
)
def test_ratio(first: float, last: float, want: float) -> None:
    got = ratio(first, last)
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


@pytest.mark.parametrize(
    ("values", "want"),
    [(list(range(1, 101)), 99.01), ([5.0], 5.0), ([1.0, 2.0], 1.99), ([], NAN)],
)
def test_p99(values: list[float], want: float) -> None:
    got = p99(np.array(values, np.float64))
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


@pytest.mark.parametrize(
    ("values", "want"), [([10.0, 20.0, 30.0], (20.0, 29.8)), ([7.0], (7.0, 7.0)), ([], (NAN, NAN))]
)
def test_per_second(values: list[float], want: tuple[float, float]) -> None:
    got = per_second(values)
    assert np.allclose(got, want, equal_nan=True)


@pytest.mark.parametrize(
    ("seqs", "dropped", "lost"),
    [
        ([1, 2, 3, 4], [0, 0, 0, 0], 0),
        ([1, 2, 5, 6], [0, 0, 2, 0], 0),  # the gap is the pipeline's reported drops
        ([1, 2, 5, 6], [0, 0, 0, 0], 2),  # unexplained: lost after the pipeline (ZeroMQ/sink queue)
        ([1, 2, 5, 9], [0, 0, 1, 0], 4),
        ([7], [3], 0),
        ([], [], 0),
    ],
)
def test_lost_records(seqs: list[int], dropped: list[int], lost: int) -> None:
    assert lost_records(seqs, dropped) == lost


def series(rss_mib: list[float], lat: list[float], end: float = 100.0) -> WindowStats:
    """Per-second samples at t = 1..end with ``rss_mib`` interpolated; records at 10/s with ``lat`` ms
    interpolated (start → stop), plus 10 s of warm-up (t < 0) that must not count."""
    t = np.arange(-10.0, end + 1e-9, 1.0)
    rss = np.where(t < 0, 1.0, np.interp(t, [0, end], rss_mib)) * 2**20
    rt = np.arange(-100, round(10 * end) + 1) / 10.0  # exact tenths: the window edges are hit
    lats = np.where(rt < 0, 1000.0, np.interp(rt, [0, end], lat))
    return window_stats(t, rss, rt, lats, end)


@pytest.mark.parametrize(
    ("rss", "lat", "ok_rss", "ok_lat"),
    [
        ([300.0, 300.0], [20.0, 20.0], True, True),  # flat
        ([300.0, 312.0], [20.0, 20.0], True, True),  # +4 % over the run (medians: +3.6 %)
        ([300.0, 330.0], [20.0, 20.0], False, True),  # +10 %: a leak
        ([300.0, 300.0], [20.0, 23.0], True, False),  # latency creep
        ([300.0, 300.0], [20.0, 10.0], True, True),  # faster at the end: not a failure
    ],
)
def test_window_stats_and_targets(rss: list[float], lat: list[float], ok_rss: bool, ok_lat: bool) -> None:
    s = series(rss, lat)
    assert s.rss_first_mib == pytest.approx(rss[0] + (rss[1] - rss[0]) * 0.05, rel=1e-2)
    assert s.records_first == 100 and s.records_last == 101  # [0, 10) and [90, 100] at 10 records/s
    fails = target_failures(s)
    assert any("RSS growth" in f for f in fails) is (not ok_rss)
    assert any("p99 latency" in f for f in fails) is (not ok_lat)


@pytest.mark.parametrize(
    ("stats", "expect"),
    [
        (WindowStats(100.0, 105.0, 0.05, 20.0, 22.0, 1.10, 500, 500), []),  # exactly at both targets
        (WindowStats(100.0, 105.1, 0.051, 20.0, 20.0, 1.0, 500, 500), ["RSS growth +5.1 % > 5 %"]),
        (WindowStats(100.0, 100.0, 0.0, 20.0, 22.2, 1.11, 500, 500), ["p99 latency last 10 % 22.2 ms"]),
        (WindowStats(100.0, 100.0, 0.0, 20.0, 20.0, 1.0, 5, 500), ["only 5 records in the first 10 %"]),
        (WindowStats(NAN, NAN, NAN, NAN, NAN, NAN, 0, 0), ["RSS growth", "first 10 %", "last 10 %", "p99"]),
    ],
)
def test_target_failures(stats: WindowStats, expect: list[str]) -> None:
    fails = target_failures(stats)
    assert len(fails) == len(expect) and all(e in f for e, f in zip(expect, fails, strict=True)), fails


@pytest.mark.parametrize(
    ("wait", "others", "pressure", "expect"),
    [
        ((30.0, 33.0), (5.0, 10.0), (20.0, 25.0), []),  # steady
        ((30.0, 60.0), (5.0, 10.0), (20.0, 25.0), ["run-queue wait 30 → 60 %"]),
        ((60.0, 30.0), (5.0, 10.0), (20.0, 25.0), ["run-queue wait 60 → 30 %"]),  # busier at the start
        ((2.0, 4.0), (5.0, 10.0), (20.0, 25.0), []),  # doubled, but tiny
        ((30.0, 33.0), (5.0, 90.0), (20.0, 45.0), ["processes' CPU 5 → 90 %", "pressure 20 → 45 %"]),
        ((NAN, NAN), (NAN, NAN), (NAN, NAN), []),  # not measured: no warning
    ],
)
def test_load_note(
    wait: tuple[float, float], others: tuple[float, float], pressure: tuple[float, float], expect: list[str]
) -> None:
    note = load_note(wait, others, pressure)
    assert bool(note) is bool(expect) and all(e in note for e in expect), note


def test_targets_are_the_issue_s() -> None:
    assert (MAX_RSS_GROWTH, MAX_P99_RATIO) == (0.05, 1.10)


def test_child_args_use_every_sink(tmp_path: Path) -> None:
    args = child_args(
        tmp_path / "c.mp4", tmp_path, "tcp://127.0.0.1:5", 200.0, None, ["--extra-flag=1"], 9109
    )
    for flag in ("--loop", "--realtime", "--no-display", "--zmq-frames"):
        assert flag in args
    pairs = dict(itertools.pairwise(args))
    assert (
        pairs["--mode"] == "latest" and pairs["--zmq"] == "tcp://127.0.0.1:5" and pairs["--duration"] == "200"
    )
    assert pairs["--metrics-port"] == "9109"
    for flag in ("--jsonl", "--csv", "--record", "--record-raw"):
        assert Path(pairs[flag]).parent == tmp_path
    assert "--model" not in args and args[-1] == "--extra-flag=1"


def soak_cmd(out: Path, model: Path, duration: float, *extra: str) -> list[str]:
    """A soak of a tiny 20 fps clip through the colour model (seconds, not minutes)."""
    clip = write_h264(out.parent / "v.mp4", frames=40, fps=20)
    return [
        *(sys.executable, "-m", "tools.soak", "--duration", str(duration), "--source", str(clip)),
        *("--model", str(model), "--out", str(out), *extra),
    ]


def child_alive(out: Path) -> bool:
    """Is an ``infant-stream run`` writing into ``out`` still running?"""
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if "run" in cmd and any(str(out) in a for a in cmd) and "tools.soak" not in cmd:
            return True
    return False


@pytest.mark.slow
def test_short_soak_stops_the_child_cleanly(tmp_path: Path, colour_model_path: Path) -> None:
    out = tmp_path / "soak"
    proc = subprocess.run(
        soak_cmd(out, colour_model_path, 4, "--warmup", "1"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr  # too few records for a p99: a miss, no --check
    assert "target missed: only" in proc.stdout
    data = json.loads((out / "soak.json").read_text())
    assert data["summary"]["exit_code"] == 130 and not data["summary"]["errors"] and not data["passed"]
    assert data["warmup_s"] == 1 and data["samples"][-1]["t"] >= 4 and data["samples"][0]["t"] < 0.5
    # paced: never faster than the 20 fps clip; how close to it depends on the host (16-20 fps on the
    # earlier dev host, 14.4 on a contended one), so only a crawl fails
    assert 5 <= data["summary"]["mean_fps"] <= 25
    assert (out / "soak.png").stat().st_size > 0 and (out / "child.log").exists()
    assert not child_alive(out)


@pytest.mark.slow
def test_ctrl_c_stops_soak_and_child(tmp_path: Path, colour_model_path: Path) -> None:
    out = tmp_path / "soak"
    soak = subprocess.Popen(
        soak_cmd(out, colour_model_path, 600, "--warmup", "1"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert soak.stdout is not None
        deadline = time.monotonic() + 60
        while "first record" not in soak.stdout.readline():
            assert time.monotonic() < deadline and soak.poll() is None, "the soak never got a record"
        time.sleep(3)
        assert child_alive(out)
        soak.send_signal(signal.SIGINT)
        stdout, stderr = soak.communicate(timeout=60)
    finally:
        if soak.poll() is None:
            soak.kill()
            soak.wait(10)
    assert soak.returncode == 130, stdout + stderr
    assert "interrupted" in stderr
    data = json.loads((out / "soak.json").read_text())
    assert data["interrupted"] and data["summary"]["exit_code"] == 130  # the child stopped cleanly
    assert not child_alive(out)


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_soak_two_minutes(tmp_path: Path) -> None:
    """The CI soak: 2 minutes measured through the real CLI with every sink; the issue's targets."""
    proc = subprocess.run(
        [sys.executable, "-m", "tools.soak", "--duration", "120", "--check", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=190,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    png, summary_path = tmp_path / "soak.png", tmp_path / "soak.json"
    with Image.open(png) as img:
        assert img.format == "PNG" and img.size == (round(FIG_SIZE_IN[0] * DPI), round(FIG_SIZE_IN[1] * DPI))
    data = json.loads(summary_path.read_text())
    s = data["summary"]
    w = s["stats"]
    assert data["passed"] and not s["failures"] and not s["errors"]
    assert s["exit_code"] == CLEAN_EXIT
    assert s["duration_s"] >= 120 and data["warmup_s"] == 10
    assert w["rss_growth"] <= MAX_RSS_GROWTH
    assert (
        w["p99_ratio_low"] <= MAX_P99_RATIO or w["trend_ratio_low"] <= MAX_P99_RATIO
    )  # see tools.soak_stats
    assert data["metrics_scrapes"]["ok"] >= 20  # /metrics answered like a Prometheus scrape every 5 s
    # it kept running at a real rate, not a crawl; whether it keeps the clip's 25 fps is the machine's
    # speed (24-25 fps on the AVX-512 dev host; 12.9 fps on a host without AVX-512, where one inference
    # costs 4x more, 8.3 fps there when other guests took the CPU) and is measured by the benchmarks
    # (tools.bench), not asserted here
    assert s["mean_fps"] > 0.2 * CLIP["fps"]
    assert len(data["samples"]) >= 125
    for name in ("soak.jsonl", "soak.csv", "overlay.mp4", "raw.mp4"):
        assert (tmp_path / name).stat().st_size > 0, name


@pytest.mark.parametrize(
    ("ratio", "low", "fails"),
    [(1.13, 1.02, False), (1.13, 1.12, True), (0.9, 0.8, False), (1.05, None, False), (1.12, None, True)],
)
def test_latency_target_uses_the_confidence_bound(ratio: float, low: float | None, fails: bool) -> None:
    s = WindowStats(100.0, 100.0, 0.0, 20.0, 20.0 * ratio, ratio, 500, 500, low)
    assert bool(target_failures(s)) == fails


def test_ratio_lower_bound() -> None:
    rng = np.random.default_rng(1)
    a = rng.gamma(4.0, 4.0, 4000)
    same = ratio_lower_bound(a, rng.gamma(4.0, 4.0, 4000))
    slower = ratio_lower_bound(a, 1.5 * rng.gamma(4.0, 4.0, 4000))
    assert same < 1.0 < 1.10 < slower < 1.5
    assert ratio_lower_bound(a, a) == ratio_lower_bound(a, a)  # seeded: the same data, the same bound
    assert math.isnan(ratio_lower_bound(a[:5], a))


def _bursty_run(end: float, creep: float, burst: tuple[float, float] | None, seed: int = 3) -> WindowStats:
    """Records at 25/s over [0, end] (gamma noise around 25 ms), multiplied by a linear creep
    1 → ``creep`` and, inside ``burst`` (s), by 1.5 (a neighbour slowing the cores)."""
    rng = np.random.default_rng(seed)
    rt = np.arange(0, round(25 * end) + 1) / 25.0
    lat = rng.gamma(25.0, 1.0, len(rt)) * np.interp(rt, [0, end], [1.0, creep])
    if burst is not None:
        lat = np.where((rt >= burst[0]) & (rt <= burst[1]), 1.5 * lat, lat)
    st = np.arange(0.0, end + 1e-9)
    return window_stats(st, np.full_like(st, 2**28), rt, lat, end)


def test_burst_in_the_last_window_is_not_a_creep() -> None:
    """A 12 s slow spell at the end (the 2026-12-02 CI failure): the windows differ beyond doubt,
    the trend over the run does not, so the latency target holds."""
    s = _bursty_run(120.0, 1.0, (108.0, 120.0))
    assert s.p99_ratio_low is not None and s.p99_ratio_low > 1.3  # the window check alone would fail
    assert s.trend_ratio_low is not None and s.trend_ratio_low < MAX_P99_RATIO
    assert not latency_creep(s) and target_failures(s) == []


@pytest.mark.parametrize(("creep", "burst"), [(2.5, None), (2.5, (30.0, 42.0)), (3.0, (108.0, 120.0))])
def test_steady_creep_fails_both_checks(creep: float, burst: tuple[float, float] | None) -> None:
    s = _bursty_run(120.0, creep, burst)
    assert s.trend_ratio is not None and s.trend_ratio == pytest.approx(creep, rel=0.25)
    assert latency_creep(s)
    assert any("trend over the run" in f for f in target_failures(s))


def test_trend_ratio_measures_the_slope_and_is_seeded() -> None:
    t = np.arange(0, 100 * 25 + 1) / 25.0
    lat = 20.0 * np.exp(np.log(1.5) * t / 100.0)  # exactly × 1.5 over the run, no noise
    fit, low = trend_ratio(t, lat, 100.0)
    assert fit == pytest.approx(1.5, rel=1e-3) and low == pytest.approx(1.5, rel=1e-3)
    noisy = lat * np.random.default_rng(0).gamma(20.0, 0.05, len(t))
    assert trend_ratio(t, noisy, 100.0) == trend_ratio(t, noisy, 100.0)
    assert trend_ratio(t[t < 10], lat[t < 10], 100.0) == (None, None)  # 10 seconds: not fitted


def test_per_second_p99_bins_whole_seconds() -> None:
    t = np.array([-0.5, 0.0, 0.5, 0.99, 1.0, 3.2, 130.0])
    lat = np.array([999.0, 1.0, 2.0, 3.0, 10.0, 7.0, 999.0])  # before 0 and after the end: ignored
    centres, p = per_second_p99(t, lat, 120.0)
    assert centres.tolist() == [0.5, 1.5, 3.5]
    assert p[0] == pytest.approx(np.percentile([1.0, 2.0, 3.0], 99)) and p[1:].tolist() == [10.0, 7.0]


# --- parts outside their frame --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "outside"),
    [
        ({}, False),
        ({"centroid": [0.0, 0.0], "smoothed": [63.0, 47.0], "box": [0, 0, 64, 48]}, False),  # the edges
        ({"centroid": None, "smoothed": None}, False),  # predicted / no tracker: nothing to check
        ({"smoothed": [64.0, 20.0]}, True),  # past the last pixel column
        ({"smoothed": [-0.5, 20.0]}, True),
        ({"centroid": [10.0, 48.0]}, True),
        ({"smoothed": [1499.0, 1277.0]}, True),  # the live run's worst coasting part (720×528 there)
        ({"box": [60, 10, 65, 20]}, True),  # sticks out on the right
        ({"box": [-1, 10, 5, 20]}, True),
        ({"box": [10, 10, 10, 20]}, True),  # empty
    ],
)
def test_part_outside_frame(changes: dict, outside: bool) -> None:
    part = {**OBSERVED_PART, "centroid": [20.0, 30.0], "smoothed": [20.5, 29.5], "box": [10, 20, 30, 40]}
    assert part_outside_frame({**part, **changes}, 64, 48) is outside


def test_parts_outside_frame_counts_per_record() -> None:
    inside = {**PREDICTED_PART, "box": [1, 2, 3, 4], "smoothed": [2.0, 3.0]}
    flown = {**PREDICTED_PART, "box": [700, 500, 740, 550], "smoothed": [720.0, 525.0]}
    record = {"width": 720, "height": 528, "parts": [OBSERVED_PART, inside, flown, flown]}
    assert parts_outside_frame(record) == 2
    assert parts_outside_frame({**record, "parts": []}) == 0
    assert frame_failures(0) == [] and "2 published parts outside" in frame_failures(2)[0]


def test_outside_frame_reads_the_runs_jsonl_and_fails_the_check(tmp_path: Path) -> None:
    flown = {
        **PREDICTED_PART,
        "name": "torso",
        "track_id": 9,
        "box": [100, 10, 140, 60],
        "smoothed": [120.0, 35.0],
    }
    records = [
        {"source": "soak", "seq": seq, "width": 128, "height": 96, "parts": [OBSERVED_PART, *extra]}
        for seq, extra in ((0, []), (1, [flown]), (2, [flown, flown]))
    ]
    jsonl = tmp_path / "soak.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"torn')
    count, examples = outside_frame(jsonl)
    assert (count, examples[0]) == (3, "soak#1 predicted torso#9")
    assert outside_frame(tmp_path / "none.jsonl") == (0, [])

    summary = summarize(Run(outside_frame=count, outside_examples=examples), 1.0)
    assert any("3 published parts outside their frame" in f for f in summary.failures)
    assert "parts outside the frame  3  (target 0: FAIL); e.g. soak#1 predicted torso#9" in format_table(
        summary
    )
    clean = summarize(Run(), 1.0)
    assert not any("outside" in f for f in clean.failures)
    assert "parts outside the frame  0  (target 0: pass)" in format_table(clean)
