"""``python -m tools.pose_ablation``: the keypoint loss/decoder and face-occlusion ablations
(:mod:`trainer.pose.ablation`) with the ``infant-stream`` command's one-line errors and exit codes."""

from __future__ import annotations

import sys

from pipeline.cli.main import main as cli

COMMANDS = {"ablation": ("trainer.pose.ablation", "keypoint loss/decoder and face-occlusion ablations")}

if __name__ == "__main__":
    sys.exit(cli(["ablation", *sys.argv[1:]], COMMANDS))
