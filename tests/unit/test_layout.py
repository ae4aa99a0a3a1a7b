"""The package's rooms and who may import whom (docs/architecture.md), read with ast.

The data flows one way: sources -> pipeline -> catalog. The control channel reads the catalog
and the state and drives the stages through its Context (their types only for type checking);
mediaforgectl (cli/) never imports the daemon side; nothing imports daemon/ but __main__.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mediaforged"

SHARED = {"config", "protocol", "state", "settings"}  # top-level modules every room may use
ROOMS = {
    "fs", "sources", "pipeline", "extract", "catalog", "control", "metrics", "http", "daemon",
    "cli", "notify",
}  # fmt: skip

# Room -> rooms it may import at run time ("shared" = the top-level modules and the package).
ALLOWED: dict[str, set[str]] = {
    "shared": {"shared"},
    "fs": {"fs", "shared"},
    "extract": {"extract", "fs", "shared"},
    "catalog": {"catalog", "fs", "shared"},
    "pipeline": {"pipeline", "catalog", "extract", "fs", "shared"},
    "sources": {"sources", "pipeline", "catalog", "fs", "shared"},
    "control": {"control", "catalog", "fs", "shared"},
    "metrics": {"metrics", "catalog", "fs", "shared"},
    "notify": {"notify", "catalog", "fs", "shared"},
    "http": {"http", "control", "catalog", "extract", "fs", "shared"},
    "daemon": (ROOMS | {"shared"}) - {"cli"},
    "cli": {"cli", "fs", "config", "protocol", "package"},
    "__main__": {"daemon"},
}
# Imports under `if TYPE_CHECKING:` cost nothing at run time: control names the stages it drives.
# metrics reads the parts in the Context at scrape time, and control names its type.
TYPE_ONLY: dict[str, set[str]] = {
    "control": {"pipeline", "sources", "metrics", "notify"},
    "metrics": {"control", "pipeline", "sources"},
}


class Import(NamedTuple):
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted
    line: int
    type_only: bool


def room_of(dotted: str) -> str:
    parts = dotted.split(".")
    if parts == ["mediaforged"]:
        return "package"
    if parts[1] == "__main__":
        return "__main__"
    if parts[1] in ROOMS:
        return parts[1]
    if parts[1] in SHARED or parts[1] == "__init__":
        return "shared"
    raise AssertionError(f"{dotted}: a module outside every room (add it to one)")


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str, module: str) -> Iterator[Import]:
    """Every import of a mediaforged module in ``source``: absolute or relative, at the top or
    inside a function (a lazy import is still an import)."""
    package = module.removesuffix(".__init__")
    if not module.endswith("__init__"):
        package = package.rpartition(".")[0]
    tree = ast.parse(source)
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _type_checking(node)
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "mediaforged":
                    yield Import(module, alias.name, node.lineno, id(node) in type_only)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "mediaforged":
                continue
            for alias in node.names:
                # `from mediaforged.control import commands` imports a module, not a name.
                sub = f"{base}.{alias.name}"
                target = sub if _is_module(sub) else base
                yield Import(module, target, node.lineno, id(node) in type_only)


def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def violations(found: Iterator[Import]) -> list[str]:
    out = []
    for imp in found:
        src, dst = room_of(imp.module), room_of(imp.target)
        if dst == "package":
            continue  # the package itself: __version__
        allowed = ALLOWED[src] | (TYPE_ONLY.get(src, set()) if imp.type_only else set())
        name = imp.target.split(".")[1]  # a shared module by name (cli: config, protocol)
        if dst in allowed or (dst == "shared" and name in allowed):
            continue
        out.append(f"{imp.module}:{imp.line} imports {imp.target} ({src} may not import {dst})")
    return out


def package_modules() -> Iterator[tuple[str, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        yield ".".join(rel.parts), path.read_text()


def test_the_package_keeps_its_import_rules() -> None:
    found = [imp for module, source in package_modules() for imp in imports_of(source, module)]
    assert len(found) > 100  # the walk really read the package
    assert violations(iter(found)) == []


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("mediaforged.catalog.writer", "from mediaforged.pipeline.indexer import Indexer", True),
        ("mediaforged.pipeline.settle", "from mediaforged.sources import reconcile", True),
        ("mediaforged.cli.main", "from mediaforged.catalog.schema import media_items", True),
        ("mediaforged.cli.main", "from mediaforged.state import Job", True),
        ("mediaforged.control.server", "import mediaforged.daemon.run", True),
        ("mediaforged.control.context", "from mediaforged.sources.reconcile import R", True),
        (
            "mediaforged.control.context",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from mediaforged.sources.reconcile import Reconciler",
            False,
        ),
        ("mediaforged.fs.fsio", "def f():\n    from mediaforged.catalog import db", True),
        ("mediaforged.catalog.writer", "from ..pipeline import indexer", True),
        ("mediaforged.sources.watcher", "from mediaforged.pipeline.settle import Settler", False),
        ("mediaforged.cli.doctor", "from mediaforged.fs.mounts import read_mounts", False),
        ("mediaforged.__main__", "from mediaforged.daemon.main import main", False),
    ],
)
def test_a_broken_rule_is_caught(module: str, source: str, broken: bool) -> None:
    assert bool(violations(imports_of(source, module))) is broken


def test_every_room_says_what_it_owns_and_may_import() -> None:
    for room in ROOMS | {"control/commands"}:
        doc = ast.get_docstring(ast.parse((PACKAGE / room / "__init__.py").read_text()))
        assert doc, f"{room}/__init__.py has no docstring"
        assert "mport" in doc, f"{room}/__init__.py does not say what it may import"


def _sizes() -> Iterator[tuple[str, int, list[tuple[str, int]]]]:
    for module, source in package_modules():
        if ".migrations." in module:
            continue  # migrations are frozen history, one upgrade() each
        tree = ast.parse(source)
        functions = [
            (node.name, (node.end_lineno or node.lineno) - node.lineno + 1)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        yield module, len(source.splitlines()), functions


def test_modules_and_functions_stay_small() -> None:
    sizes = list(_sizes())
    too_long = [f"{m}: {n} lines" for m, n, _ in sizes if n > 420]
    too_long += [f"{m}.{f}: {n} lines" for m, _, fs in sizes for f, n in fs if n > 85]
    assert too_long == []
