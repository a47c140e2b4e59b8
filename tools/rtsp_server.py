#!/usr/bin/python3
"""A local RTSP test camera: GStreamer's RTSP server on 127.0.0.1 serving H.264.

Runs with the *system* python3 (GObject introspection is not in the venv); needs Debian's
gir1.2-gst-rtsp-server-1.0, python3-gi and the GStreamer plugins (see .ci/run).

    /usr/bin/python3 tools/rtsp_server.py --port 8554 --mount /cam            # test pattern
    /usr/bin/python3 tools/rtsp_server.py --port 8554 --file demo.mp4         # a file (plays once)

The stream is rtsp://127.0.0.1:PORT/MOUNT. SIGTERM/SIGINT stop it. It prints READY once listening.

Fault injection, a camera that hangs without closing the connection: SIGUSR1 stalls the stream
(RTSP sessions stay open, but a ``valve`` before the encoder drops every frame) and SIGUSR2 lets
frames flow again; each prints ``STALLED`` / ``FLOWING`` on stdout once applied.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

VALVE = "stall"
"""Name of the valve element in the launch line (``drop=true``: the stream stalls)."""


def launch_line(args: argparse.Namespace) -> str:
    enc = (
        f"valve name={VALVE} drop=false "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} bitrate=800 "
        "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1"
    )
    if args.file:
        src = (
            f'filesrc location="{args.file}" ! decodebin ! videoconvert ! videoscale ! videorate '
            f"! video/x-raw,format=I420,framerate={args.fps}/1"
        )
    else:
        src = (
            f"videotestsrc is-live=true pattern={args.pattern} "
            f"! video/x-raw,format=I420,width={args.width},height={args.height},framerate={args.fps}/1"
        )
    return f"( {src} ! {enc} )"


class Staller:
    """Closes/opens the valve of every media the factory has built (and of those built later)."""

    def __init__(self) -> None:
        self.valves: list[Any] = []
        self.stalled = False

    def on_media_configure(self, _factory: Any, media: Any) -> None:
        valve = media.get_element().get_by_name(VALVE)
        if valve is not None:
            valve.set_property("drop", self.stalled)
            self.valves.append(valve)

    def set(self, stalled: bool) -> bool:
        self.stalled = stalled
        for valve in self.valves:
            valve.set_property("drop", stalled)
        print("STALLED" if stalled else "FLOWING", flush=True)
        return GLib.SOURCE_CONTINUE  # keep the signal handler installed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=8554)
    p.add_argument("--mount", default="/cam")
    p.add_argument("--file", help="serve this video file instead of a test pattern")
    p.add_argument("--pattern", default="ball", help="videotestsrc pattern")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--fps", type=int, default=15)
    args = p.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args))
    factory.set_shared(True)
    staller = Staller()
    factory.connect("media-configure", staller.on_media_configure)
    server.get_mount_points().add_factory(args.mount, factory)
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, staller.set, True)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR2, staller.set, False)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print("READY", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
