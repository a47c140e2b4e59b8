"""The report of ``python -m tools.soak``: per-second samples → summary, printed table, PNG, JSON.

Definitions of the windows, RSS growth and p99 ratio: :mod:`tools.soak_stats`; of the load figures:
:class:`tools.soak_probe.Load`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from tools.soak_stats import (
    MAX_P99_RATIO,
    MAX_RSS_GROWTH,
    WindowStats,
    frame_failures,
    in_window,
    latency_creep,
    load_note,
    lost_records,
    select,
    target_failures,
    window_stats,
    windows,
)

CLEAN_EXIT: Final = 130
"""``infant-stream run`` stopped by SIGINT (README: 130/143 = clean stop by signal)."""
FIG_SIZE_IN: Final = (12.0, 11.0)
DPI: Final = 100
"""The PNG is FIG_SIZE_IN × DPI pixels (1200 × 1100)."""
LOAD_FIELDS: Final = ("cpu", "others", "wait", "pressure")


@dataclass(frozen=True)
class Sample:
    """One second of the soak. ``t``: end of the second, s since the measurement start (< 0: warm-up);
    CPU figures in % of one core (see :class:`tools.soak_probe.Load`); latencies NaN if no record came."""

    t: float
    rss_bytes: int
    cpu: float
    others: float
    wait: float
    pressure: float
    records: int
    fps: float
    p50_ms: float
    p99_ms: float
    dropped: int
    state: str


@dataclass
class Run:
    """Everything collected: per-second samples and every record (arrival time, latency, seq, drops)."""

    samples: list[Sample] = field(default_factory=list)
    record_t: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    statuses: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    exit_code: int | None = None
    interrupted: bool = False
    errors: list[str] = field(default_factory=list)
    outside_frame: int = 0
    """Parts of the run's JSONL records outside their frame (:func:`tools.soak_stats.parts_outside_frame`)."""
    outside_examples: list[str] = field(default_factory=list)
    """The first few of them (``source#seq state name#track``)."""


@dataclass(frozen=True)
class Summary:
    """The printed table's numbers (definitions: module docs of tools.soak_stats and tools.soak_probe).

    ``load``: per :data:`LOAD_FIELDS`, [first 10 % mean, last 10 % mean]; ``note``: a warning when the
    machine's load differed between the windows (the latency ratio is then suspect either way).
    """

    duration_s: float
    warmup_s: float
    frames: int
    mean_fps: float
    drops: int
    drop_share: float
    lost: int
    mean_cpu: float
    rss_start_mib: float
    rss_end_mib: float
    stats: WindowStats
    load: dict[str, list[float]]
    stage_fps: dict[str, float]
    exit_code: int | None
    failures: list[str]
    errors: list[str]
    note: str
    outside_frame: int = 0
    outside_examples: list[str] = field(default_factory=list)


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def summarize(run: Run, warmup_s: float) -> Summary:
    """Measured-window totals and the target checks of a finished run."""
    sample_t = np.array([s.t for s in run.samples], np.float64)
    measured = [s for s in run.samples if s.t >= 0]
    end = float(sample_t[-1]) if len(sample_t) and sample_t[-1] > 0 else 0.0
    rec_t = np.array(run.record_t, np.float64)
    mask = in_window(rec_t, (0.0, end), closed_end=True)
    idx = np.flatnonzero(mask)
    frames = len(idx)
    drops = sum(run.dropped[i] for i in idx)
    stage: dict[str, list[float]] = {}
    for t, rec in run.statuses:
        if 0 <= t <= end:
            for name, v in (rec.get("fps") or {}).items():
                stage.setdefault(name, []).append(float(v))
    errors = list(run.errors)
    load = {f: [math.nan, math.nan] for f in LOAD_FIELDS}
    if end > 0:
        stats = window_stats(sample_t, [s.rss_bytes for s in run.samples], rec_t, run.latency_ms, end)
        win = windows(end)
        for f in LOAD_FIELDS:
            values = [getattr(s, f) for s in run.samples]
            load[f] = [
                _mean(select(sample_t, values, win.first, last=False)),
                _mean(select(sample_t, values, win.last, last=True)),
            ]
    else:
        stats = WindowStats(*(math.nan,) * 6, 0, 0)
        errors.append("no measured samples")
    return Summary(
        duration_s=end,
        warmup_s=warmup_s,
        frames=frames,
        mean_fps=frames / end if end else math.nan,
        drops=drops,
        drop_share=drops / (frames + drops) if frames + drops else 0.0,
        lost=lost_records([run.seqs[i] for i in idx], [run.dropped[i] for i in idx]),
        mean_cpu=_mean(np.array([s.cpu for s in measured])),
        rss_start_mib=measured[0].rss_bytes / 2**20 if measured else math.nan,
        rss_end_mib=measured[-1].rss_bytes / 2**20 if measured else math.nan,
        stats=stats,
        load=load,
        stage_fps={k: float(np.mean(v)) for k, v in stage.items()},
        exit_code=run.exit_code,
        failures=target_failures(stats) + frame_failures(run.outside_frame),
        errors=errors,
        note=load_note(*(tuple(load[f]) for f in ("wait", "others", "pressure"))),  # type: ignore[arg-type]
        outside_frame=run.outside_frame,
        outside_examples=list(run.outside_examples),
    )


