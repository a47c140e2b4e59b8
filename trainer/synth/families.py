"""Factor families: the one check of a requested family list (``synth --families``, the samplers' arguments)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipeline.errors import ConfigError


def check_families(families: Iterable[str] | None, known: Sequence[str], what: str) -> tuple[str, ...]:
    """``families`` as a tuple without repeats (None = all ``known``); a one-line :class:`ConfigError` naming
    ``what`` when one is unknown or none is given."""
    if families is None:
        return tuple(known)
    names = tuple(dict.fromkeys(families))
    bad = [f for f in names if f not in known]
    if bad:
        raise ConfigError(f"{what}: unknown {bad[0]!r} (known: {', '.join(known)})")
    if not names:
        raise ConfigError(f"{what}: empty (known: {', '.join(known)})")
    return names
