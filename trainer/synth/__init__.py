"""Synthetic infant generator: a top-down, articulated 2-D infant on a mattress.

``skeleton`` computes every landmark of a :class:`~trainer.synth.body.Pose` once, ``body`` builds the
infant's geometry around it (polygons from ``shapes``; clothes, accessories and swaddles from ``wardrobe``),
``render`` turns it into an RGB image plus an exact label map (colours, prints and shading by ``paint`` with
``prints`` and ``skin``), ``joints`` maps the same landmarks to NYCU-22 / COCO-17 keypoints with visibility
flags, ``dataset`` writes YIBP-layout datasets, ``keypoint_dataset`` (with ``keypoint_formats``) writes NYCU
and COCO keypoint datasets, ``video`` writes an H.264 clip with per-frame ground truth, and ``cli`` exposes
them as ``infant-stream synth``.
``camera`` (with ``sensor``) re-photographs a rendered frame and its keypoints with a randomised camera (view,
optics, tone, infrared night mode, noise, compression); ``backdrops`` and ``props`` (with ``patterns``,
``photos``, ``layers``, ``hand``) draw randomised scenes; ``domain`` ties them to the writers
(``synth --randomize``).
"""
