"""Kalman tracking of part centroids: state models (:mod:`.motion`), one track (:mod:`.track`) and the
per-source, per-class association of regions to tracks (:mod:`.tracker`)."""

from __future__ import annotations

from pipeline.postprocess.tracking.track import Track
from pipeline.postprocess.tracking.tracker import PartTracker

__all__ = ["PartTracker", "Track"]
