"""``report.html``: one self-contained page per analysis run (plots embedded as PNG, no script, no network),
for a clinician-researcher: what was recorded and how well, each limb's movement, left against right,
and every feature defined in plain words with its unit (from :data:`pipeline.analysis.features.FEATURES`).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from typing import Any, Final

from pipeline.analysis.analyze import Analysis, limb_pieces
from pipeline.analysis.features import FEATURES, LIMBS, PAIR_FEATURES, PAIRS, UNITS, derivative, magnitude

DISCLAIMER: Final = (
    "Research use only. infant-stream is not a medical device: these measurements describe movement in a "
    "video as a computer model saw it; they do not assess, diagnose or predict any condition, and must be "
    "read by a qualified researcher together with the video."
)
LIMB_NAMES: Final = {"arm_l": "left arm", "arm_r": "right arm", "leg_l": "left leg", "leg_r": "right leg"}
COLOURS: Final = {"arm_l": "#1f77b4", "arm_r": "#ff7f0e", "leg_l": "#2ca02c", "leg_r": "#d62728"}
STYLE: Final = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; line-height: 1.45; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.disclaimer { background: #fff4d6; border: 1px solid #e0c060; padding: 0.7em 1em; }
.thin { color: #999; } img { max-width: 100%; } dt { font-weight: 600; margin-top: 0.5em; }
"""


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display; imported only when a report is drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> str:
    """A matplotlib figure as an ``<img>`` with the PNG inline."""
    plt = _pyplot()

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _fmt(value: float, verdict: str = "ok") -> str:
    if verdict != "ok" or not math.isfinite(value):
        why = html.escape(verdict.removeprefix("thin: ")) if verdict != "ok" else "no data"
        return f'<td class="num thin" title="{why}">—</td>'
    return f'<td class="num">{value:.3g}</td>'


def trajectory_plot(a: Analysis) -> str:
    """The four limbs' end points in the trunk frame (x to the infant's left, y towards the head)."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for piece in limb_pieces(a.cleaned, a.points_from == "joints"):
        for limb in LIMBS:
            xy = piece.points.get(limb)
            if xy is not None:
                ax.plot(xy[:, 0], xy[:, 1], lw=0.6, color=COLOURS[limb], alpha=0.7)
    for limb in LIMBS:
        ax.plot([], [], color=COLOURS[limb], label=LIMB_NAMES[limb])
    ax.plot([0, 0], [0, 1], color="k", lw=3, label="trunk (hips → shoulders)")
    ax.set_xlabel("← infant's right    x (trunk lengths)    infant's left →")
    ax.set_ylabel("y (trunk lengths, towards the head)")
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.set_title("Where each limb's end point went")
    return _png(fig)


def speed_plot(a: Analysis) -> str:
    """Each limb's end-point speed over the recording's time."""
    plt = _pyplot()

    fig, axes = plt.subplots(4, 1, figsize=(10, 6.5), sharex=True)
    pieces = limb_pieces(a.cleaned, a.points_from == "joints")
    for ax, limb in zip(axes, LIMBS, strict=True):
        for seg, piece in zip(a.cleaned.segments, pieces, strict=True):
            xy = piece.points.get(limb)
            if xy is not None:
                ax.plot(seg.t, magnitude(derivative(xy, seg.fs)), lw=0.6, color=COLOURS[limb])
        ax.set_ylabel(f"{LIMB_NAMES[limb]}\nTL/s", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle("Speed of each limb's end point")
    return _png(fig)


def left_right_plot(a: Analysis) -> str:
    """Quantity of motion per limb, left beside right."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for i, (_pair, left, right) in enumerate(PAIRS):
        values = [
            a.features.get(f"{left}_motion_per_min", math.nan),
            a.features.get(f"{right}_motion_per_min", math.nan),
        ]
        values = [0.0 if not math.isfinite(v) else v for v in values]
        ax.bar([i - 0.18, i + 0.18], values, width=0.35, color=[COLOURS[left], COLOURS[right]])
    ax.set_xticks([0, 1], ["arms (left | right)", "legs (left | right)"])
    ax.set_ylabel("TL per minute")
    ax.set_title("Quantity of motion, left against right")
    return _png(fig)


