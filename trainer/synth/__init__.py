"""Synthetic infant generator: a top-down, articulated 2-D infant on a mattress.

``body`` builds the infant's geometry from a :class:`~trainer.synth.body.Pose`, ``render`` turns it into an
RGB image plus an exact label map, ``dataset`` writes YIBP-layout datasets, ``video`` writes an H.264 clip
with per-frame ground truth, and ``cli`` exposes both as ``infant-stream synth``.
"""
