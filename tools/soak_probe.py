"""What ``python -m tools.soak`` measures about the child: its records (a ZeroMQ SUB socket), its memory
and CPU, and how busy the rest of the machine is (to tell a latency creep from a noisy neighbour).

Linux only for the load figures (``/proc``); where a file is missing the figure is NaN.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Record = tuple[float, float, int, int]
"""One ``parts.*`` record: (arrival ``time.monotonic()``, capture→publish ms, seq, dropped_since_last)."""


class RecordReader(threading.Thread):
    """A SUB socket on ``parts.`` and ``status.``: arrival time, latency, seq, drops of every record.

    It connects at construction (before the child binds: ZeroMQ reconnects until it can), so no
    record is missed for a late subscription. :meth:`take` hands over what arrived since the last call.
    """

    def __init__(self, endpoint: str) -> None:
        super().__init__(name="soak-sub", daemon=True)
        import zmq

        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, 100_000)
        self.sock.connect(endpoint)
        for topic in (b"parts.", b"status."):
            self.sock.setsockopt(zmq.SUBSCRIBE, topic)
        self.lock = threading.Lock()
        self.pending: list[Record] = []
        self.statuses: list[tuple[float, dict[str, Any]]] = []
        self.first = threading.Event()
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                if not self.sock.poll(200):
                    continue
                topic, payload, *_ = self.sock.recv_multipart()
                now = time.monotonic()
                rec = json.loads(payload)
                with self.lock:
                    if topic.startswith(b"parts."):
                        lat = float(rec["latency_ms"]["capture_to_publish"])
                        self.pending.append(
                            (now, lat, int(rec["seq"]), int(rec.get("dropped_since_last", 0)))
                        )
                        self.first.set()
                    else:
                        self.statuses.append((now, rec))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc
        finally:
            self.sock.close(0)

    def take(self) -> list[Record]:
        with self.lock:
            out, self.pending = self.pending, []
        return out

    def last_state(self) -> str:
        with self.lock:
            return str(self.statuses[-1][1].get("state", "?")) if self.statuses else "?"

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
        self.ctx.term()


def _psi_cpu_s() -> float:
    """Seconds some task on the machine waited for a CPU (``/proc/pressure/cpu`` ``some total``)."""
    try:
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some"):
                return float(line.rsplit("total=", 1)[1]) / 1e6
    except (OSError, IndexError, ValueError):
        pass
    return math.nan


def _run_delay_s(pid: int) -> float:
    """Seconds the threads of ``pid`` alive now have spent runnable, waiting for a CPU (schedstat)."""
    total, found = 0.0, False
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[1]) / 1e9
                found = True
    return total if found else math.nan


@dataclass(frozen=True)
class Load:
    """One interval's figures (CPU in % of one core; 100 = one core busy the whole interval).

    Attributes:
        rss_bytes: resident memory of the child and its children at the end of the interval.
        cpu: CPU used by the child (user + system, all threads, children included).
        others: CPU used by every other process (machine busy time − child − the soak itself).
        wait: time the child's threads spent runnable but waiting for a core (run-queue delay).
        pressure: share of the interval in which some task on the machine waited for a CPU (PSI), %.
    """

    rss_bytes: int
    cpu: float
    others: float
    wait: float
    pressure: float


class LoadProbe:
    """Differences of /proc counters between calls of :meth:`sample`."""

    def __init__(self, pid: int) -> None:
        import psutil

        self._psutil = psutil
        self.pid = pid
        self.proc = psutil.Process(pid)
        self._prev = self._counters()
        self._prev_t = time.monotonic()

    def _child(self) -> tuple[int, float]:
        psutil = self._psutil
        rss, cpu = 0, 0.0
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0, math.nan
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied), p.oneshot():
                rss += p.memory_info().rss
                t = p.cpu_times()
                cpu += t.user + t.system
        return rss, cpu

    def _counters(self) -> tuple[int, float, float, float, float, float]:
        rss, child = self._child()
        t = self._psutil.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        own = os.times()
        return rss, child, busy, own.user + own.system, _run_delay_s(self.pid), _psi_cpu_s()

    def sample(self) -> tuple[float, float, Load]:
        """(end of the interval, ``time.monotonic()``; its length, s; the figures) since the last call."""
        now, cur = time.monotonic(), self._counters()
        dt = max(now - self._prev_t, 1e-3)
        d = [100.0 * (c - p) / dt for c, p in zip(cur[1:], self._prev[1:], strict=True)]
        child, busy, own, wait, psi = d
        self._prev, self._prev_t = cur, now
        return (
            now,
            dt,
            Load(
                rss_bytes=cur[0],
                cpu=child,
                others=max(0.0, busy - child - own),
                wait=max(0.0, wait),
                pressure=psi,
            ),
        )
