"""``infant-stream plot out.jsonl``: per-part centroid trajectories over time, raw vs smoothed.

One row per class (head, arm, torso, leg), x(t) on the left, y(t) on the right, in original-frame
pixels (y down, as in the records). Per track (one colour each): the raw measured centroid as dots
on a thin line, the Kalman-smoothed position as a thick line, dashed with hollow markers where the
track was ``predicted`` (coasting without a region, no raw centroid). Time is ``capture_ts`` (when
the frame left the decoder) relative to the first record, in seconds: it keeps running through a
reconnect, where a stream's ``pts_s`` starts again at 0. Gaps in capture time (a camera that was
reconnecting, a stalled stream) are shaded and lines do not cross them; the axes span the frame.

The pure part (:func:`read_records`, :func:`extract_series`) is separate from drawing
(:func:`draw`); matplotlib is imported only when drawing, and only its object API is used
(``Figure`` with the Agg canvas: no pyplot, no global backend switch).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from pipeline.contract.classes import CLASS_NAMES
from pipeline.errors import ConfigError, DatasetError
from pipeline.files import write_whole

log = logging.getLogger(__name__)

PART_NAMES: Final[tuple[str, ...]] = CLASS_NAMES[1:]
FIG_WIDTH_IN: Final = 12.0
ROW_HEIGHT_IN: Final = 2.6
DPI: Final = 100
"""The PNG is FIG_WIDTH_IN·DPI × (rows·ROW_HEIGHT_IN)·DPI pixels (one row per plotted class)."""
MAX_LEGEND: Final = 12
"""More tracks than this in a class: no legend, a count instead."""
GAP_MIN_S: Final = 1.0
GAP_INTERVALS: Final = 5.0
"""A pause between two records longer than both GAP_MIN_S and GAP_INTERVALS × the median interval
between records is drawn as a gap (the source was reconnecting or stalled)."""


@dataclass(frozen=True)
class TrackSeries:
    """One track's positions over time (N samples, time-ordered as in the file).

    Attributes:
        t: (N,) float64 seconds.
        raw: (N, 2) float64 measured centroid (x, y) px; NaN where ``predicted``.
        smoothed: (N, 2) float64 Kalman position (x, y) px; NaN where the record has none.
        predicted: (N,) bool, True where the track was coasting (no region that frame).
    """

    t: np.ndarray
    raw: np.ndarray
    smoothed: np.ndarray
    predicted: np.ndarray


@dataclass(frozen=True)
class Series:
    """Everything to plot for one source.

    Attributes:
        source: the source id.
        time_axis: ``capture_ts`` (relative to the first record), or ``pts_s`` when records have no
            capture time, or ``record`` (the record's index) when they have neither.
        records: records of the source used.
        parts: class name → track label (``track 7``, or ``instance 0`` without a tracker) → series.
        gaps: (start, end) seconds of pauses in the records (see :data:`GAP_MIN_S`).
        frame_wh: the largest frame (width, height) in the records, px (0, 0 if unknown).
    """

    source: str
    time_axis: str
    records: int
    parts: dict[str, dict[str, TrackSeries]]
    gaps: tuple[tuple[float, float], ...] = ()
    frame_wh: tuple[int, int] = (0, 0)

    @property
    def tracks(self) -> int:
        return sum(len(tracks) for tracks in self.parts.values())

    @property
    def points(self) -> int:
        return sum(len(s.t) for tracks in self.parts.values() for s in tracks.values())


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, one per non-blank line.

    A final line that is not valid JSON and has no newline (a run killed mid-write) is ignored
    with a warning. Raises ConfigError (no such file) or DatasetError (unreadable, empty, a line
    that is not a JSON object: file and line number named).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a JSONL file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    lines = text.split("\n")
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, an int past str()'s digit limit, too deep
            if number == len(lines):  # no newline after it: cut off mid-write
                log.warning("%s:%d: ignoring a partial last line (run killed while writing?)", path, number)
                continue
            raise DatasetError(f"{path}:{number}: not valid JSON") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{path}:{number}: not a JSON object")
        records.append(record)
    if not records:
        raise DatasetError(f"{path}: no records (empty file)")
    return records


def _pair(value: Any) -> tuple[float, float]:
    if isinstance(value, list | tuple) and len(value) == 2 and all(v is not None for v in value):
        return float(value[0]), float(value[1])
    return np.nan, np.nan


def _ids(sources: list[str]) -> str:
    """Source ids for a one-line message (an id with control characters shown escaped)."""
    return ", ".join(s if s.isprintable() else repr(s) for s in sources)


def _track_label(part: dict[str, Any]) -> str:
    if part.get("track_id") is not None:
        return f"track {part['track_id']}"
    return f"instance {part.get('instance')}"


def extract_series(
    records: list[dict[str, Any]],
    path: Path,
    source: str | None = None,
    parts: tuple[str, ...] = PART_NAMES,
) -> Series:
    """Records → per-class, per-track time series of raw and smoothed centroids.

    Status records (``"type": "status"``) are skipped. ``source``: which source to plot (needed
    only when the file has several). Raises DatasetError naming ``path`` (and the line's record
    index) for records without ``parts``, or when nothing is left to plot.
    """
    data = [r for r in records if r.get("type") != "status"]
    for i, r in enumerate(data):
        if not isinstance(r.get("parts"), list):
            raise DatasetError(f"{path}: record {i + 1} (seq {r.get('seq')}) has no 'parts' list")
    if not data:
        raise DatasetError(f"{path}: no part records (only status records)")
    sources = sorted({str(r.get("source")) for r in data})
    if source is None:
        if len(sources) > 1:
            raise ConfigError(f"--source: {path} has several sources ({_ids(sources)}); pick one")
        source = sources[0]
    data = [r for r in data if str(r.get("source")) == source]
    if not data:
        raise DatasetError(f"{path}: no records of source {source!r} (sources: {_ids(sources)})")
    try:
        if all(_is_number(r.get("capture_ts")) for r in data):
            time_axis = "capture_ts"
            t0 = float(data[0]["capture_ts"])
            times = [float(r["capture_ts"]) - t0 for r in data]
        elif all(_is_number(r.get("pts_s")) for r in data):
            time_axis, times = "pts_s", [float(r["pts_s"]) for r in data]
        else:  # neither: one record after the other
            time_axis, times = "record", [float(i) for i in range(len(data))]
        frame_wh = (
            max(int(r.get("width") or 0) for r in data),
            max(int(r.get("height") or 0) for r in data),
        )
    except (TypeError, ValueError, OverflowError):
        raise DatasetError(f"{path}: a record of source {source!r} has a time that is not a number") from None
    gaps = find_gaps(np.asarray(times, np.float64))

    rows: dict[str, dict[str, list[tuple[float, float, float, float, float, bool]]]] = {p: {} for p in parts}
    starts = [a for a, _ in gaps]
    for i, (t, r) in enumerate(zip(times, data, strict=True)):
        try:
            for part in r["parts"]:
                name = part.get("name")
                if not isinstance(name, str) or name not in rows:
                    continue
                predicted = part.get("state") == "predicted" or part.get("centroid") is None
                raw = _pair(None if predicted else part.get("centroid"))
                sm = _pair(part.get("smoothed"))
                samples = rows[name].setdefault(_track_label(part), [])
                if samples and any(samples[-1][0] <= a < t for a in starts):  # no line across a gap
                    samples.append((np.nan, np.nan, np.nan, np.nan, np.nan, False))
                samples.append((t, *raw, *sm, predicted))
        except (AttributeError, TypeError, ValueError, OverflowError) as exc:  # not a schema-1 part
            raise DatasetError(
                f"{path}: record {i + 1} of source {source!r} (seq {r.get('seq')!r}): malformed part "
                f"({type(exc).__name__}: {exc})"
            ) from None

    series: dict[str, dict[str, TrackSeries]] = {}
    for name, tracks in rows.items():
        series[name] = {}
        for label, samples in tracks.items():
            a = np.array([s[:5] for s in samples], np.float64).reshape(-1, 5)
            series[name][label] = TrackSeries(
                t=a[:, 0],
                raw=a[:, 1:3],
                smoothed=a[:, 3:5],
                predicted=np.array([s[5] for s in samples], bool),
            )
    result = Series(source, time_axis, len(data), series, gaps, frame_wh)
    if result.points == 0:
        wanted = ", ".join(parts)
        raise DatasetError(f"{path}: no parts ({wanted}) in {len(data)} records of source {source!r}")
    return result


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def find_gaps(times: np.ndarray) -> tuple[tuple[float, float], ...]:
    """(start, end) of the pauses in ``times`` ((N,) seconds, time-ordered) longer than
    :data:`GAP_MIN_S` and :data:`GAP_INTERVALS` × the median interval."""
    if len(times) < 2:
        return ()
    steps = np.diff(times)
    limit = max(GAP_MIN_S, GAP_INTERVALS * float(np.median(steps)))
    return tuple((float(times[i]), float(times[i + 1])) for i in np.flatnonzero(steps > limit))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index ranges where ``flags`` (N,) bool is True, stop exclusive."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _number(label: str) -> int:
    """The id in a track label (``track 7`` → 7; -1 when there is none)."""
    tail = label.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def draw(series: Series, out: Path, title: str) -> None:
    """Render ``series`` to a PNG at ``out`` (written whole: temp file in the same folder, then renamed)."""
    from matplotlib.figure import Figure  # heavy: only when drawing

    names = list(series.parts)
    fig = Figure(figsize=(FIG_WIDTH_IN, ROW_HEIGHT_IN * len(names)), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(names), 2, squeeze=False, sharex=True)
    palette = [f"C{i}" for i in range(10)]  # one colour per track id, the same in every row
    for row, name in enumerate(names):
        for col, axis in enumerate("xy"):
            ax = axes[row][col]
            ax.set_ylabel(f"{name} {axis} (px)")
            if col == 1 and not series.frame_wh[1]:
                ax.invert_yaxis()  # image y grows downwards
            for k, (label, s) in enumerate(sorted(series.parts[name].items(), key=lambda kv: _number(kv[0]))):
                colour = palette[(_number(label) if label.startswith("track") else k) % len(palette)]
                # without a tracker the instance index is an area rank, not an identity: dots only
                style = ".-" if label.startswith("track") else "."
                ax.plot(s.t, s.raw[:, col], style, color=colour, lw=0.6, ms=3, alpha=0.6, label=label)
                solid = np.where(s.predicted, np.nan, s.smoothed[:, col])
                ax.plot(s.t, solid, "-", color=colour, lw=2.2)
                for a, b in _runs(s.predicted):
                    lo, hi = max(a - 1, 0), min(b + 1, len(s.t))
                    ax.plot(s.t[lo:hi], s.smoothed[lo:hi, col], "--", color=colour, lw=2.2)
                    ax.plot(s.t[a:b], s.smoothed[a:b, col], "o", mfc="none", color=colour, ms=4)
            for start, end in series.gaps:
                ax.axvspan(start, end, color="0.85", zorder=0)
            size = series.frame_wh[col]
            if size:
                ax.set_ylim(size, 0) if col == 1 else ax.set_ylim(0, size)
            if col == 0 and 0 < len(series.parts[name]) <= MAX_LEGEND:
                ax.legend(fontsize=7, loc="upper right", ncols=2, markerscale=2)
            elif col == 0 and series.parts[name]:
                ax.set_title(f"{len(series.parts[name])} tracks", fontsize=8, loc="right")
            if not series.parts[name]:
                ax.text(0.5, 0.5, "no tracks", transform=ax.transAxes, ha="center", va="center")
    xlabel = {"pts_s": "pts (s)", "record": "record"}.get(
        series.time_axis, "capture time since the first record (s)"
    )
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    fig.suptitle(
        f"{title} — source {series.source}: dots raw, thick smoothed, dashed/hollow predicted, grey gaps"
    )

    out.parent.mkdir(parents=True, exist_ok=True)
    write_whole(out, lambda f: fig.savefig(f, format="png"))


def parse_parts(text: str | None) -> tuple[str, ...]:
    """``--parts head,arm`` → ("head", "arm"); None → all four. ConfigError names an unknown part."""
    if text is None:
        return PART_NAMES
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [n for n in names if n not in PART_NAMES]
    if unknown or not names:
        bad = ", ".join(unknown) if unknown else repr(text)
        raise ConfigError(f"--parts: unknown part {bad} (known: {', '.join(PART_NAMES)})")
    return names


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "plot", help="plot per-part centroid trajectories (raw vs smoothed) from a JSONL file"
    )
    p.add_argument("jsonl", help="schema-1 records, one per line (infant-stream run --jsonl)")
    p.add_argument("--out", help="PNG to write (default: the JSONL path with .png)")
    p.add_argument("--source", help="source id to plot (needed when the file has several)")
    p.add_argument("--parts", help=f"comma-separated classes (default {','.join(PART_NAMES)})")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    path = Path(args.jsonl)
    parts = parse_parts(args.parts)
    out = Path(args.out) if args.out else path.with_suffix(".png")
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out}: must end in .png")
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a folder")
    series = extract_series(read_records(path), path, args.source, parts)
    try:
        draw(series, out, path.name)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    print(
        f"{out}: {series.records} records, {series.tracks} tracks, {series.points} points "
        f"(source {series.source}, time {series.time_axis})"
    )
    return 0
