"""cairn: from a business question about tabular data to a trustworthy model in production.

    import cairn
    run = cairn.Project.load("cairn.yaml").run()
    print(run.verdict)
    model = cairn.load_model("cairn.yaml")      # the production model, a scikit-learn style estimator
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cairn._version import __version__
from cairn.errors import CairnError, ConfigError, DataError, NotFoundError, StoreError

if TYPE_CHECKING:
    from cairn.model.trained import TrainedModel
    from cairn.project.api import Project, Run

__all__ = ["CairnError", "ConfigError", "DataError", "NotFoundError", "Project", "Run", "StoreError",
           "load_model", "__version__"]


def load_model(project: str | Path = "cairn.yaml", *, version: int | None = None) -> TrainedModel:
    """The production model of a project (or a given version), with `predict` like any estimator."""
    from cairn.project.api import Project

    return Project.load(project).load_model(version)


def __getattr__(name: str) -> object:
    """Import the heavy parts (pandas, scikit-learn) only when they are used: `cairn --help` stays fast."""
    if name in {"Project", "Run"}:
        from cairn.project import api

        return getattr(api, name)
    raise AttributeError(f"module 'cairn' has no attribute {name!r}")
