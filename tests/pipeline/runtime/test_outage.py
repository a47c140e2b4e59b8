"""Retrying a stage whose service is down (:mod:`pipeline.runtime.outage`): the outage is recorded once,
the same batch is retried until the service answers, an abort ends the wait, ``give_up_s`` fails it.
The service here is a function that fails a set number of times (the real server's outage is
tests/faults/test_fault_triton_outage.py)."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline.errors import ServiceUnavailable
from pipeline.runtime.outage import RETRY_INITIAL_S, Outage, call_while_unavailable


class Flaky:
    """Fails ``failures`` times with ServiceUnavailable, then answers ``calls``."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise ServiceUnavailable(f"down ({self.calls})")
        return self.calls


@pytest.mark.timeout(30)
def test_retries_until_the_service_answers_and_records_one_outage(caplog):
    outage, flaky = Outage(), Flaky(3)
    t0 = time.monotonic()
    out, seconds = call_while_unavailable("inference", flaky, outage, threading.Event())
    took = time.monotonic() - t0
    assert out == 4 and flaky.calls == 4 and seconds < took
    assert outage.count == 1 and not outage.active and outage.reason == ""
    assert outage.down_s >= RETRY_INITIAL_S * (1 + 2 + 4) * 0.9  # the backoff doubled
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2 and "down (1)" in warnings[0] and "answers again" in warnings[1], warnings


@pytest.mark.timeout(30)
def test_an_abort_ends_the_wait_and_the_outage_stays_visible():
    outage, abort = Outage(), threading.Event()
    threading.Timer(0.3, abort.set).start()
    assert call_while_unavailable("inference", Flaky(10**6), outage, abort) is None
    assert outage.active and outage.reason.startswith("down (") and outage.count == 1


@pytest.mark.timeout(30)
def test_give_up_fails_with_the_last_reason():
    with pytest.raises(ServiceUnavailable, match=r"down \(\d+\) \(still after 0.5 s\)"):
        call_while_unavailable("inference", Flaky(10**6), Outage(), threading.Event(), give_up_s=0.5)


def test_other_errors_are_not_retried():
    def broken() -> int:
        raise ValueError("a bug")

    outage = Outage()
    with pytest.raises(ValueError):
        call_while_unavailable("inference", broken, outage, threading.Event())
    assert outage.count == 0
