"""The package graph of vsrkit is layered: no package imports one that imports it back.

Every ``import`` of every module under ``vsrkit/`` is read with :mod:`ast` (module-level and inside functions alike,
since a function-level import is still a dependency) and mapped to its top-level part of vsrkit: a sub-package
(``codec``, ``data``, ...) or a single module (``errors``, ``fileio``, ...). Each part has a rank; a part may import
only parts of a strictly lower rank, which makes the graph acyclic and fixes the intended order::

    stdo -> train/test -> launch -> models -> inference -> engine -> archs -> ops
                                  \\-> losses, metrics           data -> degrade -> codec
    codec, degrade, data -> neutral modules (errors, fileio, registry, manifest, folders, color, cli)

Imports by name at run time (the registry's discovery of ``*_arch.py``, ``vsrkit.codec``'s lazy ``__getattr__``)
are plugin lookups, not static dependencies, and are not read here.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "vsrkit"

# Lower rank = lower layer. A new package or top-level module gets a rank here (the test says so when one is missing).
RANK = {
    "vsrkit": 0,  # the package itself (__version__)
    "errors": 0,
    # neutral helpers: no knowledge of data, codecs, networks or training
    "fileio": 1, "registry": 1, "cli": 1, "manifest": 1, "folders": 1, "color": 1,
    "options": 2, "builders": 3,
    # I/O side
    "codec": 2, "degrade": 3, "data": 4,
    # network side
    "ops": 2, "archs": 3, "metrics": 3, "losses": 4, "engine": 4, "inference": 5,
    "models": 6,
    "launch": 7,
    "train": 8, "test": 9,
    "stdo": 10,  # a method's multi-step pipeline that drives the launchers
}
NEUTRAL = {name for name, rank in RANK.items() if rank <= 1}
IO_SIDE = {"codec", "degrade", "data"}
NETWORK_SIDE = {"ops", "archs", "losses", "engine", "inference", "models", "launch", "train", "test"}


def _part(dotted: str) -> str:
    """``vsrkit.codec.motion`` -> ``codec``; ``vsrkit`` -> ``vsrkit``."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "vsrkit"


def _is_module(dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def _module_name(path: Path) -> tuple[str, bool]:
    """``vsrkit/codec/motion.py`` -> ``('vsrkit.codec.motion', False)``; ``vsrkit/codec/__init__.py`` ->
    ``('vsrkit.codec', True)``."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _imports(source: str, module: str, is_package: bool) -> list[tuple[str, int]]:
    """``(imported vsrkit module, line)`` for every import statement of ``source`` (module ``module``), at any depth."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source, module)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            for alias in node.names:  # `from vsrkit import codec` imports the sub-package codec
                sub = f"{name}.{alias.name}"
                found.append((sub if _is_module(sub) else name, node.lineno))
    return [(name, line) for name, line in dict.fromkeys(found) if name == "vsrkit" or name.startswith("vsrkit.")]


def _graph() -> dict[tuple[str, str], list[str]]:
    """``{(importer part, imported part): ['vsrkit/x.py:12 imports vsrkit.y', ...]}`` between different parts."""
    edges = defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        module, is_package = _module_name(path)
        importer = _part(module)
        for name, line in _imports(path.read_text(), module, is_package):
            imported = _part(name)
            if imported != importer:
                edges[importer, imported].append(f"{path.relative_to(ROOT.parent)}:{line} imports {name}")
    return dict(edges)


GRAPH = _graph()


def _find_cycle(edges) -> list[str] | None:
    succ = defaultdict(set)
    for a, b in edges:
        succ[a].add(b)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(succ[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(succ):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_parser_sees_function_level_relative_and_from_package_imports():
    source = ("import os\nfrom vsrkit.errors import DataError\nfrom . import motion\nfrom ..data import storage\n"
              "from vsrkit import fileio, __version__\n\ndef f():\n    import vsrkit.models.base_model\n")
    names = sorted(name for name, _ in _imports(source, "vsrkit.codec.probe", False))
    assert names == ["vsrkit", "vsrkit.codec.motion", "vsrkit.data.storage", "vsrkit.errors", "vsrkit.fileio",
                     "vsrkit.models.base_model"]
    assert sorted(name for name, _ in _imports("from . import motion\n", "vsrkit.codec", True)) == [
        "vsrkit.codec.motion"]


def test_every_part_has_a_rank():
    parts = {_part(_module_name(path)[0]) for path in ROOT.rglob("*.py")}
    missing = sorted(parts - set(RANK))
    assert not missing, f"give {missing} a rank in RANK of {__file__} (which layer does it belong to?)"


def test_package_graph_is_acyclic():
    cycle = _find_cycle(GRAPH)
    assert cycle is None, "import cycle " + " -> ".join(cycle) + ":\n" + "\n".join(
        line for a, b in zip(cycle, cycle[1:]) for line in GRAPH[a, b])


def test_every_import_goes_down_the_layers():
    upward = [f"{a} (rank {RANK[a]}) -> {b} (rank {RANK[b]}): {line}"
              for (a, b), lines in sorted(GRAPH.items()) if a in RANK and b in RANK and RANK[b] >= RANK[a]
              for line in lines]
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


@pytest.mark.parametrize("part", sorted(NEUTRAL))
def test_neutral_modules_import_only_neutral_modules(part):
    bad = [line for (a, b), lines in GRAPH.items() if a == part and b not in NEUTRAL for line in lines]
    assert not bad, "\n".join(bad)


def test_io_side_never_imports_the_network_side():
    bad = [line for (a, b), lines in GRAPH.items() if a in IO_SIDE and b in NETWORK_SIDE for line in lines]
    assert not bad, "\n".join(bad)


def test_codec_and_degrade_do_not_import_data_and_codec_not_degrade():
    bad = [line for (a, b), lines in GRAPH.items()
           if (a in {"codec", "degrade"} and b == "data") or (a == "codec" and b == "degrade") for line in lines]
    assert not bad, "\n".join(bad)


def test_engine_and_archs_never_import_models_or_launch():
    bad = [line for (a, b), lines in GRAPH.items() if a in {"engine", "archs", "ops"} and b in {"models", "launch"}
           for line in lines]
    assert not bad, "\n".join(bad)


def test_only_the_launchers_import_launch():
    importers = {a for (a, b) in GRAPH if b == "launch"}
    assert importers <= {"train", "test"}, "\n".join(
        line for (a, b), lines in GRAPH.items() if b == "launch" and a not in {"train", "test"} for line in lines)
