"""infant-stream runtime: sources, threaded stages, backends, postprocess, sinks and the CLI.

Nothing heavy is imported here; import the submodules you need.
"""

__version__ = "0.1.0"
