"""A stage's code version: a hash of the modules it runs, so editing one stage's code reruns that stage only.

The modules a stage runs are found by following its imports (top-level and inside functions) within the cairn
package, from the modules the stage names. Each module is hashed as its syntax tree with docstrings dropped
(comments are not in the tree), so rewording a docstring or a comment keeps every cache; changing a line of
training code changes the training stage's version and no other stage's that does not import it
(as Hamilton versions a node by its own source).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from cairn._version import __version__

PACKAGE = "cairn"
ROOT = Path(__file__).resolve().parents[1]


def stage_code_version(modules: Iterable[str], *, root: Path = ROOT) -> str:
    """The release and a hash of every module reachable from `modules` (dotted names inside cairn)."""
    closure = module_closure(tuple(sorted(modules)), root=root)
    digest = hashlib.sha256(__version__.encode())
    for name in sorted(closure):
        digest.update(name.encode())
        digest.update(_normalized(module_path(name, root=root)).encode())
    return f"{__version__}+{digest.hexdigest()[:16]}"


@cache
def module_closure(modules: tuple[str, ...], *, root: Path = ROOT) -> frozenset[str]:
    """The cairn modules that importing `modules` runs: their imports, transitively, and their packages."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen or module_path(name, root=root) is None:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # a module runs its packages' __init__
        todo += _imports(name, root=root)
    return frozenset(seen)


def module_path(name: str, *, root: Path = ROOT) -> Path | None:
    """cairn.a.b -> root/a/b.py or root/a/b/__init__.py; None outside cairn or for a name that is no module."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(name: str, *, root: Path) -> list[str]:
    path = module_path(name, root=root)
    assert path is not None
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(_parsed(path)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..a import b
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names]  # `from pkg import submodule`
    return [module for module in found if module.split(".")[0] == PACKAGE]


@cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@cache
def _normalized(path: Path | None) -> str:
    """The module's syntax tree without docstrings (of modules, classes, functions and attributes), as text:
    what the code does, not how it is described."""
    assert path is not None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if isinstance(statements, list) and statements and isinstance(statements[0], ast.stmt):
                kept = [s for s in statements if not _is_docstring(s)]
                setattr(node, field, kept or [ast.Pass()])
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
        and isinstance(statement.value.value, str)
