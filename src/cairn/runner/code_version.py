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
from dataclasses import dataclass
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


def module_closure(modules: tuple[str, ...], *, root: Path = ROOT) -> frozenset[str]:
    """The cairn modules that running `modules` runs: their imports (lazy ones inside functions too),
    transitively, and the `__init__` of each package on the way, whose module-level imports only are followed
    (importing cairn.stages.data runs cairn/__init__.py, not the functions in it)."""
    full: set[str] = set()  # all their imports followed
    shallow: set[str] = set()  # packages on the way: module-level imports followed
    todo = [(name, True) for name in modules]
    while todo:
        name, lazy_too = todo.pop()
        if module_path(name, root=root) is None or name in full or (not lazy_too and name in shallow):
            continue
        (full if lazy_too else shallow).add(name)
        parts = name.split(".")
        todo += [(".".join(parts[:i]), False) for i in range(1, len(parts))]
        todo += [(module, True) for module in _imports(name, root=root, lazy_too=lazy_too)]
    return frozenset(full | shallow)


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


def _imports(name: str, *, root: Path, lazy_too: bool) -> list[str]:
    path = module_path(name, root=root)
    assert path is not None
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    facts = _facts(path.read_text(encoding="utf-8"))
    found = []
    for level, base, names in facts.all_imports if lazy_too else facts.top_imports:
        if level:  # relative: from . import x, from ..a import b
            anchor = package.split(".")[: len(package.split(".")) - level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        found.append(base)
        found += [f"{base}.{alias}" for alias in names]  # `from package import submodule`
    return [module for module in found if module.split(".")[0] == PACKAGE]


def source_digest(source: str) -> str:
    """The digest of some source's syntax tree, docstrings and comments left out."""
    return _facts(source).digest


def _normalized(path: Path | None) -> str:
    """The digest of the module's syntax tree without docstrings (of modules, classes, functions and
    attributes): what the code does, not how it is described."""
    assert path is not None
    return _facts(path.read_text(encoding="utf-8")).digest


@dataclass(frozen=True)
class _Facts:
    digest: str
    top_imports: tuple[tuple[int, str, tuple[str, ...]], ...]  # (level, module, names) at module level
    all_imports: tuple[tuple[int, str, tuple[str, ...]], ...]  # ... and inside functions


@cache
def _facts(source: str) -> _Facts:
    """One parse and one walk per source text: the runner asks about the same modules for every stage."""
    tree = ast.parse(source)
    top = tuple(item for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
                for item in _imports_of(node))
    every = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            every += _imports_of(node)
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if isinstance(statements, list) and statements and isinstance(statements[0], ast.stmt):
                kept = [s for s in statements if not _is_docstring(s)]
                setattr(node, field, kept or [ast.Pass()])
    dumped = ast.dump(tree, annotate_fields=False, include_attributes=False)
    return _Facts(hashlib.sha256(dumped.encode()).hexdigest(), top, tuple(every))


def _imports_of(node: ast.Import | ast.ImportFrom) -> list[tuple[int, str, tuple[str, ...]]]:
    if isinstance(node, ast.Import):  # import a.b, c: the modules themselves, no names below them
        return [(0, alias.name, ()) for alias in node.names]
    return [(node.level, node.module or "", tuple(alias.name for alias in node.names))]


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
        and isinstance(statement.value.value, str)
