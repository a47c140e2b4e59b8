"""Reading a run's Prometheus endpoint in tests: ``/metrics`` parsed into samples, ``/healthz`` as JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

HTTP_TIMEOUT_S = 5.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def get(url: str) -> tuple[int, str, str]:
    """(status, body, content type) of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as resp:
            return resp.status, resp.read().decode(), resp.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode(), exc.headers["Content-Type"]


def scrape(base: str) -> tuple[Samples, str]:
    """Every sample of ``/metrics`` keyed by (sample name, labels), and the raw text."""
    code, text, ctype = get(base + "/metrics")
    assert code == 200 and ctype.startswith("text/plain; version=0.0.4"), (code, ctype)
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return samples, text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def current(base: str, name: str, **labels: str) -> float:
    """One sample scraped now (-1 when it is not there yet)."""
    return scrape(base)[0].get((name, frozenset(labels.items())), -1.0)


def healthz(base: str) -> tuple[int, dict[str, Any]]:
    code, body, ctype = get(base + "/healthz")
    assert ctype == "application/json"
    return code, json.loads(body)
