"""The run manifest: everything needed to tell how a result was made and to make it again."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from cairn._version import __version__
from cairn.config.schema import ProjectConfig
from cairn.runner.graph import STAGES
from cairn.urls import redacted

PACKAGES = ("numpy", "pandas", "pyarrow", "scikit-learn", "lightgbm", "scipy", "sqlalchemy", "pydantic")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(folder: Path) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def base_manifest(*, project_file: Path, config_hash: str, seed: int, n_jobs: int) -> dict[str, Any]:
    return {
        "cairn_version": __version__,
        "code_versions": {stage.name: stage.code_version for stage in STAGES},
        "project_file": str(project_file),
        "config_hash": config_hash,
        "seed": seed,
        "n_jobs": n_jobs,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "git_commit": git_commit(project_file.parent),
    }


def recorded_config(config: ProjectConfig) -> dict[str, Any]:
    """The project file as validated, every default filled in: what `cairn reproduce` runs again and `cairn diff`
    compares key by key. A database URL keeps no password (a reproduction reads the data snapshot, not the source)."""
    document = config.model_dump(mode="json")
    for location in ("store", "artifacts"):  # an fsspec URL may carry credentials too
        if document.get(location) and "://" in document[location]:
            document[location] = redacted(document[location])
    source = document.get("data", {}).get("source")
    if isinstance(source, dict) and source.get("url"):
        source["url"] = redacted(source["url"])
    return document
