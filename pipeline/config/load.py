"""Loading and changing configs: YAML files, mappings, CLI flags and :func:`evolve`, each validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.config.models import Config
from pipeline.config.rules import M, validated
from pipeline.errors import ConfigError


def from_mapping(cls: type[M], data: Any, where: str) -> M:
    """Section ``cls`` from a YAML mapping (None = all defaults), naming ``where.key`` in every error."""
    return validated(cls, data, where)


def evolve(model: M, /, *, where: str = "", **changes: Any) -> M:
    """``model`` with ``changes``, validated like a new one; errors name ``where`` (default: the
    model's class). Use this, not ``model_copy(update=...)`` (which does not validate)."""
    return validated(type(model), {**dict(model), **changes}, where or type(model).__name__)


def load_config(path: str | Path | None) -> Config:
    """Read a YAML config (None = all defaults). Raises ConfigError with the file named."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read config ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}:{at} not valid YAML") from None
    except (ValueError, RecursionError) as exc:  # e.g. a 5000-digit number, nesting too deep
        raise ConfigError(
            f"{p}: cannot read config ({type(exc).__name__}: value too large or too deep)"
        ) from None
    return from_mapping(Config, data, str(p))


def override(cfg: Config, dotted: str, value: Any, flag: str) -> Config:
    """``cfg`` with field ``section.name`` set to ``value``, checked like YAML; errors name ``flag``.

    A ``source.*`` field is set in every entry of ``sources`` too (a flag applies to all sources).
    """
    section, name = dotted.split(".")
    sub = getattr(cfg, section)
    changed = validated(type(sub), {**dict(sub), name: value}, flag, bare=True)
    changes: dict[str, Any] = {section: changed}
    if section == "source" and cfg.sources:
        new = getattr(changed, name)
        changes["sources"] = tuple(evolve(s, where=flag, **{name: new}) for s in cfg.sources)
    return evolve(cfg, where=flag, **changes)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def as_dict(cfg: Config) -> dict[str, Any]:
    """Plain nested dict (lists for tuples) of a config: what ``configs/default.yaml`` spells out."""
    return _plain(cfg.model_dump())  # type: ignore[no-any-return]