def _limb_table(a: Analysis) -> str:
    head = "".join(f"<th>{LIMB_NAMES[limb]}</th>" for limb in LIMBS)
    rows = [f"<tr><th>feature</th><th>unit</th>{head}</tr>"]
    for f in FEATURES:
        cells = "".join(
            _fmt(a.features[f"{limb}_{f.name}"], a.verdicts[f"{limb}_{f.name}"]) for limb in LIMBS
        )
        rows.append(f"<tr><td>{f.name}</td><td>{html.escape(f.unit)}</td>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _pair_table(a: Analysis) -> str:
    rows = ["<tr><th>feature</th><th>unit</th><th>arms</th><th>legs</th></tr>"]
    for f in PAIR_FEATURES:
        cells = "".join(
            _fmt(a.features[f"{pair}_{f.name}"], a.verdicts[f"{pair}_{f.name}"]) for pair, _, _ in PAIRS
        )
        rows.append(f"<tr><td>{f.name}</td><td>{html.escape(f.unit)}</td>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _qc_table(a: Analysis) -> str:
    tracks = [r for r in a.qc if "observed" in r]
    counts = [r for r in a.qc if "value" in r]
    rows = [
        "<tr><th>point</th><th>observed</th><th>predicted</th><th>missing</th><th>filled</th><th>spikes dropped</th></tr>"
    ]
    for r in tracks:
        cells = "".join(
            f'<td class="num">{100 * float(str(r[k])):.0f} %</td>'
            for k in ("observed", "predicted", "missing", "filled")
        )
        cells += f'<td class="num">{r.get("spikes", 0)}</td>'
        rows.append(f"<tr><td>{html.escape(str(r['item']))}</td>{cells}</tr>")
    facts = "".join(
        f"<tr><th>{html.escape(str(r['item']))}</th><td>{html.escape(str(r['value']))}</td></tr>"
        for r in counts
    )
    per_point = f"<details><summary>Per joint and part</summary><table>{''.join(rows)}</table></details>"
    return f"<table>{facts}</table>{per_point}"


def glossary() -> str:
    """Every feature and unit in plain words (a ``<dl>``)."""
    items = [f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in UNITS.items()]
    for f in (*FEATURES, *PAIR_FEATURES):
        items.append(f"<dt>{f.name} ({html.escape(f.unit)})</dt><dd>{html.escape(f.definition)}</dd>")
    return "<dl>" + "".join(items) + "</dl>"


def section(a: Analysis) -> str:
    """One recording's part of the report."""
    r = a.recording
    title = html.escape(f"{r.path} — source {r.source}")
    points = {
        "joints": "joints (wrists, ankles, elbows, knees)",
        "parts": "body-part centroids (no joints in this recording)",
    }.get(a.points_from, "nothing usable")
    thin = sum(v != "ok" for v in a.verdicts.values())
    parts = [
        f"<h2>{title}</h2>",
        f"<p>{a.cleaned.duration_s:.1f} s of usable data in {len(a.cleaned.segments)} segment(s), {r.frames} frames; "
        f"limbs followed by {points}; {thin} of {len(a.verdicts)} features had too little data (shown as —).</p>",
    ]
    if a.cleaned.segments and a.points_from:
        parts += ["<h3>Movement</h3>", trajectory_plot(a), speed_plot(a), "<h3>Per limb</h3>", _limb_table(a)]
        parts += ["<h3>Left against right</h3>", left_right_plot(a), _pair_table(a)]
    parts += ["<h3>Quality of the data</h3>", _qc_table(a)]
    return "\n".join(parts)


def report_html(analyses: Sequence[Analysis], options_text: str) -> str:
    """The whole page for one or more recordings."""
    body = "\n".join(section(a) for a in analyses)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>infant-stream movement report</title>
<style>{STYLE}</style></head><body>
<h1>Infant movement report</h1>
<p class="disclaimer">{html.escape(DISCLAIMER)}</p>
<p>How the data was prepared: {html.escape(options_text)}</p>
{body}
<h2>What each feature means</h2>
<p>Limbs are followed at their end point (wrist, ankle) in a frame fixed to the infant's trunk, so that
moving the whole body or the camera does not count as limb movement, and distances are in trunk lengths
(TL), so infants of different sizes, filmed from different distances, compare.</p>
{glossary()}
</body></html>
"""
