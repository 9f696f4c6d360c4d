#!/usr/bin/env python3
"""Fail on a runtime import cycle in a package other than the documented ones.

Builds the graph of imports between the package's modules from their source (stdlib ``ast``,
nothing is imported): module-level and function-level imports alike, ``if TYPE_CHECKING:``
blocks left out (they never run). An import of a package counts as an import of its
``__init__``; ``from pkg import name`` counts as an import of ``pkg.name`` when that is a
module, else of ``pkg``. Every strongly connected group of more than one module is a cycle;
the only one allowed is :data:`ALLOWED` (``satchel.artifact`` <-> ``satchel.runs``:
``Artifact.logged_by``/``used_by`` build runs, runs log and use artifacts).

    python tools/check_imports.py [SRC_DIR] [--package NAME] [--allow A,B ...]

Exits 0 when no other cycle is found, else 1, printing each cycle's modules and one import
path around it.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Iterable, Iterator

#: cycles allowed, each as the set of its modules
ALLOWED: list[frozenset[str]] = [frozenset({"satchel.artifact", "satchel.runs"})]


def modules(src: str, package: str) -> dict[str, str]:
    """Every module of ``package`` below ``src``: dotted name -> file."""
    out = {}
    root = os.path.join(src, *package.split("."))
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        rel = os.path.relpath(folder, src).replace(os.sep, ".")
        for f in files:
            if f.endswith(".py"):
                stem = f[:-3]
                out[rel if stem == "__init__" else f"{rel}.{stem}"] = os.path.join(folder, f)
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run (anywhere but under ``if TYPE_CHECKING:``)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_pkg else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def graph(src: str, package: str) -> dict[str, set[str]]:
    """module -> the modules of the package it imports at run time."""
    mods = modules(src, package)
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        is_pkg = path.endswith("__init__.py")
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = _resolve(mod, is_pkg, node)
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names
                ]
            for t in targets:
                while t and t not in mods:  # "a.b.c" of a module "a.b": the module
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    edges[mod].add(t)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(out)


def _path_around(group: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One import path from the group's first module back to itself, inside the group."""
    members, start = set(group), group[0]
    prev: dict[str, str] = {}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(edges[v] & members):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return [start, *reversed(path[:-1]), start] if v != start else [start, start]
            if w not in prev:
                prev[w] = v
                todo.append(w)
    return group


def main(argv: Iterable[str] | None = None) -> int:
    """Check the package; print the cycles other than the allowed ones; 1 if any."""
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", nargs="?", default=os.path.join(here, "..", "src"))
    ap.add_argument("--package", default="satchel")
    ap.add_argument(
        "--allow",
        action="append",
        default=None,
        help="a comma-separated set of modules forming an allowed cycle",
    )
    args = ap.parse_args(list(argv) if argv is not None else None)
    allowed = ALLOWED if args.allow is None else [frozenset(a.split(",")) for a in args.allow]
    edges = graph(args.src, args.package)
    bad = [g for g in cycles(edges) if frozenset(g) not in allowed]
    for group in bad:
        print(f"import cycle among {', '.join(group)}: {' -> '.join(_path_around(group, edges))}")
    if bad:
        return 1
    print(
        f"no import cycle in {args.package} but the allowed "
        f"{'; '.join(' <-> '.join(sorted(a)) for a in allowed) or 'none'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
