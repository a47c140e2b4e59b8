"""The import layering of ``pipeline/`` (docs/architecture.md): each package imports only from its own
layer or the layers below it, nothing imports the CLI, and neither ``pipeline`` nor ``trainer``
imports ``tools``. ``pipeline`` never imports torch or the trainer when a module is imported (only
inside a function, where a command or the GPU path needs it).

The checks read the source with :mod:`ast` (nothing is imported), and each is shown to fail on a
planted backwards import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.procs import REPO

LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "pipeline",
        "pipeline.errors",
        "pipeline.config",
        "pipeline.lifecycle",
        "pipeline.loopback",
        "pipeline.files",
    ),
    ("pipeline.contract",),
    ("pipeline.frames", "pipeline.record"),
    (
        "pipeline.sources",
        "pipeline.infer",
        "pipeline.pose",
        "pipeline.postprocess",
        "pipeline.render",
        "pipeline.analysis",
    ),
    ("pipeline.runtime",),
    ("pipeline.observe",),
    ("pipeline.publish",),
    ("pipeline.sinks",),
    ("pipeline.session",),
    ("pipeline.web",),
    ("pipeline.cli",),
)
"""Lowest first. A module may import its own layer and the layers above it in this list."""


def layer_of(module: str) -> int | None:
    """The layer index of a ``pipeline`` module (the longest matching unit wins)."""
    best: tuple[int, int] | None = None
    for i, units in enumerate(LAYERS):
        for unit in units:
            if module == unit or module.startswith(unit + "."):
                if unit == "pipeline" and module != "pipeline":
                    continue
                if best is None or len(unit) > best[1]:
                    best = (i, len(unit))
    return None if best is None else best[0]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, module: str) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, at module import time) for every import in ``source``."""
    tree = ast.parse(source)
    lazy: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lazy.update(id(n) for n in ast.walk(node))
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lazy.update(id(n) for n in ast.walk(node))
    package = module if module.count(".") == 0 else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) not in lazy
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            yield base, node.lineno, id(node) not in lazy
            for alias in node.names:  # `from pipeline import frames` imports a module
                yield f"{base}.{alias.name}", node.lineno, id(node) not in lazy


def violations(root: Path) -> list[str]:
    """Every backwards import under ``root`` (a folder holding ``pipeline/`` and ``trainer/``)."""
    found: list[str] = []
    for path in sorted((root / "pipeline").rglob("*.py")):
        mod = module_name(path, root)
        own = layer_of(mod)
        for target, line, eager in imports(path.read_text(encoding="utf-8"), mod):
            where = f"{path.relative_to(root)}:{line}"
            if target.split(".")[0] in ("tools", "trainer", "torch") and (
                target.startswith("tools") or eager
            ):
                found.append(f"{where}: {mod} imports {target}")
                continue
            if not target.startswith("pipeline.") or own is None:
                continue
            other = layer_of(target)
            if other is not None and other > own:
                found.append(f"{where}: {mod} (layer {own}) imports {target} (layer {other})")
            if target.startswith("pipeline.cli") and not mod.startswith("pipeline.cli"):
                found.append(f"{where}: {mod} imports the CLI ({target})")
    for path in sorted((root / "trainer").rglob("*.py")):
        mod = module_name(path, root)
        for target, line, _ in imports(path.read_text(encoding="utf-8"), mod):
            if target.startswith(("tools", "pipeline.cli")):
                found.append(f"{path.relative_to(root)}:{line}: {mod} imports {target}")
    return found


def test_every_module_has_a_layer():
    missing = [
        module_name(p, REPO)
        for p in (REPO / "pipeline").rglob("*.py")
        if layer_of(module_name(p, REPO)) is None
    ]
    assert missing == []


def test_imports_follow_the_layers():
    assert violations(REPO) == []


def test_tests_do_not_import_tools_outside_tests_tools():
    bad = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        if path.parts[len(REPO.parts) + 1] == "tools":
            continue
        for target, line, _ in imports(path.read_text(encoding="utf-8"), module_name(path, REPO)):
            if target == "tools" or target.startswith("tools."):
                bad.append(f"{path.relative_to(REPO)}:{line}: {target}")
    assert bad == []


@pytest.mark.parametrize(
    ("where", "line", "needle"),
    [
        ("pipeline/frames.py", "from pipeline.runtime.queues import Policy\n", "layer"),
        ("pipeline/render/hud.py", "from pipeline.sinks.window import WindowSink\n", "layer"),
        ("pipeline/publish/publisher.py", "from pipeline.cli.run import main\n", "CLI"),
        ("pipeline/contract/geometry.py", "import torch\n", "torch"),
        ("pipeline/sinks/jsonl.py", "from trainer.accuracy import compare\n", "trainer"),
        ("trainer/export.py", "from tools.bench import main\n", "tools"),
    ],
)
def test_a_planted_backwards_import_is_caught(tmp_path, where, line, needle):
    for top in ("pipeline", "trainer"):
        for path in (REPO / top).rglob("*.py"):
            copy = tmp_path / path.relative_to(REPO)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    planted = tmp_path / where
    planted.write_text(line + planted.read_text(encoding="utf-8"), encoding="utf-8")
    found = violations(tmp_path)
    assert any(needle in v and where in v for v in found), found