def _ok(good: bool) -> str:
    return "pass" if good else "FAIL"


def format_table(s: Summary) -> str:
    """The printed report."""
    w, ld = s.stats, s.load
    rows = [
        ("duration measured", f"{s.duration_s:.0f} s (after {s.warmup_s:.0f} s warm-up)"),
        ("frames (records)", f"{s.frames}"),
        ("mean fps", f"{s.mean_fps:.2f}"),
        ("drops (latest policy)", f"{s.drops} ({100 * s.drop_share:.1f} %)"),
        ("records lost (seq gaps)", f"{s.lost}"),
        ("child CPU", f"{s.mean_cpu:.0f} % of a core ({os.cpu_count()} cores)"),
        ("RSS first / last sample", f"{s.rss_start_mib:.1f} / {s.rss_end_mib:.1f} MiB"),
        ("RSS median first 10 %", f"{w.rss_first_mib:.1f} MiB"),
        ("RSS median last 10 %", f"{w.rss_last_mib:.1f} MiB"),
        (
            "RSS growth",
            f"{100 * w.rss_growth:+.2f} %  (target ≤ {100 * MAX_RSS_GROWTH:.0f} %: "
            f"{_ok(w.rss_growth <= MAX_RSS_GROWTH)})",
        ),
        ("p99 latency first 10 %", f"{w.p99_first_ms:.1f} ms ({w.records_first} records)"),
        ("p99 latency last 10 %", f"{w.p99_last_ms:.1f} ms ({w.records_last} records)"),
        (
            "p99 ratio last / first",
            f"{w.p99_ratio:.3f}"
            + ("" if w.p99_ratio_low is None else f"  (99 % bound ≥ {w.p99_ratio_low:.3f})"),
        ),
        (
            "p99 trend over the run",
            "not fitted"
            if w.trend_ratio is None or w.trend_ratio_low is None
            else f"× {w.trend_ratio:.3f}  (99 % bound ≥ {w.trend_ratio_low:.3f})",
        ),
        (
            "latency creep",
            f"{'no' if not latency_creep(w) else 'YES'}  (target: ratio or trend bound ≤ {MAX_P99_RATIO:.2f}: "
            f"{_ok(not latency_creep(w))})",
        ),
        (
            "load first → last 10 %",
            f"child CPU {ld['cpu'][0]:.0f} → {ld['cpu'][1]:.0f} %, run-queue wait {ld['wait'][0]:.0f} → "
            f"{ld['wait'][1]:.0f} %, others' CPU {ld['others'][0]:.0f} → {ld['others'][1]:.0f} %, "
            f"CPU pressure {ld['pressure'][0]:.0f} → {ld['pressure'][1]:.0f} %",
        ),
        (
            "parts outside the frame",
            f"{s.outside_frame}  (target 0: {_ok(s.outside_frame == 0)})"
            + (f"; e.g. {', '.join(s.outside_examples[:3])}" if s.outside_examples else ""),
        ),
        ("stage fps (mean)", ", ".join(f"{k} {v:.1f}" for k, v in s.stage_fps.items()) or "-"),
        ("child exit code", f"{s.exit_code} (SIGINT → {CLEAN_EXIT} expected)"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def draw(run: Run, summary: Summary, out: Path, title: str) -> None:
    """RSS, fps, latency (p50/p99 per second) and CPU vs time; warm-up hatched, first/last 10 % shaded.
    Written whole (a temporary file, then renamed)."""
    from matplotlib.figure import Figure  # heavy: only when drawing

    t = np.array([s.t for s in run.samples], np.float64)

    def col(name: str) -> list[float]:
        return [float(getattr(s, name)) for s in run.samples]

    fig = Figure(figsize=FIG_SIZE_IN, dpi=DPI, layout="constrained")
    ax_rss, ax_fps, ax_lat, ax_cpu = fig.subplots(4, 1, sharex=True, height_ratios=[3, 2, 3, 2])
    ax_rss.plot(t, np.array(col("rss_bytes")) / 2**20, color="C0")
    ax_rss.set_ylabel("RSS (MiB)")
    ax_fps.plot(t, col("fps"), color="C2", lw=0.8)
    ax_fps.set_ylabel("records / s")
    ax_lat.plot(t, col("p50_ms"), color="C1", lw=0.8, label="p50 per second")
    ax_lat.plot(t, col("p99_ms"), color="C3", lw=0.8, label="p99 per second")
    ax_lat.set_ylabel("capture→publish (ms)")
    for name, colour, label in (
        ("cpu", "C4", "infant-stream run CPU"),
        ("wait", "C5", "its run-queue wait"),
        ("others", "k", "other processes' CPU"),
        ("pressure", "C9", "CPU pressure (PSI some, %)"),
    ):
        ax_cpu.plot(t, col(name), color=colour, lw=0.8, label=label)
    ax_cpu.set_ylabel("% of a core")
    ax_cpu.legend(fontsize=7, loc="upper right", ncols=4)
    ax_cpu.set_xlabel("time since measurement start (s); < 0: warm-up")
    w = summary.stats
    for ax in (ax_rss, ax_fps, ax_lat, ax_cpu):
        if len(t) and t[0] < 0:
            ax.axvspan(t[0], 0, color="0.85", hatch="//", lw=0)
        if summary.duration_s > 0:
            win = windows(summary.duration_s)
            ax.axvspan(*win.first, color="C0", alpha=0.15, lw=0)
            ax.axvspan(*win.last, color="C3", alpha=0.15, lw=0)
        ax.grid(alpha=0.3)
    if summary.duration_s > 0:
        win = windows(summary.duration_s)
        ax_lat.hlines([w.p99_first_ms], *win.first, colors="k", linestyles="--", lw=1.2)
        ax_lat.hlines(
            [w.p99_last_ms], *win.last, colors="k", linestyles="--", lw=1.2, label="p99 of the window"
        )
    ax_lat.legend(fontsize=8, loc="upper right")
    verdict = "PASS" if not summary.failures and not summary.errors else "FAIL"
    fig.suptitle(
        f"{title}: RSS growth {100 * w.rss_growth:+.2f} %, p99 {w.p99_first_ms:.1f} → {w.p99_last_ms:.1f} ms "
        f"(×{w.p99_ratio:.3f}), {summary.mean_fps:.1f} fps — {verdict} (shaded: first / last 10 %)"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    fig.savefig(tmp, format="png")
    os.replace(tmp, out)


def _json_safe(value: Any) -> Any:
    """NaN → None, recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, run: Run, summary: Summary, info: dict[str, Any]) -> None:
    """The summary, the targets, the windows and every per-second sample (written whole)."""
    data = {
        **info,
        "targets": {"max_rss_growth": MAX_RSS_GROWTH, "max_p99_ratio": MAX_P99_RATIO},
        "windows": asdict(windows(summary.duration_s)) if summary.duration_s > 0 else None,
        "summary": asdict(summary),
        "passed": not summary.failures and not summary.errors,
        "interrupted": run.interrupted,
        "samples": [asdict(s) for s in run.samples],
    }
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_json_safe(data), indent=1) + "\n")
    os.replace(tmp, path)
