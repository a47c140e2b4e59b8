"""infant-stream runtime: sources, threaded stages, backends, postprocess, sinks and the CLI.

Nothing heavy is imported here; import the submodules you need.
"""

from pathlib import Path
from typing import Final

__version__ = "0.1.0"

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
"""The folder holding ``pipeline/`` (and, in a checkout, the bundled ``models/``)."""
