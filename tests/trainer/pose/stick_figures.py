"""A tiny hand-made prepared keypoint layout (NYCU-22): stick-figure infants drawn on noise, in any orientation.

Each image holds one figure: a fixed 22-point template (head up, the infant's left on the image right) scaled,
rotated and moved, drawn as white limbs with a coloured dot per joint (colour = :func:`joint_colour`), so a
crop test can check that a keypoint lands on its own dot.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from pipeline.contract.keypoints import COCO17, NYCU22, NYCU_TO_COCO, KeypointSet
from trainer.pose.layout import coco_document, write_split

TEMPLATE = np.array(
    [
        (0.0, -0.85),  # Head
        (0.07, -0.70),  # Eye_L
        (-0.07, -0.70),  # Eye_R
        (0.0, -0.64),  # Nose
        (0.0, -0.60),  # Upper_Lip
        (0.0, -0.56),  # Lower_Lip
        (-0.25, -0.40),  # Shoulder_R
        (0.25, -0.40),  # Shoulder_L
        (-0.40, -0.15),  # Elbow_R
        (0.40, -0.15),  # Elbow_L
        (-0.45, 0.08),  # Wrist_R
        (0.45, 0.08),  # Wrist_L
        (-0.47, 0.18),  # MP_joint_R
        (0.47, 0.18),  # MP_joint_L
        (-0.15, 0.15),  # Hip_R
        (0.15, 0.15),  # Hip_L
        (-0.20, 0.50),  # Knee_R
        (0.20, 0.50),  # Knee_L
        (-0.22, 0.82),  # Ankle_R
        (0.22, 0.82),  # Ankle_L
        (-0.25, 0.92),  # MTP_joint_R
        (0.25, 0.92),  # MTP_joint_L
    ],
    dtype=np.float64,
)
"""(22, 2) NYCU-22 points in body units (x right, y down)."""


def joint_colour(k: int) -> tuple[int, int, int]:
    """A distinct RGB colour for joint k (hues permuted so that neighbouring ids, e.g. a right/left pair,
    are far apart)."""
    hue = np.array([[[(k * 7 % 22) * 180 // 22, 255, 255]]], dtype=np.uint8)
    r, g, b = cv2.cvtColor(hue, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def figure_points(centre: tuple[float, float], scale: float, angle_deg: float) -> np.ndarray:
    """(22, 2) image px of the template scaled by ``scale`` px, rotated and centred."""
    t = math.radians(angle_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return TEMPLATE @ rot.T * scale + np.asarray(centre)


def draw_figure(
    hw: tuple[int, int], points: np.ndarray, rng: np.random.Generator, dot: int = 2
) -> np.ndarray:
    """(H, W, 3) uint8 RGB: grey noise, white limbs, a dot of :func:`joint_colour` per joint."""
    image = rng.integers(60, 110, (*hw, 3), dtype=np.uint8)
    for i, j in NYCU22.skeleton:
        p, q = points[i].round().astype(int), points[j].round().astype(int)
        cv2.line(image, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), (235, 235, 235), 2)
    for k, p in enumerate(points):
        c = p.round().astype(int)
        cv2.circle(image, (int(c[0]), int(c[1])), dot, joint_colour(k), -1)
    return image


def coco_points(nycu: np.ndarray) -> np.ndarray:
    """(22, 2) NYCU-22 points → (17, 2) COCO-17 points: shared names copied, ears beside the eyes."""
    by_name = {NYCU_TO_COCO[n]: nycu[i] for i, n in enumerate(NYCU22.names) if n in NYCU_TO_COCO}
    eyes = nycu[NYCU22.index("Eye_L")] - nycu[NYCU22.index("Eye_R")]
    by_name["left_ear"] = nycu[NYCU22.index("Eye_L")] + 0.8 * eyes
    by_name["right_ear"] = nycu[NYCU22.index("Eye_R")] - 0.8 * eyes
    return np.array([by_name[n] for n in COCO17.names])


def make_keypoint_layout(
    root: Path,
    counts: dict[str, int] | None = None,
    hw: tuple[int, int] = (96, 128),
    seed: int = 0,
    kset: KeypointSet = NYCU22,
) -> Path:
    """Write images and ``annotations/<split>.json`` for a tiny NYCU-22 (or COCO-17) dataset under ``root``;
    returns root.

    The train split also gets one sample with a degenerate body box (0 px wide) and one with no labelled
    point, which training must skip. In every NYCU figure ``Lower_Lip`` is unlabelled (v = 0) and
    ``MP_joint_L`` is labelled but occluded (v = 1); COCO figures have every point visible.
    """
    counts = counts or {"train": 8, "val": 3, "test": 3}
    rng = np.random.default_rng(seed)
    image_id = 0
    for split, n in counts.items():
        images, anns = [], []
        for i in range(n + (2 if split == "train" else 0)):
            image_id += 1
            scale = float(rng.uniform(0.28, 0.36)) * min(hw)
            centre = (float(rng.uniform(0.4, 0.6)) * hw[1], float(rng.uniform(0.4, 0.6)) * hw[0])
            pts = figure_points(centre, scale, float(rng.uniform(-180, 180)))
            name = f"{split}/{i:03d}.png"
            path = root / "images" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), cv2.cvtColor(draw_figure(hw, pts, rng), cv2.COLOR_RGB2BGR))
            v = np.full(kset.num_keypoints, 2.0)
            if kset is NYCU22:
                v[NYCU22.index("Lower_Lip")] = 0
                v[NYCU22.index("MP_joint_L")] = 1
            else:
                pts = coco_points(pts)
            kp = np.concatenate([pts, v[:, None]], axis=1)
            kp[v == 0, :2] = 0
            lab = pts[v > 0]
            x0, y0 = lab.min(axis=0)
            x1, y1 = lab.max(axis=0)
            bbox = [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]
            if split == "train" and i == n:
                bbox[2] = 0.0  # degenerate body box
            if split == "train" and i == n + 1:
                kp[:] = 0  # nothing labelled
            images.append(
                {"id": image_id, "file_name": name, "width": hw[1], "height": hw[0], "video": f"v{i}"}
            )
            anns.append(
                {
                    "id": image_id,
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": [float(x) for x in kp.ravel()],
                    "num_keypoints": int((kp[:, 2] > 0).sum()),
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": 0,
                }
            )
        write_split(root, split, coco_document(kset, "hand-made stick figures", images, anns))
    return root
