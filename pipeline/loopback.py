"""Is an address reachable only from this machine? (for the warnings of ZeroMQ and metrics binds)."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, ``lo`` (the loopback interface, as ZeroMQ accepts it), 127.x and ::1
    (brackets allowed); False for every-interface addresses (0.0.0.0, ::, ``*``), interface and host
    names: they are assumed reachable from other machines."""
    if host in ("localhost", "lo"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
