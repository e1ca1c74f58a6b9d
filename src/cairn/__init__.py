"""cairn: from a business question about tabular data to a trustworthy model in production.

    import cairn
    run = cairn.Project.load("cairn.yaml").run()
    print(run.verdict)
    model = cairn.load_model("cairn.yaml")      # the production model, a scikit-learn style estimator
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

__version__ = "0.1.0"

from cairn.errors import CairnError, ConfigError, DataError, NotFoundError, StoreError  # noqa: E402

if TYPE_CHECKING:
    from cairn.model import TrainedModel
    from cairn.project import Project, Run

__all__ = ["CairnError", "ConfigError", "DataError", "NotFoundError", "Project", "Run", "StoreError",
           "load_model", "__version__"]


def load_model(project: str | Path = "cairn.yaml", *, version: int | None = None) -> TrainedModel:
    """The production model of a project (or a given version), with `predict` like any estimator."""
    from cairn.project import Project

    return Project.load(project).load_model(version)


def __getattr__(name: str) -> object:
    """Import the heavy parts (pandas, scikit-learn) only when they are used: `cairn --help` stays fast."""
    if name in {"Project", "Run"}:
        from cairn import project

        return getattr(project, name)
    raise AttributeError(f"module 'cairn' has no attribute {name!r}")
