"""The model families cairn can train, one module each: description, defaults, factory, search space, early
stopping and cost facts, read by selection, tuning, cross-validation and the budget.

    ALGORITHMS          name -> Algorithm, in the catalogue's order (cairn.algorithms.registry)
    ALGORITHM_NAMES     the names alone (cairn.algorithms.names): what the project file's schema needs

The names are imported eagerly; the registry on first use, so that a module needing only the names (the config)
depends on no family's code and editing one family reruns only the stages that import the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn.algorithms.names import ALGORITHM_NAMES

if TYPE_CHECKING:
    from cairn.algorithms.registry import (
        ALGORITHMS,
        DEFAULT_NAMES,
        FIXED_TREES,
        MAX_TREES,
        Algorithm,
        Dimension,
        algorithm,
        leaves_for,
    )

__all__ = ["ALGORITHMS", "ALGORITHM_NAMES", "DEFAULT_NAMES", "FIXED_TREES", "MAX_TREES", "Algorithm", "Dimension",
           "algorithm", "leaves_for"]


def __getattr__(name: str) -> Any:
    if name not in __all__:  # submodules included: the import system looks for them here before loading them
        raise AttributeError(f"module 'cairn.algorithms' has no attribute {name!r}")
    from cairn.algorithms import registry

    return getattr(registry, name)
